//! `pg-serializable`: the naive purchase (`SELECT`, wait, `UPDATE`) in a
//! SERIALIZABLE transaction. PostgreSQL lets the transactions run side by
//! side and aborts one that could not have run in some serial order, with
//! SQLSTATE 40001 (serialization failure); the buyer retries it from the
//! start. Safe with the retry. The section runs from the read to just
//! before `COMMIT`.
//!
//! `pg-serializable-once` (zoo) is the same transaction without the retry:
//! the data stay right — SERIALIZABLE never lets two buyers sell one
//! ticket — but under contention most buyers get 40001 and fail. A
//! liveness lesson: the run is FAILED (buyers that could have bought did
//! not), never SAFE.
#![cfg(feature = "postgres")]

use postgres::error::SqlState;
use postgres::IsolationLevel;

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::error::Result;
use crate::store::{self, postgres as pg};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-serializable",
    "PostgreSQL: SELECT, UPDATE in a SERIALIZABLE transaction, retried on SQLSTATE 40001",
    true,
    prepare,
);

/// The same transaction, not retried.
pub const ONCE: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-serializable-once",
    "zoo, PostgreSQL: the SERIALIZABLE purchase without the retry: buyers fail with SQLSTATE 40001",
    false,
    prepare_once,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn prepare_once(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, attempt)
}

fn attempt(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    let mut tx = c.transaction(Some(IsolationLevel::Serializable))?;
    let sold = store::read_modify_write(&mut tx, o, "")?;
    tx.commit()?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    loop {
        match attempt(c, o) {
            Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => continue,
            other => return other,
        }
    }
}
