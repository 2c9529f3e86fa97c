//! `sysv`: a System V semaphore used as a lock, with **`SEM_UNDO`**.
//!
//! OS semantics: the kernel keeps, per process, an undo record of its
//! `SEM_UNDO` operations and applies it when the process exits, however it
//! exits. A buyer killed between `P` and `V` gives its permit back by
//! itself: the answer, in the kernel, to the window the hand-written repair
//! of `sem` has to close. No holder pid, no repair code.
//!
//! The set itself is no process's: it lives until removed. The parent
//! removes it at the end of the run; if `booking` itself is killed with
//! `SIGKILL`, the next run removes it (its lease file says whose it was:
//! see [`crate::sys::sysv::IpcLease`]). `ipcs -s` shows the sets.

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SysvSemaphore;
use crate::sys::sysv::IpcLease;
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "sysv",
    "System V semaphore with SEM_UNDO; the kernel gives a dead holder's permit back",
    true,
    prepare,
);

/// The set, then its lease: dropped in that order, so the lease file goes
/// only after the set is removed.
struct Sysv {
    sem: SysvSemaphore,
    _lease: IpcLease,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    let fail = |e| Error::failed("a System V semaphore", e);
    let sem = SysvSemaphore::create(1).map_err(fail)?;
    let (id, stamp) = sem.id_and_stamp().map_err(fail)?;
    let lease = IpcLease::take(&setup.leases, id, stamp).map_err(fail)?;
    Ok(Box::new(Sysv { sem, _lease: lease }))
}

impl Shared for Sysv {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(SysvLock(&self.sem)))
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
