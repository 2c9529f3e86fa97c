//! `none`: no exclusion at all. Every buyer reads, decides and writes back
//! while others do the same, so two buyers can read the same count, both sell
//! ticket N, and both write N - 1: a double booking and a lost update.

use std::io;

use super::{Guard, Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy {
    name: "none",
    about: "no lock: read, decide, write back (oversells)",
    safe: false,
    prepare,
};

struct NoLock;

impl Lock for NoLock {
    fn acquire(&self) -> io::Result<Guard<'_>> {
        Ok(Guard::new(self))
    }

    fn release(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared for NoLock {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(NoLock))
    }
}

fn prepare(_: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(NoLock))
}
