//! `spin`: a test-and-set spinlock in shared memory, the first lock of
//! OSTEP's chapter 28, as a student writes it — a waiter busy-waits,
//! never sleeping, never yielding.
//!
//! The lock is one word of anonymous shared memory (mapped before the
//! forks, so every buyer shares it): 0 when free, else the holder's pid,
//! taken with one compare-and-swap. Nothing in the kernel knows of it:
//!
//! * **who releases it when its holder dies?** Nobody, by itself. A
//!   killed holder's pid stays in the word and every waiter spins for
//!   ever. The repair (`buyer_died`, run by the parent when a buyer dies)
//!   swaps the dead pid for 0, which only works because the word names
//!   its holder;
//! * **a waiter burns its processor**: on two cores with a thousand
//!   waiters, the holder competes with all of them for a processor. The
//!   stepped scheduler preempts a waiter that spins for a quantum without
//!   reaching a point, so a spin is a step there, not a hang.
//!
//! `spin-yield` is the same lock whose waiter calls `sched_yield` in its
//! loop; `ticket` and `bakery` are the fair ones.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SharedWords;

/// `spin`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "spin",
        "a test-and-set spinlock in shared memory; waiters busy-wait",
        true,
        |setup| prepare(setup, Wait::Busy),
    )
};

/// How a spinning waiter waits between two looks.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wait {
    /// A busy loop (`spin_loop`, the processor's pause hint).
    Busy,
    /// `sched_yield`: the processor to any other runnable process.
    Yield,
}

impl Wait {
    /// Waits until `ready()` says yes.
    pub(super) fn until(self, mut ready: impl FnMut() -> bool) {
        while !ready() {
            match self {
                Wait::Busy => std::hint::spin_loop(),
                Wait::Yield => std::thread::yield_now(),
            }
        }
    }
}

/// `len` words of shared memory, all 0.
pub(super) fn words(len: usize) -> Result<SharedWords> {
    SharedWords::new(len).map_err(|e| Error::Failed(format!("mmap: {e}")))
}

/// This process's pid, as a word.
pub(super) fn me() -> u64 {
    u64::from(std::process::id())
}

/// The spinlock: word 0 holds the holder's pid, 0 when free.
pub(super) struct Spin {
    words: SharedWords,
    wait: Wait,
    repair: bool,
}

/// Makes the lock word; `wait` says how a waiter spins.
pub(super) fn prepare(setup: &Setup, wait: Wait) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Spin {
        words: words(1)?,
        wait,
        repair: setup.repair,
    }))
}

impl Spin {
    fn word(&self) -> &AtomicU64 {
        &self.words[0]
    }
}

impl Shared for Spin {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(SpinLock { spin: self }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        let dead = pid.as_raw() as u64;
        if self.word().load(SeqCst) != dead {
            return Ok(None);
        }
        if !self.repair {
            return Ok(Some("died holding the spinlock; not repaired (--no-repair)".into()));
        }
        // Only if it still holds it: a swap, not a store.
        let freed = self.word().compare_exchange(dead, 0, SeqCst, SeqCst).is_ok();
        Ok(freed.then(|| "died holding the spinlock; freed it".into()))
    }

    fn describe(&self) -> Option<String> {
        Some(match self.word().load(SeqCst) {
            0 => "spinlock free".into(),
            pid => format!("spinlock held by pid {pid}"),
        })
    }
}

struct SpinLock<'a> {
    spin: &'a Spin,
}

impl Lock for SpinLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let word = self.spin.word();
        // Read once: the loop below makes no system call at all.
        let me = me();
        self.spin
            .wait
            .until(|| word.compare_exchange(0, me, SeqCst, SeqCst).is_ok());
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.spin.word().store(0, SeqCst);
        Ok(())
    }
}
