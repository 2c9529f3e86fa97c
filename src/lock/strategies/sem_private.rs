//! `sem-private`: **deliberately wrong**, for the zoo (pitfall 6 of the
//! design notes). The `sem` strategy's semaphore, `sem_init(pshared = 1)`
//! and all — in memory mapped `MAP_PRIVATE` instead of `MAP_SHARED`.
//!
//! `pshared = 1` only says the semaphore *may* be shared; the memory decides
//! whether it is. After `fork`, each buyer gets its own copy-on-write copy of
//! a private page: the first `sem_wait` in each buyer decrements that
//! buyer's own copy from 1 to 0 and returns. Every buyer holds "the" lock.
//! (The same happens with a semaphore in a `Box` or on the stack.)

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::ShmSemaphore;
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "sem-private",
    "zoo: a process-shared semaphore in private memory; each buyer locks its own copy",
    false,
    prepare,
);

struct Private(ShmSemaphore);

fn prepare(_: &Setup) -> Result<Box<dyn Shared>> {
    let sem = ShmSemaphore::create_private(1)
        .map_err(|e| Error::failed("a semaphore in private memory", e))?;
    Ok(Box::new(Private(sem)))
}

impl Shared for Private {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(PrivateLock(&self.0)))
    }
}

struct PrivateLock<'a>(&'a ShmSemaphore);

impl Lock for PrivateLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        self.0.wait()
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.0.post()
    }
}
