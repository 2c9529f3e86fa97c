//! The property harness: generated scenarios against every strategy in the
//! registry, through the real binary. A strategy added to the registry is
//! covered here with no edit: by the test for the servers it needs (none,
//! PostgreSQL, or Redis; a test that needs a server that is not installed
//! is ignored, and says why).
//!
//! Each case starts up to 40 processes per strategy, so the case count is
//! small by default; `BOOKING_CASES=500 cargo test props` soaks.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

#[cfg(feature = "postgres")]
use crate::support::pg::Cluster;
#[cfg(feature = "redis")]
use crate::support::redis::Redis;
use crate::support::{Work, assert_consistent, count_of, u};
use booking::cli::{Servers, rerun};
use booking::commands::scenario::Scenario;
use booking::engine::DEFAULT_TIMEOUT;

fn cases() -> u32 {
    std::env::var("BOOKING_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0u64..=60,
        1u32..=40,
        0u64..=1_500,
        0u64..=1_500,
        0u64..=1_500,
        0u64..=booking::engine::seed::MAX_SEED,
        // A third of the cases are stepped: the parent chooses the
        // interleaving, from a seed.
        prop::option::weighted(0.33, 0u64..=booking::engine::seed::MAX_SEED),
        // A quarter of the free-running cases run on a worker pool.
        prop::option::weighted(0.25, 1u32..=4),
        // A tenth are paused scenarios instead (every buyer stopped after
        // its read, past its lease): 2 or 3 buyers, 1 to 3 tickets.
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(tickets, buyers, a, b, arrival, seed, step_seed, pool, paused)| {
                if paused {
                    return Scenario {
                        tickets: 1 + tickets % 3,
                        buyers: 2 + buyers % 2,
                        seed,
                        ..Scenario::draw_paused(&mut booking::engine::seed::rng(seed, 0))
                    };
                }
                Scenario {
                    tickets,
                    buyers,
                    delay_min_us: a.min(b),
                    delay_max_us: a.max(b),
                    arrival_max_us: arrival,
                    seed,
                    step_seed,
                    pct: None,
                    spawners: step_seed
                        .is_none()
                        .then(|| booking::commands::scenario::spawners_of(seed)),
                    pool: pool.filter(|_| step_seed.is_none()),
                    pause_ms: None,
                    lab: None,
                    held_ms: None,
                    bursts: None,
                }
            },
        )
}

/// Extra fields a stock file carries; every run must keep them.
const EXTRA: &str = r#""event": "Spring concert", "seats": {"rows": [1, 2, 3]}, "price": 12.5"#;

fn run_case(
    work: &Work,
    strategy: &'static booking::lock::Strategy,
    s: &Scenario,
    servers: &Servers,
) -> Result<(), TestCaseError> {
    let stock = work.stock(
        &format!("{}.json", strategy.name),
        &format!("{{\"count\": {}, {EXTRA}}}", s.tickets),
    );
    let command = rerun(&s.config(strategy, DEFAULT_TIMEOUT, servers));
    // A stepped run books a fresh stock; a free one books the file.
    let cmd = if s.stepped() {
        command.clone()
    } else {
        command.replace(
            &format!("--tickets {}", s.tickets),
            &format!("--stock {}", stock.display()),
        )
    };
    let mut args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    args.push("--json");
    let run = work.booking(&args);
    let rerun = format!("re-run: {command} (stock {{\"count\": {}}})", s.tickets);
    // A strategy that claims safety must complete every buyer (exit 0); a
    // deliberately wrong one may also fail buyers (exit 1: `sql-deferred`'s
    // SQLITE_BUSY), and its report must still add up.
    let completed = run.code() == Some(0);
    prop_assert!(
        completed || (!strategy.safe && run.code() == Some(1)),
        "{}{}",
        rerun,
        run.context()
    );
    let r: serde_json::Value = serde_json::from_slice(&run.out.stdout)
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}{}", run.context())))?;
    // Every strategy: the verdict's numbers are the records' and the file's.
    if s.stepped() {
        assert_consistent(&r, u(&r, "remaining"), run.pid);
    } else {
        assert_consistent(&r, count_of(&stock), run.pid);
        let after: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stock).unwrap()).unwrap();
        let extra: serde_json::Value = serde_json::from_str(&format!("{{{EXTRA}}}")).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            prop_assert_eq!(&after[k], v, "field {} lost; {}", k, rerun);
        }
    }
    if strategy.safe {
        let want = s.tickets.min(u64::from(s.buyers));
        prop_assert_eq!(u(&r, "sold"), want, "{}: sold; {}", strategy.name, rerun);
        prop_assert_eq!(
            u(&r, "remaining"),
            s.tickets - want,
            "{}: remaining; {}",
            strategy.name,
            rerun
        );
        prop_assert_eq!(
            u(&r, "double_booked"),
            0,
            "{}: double booking; {}",
            strategy.name,
            rerun
        );
        prop_assert_eq!(
            u(&r, "indeterminate"),
            0,
            "{}: a buyer did not report; {}",
            strategy.name,
            rerun
        );
        prop_assert!(
            r["safe"] == true,
            "{}: {}; {}",
            strategy.name,
            r["summary"],
            rerun
        );
    }
    Ok(())
}

/// Generated scenarios against every listed strategy that needs exactly
/// the servers given: a PostgreSQL store at `pg`, a lock server at `redis`.
fn every_promise_kept(pg: Option<String>, redis: Option<String>) {
    let servers = Servers {
        store: pg.clone(),
        lock_server: redis.clone(),
        ..Servers::NONE
    };
    let strategies: Vec<_> = booking::lock::listed()
        .filter(|s| needs(s) == (pg.is_some(), redis.is_some()))
        .collect();
    assert!(
        !strategies.is_empty(),
        "no listed strategy needs these servers"
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        // Shrinking re-runs processes: bound it.
        max_shrink_iters: 64,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    let result = runner.run(&scenario(), |s| {
        let work = Work::new();
        for &strategy in &strategies {
            run_case(&work, strategy, &s, &servers)?;
        }
        work.assert_clean();
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// What a strategy needs besides this machine: (a PostgreSQL store, a lock
/// server).
fn needs(s: &booking::lock::Strategy) -> (bool, bool) {
    (s.store == booking::lock::Store::Postgres, s.lock_server)
}

/// Every listed strategy that needs no server.
#[test]
fn every_serverless_strategy_keeps_its_promise() {
    every_promise_kept(None, None);
}

/// Every listed PostgreSQL strategy, against a throwaway cluster.
#[test]
#[cfg(feature = "postgres")]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn every_pg_strategy_keeps_its_promise() {
    let pg = Cluster::start();
    every_promise_kept(Some(pg.url.clone()), None);
}

/// Every listed leased strategy, against a throwaway `redis-server`.
#[test]
#[cfg(feature = "redis")]
#[cfg_attr(
    no_redis,
    ignore = "Redis is not installed (no redis-server on PATH): install it, then touch build.rs"
)]
fn every_redis_strategy_keeps_its_promise() {
    let redis = Redis::start();
    every_promise_kept(None, Some(redis.url.clone()));
}

/// The three tests above cover every listed strategy: none needs both
/// servers (one that did would need a fourth).
#[test]
fn no_strategy_needs_both_servers() {
    let both: Vec<&str> = booking::lock::listed()
        .filter(|s| needs(s) == (true, true))
        .map(|s| s.name)
        .collect();
    assert!(
        both.is_empty(),
        "{both:?} need both servers: no property test covers them"
    );
}
