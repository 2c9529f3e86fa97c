//! The strategy API: what a strategy implements ([`Lock`], [`Shared`], its
//! [`Strategy`] entry) and what the library gives it ([`Setup`], the
//! [`Guard`], [`Order`] and [`Sold`] of a transaction). Plain types: this
//! file knows nothing of the registry, the engine that forks the buyers,
//! the stores or the lock servers — they all depend on it.
//!
//! A strategy has two sides:
//! * the parent side ([`Strategy::prepare`]), run once before any buyer
//!   exists, creates the shared state ([`Shared`]): a lock file, a semaphore
//!   in shared memory. Buyers are forked from the parent, so they inherit it
//!   (memory *and* open descriptors: an inherited descriptor is shared).
//! * the buyer side ([`Shared::open`]), run in each buyer process after the
//!   fork, gives that buyer its own [`Lock`]: the raw `lock` and `unlock`
//!   (fd-lock's shape). The library owns the guard, retries `EINTR`, and
//!   releases on every path, panics included.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Pid;

use crate::error::Result;

/// One buyer's handle on the lock: the raw operations. `&mut self`, so a
/// strategy keeps whatever it opened in `lock` (a file, a pid) in plain
/// fields until `unlock`.
pub trait Lock {
    /// Blocks until this buyer may enter the critical section.
    ///
    /// # Errors
    /// When the underlying call fails. `EINTR` (`ErrorKind::Interrupted`)
    /// may be returned as is: the library calls `lock` again.
    fn lock(&mut self) -> io::Result<()>;

    /// Lets the next buyer in. Called exactly once after each successful
    /// `lock`, by the library's [`Guard`].
    ///
    /// # Errors
    /// When the underlying call fails (`EINTR` is retried by the library).
    fn unlock(&mut self) -> io::Result<()>;

    /// For a strategy that [`Protects::Transaction`]: the whole purchase,
    /// done by the store (a SQL transaction) instead of around `lock` and
    /// `unlock`. The default refuses.
    ///
    /// # Errors
    /// When the store fails (a busy database, a lost connection): the
    /// buyer reports it, and a run with a failed buyer is never SAFE.
    fn transact(&mut self, _order: &mut Order<'_>) -> io::Result<Sold> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this strategy has no transaction: it locks around the purchase",
        ))
    }
}

/// What a buyer asks of [`Lock::transact`].
pub struct Order<'a> {
    /// The buyer's number (recorded with its sale).
    pub buyer: u32,
    /// The simulated delay to wait between reading the count and writing
    /// it back (the network of the classic demo).
    pub delay: std::time::Duration,
    /// Call at each moment of the purchase, in order: the buyer may be
    /// told to die there (`--kill-at`).
    pub at: &'a mut dyn FnMut(Moment),
}

/// The moments of a purchase a transaction reports through [`Order::at`]
/// (the `--kill-at` points).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Exclusive access begun (the transaction holds its write lock), or,
    /// for a single atomic statement, about to run it.
    Holding,
    /// The count was read (or decremented, by an atomic statement).
    Read,
    /// The new count is written, not committed.
    Wrote,
    /// Committed: the sale is in the store, nobody told yet.
    Committed,
}

/// What [`Lock::transact`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sold {
    /// The ticket sold (the count read), or `None`: sold out.
    pub ticket: Option<u64>,
    /// `CLOCK_MONOTONIC` (ns) when exclusive access began; for a strategy
    /// without exclusive access, the moment its change took effect.
    pub acquired_ns: u64,
    /// `CLOCK_MONOTONIC` (ns) just before exclusive access ended (before
    /// the commit); equal to `acquired_ns` when there was none. Under a
    /// correct strategy two such sections never overlap.
    pub released_ns: u64,
}

/// Proof that a buyer holds a [`Lock`]; releases it when dropped (also
/// when a panic unwinds through it).
///
/// Prefer [`Guard::release`], which reports an error; `Drop` cannot, so it
/// releases and ignores the result.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Guard<'a> {
    lock: &'a mut dyn Lock,
    held: bool,
}

