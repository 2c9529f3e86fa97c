//! `excl` — and the template for your own strategy. Copy this file to
//! `src/lock/strategies/<yours>.rs` (a Rust identifier: letters, digits,
//! `_`) and give its `STRATEGY` a new name: nothing else to edit. The build
//! lists every file of `src/lock/strategies/`, so the CLI (`--lock <yours>`), `booking check`,
//! `booking compare` and `cargo test` all pick it up. (Forget to rename it
//! and the build fails: two strategies called `excl`.)
//!
//! # What a strategy is made of
//!
//! 1. A registry entry, [`STRATEGY`]: its `--lock` name, one line of help,
//!    whether it claims to be safe (the tests hold it to that claim), and
//!    `prepare`.
//! 2. `prepare` runs once, in the parent, before any buyer exists. It makes
//!    the shared state: here, the path of the lock file. Buyers are forked
//!    afterwards, so they inherit whatever `prepare` built (memory, open
//!    files — careful: an inherited descriptor is *shared*, see `file.rs`).
//! 3. [`Shared::open`] runs in each buyer after the fork and gives that
//!    buyer its [`Lock`]. [`Lock::lock`] must not return until the buyer
//!    may enter the critical section; [`Lock::unlock`] lets the next in.
//!    Both take `&mut self`: keep what `lock` opened in a field. The
//!    library wraps them in a guard, retries `EINTR`, and unlocks on every
//!    path (an error or a panic in the critical section included).
//! 4. Optional: [`Shared::buyer_died`] runs in the parent when a buyer was
//!    killed, to repair a lock the dead buyer held; [`Shared::describe`]
//!    tells the watchdog what state the lock is in.
//!
//! # This strategy: a lock file created with `O_EXCL`
//!
//! `open(O_CREAT | O_EXCL)` either creates the file or fails with `EEXIST`,
//! atomically: exactly one buyer can create it. Holding the lock = the file
//! exists; releasing = unlinking it. It is the oldest lock on Unix
//! (`mkdir`-style locks work the same way), and it has two costs you can
//! measure: waiters poll (they sleep a little and try again, burning
//! wake-ups: see `lock::backoff` for how long, and why), and, like a
//! semaphore, the lock has no owner the kernel knows of — a holder that
//! dies leaves the file behind. The holder writes its pid
//! into the file, so the parent can remove it for a buyer known to be dead.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::unistd::Pid;

// A strategy imports the strategy API (and, should it need shared memory
// or a semaphore, the platform floor `crate::sys`): nothing of the engine.
// `crate::lock::hooks` has `point()` (a pause point of your own for stepped
// runs, for code between two system calls: each system call is already
// one) and `note()` (a line for this buyer's record).
use crate::error::{Error, Result};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::lock::backoff::Backoff;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "excl",
    "a lock file created with O_EXCL, polled (the template for your own strategy)",
    true,
    prepare,
);

/// Shared state: where the lock file goes (`<stock>.excl`).
struct Excl {
    path: PathBuf,
    repair: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    let path = setup.side_file("excl");
    // A file left by a run that was killed would block every buyer.
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // How `prepare` reports an error: `Error::file` names the file and
        // the problem in one line, and the run stops with exit code 2 before
        // any buyer starts. (A bare `?` on an `io::Error` does not compile
        // here: say which file and what for.)
        Err(e) => return Err(Error::file("stale lock file", &path, e)),
    }
    Ok(Box::new(Excl {
        path,
        repair: setup.repair,
    }))
}

impl Shared for Excl {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(ExclLock { shared: self }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        let holder = fs::read_to_string(&self.path).unwrap_or_default();
        if holder.trim() != pid.to_string() || !self.repair {
            return Ok(None);
        }
        fs::remove_file(&self.path)?;
        Ok(Some("died holding the lock file; removed it".into()))
    }

    fn describe(&self) -> Option<String> {
        let holder = fs::read_to_string(&self.path).ok()?;
        Some(format!("lock file held by pid {}", holder.trim()))
    }
}

impl Drop for Excl {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// One buyer's handle.
struct ExclLock<'a> {
    shared: &'a Excl,
}

impl Lock for ExclLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        // Nothing wakes a waiter when the file goes: it sleeps and tries
        // again, a little longer each time, at random (see `Backoff`).
        let mut backoff = Backoff::new();
        loop {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&self.shared.path);
            match created {
                Ok(mut f) => {
                    f.write_all(std::process::id().to_string().as_bytes())?;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    backoff.pause();
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn unlock(&mut self) -> io::Result<()> {
        fs::remove_file(&self.shared.path)
    }
}
