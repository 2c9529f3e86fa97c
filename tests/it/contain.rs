//! The strategy's parent-side code is contained (see `sys::contain`; and
//! `check` and `grade` run each scenario as a plain run in a process of
//! its own, `commands::apart`): a `prepare` or `buyer_died` that panics,
//! hangs or prints a forged report and exits is a failure `check` reports
//! and goes on from, that `grade` writes to its files with exit 3, and
//! Ctrl-C ends a run stuck in it at once. The strategies are the zoo's
//! `rogue` file.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Live, Work, children_of, wait_until_gone};

#[test]
fn check_reports_a_panicking_prepare_and_goes_on_with_the_next_strategy() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        "prepare-panics,sem",
        "--cases",
        "1",
        "--seed",
        "7",
        "--lab",
        "0",
    ]);
    run.expect_code(3);
    let out = run.stdout();
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}{}", run.context()))
            .to_string()
    };
    assert!(
        row("prepare-panics").contains("BROKE ITS CLAIM"),
        "{}",
        run.context()
    );
    assert!(
        // The problem may wrap over lines: compare the words.
        out.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains("the strategy's prepare panicked at src/lock/strategies/rogue.rs"),
        "{}",
        run.context()
    );
    assert!(row("sem").contains("kept its claim"), "{}", run.context());
    work.assert_clean();
}

/// Each rogue strategy gets a failed grade, exit 3, its reason in
/// results.json and JUnit; the forged files are overwritten.
#[test]
fn grade_writes_each_strategy_failure_and_exits_3() {
    let work = Work::new();
    let (r, j) = (work.path("results.json"), work.path("junit.xml"));
    for (lock, reason) in [
        ("prepare-panics", "the strategy's prepare panicked at"),
        ("died-panics", "the strategy's buyer_died panicked at"),
        (
            "died-hangs",
            "the strategy's buyer_died did not return within 1s",
        ),
        ("prepare-forges", "the strategy's prepare ended the process"),
    ] {
        let started = Instant::now();
        let run = work.booking(&[
            "grade",
            "--lock",
            lock,
            "--cases",
            "1",
            "--seed",
            "3",
            "--lab",
            "0",
            "--results",
            r.to_str().unwrap(),
            "--junit",
            j.to_str().unwrap(),
        ]);
        run.expect_code(3);
        // Four kills, each a helper killed at its 1 s limit, and the rest.
        assert!(started.elapsed() < Duration::from_secs(30), "{lock}");
        let results: Value = serde_json::from_str(&std::fs::read_to_string(&r).unwrap())
            .unwrap_or_else(|e| panic!("{lock}: results.json: {e}{}", run.context()));
        assert!(
            results["score"].as_f64().unwrap() < 100.0,
            "{lock}: {results}"
        );
        let failed: Vec<&Value> = results["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] == "failed")
            .collect();
        assert!(
            failed
                .iter()
                .any(|t| t["output"].as_str().unwrap().contains(reason)),
            "{lock}: no failed test says {reason:?}: {results}"
        );
        let junit = std::fs::read_to_string(&j).unwrap();
        assert!(
            junit.contains("<failure") && junit.contains("booking grade"),
            "{lock}: {junit}"
        );
        assert!(
            !junit.contains("forged") && !run.stdout().contains("100/100"),
            "{lock}"
        );
    }
    // `prepare-forges` ended booking's process in its `prepare`, as a
    // SIGKILL would: the next run sweeps what it left.
    work.booking(&["--buyers", "2", "--lock", "sem"])
        .expect_code(0);
    work.assert_clean();
}

/// Ctrl-C while the parent waits on a `buyer_died` stuck on a semaphore:
/// the run ends within a second of the signal, nothing left running.
#[test]
fn ctrl_c_during_a_hanging_buyer_died_ends_the_run_within_a_second() {
    let work = Work::new();
    let args = [
        "--buyers",
        "1",
        "--kill",
        "1",
        "--lock",
        "died-hangs",
        "--delay",
        "0",
    ];
    let live = Live::spawn(work.command(&args), &args);
    // The one buyer dies at once; then the only child that can wait on a
    // semaphore is the helper running `buyer_died`.
    let helper = child_on_a_futex(&live, "no helper waiting in buyer_died");
    live.interrupt_within_a_second("while the strategy's buyer_died ran");
    wait_until_gone(&[helper], Duration::from_secs(1)).expect("the helper is gone");
    work.assert_clean();
}

/// Ctrl-C while the strategy's `prepare` waits for ever on a semaphore, in
/// booking's own process (it cannot move to a helper: its state must live
/// in the parent): the tick ends booking within a second of the signal.
#[test]
fn ctrl_c_during_a_hanging_prepare_ends_the_run_within_a_second() {
    let work = Work::new();
    let args = ["--buyers", "2", "--lock", "prepare-hangs"];
    let live = Live::spawn(work.command(&args), &args);
    // Waiting in `prepare`: booking itself asleep on a futex, no buyer yet.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(format!("/proc/{}/wchan", live.pid()))
        .is_ok_and(|w| w.contains("futex"))
    {
        assert!(Instant::now() < deadline, "booking never waited in prepare");
        std::thread::yield_now();
    }
    assert!(
        children_of(live.pid()).is_empty(),
        "no buyer before prepare"
    );
    live.interrupt_within_a_second("prepare");
    // Ended inside strategy code, as by SIGKILL: the next run sweeps.
    work.booking(&["--buyers", "2", "--lock", "sem"])
        .expect_code(0);
    work.assert_clean();
}

/// `check` runs each scenario as a plain `booking` process of its own: the
/// strategy's `prepare` hangs in that process, never in the judge's. A
/// `SIGINT` to the judge alone ends the check within a second: the judge
/// passes the stop on, the run ends itself, and nothing is left.
#[test]
fn ctrl_c_to_check_while_a_scenario_hangs_in_prepare_ends_it_within_a_second() {
    let work = Work::new();
    let args = [
        "check",
        "--lock",
        "prepare-hangs",
        "--cases",
        "1",
        "--lab",
        "0",
        "--seed",
        "1",
    ];
    let live = Live::spawn(work.command(&args), &args);
    // The scenario's run: the judge's child, asleep on a futex in prepare,
    // started with the plain command line (no `check` in it).
    let scenario = child_on_a_futex(&live, "no scenario waiting in prepare");
    let cmdline = std::fs::read(format!("/proc/{scenario}/cmdline")).unwrap();
    let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    assert!(
        words.contains(&&b"--buyers"[..]) && !words.contains(&&b"check"[..]),
        "the scenario runs as a plain command: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    // Under the name the judge was started as, not /proc/self/exe.
    assert_eq!(
        words[0],
        env!("CARGO_BIN_EXE_booking").as_bytes(),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    live.interrupt_within_a_second("a scenario's run");
    wait_until_gone(&[scenario], Duration::from_secs(1)).expect("the scenario's run is gone");
    // The run ended inside strategy code, as by SIGKILL: the next run
    // sweeps what it made.
    work.booking(&["--buyers", "2", "--lock", "sem"])
        .expect_code(0);
    work.assert_clean();
}

/// The first child of `live` found asleep on a futex (waited for up to
/// 20 s; `none` is the failure's message).
fn child_on_a_futex(live: &Live, none: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = children_of(live.pid()).into_iter().find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/wchan")).is_ok_and(|w| w.contains("futex"))
        });
        if let Some(c) = waiting {
            return c;
        }
        assert!(Instant::now() < deadline, "{none}");
        std::thread::yield_now();
    }
}
