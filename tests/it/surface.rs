//! The small things around a run hold: the re-run line and the seed's
//! range, output files left alone by a refused run, a stock link, a closed
//! pipe, `--json` errors, help text, plurals, one run per stock file.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::support::proc::POLL;
use crate::support::{Live, Work, count_of, u};

/// The re-run line names every flag that shaped the run, and repeats
/// itself; the seed stays within what JSON keeps exact.
#[test]
fn the_rerun_line_carries_every_flag() {
    let work = Work::new();
    let args = [
        "--buyers",
        "6",
        "--tickets",
        "4",
        "--lock",
        "sem",
        "--kill",
        "1",
        "--kill-at",
        "read",
        "--no-repair",
        "--timeout",
        "3s",
        "--arrival",
        "0..1ms",
        "--delay",
        "0..1ms",
        "--seed",
        "77",
        "--json",
    ];
    let first = work.booking(&args);
    let r = first.report();
    let rerun = r["rerun"].as_str().expect("a rerun line").to_string();
    for flag in [
        "--kill 1",
        "--kill-at read",
        "--no-repair",
        "--timeout 3s",
        "--arrival 0..1ms",
        "--delay 0..1ms",
        "--seed 77",
        "--buyers 6",
        "--tickets 4",
        "--lock sem",
    ] {
        assert!(
            format!("{rerun} ").contains(&format!("{flag} ")),
            "{flag:?} missing from {rerun:?}{}",
            first.context()
        );
    }
    let mut again: Vec<&str> = rerun.split_whitespace().collect();
    assert_eq!(again.first(), Some(&"booking"), "{rerun}");
    again.remove(0);
    again.push("--json");
    let second = work.booking(&again);
    // A victim killed at read by --no-repair may leave the others hung: the
    // exit code is not the point here, the line is.
    assert_eq!(
        second.report()["rerun"].as_str(),
        Some(rerun.as_str()),
        "{}",
        second.context()
    );

    let refused = work.booking(&["--seed", "9007199254740992", "--buyers", "1"]);
    refused.expect_code(2);
    let run = work.booking(&["--buyers", "2", "--lock", "file", "--delay", "0", "--json"]);
    let seed = u(&run.json(), "seed");
    assert!(
        seed <= 9_007_199_254_740_991,
        "seed {seed}{}",
        run.context()
    );
    work.assert_clean();
}

/// A run refused before it starts leaves an existing `--timeline` file
/// as it was.
#[test]
fn a_refused_run_leaves_the_timeline_file_alone() {
    let work = Work::new();
    let svg = work.stock("t.svg", "<svg>precious</svg>");
    let missing = work.path("missing.json");
    let run = work.booking(&[
        "--timeline",
        svg.to_str().unwrap(),
        "--stock",
        missing.to_str().unwrap(),
    ]);
    run.expect_code(2);
    assert_eq!(
        std::fs::read(&svg).unwrap(),
        b"<svg>precious</svg>",
        "t.svg changed{}",
        run.context()
    );
    work.assert_clean();
}

/// A stock file named through a symbolic link is booked against the
/// file the link points to; the link stays a link.
#[test]
fn a_stock_link_stays_a_link() {
    let work = Work::new();
    let target = work.stock("real.json", "{\"count\": 10}");
    let link = work.path("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let run = work.booking(&[
        "--stock",
        link.to_str().unwrap(),
        "--lock",
        "file",
        "--buyers",
        "3",
        "--delay",
        "0",
    ]);
    run.expect_code(0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file{}",
        run.context()
    );
    assert_eq!(count_of(&target), 7, "{}", run.context());
    work.assert_clean();
}

