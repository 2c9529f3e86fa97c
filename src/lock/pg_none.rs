//! `pg-none`: **deliberately wrong**, for the zoo — `sql-none` on
//! PostgreSQL: `SELECT count`, wait the delay, `UPDATE stock SET count =
//! <what I read> - 1`, each statement its own transaction. Under READ
//! COMMITTED (PostgreSQL's default) every buyer reads the last committed
//! count and writes its own arithmetic back: lost updates, tickets sold
//! twice. Its section, in the report, runs from the read to the write.

use postgres::Client;

use super::{Moment, Order, Setup, Shared, Sold, Strategy, now_ns};
use crate::error::Result;
use crate::store::postgres as pg;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::postgres(
    "pg-none",
    "zoo, PostgreSQL: SELECT, then UPDATE count = read - 1 in another statement: lost updates",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn purchase(c: &mut Client, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    (o.at)(Moment::Holding);
    let acquired_ns = now_ns();
    let count = pg::read_count(c, "")?;
    (o.at)(Moment::Read);
    if count <= 0 {
        return Ok(Sold {
            ticket: None,
            acquired_ns,
            released_ns: now_ns(),
        });
    }
    std::thread::sleep(o.delay);
    c.execute("UPDATE stock SET count = $1 WHERE id = 1", &[&(count - 1)])?;
    (o.at)(Moment::Wrote);
    pg::record_sale(c, o.buyer, count)?;
    let released_ns = now_ns();
    (o.at)(Moment::Committed);
    Ok(Sold {
        ticket: Some(count as u64),
        acquired_ns,
        released_ns,
    })
}
