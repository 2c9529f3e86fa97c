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

use std::time::Duration;

use rusqlite::Connection;

use super::{Moment, Order, Setup, Shared, Sold, Strategy, now_ns};
use crate::error::Result;
use crate::store::sqlite;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::sqlite(
    "sql-none",
    "zoo, SQLite: SELECT, then UPDATE count = read - 1 in another statement: lost updates",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    sqlite::shared(setup, purchase)
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    (o.at)(Moment::Holding);
    let acquired_ns = now_ns();
    let count = sqlite::read_count(c)?;
    (o.at)(Moment::Read);
    if count <= 0 {
        let t = now_ns();
        return Ok(Sold {
            ticket: None,
            acquired_ns,
            released_ns: t.max(acquired_ns),
        });
    }
    if o.delay > Duration::ZERO {
        std::thread::sleep(o.delay);
    }
    c.execute("UPDATE stock SET count = ?1 WHERE id = 1", [count - 1])?;
    (o.at)(Moment::Wrote);
    sqlite::record_sale(c, o.buyer, count)?;
    let released_ns = now_ns();
    (o.at)(Moment::Committed);
    Ok(Sold {
        ticket: Some(count as u64),
        acquired_ns,
        released_ns,
    })
}
