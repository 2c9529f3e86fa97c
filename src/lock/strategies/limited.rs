//! Locks a student could write that are correct only within a limit, for
//! the tests: each claims to be safe, is right in every small scenario, and
//! is wrong only under the lab's own workload, which `check` and `grade`
//! run for that reason (see `commands::scenario`'s lab scenarios). Hidden
//! like [`super::faulty`].
//!
//! * `ticket-ring` — Anderson's array lock: a buyer takes a ticket and
//!   waits for the flag of slot `ticket % 64` in a ring of 64 slots; the
//!   holder's unlock clears its slot and raises the next one. With up to 64
//!   buyers holding or waiting, every slot has at most one ticket and the
//!   lock is exact. With 65, tickets `t` and `t + 64` share a slot: both
//!   see its flag raised and both enter (`booking --buyers 150` does it).
//! * `timeout-takeover` — an owner word with a generation: a waiter that
//!   sees the *same* hold for 300 ms presumes its holder dead and takes
//!   the lock over (so a killed holder needs no repair). Exact while every
//!   hold is shorter than 300 ms; a holder stopped longer (`--pause-at
//!   hold --pause-for 1.2s`, or a preempted process on a loaded machine)
//!   has the lock taken from under it.
//!
//! Waiters poll with `sleep`, as a student's spin with `usleep` would: a
//! `timeout-takeover` waiter 20 µs doubling to 10 ms between looks, a
//! `ticket-ring` waiter 100 µs for each ticket ahead of it (up to 20 ms),
//! the ticket lock's proportional backoff. A thousand waiters polling
//! every millisecond would take the two cores from the holder.

use std::io;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use nix::unistd::{Pid, getpid};

use crate::error::{Error, Result};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SharedWords;

/// Slots in `ticket-ring`'s ring.
pub const RING: u64 = 64;
/// How long `timeout-takeover` waits on one hold before taking over.
pub const TAKEOVER_AFTER: Duration = Duration::from_millis(300);

/// `ticket-ring`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "ticket-ring",
        "limited: a ticket lock over a ring of 64 flags (exact up to 64 waiters)",
        true,
        prepare_ring,
    )
};

/// `timeout-takeover`.
pub const TIMEOUT_TAKEOVER: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "timeout-takeover",
        "limited: a waiter takes the lock over after 300 ms on one hold (exact for shorter holds)",
        true,
        prepare_takeover,
    )
};

/// Polls `ready` until it says yes, sleeping `pause(last)` after each
/// no (`last`: the pause before, zero at first).
fn poll(mut ready: impl FnMut() -> bool, pause: impl Fn(Duration) -> Duration) {
    let mut last = Duration::ZERO;
    while !ready() {
        last = pause(last);
        std::thread::sleep(last);
    }
}

fn words(len: usize) -> Result<SharedWords> {
    SharedWords::new(len).map_err(|e| Error::Failed(format!("mmap: {e}")))
}

// ticket-ring's words: the next ticket, the holder's pid and ticket, then
// the ring's flags (1: this slot's ticket may enter).
const NEXT: usize = 0;
const HOLDER: usize = 1;
const HELD_TICKET: usize = 2;
const FLAGS: usize = 3;

struct Ring {
    words: SharedWords,
    repair: bool,
}

fn prepare_ring(setup: &Setup) -> Result<Box<dyn Shared>> {
    let words = words(FLAGS + RING as usize)?;
    words[FLAGS].store(1, SeqCst);
    Ok(Box::new(Ring {
        words,
        repair: setup.repair,
    }))
}

impl Ring {
    fn flag(&self, ticket: u64) -> &std::sync::atomic::AtomicU64 {
        &self.words[FLAGS + (ticket % RING) as usize]
    }

    /// Ticket `ticket`'s holder leaves: its slot down, the next one up.
    fn pass_on(&self, ticket: u64) {
        self.words[HOLDER].store(0, SeqCst);
        self.flag(ticket).store(0, SeqCst);
        self.flag(ticket + 1).store(1, SeqCst);
    }
}

impl Shared for Ring {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(RingLock {
            ring: self,
            ticket: 0,
        }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        if self.words[HOLDER].load(SeqCst) != pid.as_raw() as u64 {
            return Ok(None);
        }
        if !self.repair {
            return Ok(Some("died holding the ring; not repaired (--no-repair)".into()));
        }
        self.pass_on(self.words[HELD_TICKET].load(SeqCst));
        Ok(Some("died holding the ring; its slot passed on".into()))
    }

    fn describe(&self) -> Option<String> {
        Some(format!(
            "next ticket {}, holder pid {}",
            self.words[NEXT].load(SeqCst),
            self.words[HOLDER].load(SeqCst)
        ))
    }
}

struct RingLock<'a> {
    ring: &'a Ring,
    ticket: u64,
}

impl Lock for RingLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let ring = self.ring;
        self.ticket = ring.words[NEXT].fetch_add(1, SeqCst);
        let ticket = self.ticket;
        poll(
            || ring.flag(ticket).load(SeqCst) == 1,
            |_| {
                let ahead = ticket.saturating_sub(ring.words[HELD_TICKET].load(SeqCst));
                Duration::from_micros(100) * ahead.clamp(1, 200) as u32
            },
        );
        ring.words[HELD_TICKET].store(self.ticket, SeqCst);
        ring.words[HOLDER].store(getpid().as_raw() as u64, SeqCst);
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.ring.pass_on(self.ticket);
        Ok(())
    }
}

/// timeout-takeover's one word: `generation << 1 | locked`. Every
/// acquisition starts a new generation, so a waiter that sees the same
/// word for 300 ms has seen one hold last that long.
struct Takeover(SharedWords);

fn prepare_takeover(_: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Takeover(words(1)?)))
}

impl Shared for Takeover {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(TakeoverLock {
            word: &self.0[0],
            mine: 0,
        }))
    }
}

struct TakeoverLock<'a> {
    word: &'a std::sync::atomic::AtomicU64,
    mine: u64,
}

impl Lock for TakeoverLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let mut seen = (u64::MAX, Instant::now());
        poll(|| {
            let w = self.word.load(SeqCst);
            if w != seen.0 {
                seen = (w, Instant::now());
            }
            // Free, or held by the same holder for too long: "it died".
            let take = w & 1 == 0 || seen.1.elapsed() >= TAKEOVER_AFTER;
            let next = ((w >> 1) + 1) << 1 | 1;
            if take && self.word.compare_exchange(w, next, SeqCst, SeqCst).is_ok() {
                self.mine = next;
                return true;
            }
            false
        }, |last| (last * 2).clamp(Duration::from_micros(20), Duration::from_millis(10)));
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        // Only this hold's generation is released: a holder whose lock was
        // taken over leaves the new holder's alone.
        let _ = self
            .word
            .compare_exchange(self.mine, self.mine & !1, SeqCst, SeqCst);
        Ok(())
    }
}
