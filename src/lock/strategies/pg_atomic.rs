//! `pg-atomic`: the purchase as one statement, `UPDATE stock SET count =
//! count - 1 WHERE id = 1 AND count > 0 RETURNING count`. PostgreSQL takes
//! the row's lock inside the statement and re-reads the row if another
//! transaction changed it meanwhile: no gap between read and write. The
//! delay is waited before the statement; the section is the instant it
//! returned. A dead buyer's statement is all or nothing: the server rolls
//! back what was not committed.
#![cfg(feature = "postgres")]

use crate::lock::api::{Moment, Order, Setup, Shared, Sold, Store, Strategy};
use crate::lock::hooks::{now_ns};
use crate::error::Result;
use crate::store::{Statements as _, postgres as pg};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::transaction(
    Store::Postgres,
    "pg-atomic",
    "PostgreSQL: one UPDATE ... SET count = count - 1 WHERE count > 0 RETURNING count",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    pg::shared(setup, purchase)
}

fn purchase(c: &mut pg::Db, o: &mut Order<'_>) -> std::result::Result<Sold, postgres::Error> {
    std::thread::sleep(o.delay);
    (o.at)(Moment::Holding);
    let sql = format!(
        "UPDATE {} SET count = count - 1 WHERE id = 1 AND count > 0 RETURNING count",
        c.tables.stock
    );
    let row = c.client.query_typed_opt(&sql, &[])?;
    let at = now_ns();
    (o.at)(Moment::Read);
    let Some(row) = row else {
        return Ok(Sold {
            ticket: None,
            acquired_ns: at,
            released_ns: at,
        });
    };
    let ticket = row.get::<_, i64>(0) + 1;
    (o.at)(Moment::Wrote);
    c.record_sale(o.buyer, ticket)?;
    (o.at)(Moment::Committed);
    Ok(Sold {
        ticket: Some(ticket as u64),
        acquired_ns: at,
        released_ns: at,
    })
}
