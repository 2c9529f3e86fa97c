//! Stores other than the JSON stock file: where a SQL strategy's stock
//! lives. The file store is `engine::stock`.

pub mod backend;
#[cfg(feature = "postgres")]
pub mod pg_backend;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

pub use backend::Backend;

/// A run's database: where a SQL strategy's buyers connect (plain data of
/// the strategy API).
pub use crate::lock::api::Database;

use std::fmt::Display;
use std::io;

use crate::lock::api::{Lock, Moment, Order, Sold};
use crate::lock::hooks::now_ns;

/// The statements a purchase makes, on a connection or in a transaction,
/// in either database.
pub trait Statements {
    /// The database's error.
    type Error: Display;
    /// `SELECT count FROM stock`, with `lock` appended (`FOR UPDATE`, or
    /// nothing).
    fn read_count(&mut self, lock: &str) -> Result<i64, Self::Error>;
    /// `UPDATE stock SET count = count`.
    fn write_count(&mut self, count: i64) -> Result<(), Self::Error>;
    /// `INSERT INTO sales`.
    fn record_sale(&mut self, buyer: u32, ticket: i64) -> Result<(), Self::Error>;
}

/// The classic purchase on `db`: read the count (with `lock`), and if a
/// ticket is left wait the delay, write the count minus one and record
/// the sale. Reports the moments to `o.at` up to `Wrote`; the caller
/// commits (or not: autocommit) and reports `Committed`.
///
/// The section runs from the read to the end of the write. A buyer that
/// found no ticket only read: its section is that instant (read-only
/// transactions may run side by side; that is no race).
///
/// # Errors
/// The database's.
pub fn read_modify_write<S: Statements>(
    db: &mut S,
    o: &mut Order<'_>,
    lock: &str,
) -> Result<Sold, S::Error> {
    // Where the lock is taken by the read itself (`FOR UPDATE` waits for
    // the row), the buyer holds it only once the read returns: before, it
    // waits (a watchdog calls it waiting, and `--kill-at hold` kills a
    // holder, not a waiter). Any other lock was taken before this.
    let locked_by_read = !lock.is_empty();
    if !locked_by_read {
        (o.at)(Moment::Holding);
    }
    let count = db.read_count(lock)?;
    if locked_by_read {
        (o.at)(Moment::Holding);
    }
    let acquired_ns = now_ns();
    (o.at)(Moment::Read);
    if count <= 0 {
        return Ok(Sold {
            ticket: None,
            acquired_ns,
            released_ns: acquired_ns,
        });
    }
    std::thread::sleep(o.delay);
    db.write_count(count - 1)?;
    db.record_sale(o.buyer, count)?;
    (o.at)(Moment::Wrote);
    Ok(Sold {
        ticket: Some(count as u64),
        acquired_ns,
        released_ns: now_ns(),
    })
}

/// One buyer's connection to a database (or, for a leased strategy, to
/// its lock server and its database), and the strategy's purchase on it:
/// the [`Lock`] of every strategy whose purchase is a transaction
/// ([`Lock::transact`]). It has no `lock`/`unlock`.
pub struct Connection<C, E> {
    /// The connection, made in the buyer after the fork.
    pub conn: C,
    /// The strategy's purchase.
    pub purchase: fn(&mut C, &mut Order<'_>) -> Result<Sold, E>,
}

impl<C, E: std::error::Error> Lock for Connection<C, E> {
    fn lock(&mut self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this strategy has no lock(): its purchase is a transaction",
        ))
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.lock()
    }

    fn transact(&mut self, order: &mut Order<'_>) -> io::Result<Sold> {
        (self.purchase)(&mut self.conn, order).map_err(|e| io::Error::other(chain(&e)))
    }
}

/// `e` and its sources, as one line: the `postgres` client's error says
/// only "db error"; the server's message is its source.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// How long the parent waits for a server's first answer, PostgreSQL's or
/// the lock server's (see [`crate::sys::probe`]).
pub const PROBE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The one line for a server given as `flag url` (password hidden) that
/// did not answer a probe at `at` (see [`crate::sys::probe`]); `what` names
/// the server it should be ("a PostgreSQL server").
pub fn silence(
    flag: &str,
    url: &str,
    at: &crate::sys::probe::Endpoint,
    silence: crate::sys::probe::Silence,
    what: &str,
) -> crate::error::Error {
    use crate::error::Error;
    use crate::sys::probe::Silence;
    let shown = crate::model::secret::redact(url);
    let within = format!("{} s", PROBE_WITHIN.as_secs());
    match silence {
        Silence::Stopped(sig) => {
            Error::interrupted(sig, format!("waiting for {flag} {shown} to answer"))
        }
        Silence::Unreachable(e) => {
            Error::Failed(format!("{flag} {shown}: cannot connect to {at}: {e}"))
        }
        Silence::Silent => Error::Failed(format!(
            "{flag} {shown}: no answer from {at} in {within}: is it {what}?"
        )),
        Silence::Closed => Error::Failed(format!(
            "{flag} {shown}: {at} closed the connection without answering: is it {what}?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statements that log what they do, beside the moments.
    struct Log(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

    impl Statements for Log {
        type Error = String;
        fn read_count(&mut self, lock: &str) -> Result<i64, String> {
            self.0
                .borrow_mut()
                .push(format!("read {lock}").trim().to_string());
            Ok(3)
        }
        fn write_count(&mut self, _: i64) -> Result<(), String> {
            self.0.borrow_mut().push("write".into());
            Ok(())
        }
        fn record_sale(&mut self, _: u32, _: i64) -> Result<(), String> {
            Ok(())
        }
    }

    fn moments(lock: &str) -> Vec<String> {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = log.clone();
        let mut at = |m: Moment| seen.borrow_mut().push(format!("{m:?}"));
        let mut order = Order {
            buyer: 0,
            delay: std::time::Duration::ZERO,
            at: &mut at,
        };
        read_modify_write(&mut Log(log.clone()), &mut order, lock).unwrap();
        log.borrow().clone()
    }

    #[test]
    fn a_buyer_holds_a_row_lock_only_once_its_read_returns() {
        assert_eq!(
            moments("FOR UPDATE"),
            ["read FOR UPDATE", "Holding", "Read", "write", "Wrote"]
        );
        // A lock taken before (an advisory lock, BEGIN IMMEDIATE): held
        // from the start.
        assert_eq!(moments(""), ["Holding", "read", "Read", "write", "Wrote"]);
    }
}
