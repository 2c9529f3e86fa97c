//! `pg-optimistic`: no lock held while thinking. Read the count and its
//! version, wait, then `UPDATE stock SET count = <read> - 1, version =
//! version + 1 WHERE id = 1 AND version = <read version>`: if another buyer
//! wrote in between, no row matches, and the buyer reads again and
//! retries, after a pause that grows at random ([`Backoff`]). Safe, and no
//! buyer ever waits for another's delay — but under contention most tries
//! fail: the cost shows as retries, not waiting. The
//! section is the instant the matching update returned.
#![cfg(feature = "postgres")]

use postgres::types::Type;

use crate::lock::backoff::Backoff;
use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::lock::hooks::{now_ns};
use crate::error::Result;
use crate::store::{Statements as _, postgres as pg};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-optimistic",
    "PostgreSQL: UPDATE ... WHERE version = <read>, retried when another buyer wrote first",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    (o.at)(Moment::Holding);
    let read = format!("SELECT count, version FROM {} WHERE id = 1", c.tables.stock);
    let write = format!(
        "UPDATE {} SET count = $1, version = version + 1 WHERE id = 1 AND version = $2",
        c.tables.stock
    );
    let mut backoff = Backoff::new();
    loop {
        let round = std::time::Instant::now();
        let row = c.client.query_typed_one(&read, &[])?;
        let (count, version): (i64, i64) = (row.get(0), row.get(1));
        (o.at)(Moment::Read);
        if count <= 0 {
            let t = now_ns();
            return Ok(Sold {
                ticket: None,
                acquired_ns: t,
                released_ns: t,
            });
        }
        std::thread::sleep(o.delay);
        let won = c
            .client
            .execute_typed(&write, &[(&(count - 1), Type::INT8), (&version, Type::INT8)])?;
        if won == 0 {
            // Another buyer wrote first: try again after a pause drawn at
            // random, so that the losers of one round do not all come back
            // at once, below a bound at least as long as the round took,
            // that grows with each round lost, up to half the watchdog's
            // patience (see `lock::backoff`).
            backoff.lost(round.elapsed(), c.patience);
            backoff.pause();
            continue;
        }
        let at = now_ns();
        (o.at)(Moment::Wrote);
        c.record_sale(o.buyer, count)?;
        (o.at)(Moment::Committed);
        return Ok(Sold {
            ticket: Some(count as u64),
            acquired_ns: at,
            released_ns: at,
        });
    }
}
