//! `sql-atomic`: the purchase as **one statement**,
//! `UPDATE stock SET count = count - 1 WHERE count > 0 RETURNING count`.
//! The database reads and writes the row under its own write lock, inside
//! the statement: no buyer can come between the read and the write,
//! because there is no gap. The answer of most real systems: do not lock
//! around a read-modify-write, make it one atomic operation.
//!
//! The ticket is the count before the decrement (`RETURNING` gives the
//! one after). The delay is waited before the statement (the request
//! travels), not inside it: there is no "between". No exclusive section
//! is held by the buyer, so its section in the report is the instant the
//! statement returned. The sale is recorded in `sales` by a second
//! statement.
//!
//! Who releases the lock when a buyer dies: nobody needs to; a statement
//! is all or nothing, and SQLite's write lock dies with the process.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::lock::hooks::{now_ns};
use crate::error::Result;
use crate::store::{self, sqlite};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Sqlite,
    "sql-atomic",
    "SQLite: one UPDATE ... SET count = count - 1 WHERE count > 0 RETURNING count",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    sqlite::shared(setup, purchase)
}

fn purchase(c: &mut Connection, o: &mut Order<'_>) -> rusqlite::Result<Sold> {
    if o.delay > Duration::ZERO {
        std::thread::sleep(o.delay);
    }
    (o.at)(Moment::Holding);
    let left: Option<i64> = c
        .query_row(
            "UPDATE stock SET count = count - 1 WHERE id = 1 AND count > 0 RETURNING count",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let at = now_ns();
    (o.at)(Moment::Read);
    let Some(left) = left else {
        return Ok(Sold {
            ticket: None,
            acquired_ns: at,
            released_ns: at,
        });
    };
    (o.at)(Moment::Wrote);
    store::Statements::record_sale(&mut &*c, o.buyer, left + 1)?;
    (o.at)(Moment::Committed);
    Ok(Sold {
        ticket: Some((left + 1) as u64),
        acquired_ns: at,
        released_ns: at,
    })
}
