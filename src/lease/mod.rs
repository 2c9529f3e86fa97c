//! Locks from a lock server: **leases**.
//!
//! A kernel lock (`flock`, a semaphore) is held until its holder lets go
//! or dies; the kernel knows when a process dies. A lock server on the
//! network cannot tell a dead client from a slow one, so it grants a lock
//! for a time — a lease — and takes it back when the time is up, whether
//! or not the holder is done. A holder that stops for longer than its
//! lease (a garbage-collector pause, a swapped-out page, a migrated
//! virtual machine; `--pause` stops a buyer with `SIGSTOP`) wakes up
//! believing it holds the lock while another buyer holds it too. It
//! writes what it read before the pause: a ticket sold twice, which no
//! kernel lock can produce. `redis-lease` shows it.
//!
//! The fix (Kleppmann, "How to do distributed locking", 2016) is not a
//! better lease but a store that refuses stale holders: every grant
//! carries a **fencing token**, a number the server increases with each
//! grant, and the store checks it on every access. `redis-fenced` does it
//! in the SQLite store, in two statements that are each atomic:
//!
//! ```sql
//! -- read: refused if a newer token has touched the stock; else it marks it
//! UPDATE stock SET fence = :token WHERE id = 1 AND fence <= :token RETURNING count;
//! -- write: refused if a newer token has read the stock since
//! UPDATE stock SET count = :new WHERE id = 1 AND fence = :token;
//! ```
//!
//! Checking the token on the write alone (`WHERE fence < :token`, the
//! zoo's `redis-fence-write`) is not enough for a read-modify-write: a
//! stale holder that read, then a new holder that read the same count,
//! then both writing in token order, both succeed. Marking the stock on the read makes the stale
//! holder's write fail. A buyer whose read or write is refused has bought
//! nothing; it takes a new lease and tries again.
//!
//! The stock of both strategies is the SQLite store (the same tables as
//! the `sql-*` strategies, with a `fence` column), so that the two differ
//! in the fence only. Their lock server is Redis (`--lock-server
//! redis://HOST:PORT`): the lease is `SET <lock> <token> NX PX <lease>`,
//! released by a script that deletes the key only if it still holds this
//! buyer's token ([`redis`]).

pub mod redis;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::lock::api::{Lock, Moment, Order, Setup, Shared, Sold};
use crate::lock::hooks::{note, now_ns};

/// A lock server and the lease it grants (plain data of the strategy API).
pub use crate::lock::api::LockServer as Server;
pub use redis::probe;

impl Server {
    /// The server at `url`, granting leases of `lease`, with keys of a
    /// fresh prefix.
    pub fn new(url: &str, lease: Duration) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        Server {
            url: url.to_string(),
            lease,
            keys: format!("booking:{host}:{}:{}", std::process::id(), now_ns()),
        }
    }

    /// The key of the lock.
    pub fn lock_key(&self) -> String {
        format!("{}:lock", self.keys)
    }

    /// The key of the fencing counter.
    pub fn fence_key(&self) -> String {
        format!("{}:fence", self.keys)
    }

    /// The key of the wake-up list waiters block on.
    pub fn wake_key(&self) -> String {
        format!("{}:wake", self.keys)
    }
}

/// Whether the store checks the fencing token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fencing {
    /// No: the lease alone guards the purchase (`redis-lease`).
    Off,
    /// Yes: the store refuses a holder once a newer token touched it
    /// (`redis-fenced`).
    On,
    /// Only on the write: the store refuses a write whose token is not
    /// above the last write's (`redis-fence-write`, wrong for a
    /// read-modify-write: see the module doc).
    WriteOnly,
}

/// A leased strategy's shared state: the server, the database, the
/// fencing. Dropped by the parent after the run: it deletes the run's
/// keys. (A `booking` killed with `SIGKILL` leaves them: the lock key
/// expires with its lease, the counter and the wake-up list
/// [`redis::COUNTER_TTL`] after their last use.)
struct Leased {
    server: Server,
    database: PathBuf,
    fencing: Fencing,
}

/// The [`Shared`] state of a leased strategy: checks, in the parent, that
/// the server answers.
///
/// # Errors
/// When the run has no lock server or SQLite store, or the server does not
/// answer.
pub fn shared(setup: &Setup, fencing: Fencing) -> crate::error::Result<Box<dyn Shared>> {
    use crate::error::Error;
    let Some(server) = setup.lease.clone() else {
        return Err(Error::Input(
            "a leased strategy needs a lock server: --lock-server redis://HOST:PORT".into(),
        ));
    };
    let Some(crate::store::Database::Sqlite(database)) = setup.database.clone() else {
        return Err(Error::Failed(
            "a leased strategy needs the SQLite store".into(),
        ));
    };
    redis::forget(&server).map_err(|e| {
        Error::failed(
            format_args!(
                "--lock-server {}",
                crate::model::secret::redact(&server.url)
            ),
            e,
        )
    })?;
    Ok(Box::new(Leased {
        server,
        database,
        fencing,
    }))
}

