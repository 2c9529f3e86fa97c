//! Faulty strategies that test the harness itself, not a lesson about
//! locks: hidden from `--help` and from the default `check` and `compare`,
//! selected by name (`--lock fails`). Each claims to be safe, so a harness
//! that could be fooled by it would say SAFE; `cargo test` shows it cannot.
//!
//! * `fails` — every `lock` returns an error: every buyer fails;
//! * `panics` — `lock` panics: the panic must stay in the buyer's process,
//!   be reported as that buyer's failure, and leave the run's files alone;
//! * `never-unlocks` — a semaphore whose `unlock` does nothing: the first
//!   buyer gets in, everyone else waits for ever, until the watchdog.
//!
//! Three entries in one file: the build lists every `pub const _: Strategy`.

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::ShmSemaphore;
use crate::error::{Error, Result};

/// `fails`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "fails",
        "faulty: every lock() returns an error (tests the harness)",
        true,
        prepare_fails,
    )
};

fn prepare_fails(_: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Faulty::Fails))
}

/// `panics`.
pub const PANICS: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "panics",
        "faulty: lock() panics (tests the fork boundary)",
        true,
        prepare_panics,
    )
};

fn prepare_panics(_: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Faulty::Panics))
}

/// `never-unlocks`.
pub const NEVER_UNLOCKS: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "never-unlocks",
        "faulty: a semaphore whose unlock() does nothing (tests the watchdog)",
        true,
        prepare_never_unlocks,
    )
};

fn prepare_never_unlocks(_: &Setup) -> Result<Box<dyn Shared>> {
    let sem = ShmSemaphore::create_unique(1).map_err(|e| Error::Failed(e.to_string()))?;
    Ok(Box::new(Faulty::NeverUnlocks(sem)))
}

enum Faulty {
    Fails,
    Panics,
    NeverUnlocks(ShmSemaphore),
}

impl Shared for Faulty {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(FaultyLock(self)))
    }
}

struct FaultyLock<'a>(&'a Faulty);

impl Lock for FaultyLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        match self.0 {
            Faulty::Fails => Err(io::Error::other("this strategy always fails")),
            Faulty::Panics => panic!("this strategy panics in lock()"),
            Faulty::NeverUnlocks(sem) => sem.wait(),
        }
    }

    fn unlock(&mut self) -> io::Result<()> {
        Ok(())
    }
}
