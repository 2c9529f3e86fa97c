//! `lock-write-only`: **deliberately wrong**, for the zoo: the classic
//! mistake of locking only around the write.
//!
//! The lock itself is `file`'s, correct `flock` and all. But the strategy
//! declares [`Protects::Write`]: a buyer reads the stock, decides, waits its
//! delay, and only then takes the lock to write `count - 1`. Two buyers
//! that read the same count both write the same value, one after the
//! other, in perfect order: the lock orders the writes and protects
//! nothing. A critical section must cover the read, the decision and the
//! write — the whole read-modify-write.

use std::io;

use crate::lock::api::{Lock, Protects, Setup, Shared, Strategy};
use crate::error::Result;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy {
    protects: Protects::Write,
    ..Strategy::new(
        "lock-write-only",
        "zoo: flock held only around the write; buyers read and decide unlocked",
        false,
        prepare,
    )
};

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(WriteOnly((super::file::STRATEGY.prepare)(setup)?)))
}

struct WriteOnly(Box<dyn Shared>);

impl Shared for WriteOnly {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        self.0.open()
    }
}
