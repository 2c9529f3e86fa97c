//! `pg-serializable`: the naive purchase (`SELECT`, wait, `UPDATE`) in a
//! SERIALIZABLE transaction. PostgreSQL lets the transactions run side by
//! side and aborts one that could not have run in some serial order, with
//! SQLSTATE 40001 (serialization failure); the buyer retries it from the
//! start. Safe with the retry; without it most buyers fail — a liveness
//! lesson. The section runs from the read to just before `COMMIT`.

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel};

use super::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
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

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn attempt(c: &mut Client, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    let mut tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()?;
    let sold = store::read_modify_write(&mut tx, o, "")?;
    tx.commit()?;
    if sold.ticket.is_some() {
        (o.at)(Moment::Committed);
    }
    Ok(sold)
}

fn purchase(c: &mut Client, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    loop {
        match attempt(c, o) {
            Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => continue,
            other => return other,
        }
    }
}
