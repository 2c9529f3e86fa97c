//! `--pool K`: K worker processes serve the buyers one after another. The
//! verdict is per buyer, exactly as with a process per buyer: each record
//! must come from the worker that serves that buyer, a failing or hanging
//! strategy is a finding, and what a pool cannot host is refused.

use std::collections::HashSet;

use crate::support::{Work, assert_consistent, u};

fn pids(r: &serde_json::Value) -> HashSet<u64> {
    crate::support::column(r, "pid").into_iter().collect()
}

#[test]
fn a_pool_serves_every_buyer_and_is_judged_per_buyer() {
    let work = Work::new();
    for lock in ["file", "sem", "robust"] {
        let run = work.booking(&[
            "--buyers",
            "30",
            "--tickets",
            "20",
            "--lock",
            lock,
            "--pool",
            "3",
            "--delay",
            "0..300us",
            "--seed",
            "4",
            "--json",
        ]);
        let r = run.json();
        assert_consistent(&r, u(&r, "remaining"), run.pid);
        assert_eq!(r["pool"], 3, "{r}");
        assert_eq!(r["status"], "safe", "{lock}: {r}");
        assert_eq!(u(&r, "sold"), 20);
        assert_eq!(pids(&r).len(), 3, "{lock}: three workers served 30 buyers");
        assert!(r["rerun"].as_str().unwrap().contains("--pool 3"), "{r}");
    }
    work.assert_clean();
}

/// A strategy that panics in every buyer: each buyer of the pool fails on
/// its own (the worker goes on to the next), and the run is FAILED. One
/// that never unlocks: the pool stalls, the watchdog stops it, and every
/// buyer that did not finish is hung — never SAFE.
#[test]
fn a_failing_strategy_on_a_pool_is_never_safe() {
    let work = Work::new();
    let run = work.booking(&["--buyers", "6", "--lock", "panics", "--pool", "2", "--json"]);
    run.expect_code(1);
    let r: serde_json::Value = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_consistent(&r, u(&r, "remaining"), run.pid);
    assert_eq!(
        (u(&r, "failed"), r["status"].as_str()),
        (6, Some("failed")),
        "{r}"
    );

    let run = work.booking(&[
        "--buyers",
        "6",
        "--lock",
        "never-unlocks",
        "--pool",
        "2",
        "--delay",
        "0",
        "--timeout",
        "1s",
        "--json",
    ]);
    run.expect_code(1);
    let r: serde_json::Value = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_consistent(&r, u(&r, "remaining"), run.pid);
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(u(&r, "sold") + u(&r, "hung"), 6, "{r}");
    assert!(u(&r, "hung") >= 4, "{r}");
    work.assert_clean();
}

/// More buyer processes than the limit need a pool; a pool cannot host
/// `--kill` or a stepped run. Each is refused, exit 2, nothing started.
#[test]
fn what_a_pool_cannot_host_is_refused() {
    let work = Work::new();
    for (args, says) in [
        (vec!["--buyers", "100001"], "--pool"),
        (
            vec!["--buyers", "20", "--pool", "2", "--kill", "1"],
            "--kill",
        ),
        (
            vec!["--buyers", "3", "--pool", "2", "--schedule", "0,1,2"],
            "stepped",
        ),
    ] {
        let run = work.booking(&args);
        run.expect_code(2);
        assert!(run.stderr().contains(says), "{}", run.context());
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.context());
    }
    work.assert_clean();
}

/// `compare --pool K` puts a row per pool beside the process-per-buyer row.
#[test]
fn compare_puts_a_pool_beside_a_process_per_buyer() {
    let work = Work::new();
    let r = work
        .booking(&[
            "compare", "--buyers", "40", "--lock", "sem", "--pool", "2", "--delay", "0",
            "--repeat", "1", "--format", "json", "--quiet",
        ])
        .json();
    let rows: Vec<(&str, u64)> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["strategy"].as_str().unwrap(), u(row, "safe_runs")))
        .collect();
    assert_eq!(rows, [("sem", 1), ("sem (pool 2)", 1)]);
}
