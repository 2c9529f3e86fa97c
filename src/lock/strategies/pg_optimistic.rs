//! `pg-optimistic`: no lock held while thinking. Read the count and its
//! version, wait, then `UPDATE stock SET count = <read> - 1, version =
//! version + 1 WHERE id = 1 AND version = <read version>`: if another buyer
//! wrote in between, no row matches, and the buyer reads again and
//! retries. Safe, and no buyer ever waits for another's delay — but under
//! contention most tries fail: the cost shows as retries, not waiting. The
//! section is the instant the matching update returned.
#![cfg(feature = "postgres")]

use postgres::Client;

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::lock::hooks::{now_ns};
use crate::error::Result;
use crate::store::postgres as pg;

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

fn purchase(c: &mut Client, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    (o.at)(Moment::Holding);
    loop {
        let row = c.query_one("SELECT count, version FROM stock WHERE id = 1", &[])?;
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
        let won = c.execute(
            "UPDATE stock SET count = $1, version = version + 1 WHERE id = 1 AND version = $2",
            &[&(count - 1), &version],
        )?;
        if won == 1 {
            let at = now_ns();
            (o.at)(Moment::Wrote);
            pg::record_sale(c, o.buyer, count)?;
            (o.at)(Moment::Committed);
            return Ok(Sold {
                ticket: Some(count as u64),
                acquired_ns: at,
                released_ns: at,
            });
        }
    }
}
