//! The SQLite store: one database file with the stock and the sales.
//!
//! ```sql
//! CREATE TABLE stock (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL,
//!                     fence INTEGER NOT NULL DEFAULT 0);
//! CREATE TABLE sales (buyer INTEGER NOT NULL, ticket INTEGER NOT NULL);
//! ```
//!
//! `fence` is the highest fencing token that has touched the stock (see
//! [`crate::lease`]; only `redis-fenced` uses it).
//! `sales` makes a double booking visible in the database itself (two
//! rows with one ticket). The parent creates the database before the
//! buyers exist and closes it; **each buyer opens its own connection after
//! the fork** (a SQLite connection must never cross a `fork`: its locks
//! and file descriptors would be shared with the parent's copy).
//!
//! The database is in WAL mode (`PRAGMA journal_mode = WAL`, set once when
//! it is made): a commit appends to the write-ahead log and readers never
//! block the writer. In the default rollback-journal mode a commit must
//! wait until no other connection holds even a shared lock, and a thousand
//! waiters each taking one to look kept `sql-atomic`'s writer waiting: 7.9 s
//! for 1,000 buyers at delay 0 against `file`'s 0.3 s; in WAL mode 2.0 s
//! against 1.1 s on the same loaded machine. The lessons stay:
//! `sql-deferred`'s reader that then writes still fails with "database is
//! locked", and `sql-none` still loses updates.
//!
//! Who releases a dead buyer's lock: SQLite locks the database file with
//! POSIX record locks (`fcntl`), which the kernel drops when the process
//! dies; a transaction it left half-done is in the log without its commit
//! record, which every reader ignores and the next writer overwrites. No
//! repair code of ours.
//!
//! Waiting: a connection that finds the database locked retries in its
//! busy handler ([`retry`]), sleeping between tries — a random pause below
//! a bound that doubles to [`MAX_PAUSE`] — for up to [`BUSY_TIMEOUT`]; the
//! run's watchdog catches a buyer stuck longer. SQLite's locks are
//! `fcntl` record locks taken without waiting: nothing in the kernel wakes
//! a waiter when the holder commits, so a waiter polls, and how it polls
//! decides whether a thousand of them leave the holder a processor.
//! (SQLite's own `busy_timeout` sleeps 1, 2, 5, 10 ... up to 100 ms between
//! tries: 150 buyers behind one lock took 2.5–5.6 s with it, against the
//! file lock's 0.4 s.) A transaction that would
//! deadlock (it read under a shared lock and now wants to write while
//! another writer waits for it to finish) gets `SQLITE_BUSY` at once.

use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::lock::api::{Lock, Order, Setup, Shared, Sold};
use crate::lock::backoff::jitter;

/// How long a connection waits for a locked database before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

fn to_io(e: rusqlite::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// A connection to the database at `path`, waiting up to
/// [`BUSY_TIMEOUT`] for its locks.
///
/// # Errors
/// When it cannot be opened.
pub fn connect(path: &Path) -> io::Result<Connection> {
    let mut c = Connection::open(path).map_err(to_io)?;
    c.busy_handler(Some(retry)).map_err(to_io)?;
    Ok(c)
}

/// The longest pause between two tries of a locked database.
///
/// With pauses doubling to a cap of 10 ms and no jitter, a thousand
/// waiters woke about 100,000 times a second between them and took the
/// processors from the one holding the lock (2 cores, `sql-atomic` at
/// delay 0: 700 buyers and more ended in the watchdog with nothing sold).
/// A waiter that has waited long pauses long: with the cap at
/// [`MAX_PAUSE`] and every pause drawn at random below its bound (full
/// jitter), a thousand waiters look some twenty thousand times a second in
/// all, the lock is seldom free for long unseen, and the holder keeps a
/// processor.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// SQLite's busy handler: called with the number of tries so far, sleeps
/// a pause drawn uniformly below a bound that starts at 20 µs and doubles
/// to [`MAX_PAUSE`] (exponential backoff with full jitter), and gives up
/// (`SQLITE_BUSY`) after about [`BUSY_TIMEOUT`].
fn retry(tries: i32) -> bool {
    let tries = u32::try_from(tries).unwrap_or(0);
    let bound = Duration::from_micros(20u64 << tries.min(14)).min(MAX_PAUSE);
    // Past the doubling, every try sleeps half the cap on average.
    let doubling = 14;
    let waited = MAX_PAUSE / 2 * tries.saturating_sub(doubling);
    if waited > BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(bound.mul_f64(jitter(u64::from(tries))));
    true
}

/// Creates the database at `path` with `count` tickets and no sales.
///
/// # Errors
/// When it cannot be created.
pub fn create(path: &Path, count: u64) -> io::Result<()> {
    let c = connect(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE stock (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL,
                             fence INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE sales (buyer INTEGER NOT NULL, ticket INTEGER NOT NULL);",
    )
    .map_err(to_io)?;
    let count = i64::try_from(count).map_err(io::Error::other)?;
    c.execute("INSERT INTO stock (id, count) VALUES (1, ?1)", [count])
        .map_err(to_io)?;
    Ok(())
}

/// The count in the database at `path`.
///
/// # Errors
/// When it cannot be read, or the count is negative.
pub fn count(path: &Path) -> io::Result<u64> {
    let c = connect(path)?;
    let n: i64 = c
        .query_row("SELECT count FROM stock WHERE id = 1", [], |r| r.get(0))
        .map_err(to_io)?;
    u64::try_from(n).map_err(|_| io::Error::other(format!("the stock count is {n}")))
}

/// A purchase against a connection: what a SQL strategy's file defines.
pub type Purchase = fn(&mut Connection, &mut Order<'_>) -> rusqlite::Result<Sold>;

/// A SQL strategy's shared state: the database's path, and its purchase.
struct Database {
    path: std::path::PathBuf,
    purchase: Purchase,
}

/// The [`Shared`] state of a SQL strategy whose purchase is `purchase`.
///
/// # Errors
/// When the run has no database (the strategy was given a file store).
pub fn shared(setup: &Setup, purchase: Purchase) -> crate::error::Result<Box<dyn Shared>> {
    match &setup.database {
        Some(super::Database::Sqlite(path)) => Ok(Box::new(Database {
            path: path.clone(),
            purchase,
        })),
        _ => Err(crate::error::Error::Failed(
            "a SQLite strategy needs a SQLite store".into(),
        )),
    }
}

impl Shared for Database {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(super::Connection {
            conn: connect(&self.path)?,
            purchase: self.purchase,
        }))
    }
}

/// The purchase's statements on a connection (autocommit) or in a
/// transaction (`Transaction` derefs to `&Connection`).
impl super::Statements for &Connection {
    type Error = rusqlite::Error;

    fn read_count(&mut self, lock: &str) -> rusqlite::Result<i64> {
        debug_assert!(lock.is_empty(), "SQLite has no row locks");
        self.query_row("SELECT count FROM stock WHERE id = 1", [], |r| r.get(0))
    }

    fn write_count(&mut self, count: i64) -> rusqlite::Result<()> {
        self.execute("UPDATE stock SET count = ?1 WHERE id = 1", [count])
            .map(drop)
    }

    fn record_sale(&mut self, buyer: u32, ticket: i64) -> rusqlite::Result<()> {
        self.execute(
            "INSERT INTO sales (buyer, ticket) VALUES (?1, ?2)",
            rusqlite::params![buyer, ticket],
        )
        .map(drop)
    }
}
