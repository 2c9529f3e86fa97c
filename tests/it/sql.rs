//! The SQLite store: each SQL strategy's lesson, made certain by a wide
//! window (every buyer released at once, 50 ms between read and write).

use crate::support::race::loses_updates_in_a_certain_race;
use crate::support::{Work, assert_consistent, u};

/// Two statements, each atomic, the purchase not: all 20 buyers read 5
/// before the first writes, so tickets are sold twice and updates lost.
/// Tried up to three times, for a machine too loaded to start 20
/// processes in 50 ms.
#[test]
fn sql_none_loses_updates_when_the_race_is_certain() {
    let work = Work::new();
    assert!(
        loses_updates_in_a_certain_race(&work, "sql-none", &[]),
        "no lost update in 3 runs of a certain race"
    );
    work.assert_clean();
}

/// A deferred transaction reads under a shared lock and asks for the write
/// lock later: with every buyer reading inside the window, all but one
/// deadlock on the upgrade and SQLite fails them (`SQLITE_BUSY`). The data
/// stay right, the run is FAILED — never SAFE — and exits 1.
#[test]
fn sql_deferred_fails_buyers_on_the_lock_upgrade() {
    let work = Work::new();
    let run = work.booking(&[
        "--buyers",
        "10",
        "--tickets",
        "5",
        "--lock",
        "sql-deferred",
        "--delay",
        "50ms",
        "--seed",
        "1",
        "--json",
    ]);
    run.expect_code(1);
    let r: serde_json::Value = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_consistent(&r, u(&r, "remaining"), run.pid);
    assert_eq!(r["status"], "failed", "{r}");
    assert!(u(&r, "failed") > 0, "{r}");
    assert_eq!(u(&r, "oversold") + u(&r, "lost_updates"), 0, "{r}");
    assert!(
        r["first_error"]
            .as_str()
            .unwrap()
            .contains("database is locked"),
        "{r}"
    );
    work.assert_clean();
}

/// The safe SQL strategies under the same certain race: exactly the
/// tickets sold, the count in a user's stock file written back with its
/// other fields, and no section overlapping another.
#[test]
fn sql_atomic_and_immediate_sell_exactly_the_stock() {
    let work = Work::new();
    for lock in ["sql-atomic", "sql-immediate"] {
        let stock = work.stock(&format!("{lock}.json"), r#"{"count": 5, "event": "kept"}"#);
        let run = work.booking(&[
            "--buyers",
            "12",
            "--lock",
            lock,
            "--stock",
            stock.to_str().unwrap(),
            "--delay",
            "5ms..10ms",
            "--json",
        ]);
        let r = run.json();
        let after: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stock).unwrap()).unwrap();
        assert_eq!(
            after,
            serde_json::json!({"count": 0, "event": "kept"}),
            "{lock}"
        );
        assert_consistent(&r, 0, run.pid);
        assert_eq!(
            (u(&r, "sold"), r["status"].as_str()),
            (5, Some("safe")),
            "{lock}: {r}"
        );
    }
    // Not a stepped run: a database's transactions wait where the
    // scheduler cannot see them.
    let run = work.booking(&["--buyers", "2", "--lock", "sql-atomic", "--schedule", "0,1"]);
    run.expect_code(2);
    assert!(run.stderr().contains("stepped"), "{}", run.context());
    work.assert_clean();
}
