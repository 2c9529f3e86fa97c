//! `robust`: a process-shared **robust** pthread mutex in shared memory.
//!
//! OS semantics: a robust mutex knows its owner. When the owner dies
//! holding it, the next `pthread_mutex_lock` returns `EOWNERDEAD` — with
//! the mutex locked — and that locker calls `pthread_mutex_consistent` and
//! goes on. The **next locker** repairs it: no parent, no holder pid of
//! ours. (What the dead owner left half done is the locker's to check; here
//! the stock file is only ever replaced whole, so there is nothing to fix.)

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::{Locked, RobustMutex};
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "robust",
    "robust process-shared mutex; the next locker recovers it from a dead owner",
    true,
    prepare,
);

struct Robust(RobustMutex);

fn prepare(_: &Setup) -> Result<Box<dyn Shared>> {
    let m = RobustMutex::create().map_err(|e| Error::failed("a robust mutex", e))?;
    Ok(Box::new(Robust(m)))
}

impl Shared for Robust {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(RobustLock(&self.0)))
    }
}

struct RobustLock<'a>(&'a RobustMutex);

impl Lock for RobustLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        if self.0.lock()? == Locked::Recovered {
            crate::lock::hooks::note("recovered the mutex from an owner that died holding it (EOWNERDEAD)");
        }
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.0.unlock()
    }
}
