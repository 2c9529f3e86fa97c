//! `redis-fenced`: the `redis-lease` lease plus a **fencing token** (a
//! number Redis increases with every grant) that the SQLite store checks
//! on the read and on the write. A holder paused past its lease wakes to
//! find its write refused — a newer token has read the stock — and takes
//! a new lease: no ticket is sold twice, however long the pause. The lock
//! server's lease keeps buyers from colliding in the common case; the
//! store's check makes the rare case safe. See [`crate::lease`].
#![cfg(feature = "redis")]

use crate::lock::api::{Setup, Shared, Strategy};
use crate::error::Result;
use crate::lease::{self, Fencing};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::leased(
    "redis-fenced",
    "Redis lease plus a fencing token the store checks: a holder paused past its lease is refused",
    true,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    lease::shared(setup, Fencing::On)
}
