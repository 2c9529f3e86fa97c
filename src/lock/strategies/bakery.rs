//! `bakery`: Lamport's bakery algorithm (1974) in shared memory — mutual
//! exclusion from plain reads and writes of shared words, no atomic
//! read-modify-write in the algorithm itself. Each buyer takes a slot when
//! it opens the lock; to enter, it picks a number one above every number
//! it sees (`choosing` raised meanwhile), then waits, yielding, for every
//! other slot that is choosing or holds a smaller `(number, slot)`. Fair:
//! first come, first served, for any number of buyers up to [`SLOTS`].
//!
//! The words are sequentially consistent (`SeqCst`): the algorithm
//! assumes each write is seen by every process in one order, which
//! weaker orderings (and the x86 store buffer, without a fence) break.
//!
//! Who releases it when its holder dies? Nobody, by itself: a dead buyer's
//! number stays, and every larger one waits for ever. Each slot records
//! its buyer's pid, so the parent's repair (`buyer_died`) clears the dead
//! buyer's number and `choosing` — holding or waiting alike.

use std::io;
use std::sync::atomic::Ordering::SeqCst;

use nix::unistd::Pid;

use super::spin::{Wait, me, words};
use crate::error::Result;
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SharedWords;

/// `bakery`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "bakery",
        "Lamport's bakery algorithm in shared memory: numbered, first come first served; waiters yield",
        true,
        prepare,
    )
};

/// Slots: buyers that can open the lock in one run.
pub const SLOTS: usize = 32_768;

// Word 0 counts the slots taken; then three words per slot.
const TAKEN: usize = 0;
fn choosing(slot: usize) -> usize {
    1 + 3 * slot
}
fn number(slot: usize) -> usize {
    2 + 3 * slot
}
fn owner(slot: usize) -> usize {
    3 + 3 * slot
}

struct Bakery {
    words: SharedWords,
    repair: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Bakery {
        words: words(1 + 3 * SLOTS)?,
        repair: setup.repair,
    }))
}

impl Bakery {
    /// Slots taken so far.
    fn taken(&self) -> usize {
        (self.words[TAKEN].load(SeqCst) as usize).min(SLOTS)
    }
}

impl Shared for Bakery {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        let slot = self.words[TAKEN].fetch_add(1, SeqCst) as usize;
        if slot >= SLOTS {
            return Err(io::Error::other(format!(
                "the bakery has {SLOTS} slots, all taken"
            )));
        }
        self.words[owner(slot)].store(me(), SeqCst);
        Ok(Box::new(BakeryLock {
            bakery: self,
            slot,
        }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        let dead = pid.as_raw() as u64;
        let w = &self.words;
        let Some(slot) = (0..self.taken()).find(|&j| w[owner(j)].load(SeqCst) == dead) else {
            return Ok(None);
        };
        if w[number(slot)].load(SeqCst) == 0 && w[choosing(slot)].load(SeqCst) == 0 {
            return Ok(None);
        }
        if !self.repair {
            return Ok(Some(format!(
                "died with number {} in the bakery; not repaired (--no-repair)",
                w[number(slot)].load(SeqCst)
            )));
        }
        w[choosing(slot)].store(0, SeqCst);
        w[number(slot)].store(0, SeqCst);
        Ok(Some(format!("died in the bakery; cleared slot {slot}")))
    }

    fn describe(&self) -> Option<String> {
        let w = &self.words;
        let waiting = (0..self.taken())
            .filter(|&j| w[number(j)].load(SeqCst) != 0)
            .count();
        Some(format!(
            "{waiting} buyers hold a number, of {} slots taken",
            self.taken()
        ))
    }
}

struct BakeryLock<'a> {
    bakery: &'a Bakery,
    slot: usize,
}

impl Lock for BakeryLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let (w, i) = (&self.bakery.words, self.slot);
        w[choosing(i)].store(1, SeqCst);
        let n = self.bakery.taken();
        let highest = (0..n).map(|j| w[number(j)].load(SeqCst)).max();
        let mine = 1 + highest.unwrap_or(0);
        w[number(i)].store(mine, SeqCst);
        w[choosing(i)].store(0, SeqCst);
        for j in (0..self.bakery.taken()).filter(|&j| j != i) {
            Wait::Yield.until(|| w[choosing(j)].load(SeqCst) == 0);
            Wait::Yield.until(|| {
                let theirs = w[number(j)].load(SeqCst);
                theirs == 0 || (theirs, j) > (mine, i)
            });
        }
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.bakery.words[number(self.slot)].store(0, SeqCst);
        Ok(())
    }
}
