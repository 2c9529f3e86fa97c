//! The leased strategies against a real Redis: a throwaway `redis-server`
//! ([`Redis`]) for each test. Where Redis is not installed, the tests that
//! need it are ignored, and say why (under CI they fail).
//!
//! The lessons are made certain by a wide window: every buyer is stopped
//! (`--pause`, `SIGSTOP`) for 1 s just after reading, under a lease of
//! 50 ms, so the next buyer takes the lock and reads the same count with
//! 950 ms to spare.

use std::time::{Duration, Instant};

use crate::support::redis::Redis;
use crate::support::{Work, assert_consistent, count_of, stopped_children, u};

/// Two buyers, two tickets, both stopped for 1 s after reading, under
/// `lock` with a 50 ms lease: the report (checked against its records and
/// the stock file), and the stock file's count after.
fn paused_run(work: &Work, redis: &Redis, lock: &str) -> (serde_json::Value, u64) {
    let stock = work.stock(&format!("{lock}.json"), r#"{"count": 2}"#);
    let run = work.booking(&[
        "--buyers",
        "2",
        "--stock",
        stock.to_str().unwrap(),
        "--lock",
        lock,
        "--delay",
        "0",
        "--pause",
        "2",
        "--pause-at",
        "read",
        "--pause-for",
        "1s",
        "--lease",
        "50ms",
        "--lock-server",
        &redis.url,
        "--json",
    ]);
    run.expect_code(0);
    let r = run.json();
    let count = count_of(&stock);
    assert_consistent(&r, count, run.pid);
    (r, count)
}

/// The events of a report, as one text.
fn events(r: &serde_json::Value) -> String {
    r["events"].to_string()
}

/// A lease is not a lock: the first buyer sleeps past its lease, the
/// second takes the lock and reads the same count, both write. Two sold,
/// one gone from the stock: the ticket was sold twice.
#[test]
#[cfg_attr(
    no_redis,
    ignore = "Redis is not installed (no redis-server on PATH): install it, then touch build.rs"
)]
fn a_lease_expires_under_a_paused_holder_and_a_ticket_sells_twice() {
    let redis = Redis::start();
    let work = Work::new();
    let (r, count) = paused_run(&work, &redis, "redis-lease");
    assert_eq!(u(&r, "sold"), 2, "{r}");
    assert_eq!(count, 1, "both wrote 2 - 1: {r}");
    assert_eq!(u(&r, "double_booked"), 1, "{r}");
    assert_eq!(r["safe"], false, "{r}");
    assert!(events(&r).contains("its lease had expired"), "{r}");
    assert!(
        events(&r).contains("stopped (SIGSTOP) at read for 1s"),
        "{r}"
    );
    assert_eq!(redis.keys(), Some(vec![]), "the run's keys are deleted");
    work.assert_clean();
}

/// The same pause under a fencing token: the sleeper's write is refused
/// (a newer token read the stock), it takes a new lease and buys the
/// next ticket. Safe, and the refusal is in the report.
#[test]
#[cfg_attr(
    no_redis,
    ignore = "Redis is not installed (no redis-server on PATH): install it, then touch build.rs"
)]
fn a_fencing_token_refuses_the_paused_holder() {
    let redis = Redis::start();
    let work = Work::new();
    let (r, count) = paused_run(&work, &redis, "redis-fenced");
    assert_eq!(u(&r, "sold"), 2, "{r}");
    assert_eq!(count, 0, "{r}");
    assert_eq!(u(&r, "double_booked"), 0, "{r}");
    assert_eq!(r["safe"], true, "{r}");
    assert!(events(&r).contains("the store refused it"), "{r}");
    assert_eq!(redis.keys(), Some(vec![]), "the run's keys are deleted");
    work.assert_clean();
}