/// Calls `op` again while it fails with `EINTR` (a signal arrived while a
/// blocking call such as `flock` or `sem_wait` waited).
///
/// # Errors
/// The first error of `op` that is not `EINTR`.
pub fn retry_eintr<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Locks `lock` and returns the guard that unlocks it.
///
/// # Errors
/// The strategy's `lock` error (other than `EINTR`, which is retried).
pub fn acquire<'a>(lock: &'a mut (dyn Lock + 'a)) -> io::Result<Guard<'a>> {
    retry_eintr(|| lock.lock())?;
    Ok(Guard { lock, held: true })
}

impl Guard<'_> {
    /// Releases the lock.
    ///
    /// # Errors
    /// When the strategy's `unlock` fails.
    pub fn release(mut self) -> io::Result<()> {
        // Marked released first: an `unlock` that panics is not called
        // a second time by `Drop` during the unwind.
        self.held = false;
        retry_eintr(|| self.lock.unlock())
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.held {
            self.held = false;
            let _ = retry_eintr(|| self.lock.unlock());
        }
    }
}

/// What a strategy's lock is held around, in a buyer's purchase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protects {
    /// Read the stock, decide, wait the delay, write: the whole purchase.
    /// The only correct choice.
    #[default]
    Purchase,
    /// Only the write: the buyer reads and decides *before* taking the
    /// lock. The classic mistake: two buyers can read the same count, and
    /// the lock only orders their two writes of the same value.
    Write,
    /// Nothing: the store does the purchase ([`Lock::transact`]), in a
    /// database whose transactions are the strategy.
    Transaction,
}

/// Where a strategy's stock lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Store {
    /// The JSON stock file (`{"count": N}`).
    #[default]
    File,
    /// A SQLite database (`stock` and `sales` tables) in the run
    /// directory; a `--stock FILE` seeds it with the file's count and gets
    /// the final count back when the run ends.
    Sqlite,
    /// A schema on a PostgreSQL server (`--store postgres://...`), made for
    /// the run and dropped at its end; a `--stock FILE` as for SQLite.
    Postgres,
}

/// Where a run's files are, for a strategy to put its state beside them:
/// plain data, made by the run before the strategy's `prepare`.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The stock file buyers read and replace.
    pub stock: PathBuf,
    /// Whether to repair a lock whose holder died (off with `--no-repair`).
    pub repair: bool,
    /// Where a strategy whose kernel object outlives every process (a
    /// System V semaphore set) leaves the object's lease file, for the
    /// next run to sweep should this one be killed (the directory the
    /// run directories are made in).
    pub leases: PathBuf,
    /// The run's database, for a strategy whose [`Store`] is not a file.
    pub database: Option<Database>,
    /// The lock server and the lease, for a strategy that takes its lock
    /// from one ([`Strategy::lock_server`]).
    pub lease: Option<LockServer>,
}

/// Where a database strategy's stock lives, made by the run (see the
/// stores in `crate::store`).
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A schema on a PostgreSQL server.
    #[cfg(feature = "postgres")]
    Postgres(Box<PgPlace>),
}

/// Where a run's stock lives on a PostgreSQL server: the connection
/// settings (host names already resolved, so that connecting starts no
/// thread) and the run's schema.
#[cfg(feature = "postgres")]
#[derive(Clone, Debug)]
pub struct PgPlace {
    /// How the run itself connects: straight to the server.
    pub config: postgres::Config,
    /// How each buyer connects: through a connection pooler (`--pooler`,
    /// PgBouncer in transaction mode) when there is one, else `config`.
    pub buyers: postgres::Config,
    /// The run's schema.
    pub schema: String,
    /// This host's name in a shared run (`--host-name`), recorded with
    /// each of its sales; empty for a run of its own.
    pub host: String,
    /// The longest a buyer may pause between tries and still not look hung
    /// to the watchdog: half of `--timeout`.
    pub patience: std::time::Duration,
}

/// A lock server (`--lock-server`) and the lease it grants.
#[derive(Clone, Debug)]
pub struct LockServer {
    /// `redis://HOST:PORT`.
    pub url: String,
    /// How long each grant lasts.
    pub lease: Duration,
    /// The prefix of the run's keys on the server, unique to the run:
    /// `booking:<host>:<pid>:<ns>`.
    pub keys: String,
}

impl Setup {
    /// The side file `<stock>.lock`, for strategies that lock a file.
    pub fn lock_path(&self) -> PathBuf {
        self.side_file("lock")
    }

