//! The judge tells the truth about runs that went wrong: buyers that fail,
//! panic or hang are never SAFE, a hanging strategy does not lose the
//! report of `check` or `compare`, and strategies that cheat are caught.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use booking::commands::scenario::{SPACE, Scenario};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::{Live, Run, Work, alive, u};

/// Runs `booking args` in `work`; fails the test if it takes longer than
/// `within`.
fn booking_within(work: &Work, args: &[&str], within: Duration) -> Run {
    Live::start(work, args).finish_within(within).0
}

/// The rows of a `check` report, or a `compare` one, by strategy name, in
/// their order.
fn rows<'a>(r: &'a Value, key: &str) -> Vec<(&'a str, &'a Value)> {
    r[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array in {r}"))
        .iter()
        .map(|row| (row["strategy"].as_str().expect("a strategy name"), row))
        .collect()
}

fn stderr_lines(run: &Run) -> usize {
    run.stderr().trim_end().lines().count()
}

/// Every buyer failed: that is FAILED, exit 1, never SAFE — even with
/// `--strict`, which only turns an UNSAFE verdict into exit 3.
#[test]
fn buyers_that_all_fail_are_failed_not_safe() {
    let work = Work::new();
    let run = work.booking(&["--buyers", "20", "--lock", "fails", "--strict", "--json"]);
    run.expect_code(1);
    let r = run.report();
    let ctx = run.context();
    assert_eq!(r["status"], "failed", "{ctx}");
    assert_eq!(r["safe"], false, "{ctx}");
    assert_eq!(u(&r, "failed"), 20, "{ctx}");
    assert_eq!(u(&r, "indeterminate"), 0, "{ctx}");
    assert_eq!(u(&r, "sold"), 0, "{ctx}");
    let first = r["first_error"].as_str().unwrap_or_default();
    assert!(first.contains("this strategy always fails"), "{ctx}");
    assert_eq!(stderr_lines(&run), 1, "one line on stderr{ctx}");
    assert!(run.stderr().contains("did not complete"), "{ctx}");
    work.assert_clean();
}

/// Buyers that found no ticket left are counted, and are not failures.
#[test]
fn buyers_turned_away_are_counted_and_safe() {
    let work = Work::new();
    let run = work.booking(&[
        "--lock",
        "file",
        "--buyers",
        "12",
        "--tickets",
        "5",
        "--delay",
        "0",
        "--json",
    ]);
    let r = run.json();
    let ctx = run.context();
    assert_eq!(u(&r, "turned_away"), 7, "{ctx}");
    assert_eq!(u(&r, "sold"), 5, "{ctx}");
    assert_eq!(u(&r, "remaining"), 0, "{ctx}");
    assert_eq!(u(&r, "failed"), 0, "{ctx}");
    assert_eq!(u(&r, "hung"), 0, "{ctx}");
    assert_eq!(r["status"], "safe", "{ctx}");
    assert_eq!(r["safe"], true, "{ctx}");
    work.assert_clean();
}

/// A strategy that hangs is stopped by the watchdog, counted as hung,
/// and every command still prints its whole report.
#[test]
fn a_hanging_strategy_does_not_lose_the_report() {
    let work = Work::new();
    let limit = Duration::from_secs(30);
    // A scenario seed whose scenarios (two free, two stepped, one paused)
    // all have two buyers or more: a lone buyer under `never-unlocks`
    // never waits, so never hangs.
    let seed = (0u64..)
        .find(|&s| {
            Scenario::generate_both(s, 2, SPACE)
                .iter()
                .all(|c| c.buyers >= 2)
        })
        .expect("some seed")
        .to_string();
    for locks in ["never-unlocks,file", "fails,never-unlocks,file"] {
        let run = booking_within(
            &work,
            &[
                "check",
                "--lock",
                locks,
                "--cases",
                "2",
                "--seed",
                &seed,
                "--timeout",
                "1s",
                "--lab",
                "0",
                "--json",
            ],
            limit,
        );
        run.expect_code(3);
        let r = run.report();
        let ctx = run.context();
        assert_eq!(r["pass"], false, "{ctx}");
        let rows = rows(&r, "strategies");
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, locks.split(',').collect::<Vec<_>>(), "{ctx}");
        for (name, row) in rows {
            match name {
                "never-unlocks" => {
                    assert_eq!(u(row, "hung_scenarios"), 5, "{ctx}");
                    assert_eq!(row["kept_claim"], false, "{ctx}");
                }
                "fails" => {
                    assert_eq!(u(row, "failed_scenarios"), 5, "{ctx}");
                    assert_eq!(row["kept_claim"], false, "{ctx}");
                }
                "file" => {
                    assert_eq!(u(row, "scenarios"), 5, "{ctx}");
                    assert_eq!(row["kept_claim"], true, "{ctx}");
                }
                other => panic!("unexpected row {other}{ctx}"),
            }
        }
    }

    let run = booking_within(
        &work,
        &[
            "compare",
            "--lock",
            "never-unlocks,file",
            "--buyers",
            "5",
            "--tickets",
            "3",
            "--delay",
            "0",
            "--repeat",
            "1",
            "--timeout",
            "1s",
            "--format",
            "json",
        ],
        limit,
    );
    run.expect_code(0);
    let r = run.report();
    let ctx = run.context();
    let rows = rows(&r, "rows");
    let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["never-unlocks", "file"], "{ctx}");
    assert_eq!(u(rows[0].1, "hung_runs"), 1, "{ctx}");
    assert_eq!(u(rows[0].1, "safe_runs"), 0, "{ctx}");
    assert_eq!(u(rows[1].1, "safe_runs"), 1, "{ctx}");
    assert_eq!(u(rows[1].1, "hung_runs"), 0, "{ctx}");

    let run = booking_within(
        &work,
        &[
            "--lock",
            "never-unlocks",
            "--buyers",
            "5",
            "--timeout",
            "1s",
            "--json",
        ],
        limit,
    );
    run.expect_code(1);
    let r = run.report();
    let ctx = run.context();
    assert!(u(&r, "hung") >= 1, "{ctx}");
    assert_eq!(r["status"], "failed", "{ctx}");
    assert!(r["events"].to_string().contains("watchdog"), "{ctx}");
    work.assert_clean();
}

