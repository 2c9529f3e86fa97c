//! `peterson`: Peterson's algorithm (1981) in shared memory — mutual
//! exclusion for two processes from a `flag` each and one `victim` word —
//! made an N-process lock as a tournament: a binary tree of two-process
//! Peterson locks, each buyer starting at a leaf of its own and winning
//! every lock on its way to the root (Peterson and Fischer's
//! construction). Its cost is the tree's depth, 15 locks for
//! [`SLOTS`] buyers, where the bakery reads every other buyer's number.
//!
//! At one node, the side `me` (0 or 1) locks with `flag[me] = 1;
//! victim = me;` and waits, yielding, while `flag[other] == 1 && victim ==
//! me`; it unlocks with `flag[me] = 0`. The words are sequentially
//! consistent (`SeqCst`): the algorithm needs its own write of `victim`
//! to be seen before it reads the other's `flag`, which x86 itself does
//! not promise (its store buffer lets the read go first) — with
//! `Relaxed`, or `Release`/`Acquire`, two buyers can both enter.
//!
//! Who releases it when its holder dies? Nobody, by itself: a dead
//! buyer's flags stay raised on its path, and the buyer beside it at each
//! node may wait for ever. Each slot records its buyer's pid, so the
//! parent's repair (`buyer_died`) lowers the dead buyer's flags on its
//! whole path.

use std::io;
use std::sync::atomic::Ordering::SeqCst;

use nix::unistd::Pid;

use super::spin::{Wait, me, words};
use crate::error::Result;
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SharedWords;

/// `peterson`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "peterson",
        "Peterson's algorithm in shared memory, as a tournament tree of two-buyer locks; waiters yield",
        true,
        prepare,
    )
};

/// The tree's depth: locks a buyer wins on its way to the root.
const DEPTH: usize = 15;

/// Slots (leaves): buyers that can open the lock in one run.
pub const SLOTS: usize = 1 << DEPTH;

// Word 0 counts the slots taken; then each slot's owner; then, for each
// node of the tree (1..SLOTS, node 1 the root, node k's children 2k and
// 2k+1), its two flags and its victim.
const TAKEN: usize = 0;
fn owner(slot: usize) -> usize {
    1 + slot
}
fn flag(node: usize, side: usize) -> usize {
    1 + SLOTS + 3 * node + side
}
fn victim(node: usize) -> usize {
    1 + SLOTS + 3 * node + 2
}

/// The nodes on `slot`'s way to the root, from its leaf's parent up, each
/// with the side `slot` comes from.
fn path(slot: usize) -> impl Iterator<Item = (usize, usize)> {
    let leaf = SLOTS + slot;
    (1..=DEPTH).map(move |up| (leaf >> up, (leaf >> (up - 1)) & 1))
}

struct Tournament {
    words: SharedWords,
    repair: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Tournament {
        words: words(1 + SLOTS + 3 * SLOTS)?,
        repair: setup.repair,
    }))
}

impl Tournament {
    fn taken(&self) -> usize {
        (self.words[TAKEN].load(SeqCst) as usize).min(SLOTS)
    }
}

impl Shared for Tournament {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        let slot = self.words[TAKEN].fetch_add(1, SeqCst) as usize;
        if slot >= SLOTS {
            return Err(io::Error::other(format!(
                "the tournament has {SLOTS} leaves, all taken"
            )));
        }
        self.words[owner(slot)].store(me(), SeqCst);
        Ok(Box::new(PetersonLock { tree: self, slot }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        let dead = pid.as_raw() as u64;
        let w = &self.words;
        let Some(slot) = (0..self.taken()).find(|&j| w[owner(j)].load(SeqCst) == dead) else {
            return Ok(None);
        };
        let raised = path(slot)
            .filter(|&(node, side)| w[flag(node, side)].load(SeqCst) != 0)
            .count();
        if raised == 0 {
            return Ok(None);
        }
        if !self.repair {
            return Ok(Some(format!(
                "died with {raised} flags raised in the tournament; not repaired (--no-repair)"
            )));
        }
        for (node, side) in path(slot) {
            w[flag(node, side)].store(0, SeqCst);
        }
        Ok(Some(format!(
            "died in the tournament; lowered its {raised} flags"
        )))
    }

    fn describe(&self) -> Option<String> {
        let w = &self.words;
        let root = (0..2).filter(|&s| w[flag(1, s)].load(SeqCst) != 0).count();
        Some(format!(
            "{root} of 2 flags raised at the root, {} leaves taken",
            self.taken()
        ))
    }
}

struct PetersonLock<'a> {
    tree: &'a Tournament,
    slot: usize,
}

impl Lock for PetersonLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let w = &self.tree.words;
        for (node, me) in path(self.slot) {
            let other = 1 - me;
            w[flag(node, me)].store(1, SeqCst);
            w[victim(node)].store(me as u64, SeqCst);
            Wait::Yield.until(|| {
                w[flag(node, other)].load(SeqCst) == 0 || w[victim(node)].load(SeqCst) != me as u64
            });
        }
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        // From the root down: the lock above is given up before the one
        // below lets the next buyer of this subtree climb.
        let nodes: Vec<(usize, usize)> = path(self.slot).collect();
        for &(node, me) in nodes.iter().rev() {
            self.tree.words[flag(node, me)].store(0, SeqCst);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaves_meet_where_their_paths_join() {
        // Slots 0 and 1 share their leaves' parent, from sides 0 and 1.
        let a: Vec<_> = path(0).collect();
        let b: Vec<_> = path(1).collect();
        assert_eq!(a.len(), DEPTH);
        assert_eq!((a[0].0, a[0].1, b[0].1), (b[0].0, 0, 1));
        // Every path ends at the root; 0 and the last slot meet only there.
        let last: Vec<_> = path(SLOTS - 1).collect();
        assert_eq!(a[DEPTH - 1].0, 1);
        assert_eq!(last[DEPTH - 1], (1, 1));
        assert!(a[..DEPTH - 1].iter().all(|n| !last.contains(n)));
    }
}
