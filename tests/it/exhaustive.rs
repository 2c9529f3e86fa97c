//! `check --exhaustive`: every schedule of two buyers, stepped at every
//! system call, with partial-order reduction. The safe strategies are
//! proved safe for that bound; an unsafe one gets its shortest
//! counterexample, which repeats exactly.

use crate::support::{Work, u};

/// Every safe strategy that a stepped run can schedule: proved, every
/// search complete, not one schedule wrong, and the count of schedules
/// run is printed (at least one per search).
#[test]
fn the_safe_strategies_are_proved_safe_for_two_buyers() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--exhaustive",
        "--lock",
        "file,sem,fcntl,ofd,sysv,robust,excl",
        "--json",
    ]);
    assert_eq!(run.code(), Some(0), "{}", run.context());
    let r = run.json();
    let strategies = r["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 7, "{}", run.context());
    for s in strategies {
        assert_eq!(s["proved"], true, "{s}");
        for search in s["searches"].as_array().unwrap() {
            assert_eq!(search["complete"], true, "{s}");
            assert_eq!(u(search, "problems"), 0, "{s}");
            assert!(u(search, "schedules") >= 1, "{s}");
        }
    }
    work.assert_clean();
}

/// Unsafe strategies are found unsafe, with a shortest counterexample
/// whose re-run line (a `--schedule`) gives the same verdict and final
/// count every time.
#[test]
fn an_unsafe_strategy_gets_its_shortest_counterexample_and_it_repeats() {
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--exhaustive",
        "--lock",
        "lock-write-only,sem-private",
        "--json",
    ]);
    assert_eq!(run.code(), Some(0), "unsafe as claimed: {}", run.context());
    let r = run.json();
    for s in r["strategies"].as_array().unwrap() {
        assert_eq!(s["kept_claim"], true, "{s}");
        let searches = s["searches"].as_array().unwrap();
        let c = searches
            .iter()
            .find_map(|x| x.get("shortest"))
            .unwrap_or_else(|| panic!("no counterexample: {s}"));
        assert!(searches.iter().all(|x| u(x, "problems") > 0), "{s}");
        let rerun = c["rerun"].as_str().unwrap();
        assert!(rerun.contains("--schedule"), "{rerun}");
        let args: Vec<&str> = rerun.split_whitespace().skip(1).collect();
        let mut args = args.clone();
        args.push("--json");
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let again = work.booking(&args).json();
            assert_eq!(again["status"], "unsafe", "{rerun}: {again}");
            outcomes.push(crate::support::outcome(&again));
        }
        assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "{rerun}");
    }
    work.assert_clean();
}

/// A database strategy is not explored, and says why.
#[test]
fn a_strategy_that_cannot_be_stepped_says_so() {
    let work = Work::new();
    let r = work
        .booking(&["check", "--exhaustive", "--lock", "sql-atomic", "--json"])
        .json();
    let s = &r["strategies"][0];
    assert!(
        s["not_explored"]
            .as_str()
            .unwrap()
            .contains("cannot schedule"),
        "{s}"
    );
    assert_eq!(s["proved"], false, "{s}");
}

/// Where system calls are not pause points (here because
/// `BOOKING_STEP_CALLS=off` asks so; elsewhere because the machine
/// refuses), the schedules are those of the purchase points only, and a
/// race between two of a strategy's own calls is not among them: no
/// strategy is proved safe, and the report says why.
#[test]
fn without_call_stops_nothing_is_proved() {
    let work = Work::new();
    let args = ["check", "--exhaustive", "--lock", "file", "--json"];
    let mut cmd = work.command(&args);
    cmd.env("BOOKING_STEP_CALLS", "off");
    let run = crate::support::Run::of(cmd, &args);
    assert_eq!(run.code(), Some(0), "{}", run.context());
    let r = run.json();
    assert_eq!(r["points_only"], "BOOKING_STEP_CALLS=off", "{r}");
    let s = &r["strategies"][0];
    assert_eq!(s["proved"], false, "{s}");
    assert_eq!(s["kept_claim"], true, "{s}");
    work.assert_clean();
}
