//! The property harness: generated scenarios against every strategy in the
//! registry, through the real binary. A strategy added to the registry is
//! covered here with no edit.
//!
//! Each case starts up to 40 processes per strategy, so the case count is
//! small by default; `BOOKING_CASES=500 cargo test props` soaks.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::support::{Work, assert_consistent, count_of, u};
use booking::commands::Servers;
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
    servers: Servers<'_>,
) -> Result<(), TestCaseError> {
    let stock = work.stock(
        &format!("{}.json", strategy.name),
        &format!("{{\"count\": {}, {EXTRA}}}", s.tickets),
    );
    let command = s.config(strategy, DEFAULT_TIMEOUT, servers).rerun();
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

/// Every listed strategy, over generated scenarios. The PostgreSQL and
/// Redis ones run against throwaway servers started for this test, and are
/// skipped (with a line saying so) where the server is not installed.
#[test]
fn every_strategy_keeps_its_promise() {
    let pg = crate::support::pg::Cluster::start(
        "props::every_strategy_keeps_its_promise, pg-* strategies",
    );
    let redis = crate::support::redis::Redis::start(
        "props::every_strategy_keeps_its_promise, redis-* strategies",
    );
    let lease = booking::cli::LeaseArgs {
        lock_server: redis.as_ref().map(|r| r.url.clone()),
        lease: booking::engine::config::DEFAULT_LEASE,
    };
    let server = pg.as_ref().map(|c| c.url.clone());
    let servers = Servers::new(server.as_ref(), &lease);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        // Shrinking re-runs processes: bound it.
        max_shrink_iters: 64,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    let result = runner.run(&scenario(), |s| {
        let work = Work::new();
        for strategy in booking::lock::listed() {
            let absent = (strategy.store == booking::lock::Store::Postgres && server.is_none())
                || (strategy.lock_server && redis.is_none());
            if absent {
                continue;
            }
            run_case(&work, strategy, &s, servers)?;
        }
        work.assert_clean();
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
