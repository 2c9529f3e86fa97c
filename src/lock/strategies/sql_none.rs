//! `sql-none`: **deliberately wrong**, for the zoo. The stock lives in a
//! SQLite database, and the buyer does what the file demo does, in SQL:
//! `SELECT count`, wait the delay (the network), then
//! `UPDATE stock SET count = <what I read> - 1` — two statements, each its
//! own transaction (autocommit).
//!
//! A database does not make this safe: each statement is atomic, the
//! purchase is not. Two buyers read the same count and both write it back
//! minus one: the **lost update**, and a ticket sold twice. Its critical
//! section, in the report, runs from the read to the write, so the overlap
//! is visible.

use rusqlite::Connection;

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::{self, sqlite};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Sqlite,
    "sql-none",
    "zoo, SQLite: SELECT, then UPDATE count = read - 1 in another statement: lost updates",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    sqlite::shared(setup, purchase)
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    let sold = store::read_modify_write(&mut &*c, o, "")?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}
