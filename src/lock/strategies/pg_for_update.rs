//! `pg-for-update`: the purchase in one transaction that locks the row as
//! it reads it: `BEGIN`, `SELECT count ... FOR UPDATE`, wait, `UPDATE`,
//! `COMMIT`. A second buyer's `FOR UPDATE` waits for the first to commit,
//! then reads the new count: pessimistic locking, in the database. Its
//! section runs from the read to just before `COMMIT`. A dead holder's row
//! lock goes with its connection: the server rolls it back.
#![cfg(feature = "postgres")]

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::{self, postgres as pg};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-for-update",
    "PostgreSQL: SELECT ... FOR UPDATE, then UPDATE, in one transaction",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

/// The purchase in a transaction on `c`: `first` runs after `BEGIN` (an
/// advisory lock, say), the count is read with `lock` appended (`FOR
/// UPDATE`, or nothing). `pg-advisory` shares it.
pub(super) fn locked_purchase(
    c: &mut pg::Db,
    o: &mut Order<'_>,
    first: &str,
    lock: &str,
) -> std::result::Result<Sold, postgres::Error> {
    let mut tx = c.transaction(None)?;
    if !first.is_empty() {
        tx.tx.batch_execute(first)?;
    }
    let sold = store::read_modify_write(&mut tx, o, lock)?;
    tx.commit()?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    locked_purchase(c, o, "", "FOR UPDATE")
}
