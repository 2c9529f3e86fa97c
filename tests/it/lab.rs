//! The lab's workload: locks that are only wrong at the lab's scale (the
//! hidden `ticket-ring` and `timeout-takeover`) are caught by the lab's
//! scenarios, and a correct lock keeps its claim through `check`'s.

use serde_json::Value;

use crate::support::{Work, u};

/// Each lock through the one lab scenario that reaches its bug, run as
/// `check` runs it (its re-run line); the race is certain there, so one
/// run suffices:
/// * `ticket-ring` is exact up to 64 buyers holding or waiting; the
///   `readme` scenario releases 150 at once for 100 tickets held 1–5 ms
///   each, so every ticket `t` below 86 shares its slot with a `t + 64`
///   already waiting, and two buyers enter together;
/// * `timeout-takeover` is exact for holds under 300 ms; the `held`
///   scenario stops two holders for 1.2 s, and at most one of them can be
///   the last to take the lock, so buyers wait 300 ms behind the other and
///   take it over: two sections overlap.
///
/// Within their limits both are correct (64 buyers; no pause), which is
/// why the small scenarios of `check` cannot catch them.
#[test]
fn the_lab_scenarios_reach_what_the_small_ones_cannot() {
    let work = Work::new();
    let run = |args: &[&str]| -> Value {
        let run = work.booking(args);
        run.report()
    };
    let ring = run(&[
        "--buyers",
        "150",
        "--tickets",
        "100",
        "--lock",
        "ticket-ring",
        "--timeout",
        "500ms",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(ring["status"], "unsafe", "{ring}");
    let small = run(&[
        "--buyers",
        "64",
        "--lock",
        "ticket-ring",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(small["status"], "safe", "64 waiters fit the ring: {small}");
    let held = run(&[
        "--buyers",
        "120",
        "--tickets",
        "100",
        "--lock",
        "timeout-takeover",
        "--pause",
        "2",
        "--pause-at",
        "hold",
        "--pause-for",
        "1200ms",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(held["status"], "unsafe", "{held}");
    assert!(u(&held, "overlapping") >= 2, "{held}");
    let unpaused = run(&[
        "--buyers",
        "150",
        "--lock",
        "timeout-takeover",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(unpaused["status"], "safe", "holds under 300 ms: {unpaused}");
    work.assert_clean();
}

/// A correct lock keeps its claim through the lab's workload in `check`:
/// 1 free, 1 stepped, 1 paused and the 6 lab scenarios (each skipped only
/// where the process limit cannot start it), none with a problem.
#[test]
fn a_correct_lock_passes_the_lab() {
    let work = Work::new();
    let run = work.booking(&[
        "check", "--lock", "sem", "--cases", "1", "--seed", "2", "--json",
    ]);
    let r = run.json();
    let s = r["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == "sem")
        .unwrap_or_else(|| panic!("sem not checked: {r}"));
    let ran = u(s, "scenarios") + u(s, "skipped_scenarios");
    assert_eq!(ran, 9, "{}", run.context());
    assert_eq!(s["kept_claim"], true, "{}", run.context());
    assert!(s["smallest_problem"].is_null(), "{}", run.context());
    assert!(
        run.stdout().contains("\"lab_rounds\": 1"),
        "{}",
        run.context()
    );
    work.assert_clean();
}

/// Strategies that lock only when the run looks like a test: under a
/// small scenario's counts they lock (SAFE), under the README's own run —
/// 150 buyers for 100 tickets, which the lab's `readme` scenario runs in
/// every check and grade — they do not. A 20 ms delay makes the race
/// certain there: the 150 buyers, released together, all read the stock
/// long before the first writes it.
#[test]
fn strategies_that_look_for_tests_are_caught_by_the_readmes_own_run() {
    let work = Work::new();
    for lock in ["unless-100-tickets", "unless-150-buyers"] {
        let small = work
            .booking(&[
                "--buyers",
                "40",
                "--tickets",
                "60",
                "--lock",
                lock,
                "--seed",
                "1",
                "--json",
            ])
            .json();
        assert_eq!(small["status"], "safe", "{lock} locks in a test: {small}");
        let readme = work
            .booking(&[
                "--buyers",
                "150",
                "--tickets",
                "100",
                "--lock",
                lock,
                "--delay",
                "20ms",
                "--seed",
                "1",
                "--json",
            ])
            .report();
        assert_eq!(readme["status"], "unsafe", "{lock}: {readme}");
        assert!(u(&readme, "oversold") > 0, "{lock}: {readme}");
    }
    work.assert_clean();
}

/// A strategy that locks only when its command line names `check` or
/// `grade` (`unless-typed`): each scenario of `check` runs as the plain
/// command a user types, so it never locks there, and is caught. (The
/// paused scenario stops every buyer after its read: with no lock, two
/// overlap for certain.)
#[test]
fn a_strategy_that_reads_its_command_line_sees_a_plain_run() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        "unless-typed",
        "--cases",
        "2",
        "--lab",
        "0",
        "--seed",
        "1",
        "--json",
    ]);
    run.expect_code(3);
    let r: serde_json::Value = serde_json::from_str(&run.stdout()).expect("check's JSON");
    let s = &r["strategies"][0];
    assert_eq!(s["kept_claim"], false, "{}", run.context());
    assert!(u(s, "unsafe_scenarios") >= 1, "{}", run.context());
    work.assert_clean();
}
