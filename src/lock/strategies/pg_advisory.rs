//! `pg-advisory`: an application lock kept by the database,
//! `pg_advisory_xact_lock(key)`, taken first in the transaction and held
//! until it ends; then `SELECT`, wait, `UPDATE`, `COMMIT`. The lock knows
//! nothing of the row: it works because every buyer asks for the same
//! key first, like a `flock` on a side file — but on a server, so buyers
//! on many hosts share it. A dead holder's connection ends, and with it
//! the transaction and the lock.
#![cfg(feature = "postgres")]

use crate::lock::api::{Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::postgres as pg;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-advisory",
    "PostgreSQL: pg_advisory_xact_lock, then SELECT and UPDATE, in one transaction",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    super::pg_for_update::locked_purchase(c, o, "SELECT pg_advisory_xact_lock(1001)", "")
}
