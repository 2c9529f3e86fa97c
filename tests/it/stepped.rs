//! Stepped mode through the binary: a schedule replays exactly, safe
//! strategies are safe in every interleaving and show blocking, a schedule
//! that does not fit the run is refused, a divergence is never reported as
//! a result, and `check`'s stepped counterexamples re-run exactly.

use serde_json::Value;

use crate::support::{Run, Work, assert_consistent, outcome, u};

fn stepped(work: &Work, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = work.booking(&all);
    let r = run.json();
    assert_consistent(&r, u(&r, "remaining"), run.pid);
    r
}

/// `none`, 4 buyers, 2 tickets: one schedule that sells correctly (each
/// buyer's purchase whole, in turn) and one where all four read before
/// anyone writes. Each gives the same verdict, the same ticket per buyer
/// and the same final count in 20 of 20 runs.
#[test]
fn a_schedule_replays_exactly() {
    let work = Work::new();
    let serial = "0,0,0,0,1,1,1,1,2,2,2,3,3,3";
    let race = "0,1,2,3,0,1,2,3,0,1,2,3,0,1,2,3";
    for (schedule, status) in [(serial, "safe"), (race, "unsafe")] {
        let args = [
            "--buyers",
            "4",
            "--tickets",
            "2",
            "--lock",
            "none",
            "--schedule",
            schedule,
        ];
        let first = stepped(&work, &args);
        assert_eq!(first["status"], status, "{schedule}: {first}");
        assert_eq!(first["schedule"], schedule);
        assert_eq!(first["rerun_exact"], true);
        for _ in 1..20 {
            assert_eq!(
                outcome(&stepped(&work, &args)),
                outcome(&first),
                "{schedule}"
            );
        }
    }
    // The race, exactly: all four read 2 and wrote 1.
    let r = stepped(&work, &crate::support::race::RACE);
    assert_eq!(
        (
            u(&r, "sold"),
            u(&r, "oversold"),
            u(&r, "remaining"),
            u(&r, "lost_updates")
        ),
        (4, 2, 1, 3)
    );
    work.assert_clean();
}

/// The safe strategies are safe in every seeded interleaving, and the
/// trace shows buyers blocked in the lock and woken by a release — or,
/// for `excl`, which polls, a buyer finding the lock file there
/// (`EEXIST`) and trying again.
#[test]
fn safe_strategies_are_safe_in_every_stepped_run() {
    let work = Work::new();
    for lock in ["file", "sem", "excl"] {
        let mut blocked = false;
        let mut woke = false;
        for seed in 1..=4 {
            let seed = seed.to_string();
            let r = stepped(
                &work,
                &[
                    "--buyers",
                    "4",
                    "--tickets",
                    "3",
                    "--lock",
                    lock,
                    "--step-seed",
                    &seed,
                ],
            );
            assert_eq!(r["status"], "safe", "{lock} seed {seed}: {r}");
            assert_eq!((u(&r, "sold"), u(&r, "remaining")), (3, 0));
            let trace = r["trace"].to_string();
            if lock == "excl" {
                blocked |= trace.contains("= -1 EEXIST");
                woke = blocked;
            } else {
                blocked |= trace.contains("blocked in the lock");
                woke |= trace.contains(" woke");
            }
            // Its re-run line replays the schedule it recorded.
            assert!(r["rerun"].as_str().unwrap().contains("--schedule"), "{r}");
        }
        assert!(
            blocked && woke,
            "{lock}: no buyer blocked and woke in 4 schedules"
        );
    }
    work.assert_clean();
}

