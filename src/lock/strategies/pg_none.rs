//! `pg-none`: **deliberately wrong**, for the zoo — `sql-none` on
//! PostgreSQL: `SELECT count`, wait the delay, `UPDATE stock SET count =
//! <what I read> - 1`, each statement its own transaction. Under READ
//! COMMITTED (PostgreSQL's default) every buyer reads the last committed
//! count and writes its own arithmetic back: lost updates, tickets sold
//! twice. Its section, in the report, runs from the read to the write.
#![cfg(feature = "postgres")]

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::{self, postgres as pg};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-none",
    "zoo, PostgreSQL: SELECT, then UPDATE count = read - 1 in another statement: lost updates",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    let sold = store::read_modify_write(c, o, "")?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}
