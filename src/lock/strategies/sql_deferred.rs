//! `sql-deferred`: **deliberately wrong**, for the zoo — a liveness lesson,
//! not a safety one. The same transaction as `sql-immediate`, begun with a
//! plain `BEGIN` (deferred): the transaction takes a *shared* lock at the
//! `SELECT` and asks for the write lock only at the `UPDATE`.
//!
//! Two buyers that both read now both want to write, and each holds what
//! the other needs: SQLite breaks the deadlock by failing one of them with
//! `SQLITE_BUSY` at once (waiting could not help). The data stays right —
//! the failed transaction is rolled back — but buyers fail: the run is
//! FAILED, never SAFE. The fix is `BEGIN IMMEDIATE`: take the write lock
//! before reading.

use rusqlite::{Connection, TransactionBehavior};

use crate::lock::api::{Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::sqlite;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Sqlite,
    "sql-deferred",
    "zoo, SQLite: BEGIN (deferred), SELECT, UPDATE: the lock upgrade fails with SQLITE_BUSY",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    sqlite::shared(setup, purchase)
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    super::sql_immediate::in_transaction(c, o, TransactionBehavior::Deferred)
}