/// A schedule that does not fit the run is refused with exit 2 and a
/// message that says why: a buyer the run does not have, a buyer blocked
/// in the lock, too short, too long, with --stock.
#[test]
fn a_schedule_that_does_not_fit_is_refused() {
    let work = Work::new();
    let stock = work.stock("s.json", "{\"count\": 3}");
    for (args, needle) in [
        (
            vec!["--buyers", "3", "--schedule", "0,5"],
            "step 2 names buyer 5",
        ),
        (vec!["--buyers", "2", "--schedule", "0"], "too short"),
        (
            vec!["--buyers", "1", "--tickets", "1", "--schedule", "0,0,0,0,0"],
            "too long",
        ),
        (
            vec!["--buyers", "2", "--lock", "file", "--schedule", "0,1,1"],
            "blocked in the lock",
        ),
        (
            vec![
                "--buyers",
                "2",
                "--schedule",
                "0",
                "--stock",
                stock.to_str().unwrap(),
            ],
            "--stock",
        ),
    ] {
        let run = work.booking(&args);
        run.expect_code(2);
        assert!(
            run.stderr().contains(needle),
            "no {needle:?}{}",
            run.context()
        );
        assert_eq!(
            run.stderr().trim_end().lines().count(),
            1,
            "{}",
            run.context()
        );
    }
    assert_eq!(std::fs::read_to_string(&stock).unwrap(), "{\"count\": 3}");
    work.assert_clean();
}

/// Two waiters blocked on one `flock`: which one the release wakes is the
/// kernel's choice. A schedule that bets on one either runs (and is then
/// safe and says who woke) or is refused as diverged — never a result that
/// does not follow the schedule.
#[test]
fn a_divergence_is_refused_not_reported() {
    let work = Work::new();
    // 0 takes the lock; 1 and 2 block; 0 reads, writes, releases; then
    // the schedule bets that 1 (or, the other bet, 2) woke.
    let mut ran = 0;
    for (bet, other) in [(1, 2), (2, 1)] {
        let schedule = format!("0,1,2,0,0,0,{bet},{bet},{bet},{other},{other},{other}");
        for _ in 0..3 {
            let run = work.booking(&[
                "--buyers",
                "3",
                "--tickets",
                "3",
                "--lock",
                "file",
                "--schedule",
                &schedule,
                "--json",
            ]);
            match run.code() {
                Some(0) => {
                    ran += 1;
                    let r = run.json();
                    assert_eq!(r["status"], "safe", "{r}");
                    let trace = r["trace"].to_string();
                    assert!(trace.contains(&format!("buyer {bet} woke")), "{trace}");
                }
                Some(2) => assert!(run.stderr().contains("diverged"), "{}", run.context()),
                _ => panic!("neither a run nor a divergence{}", run.context()),
            }
        }
    }
    assert!(ran > 0, "one of the two waiters must have woken");
    work.assert_clean();
}

/// `check`'s stepped counterexamples carry their schedule and re-run to
/// the same verdict.
#[test]
fn check_counterexamples_re_run_exactly() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        "flock-stock,sem-two",
        "--cases",
        "4",
        "--seed",
        "1",
        "--lab",
        "0",
        "--json",
    ]);
    run.expect_code(0);
    let r: Value = serde_json::from_slice(&run.out.stdout).unwrap();
    for row in r["strategies"].as_array().unwrap() {
        let f = &row["smallest_problem"];
        assert_eq!(f["kind"], "unsafe", "{row}");
        assert_eq!(
            f["exact"], true,
            "the smallest problem is a stepped one: {row}"
        );
        let rerun = f["rerun"].as_str().unwrap();
        assert!(rerun.contains("--schedule"), "{rerun}");
        let args: Vec<&str> = rerun.split_whitespace().skip(1).collect();
        let first = stepped(&work, &args);
        assert_eq!(first["status"], "unsafe", "{rerun}");
        for _ in 0..4 {
            assert_eq!(outcome(&stepped(&work, &args)), outcome(&first), "{rerun}");
        }
    }
    work.assert_clean();
}

