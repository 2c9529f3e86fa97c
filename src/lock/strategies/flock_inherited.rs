//! `flock-inherited`: **deliberately wrong**, for the zoo (pitfall 3 of the
//! design notes). A correct `flock` on the side file `<stock>.lock` — but
//! the file is opened once, by the parent, before the fork.
//!
//! A `flock` belongs to the *open file description*, not to the process.
//! `fork` copies the descriptor, and every copy points at the same open
//! file description: the buyers share one lock. When one buyer holds it,
//! another's `flock(LOCK_EX)` on the same description succeeds at once (it
//! already "holds" it), and so does everyone's: no exclusion at all. The
//! fix is what `file` does: each buyer opens the file itself, after the
//! fork.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;

use fs2::FileExt;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::{Error, Result};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "flock-inherited",
    "zoo: flock on a descriptor the parent opened before the fork; all buyers share one lock",
    false,
    prepare,
);

/// The file, opened by the parent; buyers inherit the descriptor.
struct Inherited {
    file: File,
    path: std::path::PathBuf,
    created: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    let path = setup.side_file("inherited-lock");
    let created = !path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| Error::file("lock file", &path, e))?;
    Ok(Box::new(Inherited {
        file,
        path,
        created,
    }))
}

impl Shared for Inherited {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(SharedDescription(&self.file)))
    }
}

impl Drop for Inherited {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct SharedDescription<'a>(&'a File);

impl Lock for SharedDescription<'_> {
    fn lock(&mut self) -> io::Result<()> {
        FileExt::lock_exclusive(self.0)
    }

    fn unlock(&mut self) -> io::Result<()> {
        FileExt::unlock(self.0)
    }
}
