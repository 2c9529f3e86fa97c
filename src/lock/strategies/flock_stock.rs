//! `flock-stock`: **deliberately wrong**, for the lab. It takes an exclusive
//! `flock` — on the stock file itself, instead of a side file.
//!
//! It looks right and passes a quick test. But every purchase ends by
//! renaming a new file over the stock file: the lock belongs to the old
//! inode, which is no longer the stock file. A buyer that opens the stock
//! file after a rename locks the *new* inode, while another buyer still
//! holds the lock on the old one: both are inside the critical section at
//! once. `booking check --lock flock-stock` finds the lost updates.
//!
//! Part of the zoo of deliberately wrong strategies: it claims nothing
//! (`safe: false`), `cargo test` checks that its verdict tells the truth,
//! and `make zoo` measures how often `booking check` catches it. Mark it
//! safe and watch the property tests fail.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};


use fs2::FileExt;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "flock-stock",
    "zoo: flock on the stock file itself; wrong, each save replaces the file",
    false,
    prepare,
);

struct StockPath(PathBuf);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(StockPath(setup.stock.clone())))
}

impl Shared for StockPath {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(StockLock {
            path: &self.0,
            file: None,
        }))
    }
}

/// Opens the stock file when asked for the lock, as a natural first try
/// would: by then the path may name a newer file than another buyer's.
struct StockLock<'a> {
    path: &'a Path,
    file: Option<File>,
}

impl Lock for StockLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let file = match self.file.take() {
            // Retried after EINTR: keep the file opened the first time.
            Some(f) => f,
            None => File::open(self.path)?,
        };
        // A stepped run stops the buyer at `flock` (a system call): another
        // buyer may save (and rename) the stock right here.
        let locked = FileExt::lock_exclusive(&file);
        self.file = Some(file);
        locked
    }

    fn unlock(&mut self) -> io::Result<()> {
        match self.file.take() {
            Some(file) => FileExt::unlock(&file),
            None => Ok(()),
        }
    }
}