/// PCT: at depth 1 the highest-priority buyer always moves, so each
/// buyer's purchase runs whole and even `none` is safe; a deeper one
/// interleaves. `--pct` needs `--step-seed`.
#[test]
fn pct_depth_one_runs_each_buyer_whole() {
    let work = Work::new();
    let r = stepped(
        &work,
        &[
            "--buyers",
            "4",
            "--tickets",
            "2",
            "--lock",
            "none",
            "--step-seed",
            "9",
            "--pct",
            "1",
        ],
    );
    assert_eq!(r["status"], "safe", "{r}");
    let steps: Vec<u64> = r["schedule"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    // Runs of one buyer, each buyer once.
    let mut seen = Vec::new();
    for w in steps.chunk_by(|a, b| a == b) {
        assert!(!seen.contains(&w[0]), "buyer {} came back: {steps:?}", w[0]);
        seen.push(w[0]);
    }
    assert_eq!(seen.len(), 4);
    let run = work.booking(&["--buyers", "2", "--pct", "2"]);
    run.expect_code(2);
    assert!(run.stderr().contains("--step-seed"), "{}", run.context());
    work.assert_clean();
}

/// `wakeups` counts the times a buyer slept on its way to the lock. In
/// this schedule buyer 1 asks for `flock` while buyer 0 holds it, sleeps,
/// and is woken by the unlock: one wakeup. Buyers 0 and 2 find the lock
/// free: none. Without a lock nobody sleeps for one (but for a rare
/// sleep of the machine's own, such as a page read from disk).
#[test]
fn wakeups_count_the_sleeps_on_the_way_to_the_lock() {
    let work = Work::new();
    let r = stepped(
        &work,
        &[
            "--buyers",
            "3",
            "--tickets",
            "2",
            "--lock",
            "file",
            "--schedule",
            "0,1,0,0,0,1,1,1,2,2,2",
        ],
    );
    let wakeups = crate::support::column(&r, "wakeups");
    assert_eq!(wakeups, [0, 1, 0], "{r}");
    assert_eq!(r["wakeups_per_buyer"].as_f64(), Some(1.0 / 3.0), "{r}");

    let none = work
        .booking(&["--buyers", "30", "--lock", "none", "--delay", "0", "--json"])
        .json();
    // A buyer may still sleep once in that window for a reason of the
    // machine's (a page of the binary read back from disk on a loaded CI
    // host was seen once in 30): never for a lock, so never more than a few.
    let slept: u64 = crate::support::column(&none, "wakeups").into_iter().sum();
    assert!(
        slept <= 2,
        "no lock, yet 30 buyers slept {slept} times for it: {none}"
    );
}

/// Every line a stepped run's trace prints is of a kind the README's
/// table describes: a purchase point, a call and its result, blocked,
/// woke, preempted, spinning on. Runs that show each kind: `file` (a
/// buyer blocks and wakes), `check-then-create` (calls between points),
/// `spin` (a busy waiter preempted, and spinning on).
#[test]
fn every_trace_line_is_a_kind_the_readme_describes() {
    let work = Work::new();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let points = ["lock", "read", "write", "unlock", "go on inside the lock"];
    let kind = |line: &str| -> Option<&'static str> {
        if let Some(rest) = line.strip_prefix("   buyer ") {
            let rest = rest.split_once(' ')?.1;
            return if rest == "blocked in the lock" {
                Some("blocked in the lock")
            } else if rest.starts_with("woke") {
                Some("woke")
            } else if rest.starts_with("preempted: ") {
                Some("preempted")
            } else {
                None
            };
        }
        let (step, rest) = line.split_once(": buyer ")?;
        step.trim().parse::<u32>().ok()?;
        let what = rest.split_once(' ')?.1;
        if what.starts_with("spins on (in ") {
            return Some("spins on");
        }
        let (head, call) = match what.split_once(": ") {
            Some((h, c)) => (h, Some(c)),
            None if points.contains(&what) => return Some("point"),
            None => ("", Some(what)),
        };
        if !head.is_empty() && !points.contains(&head) {
            return None;
        }
        let call = call?;
        let named = call.split_once('(').is_some_and(|(n, _)| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let ended = call.contains(") = ") || call.ends_with(") … blocks") || call.ends_with(')');
        (named && ended).then_some("call")
    };
    let mut seen = std::collections::BTreeSet::new();
    for (lock, schedule) in [
        ("file", "0,1,0,0,0,1,1,1,2,2,2"),
        ("check-then-create", "0,1,0,1,1,0,1,0,1,0,1,0"),
    ] {
        let buyers = if lock == "file" { "3" } else { "2" };
        let r = work
            .booking(&[
                "--buyers",
                buyers,
                "--tickets",
                "2",
                "--lock",
                lock,
                "--schedule",
                schedule,
                "--json",
            ])
            .json();
        for line in r["trace"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            seen.insert(kind(line).unwrap_or_else(|| panic!("{lock}: undocumented line {line:?}")));
        }
    }
    for seed in 1..=6 {
        let r = work
            .booking(&[
                "--buyers",
                "3",
                "--tickets",
                "2",
                "--lock",
                "spin",
                "--step-seed",
                &seed.to_string(),
                "--json",
            ])
            .json();
        for line in r["trace"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            seen.insert(kind(line).unwrap_or_else(|| panic!("spin: undocumented line {line:?}")));
        }
    }
    for k in [
        "point",
        "call",
        "blocked in the lock",
        "woke",
        "preempted",
        "spins on",
    ] {
        assert!(seen.contains(k), "no {k:?} line in the runs: {seen:?}");
    }
    for marker in [
        "… blocks",
        "blocked in the lock",
        "woke: flock returned ok",
        "preempted: it ran",
        "spins on (in lock)",
    ] {
        assert!(
            readme.contains(marker),
            "the README's table has no {marker:?}"
        );
    }
    work.assert_clean();
}

/// Where system calls cannot be pause points (a security module refuses a
/// parent its child's seccomp listener), or `BOOKING_STEP_CALLS=off` turns
/// them off, a stepped run pauses its buyers at their points only: the
/// trace says why, no step is a system call, the verdict holds, and the
/// re-run line carries the variable and repeats the run exactly. The same
/// schedule with calls on steps at `flock`, so the variable matters.
#[test]
fn without_call_stops_a_run_steps_at_its_points() {
    let work = Work::new();
    let points_only = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        let mut cmd = work.command(&all);
        cmd.env("BOOKING_STEP_CALLS", "off");
        let run = Run::of(cmd, &all);
        let r = run.json();
        assert_consistent(&r, u(&r, "remaining"), run.pid);
        r
    };
    let first_args: Vec<&str> = "--buyers 3 --tickets 2 --lock file --step-seed 7"
        .split(' ')
        .collect();
    let first = points_only(&first_args);
    assert_eq!(first["status"], "safe", "{first}");
    let trace: Vec<&str> = first["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        trace[0].trim(),
        "system calls are not pause points in this run (BOOKING_STEP_CALLS=off)"
    );
    assert!(
        !trace.iter().any(|l| l.contains("flock(")),
        "a step named a call: {trace:?}"
    );
    let rerun = first["rerun"].as_str().unwrap();
    assert!(
        rerun.starts_with("BOOKING_STEP_CALLS=off booking --buyers 3 "),
        "{rerun}"
    );
    let again = format!(
        "--buyers 3 --tickets 2 --lock file --schedule {}",
        first["schedule"].as_str().unwrap()
    );
    let again: Vec<&str> = again.split(' ').collect();
    for _ in 0..5 {
        let r = points_only(&again);
        assert_eq!(outcome(&r), outcome(&first));
        assert_eq!(r["trace"], first["trace"]);
    }
    let with_calls = stepped(&work, &again);
    assert!(
        with_calls["trace"].to_string().contains("flock("),
        "{with_calls}"
    );
    work.assert_clean();
}