/// A panic in a strategy stays in the buyer's process: it is that
/// buyer's failure, printed once at most, and the parent's run directory
/// and stock file are untouched by it.
#[test]
fn a_panic_stays_in_the_child() {
    let work = Work::new();
    let run = work.booking(&[
        "--lock",
        "panics",
        "--buyers",
        "8",
        "--tickets",
        "5",
        "--json",
    ]);
    run.expect_code(1);
    let r = run.report();
    let ctx = run.context();
    assert_eq!(u(&r, "failed"), 8, "{ctx}");
    let first = r["first_error"].as_str().unwrap_or_default();
    assert!(first.starts_with("buyer"), "{ctx}");
    assert!(
        first.contains("panicked at src/lock/strategies/faulty.rs"),
        "{ctx}"
    );
    // The stock file survived the buyers: the parent read it afterwards.
    assert_eq!(u(&r, "remaining"), 5, "{ctx}");
    // Not one panic message per child.
    assert!(stderr_lines(&run) <= 1, "{ctx}");
    assert!(run.stderr().matches("panicked at").count() <= 1, "{ctx}");
    work.assert_clean();
}

/// A parent started with `SIGCHLD` ignored (as some shells and CI
/// runners do) still reaps its buyers and finishes.
#[test]
fn an_inherited_ignored_sigchld_does_not_break_the_run() {
    let work = Work::new();
    let args = [
        "--lock",
        "sem",
        "--buyers",
        "10",
        "--tickets",
        "5",
        "--kill",
        "2",
        "--kill-at",
        "hold",
        "--delay",
        "0",
        "--json",
        "--seed",
        "3",
    ];
    let mut cmd = work.command(&args);
    cmd.stdin(Stdio::null());
    // The test starts `booking` as a shell with SIGCHLD ignored would:
    // only `pre_exec` can set that up, and it is `unsafe`.
    // SAFETY: runs in the forked child before exec; `sigaction` (all that
    // `signal` calls for SIG_IGN) is async-signal-safe and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigIgn)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let (run, _) = Live::spawn(cmd, &args).finish_within(Duration::from_secs(10));
    let r = run.json();
    let ctx = run.context();
    assert_eq!(r["status"], "safe", "{ctx}");
    assert_eq!(u(&r, "indeterminate"), 2, "{ctx}");
    work.assert_clean();
}

/// Processes whose command line is `sleep 31.25`: what `leaves-child`
/// starts in every buyer.
fn strays() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x0031.25\x00")
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// Strategies written to cheat the judge (`src/lock/strategies/cheats.rs`), each
/// claiming safety: none is judged SAFE, none leaves anything behind.
/// Forged records in other buyers' names and second records are rejected
/// (the kernel names each sender); garbage sent to look alive does not
/// hold off the watchdog; a stock emptied in `prepare` and restored when
/// the strategy is dropped is read before the drop; a thread started in the
/// parent stops the forks.
#[test]
fn strategies_that_cheat_are_never_judged_safe() {
    let work = Work::new();
    let base = [
        "--buyers",
        "10",
        "--tickets",
        "5",
        "--delay",
        "0..1ms",
        "--arrival",
        "0..1ms",
        "--seed",
        "4",
        "--timeout",
        "1s",
        "--json",
    ];
    for (lock, rejected) in [
        ("forges-records", true),
        ("reports-twice", true),
        ("fakes-progress", true),
        ("rewrites-stock", false),
    ] {
        let mut args = vec!["--lock", lock];
        args.extend(base);
        let run = booking_within(&work, &args, Duration::from_secs(20));
        let r = run.report();
        assert_ne!(r["status"], "safe", "{lock}{}", run.context());
        assert_eq!(r["safe"], false, "{lock}{}", run.context());
        if rejected {
            assert!(
                u(&r, "rejected") > 0,
                "{lock}: nothing rejected{}",
                run.context()
            );
            run.expect_code(1);
        }
    }
    // Points declared for ever: in a free run a busy loop, in a stepped
    // run a step per point — neither finishes a buyer, both are stopped.
    for stepped in [false, true] {
        let mut args = vec![
            "--lock",
            "endless-points",
            "--buyers",
            "3",
            "--timeout",
            "1s",
            "--json",
        ];
        if stepped {
            args.extend(["--step-seed", "1"]);
        }
        let run = booking_within(&work, &args, Duration::from_secs(20));
        let r = run.report();
        assert_eq!(r["status"], "failed", "stepped {stepped}{}", run.context());
        assert!(u(&r, "hung") > 0, "stepped {stepped}{}", run.context());
        run.expect_code(1);
    }
    // A correct lock whose buyers leave processes behind: safe, and the
    // processes are gone when the run is.
    let before = strays();
    let mut args = vec!["--lock", "leaves-child"];
    args.extend(base);
    let run = booking_within(&work, &args, Duration::from_secs(20));
    assert_eq!(run.report()["status"], "safe", "{}", run.context());
    let left: Vec<u32> = strays()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
    // A thread in the parent: refused before any fork.
    let run = booking_within(
        &work,
        &["--lock", "starts-thread", "--buyers", "3"],
        Duration::from_secs(20),
    );
    run.expect_code(1);
    assert!(run.stderr().contains("2 threads"), "{}", run.context());
    work.assert_clean();
}
