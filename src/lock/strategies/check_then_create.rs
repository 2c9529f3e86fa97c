//! `check-then-create`: **deliberately wrong**, for the zoo: a lock file,
//! taken by checking that it does not exist and then creating it.
//!
//! Between the check (`exists`) and the use (`create`) another buyer can do
//! the same check, see the same absence, and create the same file: both
//! believe they hold the lock. A time-of-check-to-time-of-use race (TOCTOU).
//! The window is a few microseconds, so it needs buyers that poll at the
//! same moment — which is exactly what waiters do when the holder unlinks
//! the file. The fix is to make the check and the creation one atomic
//! system call: `open(O_CREAT | O_EXCL)`, as `excl` (the template) does.

use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "check-then-create",
    "zoo: a lock file taken by `if !exists { create }`; two buyers can both see it absent",
    false,
    prepare,
);

struct LockPath(PathBuf);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    let path = setup.side_file("toctou-lock");
    // A file left by a run that was killed would block every buyer.
    let _ = fs::remove_file(&path);
    Ok(Box::new(LockPath(path)))
}

impl Shared for LockPath {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(CheckThenCreate(&self.0)))
    }
}

impl Drop for LockPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

struct CheckThenCreate<'a>(&'a PathBuf);

impl Lock for CheckThenCreate<'_> {
    fn lock(&mut self) -> io::Result<()> {
        // Time of check...
        while self.0.exists() {
            std::thread::sleep(Duration::from_micros(50));
        }
        // A stepped run stops the buyer at each system call (the check is
        // one, the create another): a schedule can let another buyer check
        // right here.
        // ...time of use: another buyer may have passed the check too.
        File::create(self.0)?;
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        match fs::remove_file(self.0) {
            // Two "holders": the other one removed it already.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}
