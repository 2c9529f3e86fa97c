//! `pg-for-update`: the purchase in one transaction that locks the row as
//! it reads it: `BEGIN`, `SELECT count ... FOR UPDATE`, wait, `UPDATE`,
//! `COMMIT`. A second buyer's `FOR UPDATE` waits for the first to commit,
//! then reads the new count: pessimistic locking, in the database. Its
//! section runs from the read to just before `COMMIT`. A dead holder's row
//! lock goes with its connection: the server rolls it back.

use postgres::Client;

use super::{Moment, Order, Setup, Shared, Sold, Strategy, now_ns};
use crate::error::Result;
use crate::store::postgres as pg;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::postgres(
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
    c: &mut Client,
    o: &mut Order<'_>,
    first: &str,
    lock: &str,
) -> std::result::Result<Sold, postgres::Error> {
    let mut tx = c.transaction()?;
    if !first.is_empty() {
        tx.batch_execute(first)?;
    }
    (o.at)(Moment::Holding);
    let count = pg::read_count(&mut tx, lock)?;
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
    locked_purchase(c, o, "", "FOR UPDATE")
}
