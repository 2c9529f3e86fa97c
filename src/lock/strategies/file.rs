//! `file`: an exclusive `flock(2)` (through `fs2`) on the side file
//! `<stock>.lock`.
//!
//! OS semantics that shape this code:
//! * The lock is **advisory**: it excludes only processes that also ask for
//!   it. Buyers do; anyone else can still write the stock file.
//! * It is not taken on the stock file itself, because each save replaces the
//!   stock file by `rename`: a lock on the old inode would lock a file that
//!   is no longer there, and the next buyer would lock the new one.
//! * A `flock` belongs to the open file description. A descriptor inherited
//!   across `fork` shares its lock with the parent and siblings, so every
//!   buyer opens the lock file itself, after the fork.
//! * When a holder dies, the kernel closes its descriptors and the lock goes
//!   with them: nothing to repair.
//! * Not mixed with `fcntl` record locks, which belong to a process and
//!   vanish on any close of the file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use fs2::FileExt;
use nix::libc;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "file",
    "flock(2) on <stock>.lock; the kernel releases it when a holder dies",
    true,
    prepare,
);

/// The parent's side: the lock file's path, and whether this run created it
/// (then it removes it at the end).
struct LockFile {
    path: PathBuf,
    created: bool,
}

struct FileLock {
    file: File,
}

fn open_options(create: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    // O_NOFOLLOW: a symbolic link planted at the lock file's name is refused.
    o.read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    o
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    let path = setup.lock_path();
    let existed = path.exists();
    open_options(true).open(&path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            Error::file(
                "lock file",
                &path,
                "is a symbolic link; refusing to follow it",
            )
        } else {
            Error::file("lock file", &path, e)
        }
    })?;
    Ok(Box::new(LockFile {
        path,
        created: !existed,
    }))
}

impl Shared for LockFile {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        let file = open_options(false).open(&self.path)?;
        Ok(Box::new(FileLock { file }))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Lock for FileLock {
    fn lock(&mut self) -> io::Result<()> {
        FileExt::lock_exclusive(&self.file)
    }

    fn unlock(&mut self) -> io::Result<()> {
        FileExt::unlock(&self.file)
    }
}