/// Without a pause, and with a lease far longer than any hold, the lease
/// does exclude: 30 buyers, 20 tickets, each sold once.
#[test]
#[cfg_attr(
    no_redis,
    ignore = "Redis is not installed (no redis-server on PATH): install it, then touch build.rs"
)]
fn a_lease_that_outlives_every_hold_excludes() {
    let redis = Redis::start();
    let work = Work::new();
    for lock in ["redis-lease", "redis-fenced"] {
        let stock = work.stock("s.json", r#"{"count": 20}"#);
        let run = work.booking(&[
            "--buyers",
            "30",
            "--stock",
            stock.to_str().unwrap(),
            "--lock",
            lock,
            "--lease",
            "10s",
            "--lock-server",
            &redis.url,
            "--json",
        ]);
        run.expect_code(0);
        let r = run.json();
        assert_consistent(&r, count_of(&stock), run.pid);
        assert_eq!(u(&r, "sold"), 20, "{lock}: {r}");
        assert_eq!(count_of(&stock), 0, "{lock}: {r}");
        assert_eq!(r["safe"], true, "{lock}: {r}");
    }
    work.assert_clean();
}

/// `check` catches the lease and the fence checked on the write only (its
/// paused scenario makes the race certain), and passes the fenced lease
/// and a kernel lock, whose paused holders only make the others wait.
#[test]
#[cfg_attr(
    no_redis,
    ignore = "Redis is not installed (no redis-server on PATH): install it, then touch build.rs"
)]
fn check_catches_the_lease_and_passes_the_fence() {
    let redis = Redis::start();
    let work = Work::new();
    let run = work.booking(&[
        "check",
        "--lock",
        "redis-lease,redis-fence-write,redis-fenced,file",
        "--cases",
        "2",
        "--seed",
        "7",
        "--lock-server",
        &redis.url,
        "--lab",
        "0",
        "--json",
    ]);
    run.expect_code(0);
    let r = run.json();
    let by_name = |name: &str| {
        r["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["strategy"] == name)
            .unwrap_or_else(|| panic!("{name} not checked: {r}"))
            .clone()
    };
    for wrong in ["redis-lease", "redis-fence-write"] {
        let s = by_name(wrong);
        assert!(u(&s, "unsafe_scenarios") >= 1, "{s}");
        assert!(
            s["smallest_problem"]["scenario"]["pause_ms"].is_u64(),
            "caught in the paused scenario: {s}"
        );
    }
    for safe in ["redis-fenced", "file"] {
        let s = by_name(safe);
        assert_eq!(s["kept_claim"], true, "{s}");
        assert_eq!(u(&s, "scenarios"), 5, "2 free, 2 stepped, 1 paused: {s}");
    }
    assert_eq!(redis.keys(), Some(vec![]), "no key left behind");
    work.assert_clean();
}

/// Without `--lock-server`, naming a leased strategy is refused (exit 2,
/// nothing run), and the default list leaves them out and says so.
#[test]
fn a_leased_strategy_needs_a_lock_server() {
    let work = Work::new();
    let run = work.booking(&["--buyers", "3", "--lock", "redis-fenced"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("--lock-server redis://"),
        "{}",
        run.context()
    );
    let run = work.booking(&["compare", "--lock", "redis-lease", "--buyers", "2"]);
    run.expect_code(2);
    let run = work.booking(&[
        "check", "--lock", "file", "--cases", "1", "--seed", "1", "--lab", "0", "--json",
    ]);
    run.expect_code(0);
    let run = work.booking(&[
        "--buyers",
        "3",
        "--lock",
        "file",
        "--lock-server",
        "http://x",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("redis://HOST:PORT"),
        "{}",
        run.context()
    );
    work.assert_clean();
}

/// `--pause` really stops the buyer: while the run is on, `/proc` shows a
/// child of `booking` in state `T` (stopped); the run then ends normally.
#[test]
fn a_paused_buyer_is_stopped_then_goes_on() {
    let work = Work::new();
    let mut child = work
        .command(&[
            "--buyers",
            "1",
            "--lock",
            "file",
            "--pause",
            "1",
            "--pause-for",
            "3s",
            "--json",
        ])
        .spawn()
        .unwrap();
    let parent = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stopped = loop {
        if stopped_children(parent) > 0 {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().unwrap();
    assert!(stopped, "no stopped buyer seen");
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["safe"], true, "{r}");
    work.assert_clean();
}
