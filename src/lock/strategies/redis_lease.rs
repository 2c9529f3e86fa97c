//! `redis-lease`: **deliberately wrong**, for the zoo — the classic lock
//! on a lock server, `SET lock <token> NX PX <lease>`, released by a
//! compare-and-delete script, around a purchase in the SQLite store.
//!
//! It excludes as long as every holder finishes within its lease. A holder
//! stopped for longer (`--pause 2 --pause-at read --pause-for 1s` with the
//! default `--lease 500ms`) loses the lease while it sleeps; the server
//! grants it to the next buyer, who reads the same count; the first wakes
//! and writes what it read. Both sold one ticket: the oversell a kernel
//! lock never shows, because the kernel does not take a lock back from a
//! process that is merely slow. See [`crate::lease`], and `redis-fenced`
//! for the fix.
#![cfg(feature = "redis")]

use crate::lock::api::{Setup, Shared, Strategy};
use crate::error::Result;
use crate::lease::{self, Fencing};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::leased(
    "redis-lease",
    "zoo, Redis: SET NX PX lease around the purchase; a holder paused past its lease writes anyway",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    lease::shared(setup, Fencing::Off)
}
