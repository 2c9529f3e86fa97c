//! `sem`: a process-shared POSIX semaphore, initialised to 1, in shared
//! memory (see [`ShmSemaphore`] for the `shm_open` + `mmap` +
//! `sem_init(pshared = 1)` details).
//!
//! OS semantics that shape this code:
//! * The semaphore must live in `MAP_SHARED` memory; in private memory every
//!   process would lock its own copy. Buyers are forked after the mapping
//!   exists, so each inherits the very same pages.
//! * A semaphore has **no owner**. If a buyer dies between `sem_wait` and
//!   `sem_post`, nobody posts and every other buyer waits for ever. The
//!   kernel does not help, unlike `flock`. So the holder's pid is recorded
//!   beside the semaphore, and when the parent reaps a buyer that died, it
//!   posts on its behalf if, and only if, the dead buyer was the holder.
//!   Never a blind post after a timeout: that would mint a second permit.

use std::io;

use nix::unistd::Pid;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::{Error, Result};
use crate::sys::ShmSemaphore;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "sem",
    "POSIX semaphore in shared memory; a dead holder is detected and repaired",
    true,
    prepare,
);

/// The parent's side: the semaphore, and whether to repair it.
pub(crate) struct Sem {
    sem: ShmSemaphore,
    repair: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Sem::new(setup, 1)?))
}

impl Sem {
    /// A semaphore with `permits` permits in a fresh shared-memory region
    /// (one permit: a mutex). Also the zoo's counting semaphore.
    ///
    /// # Errors
    /// When the region or the semaphore cannot be made.
    pub(crate) fn new(setup: &Setup, permits: u32) -> Result<Self> {
        let sem = ShmSemaphore::create_unique(permits).map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Sem {
            sem,
            repair: setup.repair,
        })
    }
}

impl Shared for Sem {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(SemLock(&self.sem)))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        if !self.repair {
            return Ok((self.sem.holder() == Some(pid))
                .then(|| "died holding the semaphore; not repaired (--no-repair)".to_string()));
        }
        Ok(self
            .sem
            .repair_if_held_by(pid)?
            .then(|| "died holding the semaphore; repaired".to_string()))
    }

    fn describe(&self) -> Option<String> {
        let value = self.sem.value().ok()?;
        Some(match self.sem.holder() {
            Some(pid) => format!("semaphore value {value}, recorded holder pid {pid}"),
            None => format!("semaphore value {value}, no recorded holder"),
        })
    }
}

struct SemLock<'a>(&'a ShmSemaphore);

impl Lock for SemLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        self.0.wait()
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.0.post()
    }
}