/// A reader that goes away (`booking --timeline - | head -3`) ends the
/// output quietly: no panic, the exit code of the run.
///
/// The pipe is shrunk to one page and the output is larger than that, so
/// booking is certainly still writing when the reader goes: it must meet
/// `EPIPE` (60 buyers: the summary and 40 lanes of timeline, about 4.8
/// KiB, of which the test reads the first 200 bytes or so). 60, not 30:
/// 30 buyers' output fits in one page.
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use nix::fcntl::{FcntlArg, fcntl};
    use std::io::BufRead;
    let work = Work::new();
    // Close-on-exec: a booking another test starts meanwhile must not
    // inherit an end of this pipe (a stray reader would keep it open).
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    fcntl(&r, FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let args = [
        "--buyers",
        "60",
        "--lock",
        "none",
        "--delay",
        "0",
        "--timeline",
        "-",
    ];
    let mut cmd = work.command(&args);
    cmd.stdin(Stdio::null()).stdout(Stdio::from(w));
    let mut child = cmd.process_group(0).spawn().expect("booking starts");
    drop(cmd); // our copy of the write end: the reader must see the end
    let mut reader = std::io::BufReader::with_capacity(1, std::fs::File::from(r));
    let mut head = String::new();
    for _ in 0..3 {
        reader.read_line(&mut head).unwrap();
    }
    drop(reader);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            panic!("booking kept running after its reader went away");
        }
        std::thread::sleep(POLL);
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(head.starts_with("booking: 60 buyers"), "{head}");
    assert_ne!(status.code(), Some(101), "{stderr}");
    assert_eq!(status.code(), Some(0), "{status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    work.assert_clean();
}

/// Under `--json`, an error is one JSON object on stdout too.
#[test]
fn errors_under_json_are_one_json_object() {
    let work = Work::new();
    let missing = work.path("missing.json");
    let run = work.booking(&["--stock", missing.to_str().unwrap(), "--json"]);
    let clap = work.booking(&["--buyers", "0", "--json"]);
    for (run, names) in [
        (run, missing.to_str().unwrap().to_string()),
        (clap, "--buyers".to_string()),
    ] {
        run.expect_code(2);
        let ctx = run.context();
        assert_eq!(run.stdout().trim_end().lines().count(), 1, "{ctx}");
        let r = run.report();
        let error = r["error"].as_str().unwrap_or_default();
        assert!(error.contains(&names), "error does not name {names}{ctx}");
        assert_eq!(r["exit_code"], 2, "{ctx}");
    }
    work.assert_clean();
}

/// `check --help` says what check looks for: unsafe, failed or hung
/// scenarios, not only overselling.
#[test]
fn check_help_says_failed_or_hung() {
    let work = Work::new();
    let run = work.booking(&["check", "--help"]);
    run.expect_code(0);
    let text = run.stdout();
    let about = text.split("Usage:").next().unwrap_or_default();
    let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!about.contains("oversold"), "{}", run.context());
    assert!(about.contains("failed or hung"), "{}", run.context());
}

/// One is singular in the summary.
#[test]
fn one_buyer_is_one_buyer() {
    let work = Work::new();
    let run = work.booking(&["--buyers", "1", "--tickets", "1", "--lock", "file"]);
    run.expect_code(0);
    let out = run.stdout();
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("booking: 1 buyer,"), "{}", run.context());
    assert!(
        first.ends_with("a fresh stock of 1 ticket"),
        "{}",
        run.context()
    );
    work.assert_clean();
}

/// Two runs on one stock file would each use their own lock and oversell
/// each other: while one books a user's file, a second is refused with
/// exit 2 and the file is left alone; once the first has ended, the file
/// is free again.
#[test]
fn a_second_run_on_the_same_stock_is_refused() {
    let work = Work::new();
    let stock = work.stock("shared.json", "{\"count\": 30}");
    let s = stock.to_str().unwrap();
    let first_args = [
        "--buyers",
        "20",
        "--lock",
        "sem",
        "--stock",
        s,
        "--delay",
        "100ms..200ms",
    ];
    let mut first = Live::start(&work, &first_args);
    // Its buyers exist: it claimed the file before forking them.
    first.wait_for_children(20, Duration::from_secs(20));
    let second = work.booking(&["--buyers", "3", "--lock", "sem", "--stock", s]);
    second.expect_code(2);
    assert!(
        second.stderr().contains("another booking run") && second.stderr().contains("shared.json"),
        "{}",
        second.context()
    );
    first.signal(Signal::SIGINT);
    first.finish_within(Duration::from_secs(10));
    let third = work.booking(&[
        "--buyers", "3", "--lock", "sem", "--stock", s, "--delay", "0",
    ]);
    third.expect_code(0);
    work.assert_clean();
}