    /// `<stock>.<ext>`, beside the stock file.
    pub fn side_file(&self, ext: &str) -> PathBuf {
        side_file(&self.stock, ext)
    }
}

fn side_file(stock: &Path, ext: &str) -> PathBuf {
    let mut name = stock.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    stock.with_file_name(name)
}

/// A strategy's state, created by the parent before the buyers exist.
/// Dropped by the parent after every buyer has been reaped: that is where
/// it removes what it created. (Buyers never drop it: they end with
/// `_exit`, see [`crate::sys::fork`].)
pub trait Shared {
    /// Called in a buyer process after the fork: that buyer's lock handle.
    ///
    /// # Errors
    /// When the buyer cannot open the shared state.
    fn open(&self) -> io::Result<Box<dyn Lock + '_>>;

    /// Called in the parent when buyer `pid` died without finishing. A
    /// strategy whose lock outlives a dead holder repairs it here and says
    /// what it did.
    ///
    /// # Errors
    /// When the repair fails.
    fn buyer_died(&self, _pid: Pid) -> io::Result<Option<String>> {
        Ok(None)
    }

    /// Called in the parent by the watchdog: the state of the lock, one
    /// line, if the strategy can tell (e.g. who holds it).
    fn describe(&self) -> Option<String> {
        None
    }
}

/// One strategy: its registry entry.
pub struct Strategy {
    /// The `--lock` value.
    pub name: &'static str,
    /// One line for `--help` and the reports.
    pub about: &'static str,
    /// Whether it claims mutual exclusion; the tests and `check` hold it to
    /// that claim.
    pub safe: bool,
    /// What the lock is held around.
    pub protects: Protects,
    /// Hidden strategies are not listed in `--help` nor run by default by
    /// `check` and `compare`; `--lock NAME` still selects them. For the
    /// faulty strategies that test the harness itself.
    pub hidden: bool,
    /// Where its stock lives.
    pub store: Store,
    /// Whether it takes its lock from a lock server (`--lock-server`): a
    /// lease, not a kernel lock.
    pub lock_server: bool,
    /// Parent side: creates the shared state.
    pub prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
}

impl Strategy {
    /// An entry with the defaults: protects the whole purchase, listed.
    pub const fn new(
        name: &'static str,
        about: &'static str,
        safe: bool,
        prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
    ) -> Self {
        Strategy {
            name,
            about,
            safe,
            protects: Protects::Purchase,
            hidden: false,
            store: Store::File,
            lock_server: false,
            prepare,
        }
    }

    /// A strategy that leases its lock from a lock server
    /// (`--lock-server`) around a purchase in the SQLite store.
    pub const fn leased(
        name: &'static str,
        about: &'static str,
        safe: bool,
        prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
    ) -> Self {
        Strategy {
            lock_server: true,
            ..Strategy::transaction(Store::Sqlite, name, about, safe, prepare)
        }
    }

    /// A strategy whose purchase is a transaction in a database: its
    /// stock lives in `store` (`Store::Sqlite` or `Store::Postgres`).
    pub const fn transaction(
        store: Store,
        name: &'static str,
        about: &'static str,
        safe: bool,
        prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
    ) -> Self {
        Strategy {
            protects: Protects::Transaction,
            store,
            ..Strategy::new(name, about, safe, prepare)
        }
    }

    /// Whether a stepped run can schedule it: its buyers stop at the
    /// pause points and block in the kernel's lock calls. A database's
    /// transaction waits in the database (SQLite's busy handler sleeps),
    /// where the scheduler cannot tell waiting from working.
    pub fn steppable(&self) -> bool {
        self.store == Store::File
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_unlocks_once_also_when_dropped() {
        #[derive(Default)]
        struct Count(u32, u32);
        impl Lock for Count {
            fn lock(&mut self) -> io::Result<()> {
                self.0 += 1;
                if self.0 == 1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                Ok(())
            }
            fn unlock(&mut self) -> io::Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let mut c = Count::default();
        acquire(&mut c).unwrap().release().unwrap();
        assert_eq!((c.0, c.1), (2, 1), "EINTR retried, one unlock");
        drop(acquire(&mut c).unwrap());
        assert_eq!((c.0, c.1), (3, 2));
    }
}
