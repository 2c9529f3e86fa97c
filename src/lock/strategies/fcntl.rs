//! `fcntl`: a classic POSIX record lock (`fcntl(F_SETLKW)`, a write lock on
//! the whole file) on the side file `<stock>.lock`, opened by each buyer.
//!
//! OS semantics that shape this code:
//! * The lock belongs to the **process** (not to the open file, as `flock`'s
//!   does): a child forked from a holder does not inherit it, which makes it
//!   safe here even with a shared descriptor.
//! * It vanishes when the process closes **any** descriptor of that file —
//!   not only the one it locked through. One stray `open` + `close` of the
//!   lock file (a check, a library call) silently drops the lock: the zoo's
//!   `fcntl-close` does exactly that. Open-file-description locks (`ofd`)
//!   were added to Linux to fix it.
//! * When a holder dies, the kernel releases its locks with its process:
//!   nothing to repair.
//! * Not mixed with `flock` on the same file (the two do not see each other
//!   on Linux).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "fcntl",
    "POSIX record lock (fcntl F_SETLKW) on <stock>.lock; per process, dropped on any close",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(RecordLockFile::prepare(setup)?))
}

/// The lock file (shared with `ofd` and the zoo's `fcntl-close`). It is
/// made, and removed at the end, by `file`'s parent side.
pub(crate) struct RecordLockFile {
    _made: Box<dyn Shared>,
    path: PathBuf,
}

impl RecordLockFile {
    /// Creates `<stock>.lock` as `file` does (and removes it at the end).
    ///
    /// # Errors
    /// When the lock file cannot be made.
    pub(crate) fn prepare(setup: &Setup) -> Result<Self> {
        Ok(RecordLockFile {
            _made: (super::file::STRATEGY.prepare)(setup)?,
            path: setup.lock_path(),
        })
    }

    /// A buyer's own descriptor of the lock file (`O_NOFOLLOW`: a link
    /// planted there is refused).
    pub(crate) fn open(&self) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.path)
    }
}

impl Shared for RecordLockFile {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(RecordLock {
            file: RecordLockFile::open(self)?,
            ofd: false,
        }))
    }
}

/// A whole-file write lock (`l_len = 0`: to the end, however it grows).
pub(crate) fn whole_file(kind: libc::c_short) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// A buyer's record lock, classic (per process) or open-file-description.
pub(crate) struct RecordLock {
    pub(crate) file: File,
    pub(crate) ofd: bool,
}

impl Lock for RecordLock {
    fn lock(&mut self) -> io::Result<()> {
        let l = whole_file(libc::F_WRLCK as libc::c_short);
        let arg = if self.ofd {
            FcntlArg::F_OFD_SETLKW(&l)
        } else {
            FcntlArg::F_SETLKW(&l)
        };
        fcntl(self.file.as_fd(), arg)?;
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        let l = whole_file(libc::F_UNLCK as libc::c_short);
        let arg = if self.ofd {
            FcntlArg::F_OFD_SETLK(&l)
        } else {
            FcntlArg::F_SETLK(&l)
        };
        fcntl(self.file.as_fd(), arg)?;
        Ok(())
    }
}
