//! The stores as a run's workspace sees them: a [`Backend`] is made before
//! the buyers, counted after them, and removed when dropped — the run
//! never asks which database it is. SQLite's is here; PostgreSQL's, which
//! the `postgres` feature builds, in `pg_backend.rs`.
//!
//! Who removes what: a SQLite database lives in the run directory, which
//! the workspace removes (and the next run sweeps, should this one be
//! killed).

use std::io;
use std::path::{Path, PathBuf};

use super::{Database, sqlite};
use crate::error::{Error, Result};

/// A database holding a run's stock.
pub trait Backend {
    /// Where the buyers connect: the strategy's [`crate::lock::Setup::database`].
    fn database(&self) -> Database;

    /// The tickets left, after the run.
    ///
    /// # Errors
    /// A message naming the database, when it cannot be read.
    fn count(&self) -> std::result::Result<u64, String>;

    /// Whether the stock is a shared run's (`--run`), every host's: a host
    /// then judges only its own buyers, and [`Backend::report`]s them.
    fn is_shared(&self) -> bool {
        false
    }

    /// For a host of a shared run (`--run`): writes this host's buyers'
    /// records into the run, with its finished mark, for `booking verdict`.
    /// A run of its own has nowhere to write them.
    ///
    /// # Errors
    /// When the server refuses; `Unsupported` for a run of its own.
    fn report(&self, _host: &str, _records: &[Option<String>]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "not a shared run: its records stay with it",
        ))
    }
}

/// The SQLite store of a run: `stock.db` in the run directory.
struct SqliteStock(PathBuf);

impl Backend for SqliteStock {
    fn database(&self) -> Database {
        Database::Sqlite(self.0.clone())
    }

    fn count(&self) -> std::result::Result<u64, String> {
        sqlite::count(&self.0).map_err(|e| format!("{}: {e}", self.0.display()))
    }
}

/// A SQLite database of `tickets` in `dir` (the run directory).
///
/// # Errors
/// [`Error::Failed`] when the database cannot be made.
pub fn sqlite_in(dir: &Path, tickets: u64) -> Result<Box<dyn Backend>> {
    let path = dir.join("stock.db");
    sqlite::create(&path, tickets).map_err(|e| Error::failed("creating the SQLite stock", e))?;
    Ok(Box::new(SqliteStock(path)))
}
