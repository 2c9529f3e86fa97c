//! `fcntl-close`: **deliberately wrong**, for the zoo (pitfall 4 of the
//! design notes): a correct classic `fcntl` record lock, then one innocent
//! `open` + `close` of the lock file (here: checking that it is still
//! there) right after taking it.
//!
//! Classic POSIX record locks belong to the process, and **any** close of
//! **any** descriptor of the file releases all of that process's locks on
//! it. The buyer believes it holds the lock; the kernel has already given
//! it to the next one. The fix: open-file-description locks (`ofd`), or
//! never open the lock file twice.

use std::io;

use super::fcntl::{RecordLock, RecordLockFile};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "fcntl-close",
    "zoo: fcntl record lock, then the lock file opened and closed again: the lock is gone",
    false,
    prepare,
);

struct CloseAfter(RecordLockFile);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(CloseAfter(RecordLockFile::prepare(setup)?)))
}

impl Shared for CloseAfter {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(Careless {
            inner: RecordLock {
                file: self.0.open()?,
                ofd: false,
            },
            shared: &self.0,
        }))
    }
}

struct Careless<'a> {
    inner: RecordLock,
    shared: &'a RecordLockFile,
}

impl Lock for Careless<'_> {
    fn lock(&mut self) -> io::Result<()> {
        self.inner.lock()?;
        // "Is the lock file still there?" — and the close that follows
        // drops this process's lock.
        drop(self.shared.open()?);
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.inner.unlock()
    }
}