impl Shared for Leased {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(crate::store::Connection {
            conn: Buyer {
                server: redis::Connection::open(&self.server)?,
                db: crate::store::sqlite::connect(&self.database)?,
                fencing: self.fencing,
            },
            purchase,
        }))
    }

    fn describe(&self) -> Option<String> {
        redis::holder(&self.server).ok().map(|h| match h {
            Some(token) => format!("the lease is held by token {token}"),
            None => "nobody holds the lease".into(),
        })
    }
}

impl Drop for Leased {
    fn drop(&mut self) {
        let _ = redis::forget(&self.server);
    }
}

/// One buyer's connections: to the lock server and to the store.
struct Buyer {
    server: redis::Connection,
    db: rusqlite::Connection,
    fencing: Fencing,
}

fn to_io(e: rusqlite::Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl Buyer {
    /// Reads the count under `token`: with fencing, marks the stock with
    /// the token, or finds a newer one there (`None`: refused).
    fn read(&self, token: i64) -> rusqlite::Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        match self.fencing {
            Fencing::Off | Fencing::WriteOnly => self
                .db
                .query_row("SELECT count FROM stock WHERE id = 1", [], |r| r.get(0))
                .map(Some),
            Fencing::On => self
                .db
                .query_row(
                    "UPDATE stock SET fence = ?1 WHERE id = 1 AND fence <= ?1 RETURNING count",
                    [token],
                    |r| r.get(0),
                )
                .optional(),
        }
    }

    /// Writes `count` under `token`: with fencing, only if no newer token
    /// read the stock since (`false`: refused).
    fn write(&self, token: i64, count: i64) -> rusqlite::Result<bool> {
        let rows = match self.fencing {
            Fencing::Off => self
                .db
                .execute("UPDATE stock SET count = ?1 WHERE id = 1", [count])?,
            Fencing::On => self.db.execute(
                "UPDATE stock SET count = ?1 WHERE id = 1 AND fence = ?2",
                [count, token],
            )?,
            Fencing::WriteOnly => self.db.execute(
                "UPDATE stock SET count = ?1, fence = ?2 WHERE id = 1 AND fence < ?2",
                [count, token],
            )?,
        };
        Ok(rows == 1)
    }
}

/// Takes a lease, reads, waits the delay, writes, records the sale,
/// releases the lease. The section runs from the read's answer to the
/// write's sending: under a lease that held (or a store that fenced), the
/// next holder's read is answered after this write was sent.
fn purchase(b: &mut Buyer, o: &mut Order<'_>) -> io::Result<Sold> {
    let mut refused = 0u32;
    loop {
        let grant = b.server.acquire(o.buyer)?;
        (o.at)(Moment::Holding);
        let Some(count) = b.read(grant.fence).map_err(to_io)? else {
            refused += 1;
            b.server.release(&grant)?;
            continue;
        };
        let acquired_ns = now_ns();
        (o.at)(Moment::Read);
        if count <= 0 {
            let kept = b.server.release(&grant)?;
            say(refused, kept);
            return Ok(Sold {
                ticket: None,
                acquired_ns,
                released_ns: acquired_ns,
            });
        }
        std::thread::sleep(o.delay);
        let released_ns = now_ns();
        if !b.write(grant.fence, count - 1).map_err(to_io)? {
            refused += 1;
            b.server.release(&grant)?;
            continue;
        }
        b.db.execute(
            "INSERT INTO sales (buyer, ticket) VALUES (?1, ?2)",
            rusqlite::params![o.buyer, count],
        )
        .map_err(to_io)?;
        (o.at)(Moment::Wrote);
        let kept = b.server.release(&grant)?;
        (o.at)(Moment::Committed);
        say(refused, kept);
        return Ok(Sold {
            ticket: Some(count as u64),
            acquired_ns,
            released_ns,
        });
    }
}

/// Notes, in the buyer's record, what the lease did to it.
fn say(refused: u32, kept: bool) {
    let mut parts = Vec::new();
    if refused > 0 {
        parts.push(format!(
            "the store refused it {} (a newer fencing token had reached the stock: its lease had expired); it took a new lease each time",
            crate::judge::verdict::count(u64::from(refused), "time", "times")
        ));
    }
    if !kept {
        parts.push(
            "its lease had expired before it released it: another buyer may have held the lock while it wrote"
                .to_string(),
        );
    }
    if !parts.is_empty() {
        note(&parts.join("; "));
    }
}
