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

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{Moment, Order, Setup, Shared, Sold, Strategy, now_ns};
use crate::error::Result;
use crate::store::sqlite;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::sqlite(
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
    (o.at)(Moment::Holding);
    let count = sqlite::read_count(&tx)?;
    // After the read: a deferred transaction holds nothing before it.
    let acquired_ns = now_ns();
    (o.at)(Moment::Read);
    let ticket = if count > 0 {
        if o.delay > Duration::ZERO {
            std::thread::sleep(o.delay);
        }
        tx.execute("UPDATE stock SET count = ?1 WHERE id = 1", [count - 1])?;
        sqlite::record_sale(&tx, o.buyer, count)?;
        (o.at)(Moment::Wrote);
        Some(count as u64)
    } else {
        None
    };
    // A buyer that found no ticket only read: its section is that read
    // (read-only transactions may run side by side; that is no race).
    let released_ns = if ticket.is_some() {
        now_ns()
    } else {
        acquired_ns
    };
    tx.commit()?;
    if ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(Sold {
        ticket,
        acquired_ns,
        released_ns,
    })
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    in_transaction(c, o, TransactionBehavior::Immediate)
}
