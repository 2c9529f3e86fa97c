//! Spinning is not hanging: the zoo's correct spinning locks (`spin`, a
//! test-and-set busy-wait; `spin-yield`, the same with `sched_yield`;
//! `ticket`; `bakery`; `peterson`, a tournament of Peterson locks) wait
//! without ever sleeping in the kernel, so the
//! stepped scheduler preempts a waiter that runs a quantum without reaching
//! a point, counts that as a step, and lets the holder move. Each is
//! judged safe by `check`, stepped scenarios included, and a stepped run
//! in which a waiter spins replays exactly.

use crate::support::{Work, outcome, u};

const SPINNING: [&str; 5] = ["spin", "spin-yield", "ticket", "bakery", "peterson"];

#[test]
fn the_spinning_locks_keep_their_claim_in_check() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        &SPINNING.join(","),
        "--cases",
        "4",
        "--lab",
        "0",
        "--seed",
        "5",
        "--json",
    ]);
    let r = run.json();
    for s in r["strategies"].as_array().unwrap() {
        assert_eq!(s["kept_claim"], true, "{}", run.context());
        assert_eq!(u(s, "hung_scenarios"), 0, "{}", run.context());
    }
    assert_eq!(
        r["strategies"].as_array().unwrap().len(),
        SPINNING.len(),
        "{}",
        run.context()
    );
    work.assert_clean();
}

/// Three buyers, one ticket each way round: a stepped run in which a
/// waiter spins behind the holder — preempted where its loop makes no
/// system call, stopped at each `sched_yield` where it yields (the trace
/// says which) — is never hung, and its schedule replays to the same
/// outcome five times.
#[test]
fn a_spinning_waiter_is_preempted_and_its_schedule_replays() {
    let work = Work::new();
    for lock in SPINNING {
        let mut preempted = false;
        let stepped = |how: &str, value: &str| {
            work.booking(&[
                "--buyers",
                "3",
                "--tickets",
                "2",
                "--lock",
                lock,
                how,
                value,
                "--json",
            ])
        };
        for seed in 1..=6 {
            let run = stepped("--step-seed", &seed.to_string());
            let r = run.json();
            assert_eq!(r["status"], "safe", "{lock}: {}", run.context());
            assert_eq!(u(&r, "hung"), 0, "{lock}: {}", run.context());
            let spun = r["trace"].as_array().unwrap().iter().any(|l| {
                let l = l.as_str().unwrap();
                l.contains("preempted") || l.contains("sched_yield()")
            });
            if !spun {
                continue;
            }
            preempted = true;
            let schedule = r["schedule"].as_str().unwrap().to_string();
            let first = outcome(&r);
            for _ in 0..5 {
                let again = stepped("--schedule", &schedule).json();
                assert_eq!(outcome(&again), first, "{lock}: --schedule {schedule}");
            }
            break;
        }
        assert!(preempted, "{lock}: no seed of 1..6 made a waiter spin");
    }
    work.assert_clean();
}
