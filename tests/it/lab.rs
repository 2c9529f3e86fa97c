//! The lab's workload in `check`: locks that are only wrong at the lab's
//! scale (the hidden `ticket-ring` and `timeout-takeover`) are caught, and
//! a correct lock passes it.

use serde_json::Value;

use crate::support::{Work, u};

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == name)
        .unwrap_or_else(|| panic!("{name} not checked: {report}"))
}

/// One check with one small case of each kind: the small scenarios (up to
/// 40 buyers, holds of up to 3 ms) cannot reach either bug, so each must
/// be found by a lab scenario, and one run of it suffices, the race being
/// certain there:
/// * `ticket-ring` is exact up to 64 buyers holding or waiting; the lab's
///   first scenario has 150 released at once for 100 tickets held 1-5 ms
///   each, so every ticket `t` below 86 shares its slot with a `t + 64`
///   already waiting, and two buyers enter together;
/// * `timeout-takeover` is exact for holds under 300 ms; the `held`
///   scenario stops two holders for 1.2 s, and at most one of them can be
///   the last to take the lock, so buyers wait 300 ms behind the other and
///   take it over: two sections overlap.
///
/// A short watchdog keeps the ring's stranded waiters (a waiter that missed
/// its slot waits for a turn that never comes) from costing seconds.
#[test]
fn check_catches_the_locks_only_the_lab_reaches() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        "ticket-ring,timeout-takeover",
        "--cases",
        "1",
        "--seed",
        "1",
        "--timeout",
        "500ms",
        "--json",
    ]);
    run.expect_code(3);
    let r = run.report();
    let ctx = run.context();
    for (name, lab) in [("ticket-ring", None), ("timeout-takeover", Some("held"))] {
        let s = row(&r, name);
        assert_eq!(s["kept_claim"], false, "{name}{ctx}");
        assert!(u(s, "unsafe_scenarios") >= 1, "{name}{ctx}");
        let f = &s["smallest_problem"];
        assert_eq!(f["kind"], "unsafe", "{name}{ctx}");
        let found = f["scenario"]["lab"].as_str();
        assert!(found.is_some(), "found outside the lab: {name}{ctx}");
        if let Some(lab) = lab {
            assert!(
                s.to_string().contains(lab),
                "caught in the {lab} scenario: {s}"
            );
        }
        assert!(f["rerun"].as_str().unwrap().starts_with("booking --buyers"));
    }
    assert!(run.stdout().contains("\"lab_rounds\": 1"), "{ctx}");
    work.assert_clean();
}

/// A correct lock keeps its claim through the lab's workload: 1 free, 1
/// stepped, 1 paused and the 5 lab scenarios, none with a problem.
#[test]
fn a_correct_lock_passes_the_lab() {
    let work = Work::new();
    let run = work.booking(&[
        "check", "--lock", "sem", "--cases", "1", "--seed", "2", "--json",
    ]);
    run.expect_code(0);
    let r = run.json();
    let s = row(&r, "sem");
    let ran = u(s, "scenarios") + u(s, "skipped_scenarios");
    assert_eq!(ran, 8, "{}", run.context());
    assert_eq!(s["kept_claim"], true, "{}", run.context());
    assert!(s["smallest_problem"].is_null(), "{}", run.context());
    work.assert_clean();
}
