//! `pg-serializable`: the naive purchase (`SELECT`, wait, `UPDATE`) in a
//! SERIALIZABLE transaction. PostgreSQL lets the transactions run side by
//! side and aborts one that could not have run in some serial order, with
//! SQLSTATE 40001 (serialization failure); the buyer retries it from the
//! start. Safe with the retry; without it most buyers fail — a liveness
//! lesson. The section runs from the read to just before `COMMIT`.

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel};

use super::{Moment, Order, Setup, Shared, Sold, Strategy, now_ns};
use crate::error::Result;
use crate::store::postgres as pg;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::postgres(
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
    (o.at)(Moment::Holding);
    let count = pg::read_count(&mut tx, "")?;
    let acquired_ns = now_ns();
    (o.at)(Moment::Read);
    let ticket = if count > 0 {
        std::thread::sleep(o.delay);
        tx.execute("UPDATE stock SET count = $1 WHERE id = 1", &[&(count - 1)])?;
        pg::record_sale(&mut tx, o.buyer, count)?;
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

fn purchase(c: &mut Client, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    loop {
        match attempt(c, o) {
            Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => continue,
            other => return other,
        }
    }
}
