//! `redis-fence-write`: **deliberately wrong**, for the zoo — the
//! `redis-lease` lease with a fencing token checked on the **write only**
//! (`UPDATE stock SET count = :new, fence = :token WHERE fence < :token`),
//! as the token is usually described for a store that is only written.
//!
//! A purchase reads before it writes. Buyer A (token 1) reads 2 and
//! sleeps past its lease; buyer B (token 2) reads 2 as well; A wakes and
//! writes 1 (1 > 0: accepted); B writes 1 (2 > 1: accepted). Both sold
//! ticket 2. The store must also refuse a stale *reader*: `redis-fenced`
//! marks the stock with the token on the read. See [`crate::lease`].
#![cfg(feature = "redis")]

use crate::lock::api::{Setup, Shared, Strategy};
use crate::error::Result;
use crate::lease::{self, Fencing};

/// The registry entry.
pub const STRATEGY: Strategy = Strategy::leased(
    "redis-fence-write",
    "zoo, Redis lease, fencing token checked on the write only: two stale readers both write",
    false,
    prepare,
);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    lease::shared(setup, Fencing::WriteOnly)
}
