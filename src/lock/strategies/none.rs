//! `none`: no exclusion at all. Every buyer reads, decides and writes back
//! while others do the same, so two buyers can read the same count, both sell
//! ticket N, and both write N - 1: a double booking and a lost update.

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "none",
    "no lock: read, decide, write back (oversells)",
    false,
    prepare,
);

struct NoLock;

impl Lock for NoLock {
    fn lock(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
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
