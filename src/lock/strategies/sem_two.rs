//! `sem-two`: **deliberately wrong**, for the zoo: a counting semaphore with
//! two permits, used as a lock.
//!
//! A semaphore initialised to K lets K holders in at once: the right tool
//! to bound a pool (K database connections), the wrong one for mutual
//! exclusion. With two buyers inside, both can read the same count and
//! write the same value back: a lost update, a double booking. The bug
//! hides when buyers rarely overlap, and shows as soon as two do.

use std::io;

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use super::sem::Sem;
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::new(
    "sem-two",
    "zoo: a counting semaphore with 2 permits; two buyers inside at once",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Two(Sem::new(setup, 2)?)))
}

struct Two(Sem);

impl Shared for Two {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        self.0.open()
    }
}
