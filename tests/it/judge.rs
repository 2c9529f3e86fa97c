//! The judge tells the truth about runs that went wrong: buyers that fail,
//! panic or hang are never SAFE, a hanging strategy does not lose the
//! report of `check` or `compare`, and the small things around a run (the
//! re-run line, the seed's range, output files, a closed pipe, `--json`
//! errors, plurals) hold.
//!
//! Also home to [`Live`], a started `booking` bounded by a deadline, which
//! the `signals` tests share.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use booking::commands::scenario::{SPACE, Scenario};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::util::{Run, Work, count_of, u};

/// How often a deadline loop looks again. Polling, not synchronisation:
/// looking a little late is harmless.
const POLL: Duration = Duration::from_millis(2);

/// A `booking` process started in a process group of its own, its stdout
/// and stderr read on threads (so it never blocks on a full pipe), every
/// wait on it bounded by a deadline: a hang fails the test instead of
/// hanging the suite.
pub(crate) struct Live {
    pub child: Child,
    pub line: String,
    chunks: Receiver<Vec<u8>>,
    stdout: Vec<u8>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Live {
    /// Starts `booking args` in `work` with stdin from /dev/null.
    pub fn start(work: &Work, args: &[&str]) -> Self {
        let mut cmd = work.command(args);
        cmd.stdin(Stdio::null());
        Live::spawn(cmd, args)
    }

    /// Starts `cmd` (built by [`Work::command`], stdout and stderr piped)
    /// in a process group of its own.
    pub fn spawn(mut cmd: Command, args: &[&str]) -> Self {
        let mut child = cmd.process_group(0).spawn().expect("booking starts");
        let mut out = child.stdout.take().expect("stdout is piped");
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        Live {
            child,
            line: format!("booking {}", args.join(" ")),
            chunks,
            stdout: Vec::new(),
            stderr: Some(stderr),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the whole process group and fails the test with `why`.
    fn give_up(&mut self, why: &str) -> ! {
        let _ = killpg(Pid::from_raw(self.pid() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        panic!(
            "$ {}\n{why}, killed\n--- stdout so far\n{}",
            self.line,
            String::from_utf8_lossy(&self.stdout)
        );
    }

    /// Reads stdout until it contains `needle`, for at most `within`.
    pub fn wait_for_stdout(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !String::from_utf8_lossy(&self.stdout).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.stdout.extend(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    self.give_up(&format!("no {needle:?} on stdout within {within:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.give_up(&format!("stdout ended without {needle:?}"))
                }
            }
        }
    }

    /// Waits until the process has at least `n` children (its buyers), for
    /// at most `within`; returns their pids.
    pub fn wait_for_children(&mut self, n: usize, within: Duration) -> Vec<u32> {
        match crate::util::wait_for_children(self.pid(), n, within) {
            Ok(pids) => pids,
            Err(had) => self.give_up(&format!(
                "never had {n} children within {within:?} (had {had})"
            )),
        }
    }

    /// Waits until the process sleeps in the kernel function `wchan` (a
    /// substring, e.g. `pipe_read`: kernels name it `pipe_read` or
    /// `anon_pipe_read`), for at most `within`.
    pub fn wait_for_wchan(&mut self, wchan: &str, within: Duration) {
        if !wait_for_wchan(self.pid(), wchan, within) {
            self.give_up(&format!("never blocked in {wchan} within {within:?}"));
        }
    }

    /// Sends `sig` to the process (not its group: the buyers get nothing).
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).expect("booking is there to signal");
    }

    /// Waits for the process to end, for at most `within`; returns the
    /// finished run and how long the wait took.
    pub fn finish_within(mut self, within: Duration) -> (Run, Duration) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                break status;
            }
            if started.elapsed() > within {
                self.give_up(&format!("still running after {within:?}"));
            }
            std::thread::sleep(POLL);
        };
        let took = started.elapsed();
        // The buyers are reaped and booking has exited: the pipes close.
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.stdout.extend(chunk),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("$ {}\nstdout still open after exit", self.line)
                }
            }
        }
        let stderr = self
            .stderr
            .take()
            .expect("finished once")
            .join()
            .expect("stderr reader");
        let run = Run {
            line: self.line.clone(),
            pid: self.pid(),
            out: Output {
                status,
                stdout: std::mem::take(&mut self.stdout),
                stderr,
            },
        };
        (run, took)
    }
}

/// Waits until process `pid` sleeps in a kernel function whose name
/// contains `wchan` (`/proc/PID/wchan`), for at most `within`. Returns
/// whether it did.
pub(crate) fn wait_for_wchan(pid: u32, wchan: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let path = format!("/proc/{pid}/wchan");
    while Instant::now() < deadline {
        if std::fs::read_to_string(&path).is_ok_and(|w| w.contains(wchan)) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    false
}

/// Whether process `pid` is running (a zombie is not).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Runs `booking args` in `work`; fails the test if it takes longer than
/// `within`.
fn booking_within(work: &Work, args: &[&str], within: Duration) -> Run {
    Live::start(work, args).finish_within(within).0
}

/// Stdout as one JSON object, whatever the exit code.
fn report(run: &Run) -> Value {
    serde_json::from_slice(&run.out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}{}", run.context()))
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
    let r = report(&run);
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
                "--json",
            ],
            limit,
        );
        run.expect_code(3);
        let r = report(&run);
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
    let r = report(&run);
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
    let r = report(&run);
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
    let r = report(&run);
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
    let r = report(&first);
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
        report(&second)["rerun"].as_str(),
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
        let r = report(&run);
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
        let r = report(&run);
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
        let r = report(&run);
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
    assert_eq!(report(&run)["status"], "safe", "{}", run.context());
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
