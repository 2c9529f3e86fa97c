//! `ofd`: an open-file-description record lock (`fcntl(F_OFD_SETLKW)`) on
//! `<stock>.lock`, opened by each buyer.
//!
//! OS semantics: the byte-range lock of `fcntl`, owned like a `flock` — by
//! the open file description, not the process. Closing another descriptor
//! of the same file does not drop it (the pitfall of classic `fcntl`
//! locks); a descriptor inherited through `fork` shares it (the pitfall of
//! `flock`), which is why each buyer opens the file itself. When a holder
//! dies, its descriptors close and the lock goes with them: nothing to
//! repair.

use std::io;

use super::fcntl::{RecordLock, RecordLockFile};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "ofd",
    "open-file-description lock (fcntl F_OFD_SETLKW) on <stock>.lock; survives other closes",
    true,
    prepare,
);

struct Ofd(RecordLockFile);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Ofd(RecordLockFile::prepare(setup)?)))
}

impl Shared for Ofd {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(RecordLock {
            file: self.0.open()?,
            ofd: true,
        }))
    }
}
