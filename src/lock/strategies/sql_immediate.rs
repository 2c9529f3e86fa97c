//! `sql-immediate`: the purchase in one transaction that takes the
//! database's write lock **first**: `BEGIN IMMEDIATE`, `SELECT count`,
//! wait the delay, `UPDATE`, record the sale, `COMMIT`. A second buyer's
//! `BEGIN IMMEDIATE` waits (SQLite's busy handler, up to a timeout) until
//! the first commits: mutual exclusion, by the database.
//!
//! Its section runs from the read to just before `COMMIT` (the write lock
//! is held from `BEGIN IMMEDIATE` on).
//!
//! Who releases the lock when a holder dies: the kernel drops SQLite's
//! file locks with the process, and the next writer rolls back the dead
//! holder's half-done transaction from its journal. No repair of ours.

use rusqlite::{Connection, TransactionBehavior};

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::{self, sqlite};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Sqlite,
    "sql-immediate",
    "SQLite: BEGIN IMMEDIATE (the write lock first), SELECT, UPDATE, COMMIT",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    sqlite::shared(setup, purchase)
}

/// The purchase in a transaction begun with `behavior` (`sql-deferred`
/// shares it with `Deferred`).
pub(super) fn in_transaction(
    c: &mut Connection,
    o: &mut Order<'_>,
    behavior: TransactionBehavior,
) -> rusqlite::Result<Sold> {
    let tx = c.transaction_with_behavior(behavior)?;
    let sold = store::read_modify_write(&mut &*tx, o, "")?;
    tx.commit()?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    in_transaction(c, o, TransactionBehavior::Immediate)
}
