//! `booking bench --scale` through the binary, at a workload small enough
//! for a test: every safe strategy that needs no server is measured, and
//! one whose server was not given is left out by name, not the end of the
//! bench.

use crate::support::{Work, serverless};

/// Without --store and --lock-server the scale table still has a row for
/// every safe serverless strategy, and says which it left out and why.
#[test]
fn scale_leaves_out_the_server_strategies_and_measures_the_rest() {
    let work = Work::new();
    let run = work.booking(&["bench", "--scale", "--buyers", "3", "--repeat", "1"]);
    run.expect_code(0);
    let out = run.stdout();
    let rows: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_whitespace().next())
        .collect();
    for s in serverless().filter(|s| s.safe) {
        assert!(
            rows.contains(&s.name),
            "no row for {}{}",
            s.name,
            run.context()
        );
    }
    assert!(!rows.contains(&"redis-fenced"), "{}", run.context());
    // One message per missing server, wrapped: its lines joined.
    let err = run.stderr().replace("\n  ", " ");
    let redis = err
        .lines()
        .find(|l| l.contains("redis-fenced"))
        .unwrap_or_else(|| panic!("redis-fenced is not named{}", run.context()));
    // A lean build left them out for their feature (lean.rs).
    let (redis_why, pg_why) = if cfg!(feature = "redis") {
        ("--lock-server", "--store")
    } else {
        ("--features redis", "--features postgres")
    };
    assert!(redis.contains(redis_why), "{}", run.context());
    let pg = err
        .lines()
        .find(|l| l.contains("pg-for-update"))
        .unwrap_or_else(|| panic!("pg-for-update is not named{}", run.context()));
    assert!(pg.contains(pg_why), "{}", run.context());
    work.assert_clean();
}

/// Naming a server strategy without its server is bad input: one line,
/// exit 2, before anything is measured.
#[test]
fn scale_refuses_a_named_server_strategy_without_its_server() {
    let work = Work::new();
    let run = work.booking(&[
        "bench",
        "--scale",
        "--buyers",
        "3",
        "--lock",
        "sem,redis-fenced",
    ]);
    run.expect_code(2);
    assert_eq!(run.stdout(), "", "{}", run.context());
    let err = run.stderr();
    assert_eq!(err.lines().count(), 1, "{}", run.context());
    // A lean build refuses it for its feature (lean.rs).
    let why = if cfg!(feature = "redis") {
        "--lock-server"
    } else {
        "needs the redis feature"
    };
    assert!(
        err.contains("redis-fenced") && err.contains(why),
        "{}",
        run.context()
    );
}
