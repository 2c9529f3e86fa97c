//! Nothing escapes a run: every process it creates, at any depth — a
//! buyer's 20-deep chain, a helper `prepare` starts with `setsid` and a
//! double fork, processes flooding the outcome channel — is gone when
//! `booking` exits, on a normal end and on Ctrl-C; and the flood does not
//! hold the run past its watchdog. The cheats are in
//! `src/lock/strategies/cheats.rs`.
//!
//! Each run is found by a marker of its own in `booking`'s environment,
//! which every process it forks inherits: a process still running with it
//! after `booking` has exited escaped. The sweep kills and reaps before
//! `booking` exits, so the look comes at once, without waiting.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::support::proc::POLL;
use super::support::{Live, Run, Work, alive, u};

const MARK: &str = "BOOKING_ESCAPE_MARK";

/// A marker no other run (of this suite or another) carries.
fn new_mark(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// The running processes whose environment carries `mark`.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("{MARK}={mark}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// `booking args` carrying a new marker, started.
fn start_marked(work: &Work, args: &[&str], tag: &str) -> (Live, String) {
    let mark = new_mark(tag);
    let mut cmd = work.command(args);
    cmd.env(MARK, &mark).stdin(Stdio::null());
    (Live::spawn(cmd, args), mark)
}

/// Waits (at most `within`) for `live` to end, then asserts that no
/// process carrying `mark` still runs — killing any first, so that a
/// failure leaves nothing to the rest of the suite. Returns the run and how
/// long the wait took.
fn finish_with_nothing_left(live: Live, mark: &str, within: Duration) -> (Run, Duration) {
    let (run, took) = live.finish_within(within);
    let left = marked(mark);
    for &pid in &left {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    assert!(
        left.is_empty(),
        "outlived the run: {left:?}{}",
        run.context()
    );
    (run, took)
}

/// The number in the run's event "killed N processes left behind", or 0.
fn killed(run: &Run) -> u64 {
    let r = run.report();
    r["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str()?.strip_prefix("killed "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

/// Every buyer forks a chain of 20 sleepers and buys once the deepest
/// exists; `prepare`, in the parent, starts a helper that calls `setsid`
/// and double-forks (adopted all the same: the parent is a subreaper
/// before `prepare` runs). Each is killed, counted in the events, and none
/// survives; the runs — whose lock is a correct `flock` — are still SAFE.
#[test]
fn a_chain_twenty_deep_and_a_setsid_helper_are_gone_with_the_run() {
    let work = Work::new();
    for (lock, expected) in [("forks-chain", 60), ("prepare-setsid", 1)] {
        let args = ["--buyers", "3", "--lock", lock, "--json"];
        let (live, mark) = start_marked(&work, &args, lock);
        let (run, _) = finish_with_nothing_left(live, &mark, Duration::from_secs(30));
        assert_eq!(run.report()["status"], "safe", "{}", run.context());
        assert_eq!(killed(&run), expected, "{}", run.context());
    }
    work.assert_clean();
}

/// Eighteen processes flood the outcome channel: the run ends within its
/// 2 s watchdog plus a margin (before, the parent drained for 21 s to over
/// a minute), their messages are rejected (never SAFE), and none survives.
/// The bound, 10 s, is loose on purpose: on a loaded 2-core machine the
/// eighteen busy senders compete with the run for the CPU; what it must
/// catch is a drain that never ends.
#[test]
fn strays_flooding_the_channel_end_within_the_watchdog() {
    let work = Work::new();
    let args = [
        "--buyers",
        "3",
        "--lock",
        "floods-channel",
        "--timeout",
        "2s",
        "--json",
    ];
    let (live, mark) = start_marked(&work, &args, "flood");
    let (run, took) = finish_with_nothing_left(live, &mark, Duration::from_secs(60));
    assert!(
        took < Duration::from_secs(10),
        "the run took {took:?} against a 2 s watchdog{}",
        run.context()
    );
    let r = run.report();
    assert_ne!(r["status"], "safe", "{}", run.context());
    assert!(u(&r, "rejected") > 0, "{}", run.context());
    run.expect_code(1);
    work.assert_clean();
}

/// Ctrl-C while the chains sleep and the buyers wait on their delay: the
/// run is interrupted, and still nothing survives it.
#[test]
fn a_chain_is_gone_when_the_run_is_interrupted() {
    let work = Work::new();
    let args = [
        "--buyers",
        "3",
        "--lock",
        "forks-chain",
        "--delay",
        "20s",
        "--timeout",
        "60s",
    ];
    let (live, mark) = start_marked(&work, &args, "interrupt");
    // Until the three chains are whole: 60 sleepers, 3 buyers and booking.
    let deadline = Instant::now() + Duration::from_secs(30);
    while marked(&mark).len() < 64 {
        assert!(
            Instant::now() < deadline,
            "the chains never grew: {} processes",
            marked(&mark).len()
        );
        std::thread::sleep(POLL);
    }
    live.signal(Signal::SIGINT);
    let (run, _) = finish_with_nothing_left(live, &mark, Duration::from_secs(10));
    assert_eq!(run.code(), Some(130), "{}", run.context());
    work.assert_clean();
}
