//! `spin-yield`: the test-and-set spinlock of [`super::spin`] whose waiter
//! calls `sched_yield` between two tries, handing its processor to any
//! other runnable process — on a machine with fewer processors than
//! buyers, often the holder it waits for. The lock, and who releases it
//! when its holder dies (the parent's repair, nobody else), are `spin`'s.

use super::spin::{Wait, prepare};
use crate::lock::api::Strategy;

/// `spin-yield`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "spin-yield",
        "a test-and-set spinlock in shared memory; waiters call sched_yield",
        true,
        |setup| prepare(setup, Wait::Yield),
    )
};
