//! `sysv`: a System V semaphore used as a lock, with **`SEM_UNDO`**.
//!
//! OS semantics: the kernel keeps, per process, an undo record of its
//! `SEM_UNDO` operations and applies it when the process exits, however it
//! exits. A buyer killed between `P` and `V` gives its permit back by
//! itself: the answer, in the kernel, to the window the hand-written repair
//! of `sem` has to close. No holder pid, no repair code. (The set lives
//! until removed: the parent removes it at the end of the run; `booking`
//! itself killed with `SIGKILL` leaves it, see `ipcs -s`.)

use std::io;

use super::{Lock, Setup, Shared, Strategy};
use crate::engine::sys::SysvSemaphore;
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "sysv",
    "System V semaphore with SEM_UNDO; the kernel gives a dead holder's permit back",
    true,
    prepare,
);

struct Sysv(SysvSemaphore);

fn prepare(_: &Setup) -> Result<Box<dyn Shared>> {
    let sem = SysvSemaphore::create(1).map_err(|e| Error::failed("a System V semaphore", e))?;
    Ok(Box::new(Sysv(sem)))
}

impl Shared for Sysv {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(SysvLock(&self.0)))
    }
}

struct SysvLock<'a>(&'a SysvSemaphore);

impl Lock for SysvLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        self.0.wait()
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.0.post()
    }
}
