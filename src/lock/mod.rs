//! Locking strategies: the [`Lock`] trait, its RAII [`Guard`], and the
//! [`STRATEGIES`] registry.
//!
//! A strategy is one file in this folder plus one line in [`STRATEGIES`].
//! The CLI's `--lock` values and help, the reports and the property tests
//! all iterate over the registry, so a new strategy is offered, tested and
//! reported with no other edit.
//!
//! A strategy has two sides:
//! * the parent side ([`Strategy::prepare`]), run once before any buyer
//!   exists, creates the shared state ([`Shared`]): a lock file, a semaphore
//!   in shared memory. Buyers are forked from the parent, so they inherit it.
//! * the buyer side ([`Shared::open`]), run in each buyer process after the
//!   fork, gives that buyer its own [`Lock`] handle.

use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use crate::error::Result;

pub mod file;
pub mod flock_stock;
pub mod none;
pub mod sem;
pub mod template;

/// Mutual exclusion between buyer processes.
pub trait Lock {
    /// Blocks until this buyer holds the lock.
    ///
    /// # Errors
    /// When the underlying system call fails (other than `EINTR`, which is
    /// retried).
    fn acquire(&self) -> io::Result<Guard<'_>>;

    /// Gives the lock up. Called by [`Guard`]; do not call it directly.
    ///
    /// # Errors
    /// When the underlying system call fails.
    fn release(&self) -> io::Result<()>;
}

/// Proof that a buyer holds a [`Lock`]; releases it when dropped.
///
/// Prefer [`Guard::release`], which reports an error; `Drop` cannot, so it
/// releases and ignores the result (it never panics).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Guard<'a> {
    lock: &'a dyn Lock,
    held: bool,
}

impl<'a> Guard<'a> {
    /// Wraps a lock that the caller has just acquired.
    pub fn new(lock: &'a dyn Lock) -> Self {
        Guard { lock, held: true }
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// When the lock's release fails.
    pub fn release(mut self) -> io::Result<()> {
        self.held = false;
        self.lock.release()
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.held {
            let _ = self.lock.release();
        }
    }
}

/// Retries `op` while it fails with `EINTR` (a signal arrived while a
/// blocking call such as `flock` waited).
///
/// # Errors
/// The first error of `op` that is not `EINTR`.
pub fn retry_eintr(mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Where a run's files are, for a strategy to put its state beside them.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The stock file buyers read and replace.
    pub stock: PathBuf,
    /// Whether to repair a lock whose holder died (off with `--no-repair`).
    pub repair: bool,
}

impl Setup {
    /// The side file `<stock>.lock`, for strategies that lock a file.
    pub fn lock_path(&self) -> PathBuf {
        side_file(&self.stock, "lock")
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
/// it removes what it created.
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

/// One registered strategy.
pub struct Strategy {
    /// The `--lock` value.
    pub name: &'static str,
    /// One line for `--help` and the reports.
    pub about: &'static str,
    /// Whether it claims mutual exclusion; the tests hold it to that.
    pub safe: bool,
    /// Parent side: creates the shared state.
    pub prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
}

/// Every strategy, in the order the reports list them. To add yours: copy
/// `template.rs`, then add one line here.
pub const STRATEGIES: &[Strategy] = &[
    none::STRATEGY,
    file::STRATEGY,
    sem::STRATEGY,
    template::STRATEGY,
    flock_stock::STRATEGY,
];

/// Looks a strategy up by its `--lock` name.
pub fn find(name: &str) -> Option<&'static Strategy> {
    STRATEGIES.iter().find(|s| s.name == name)
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
