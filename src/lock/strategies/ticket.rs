//! `ticket`: a ticket lock in shared memory (Mellor-Crummey and Scott's,
//! OSTEP 28.11), fair where a spinlock is not: a buyer takes the next
//! ticket with one fetch-and-add and waits, yielding, until the lock
//! serves that number; the holder's unlock serves the next one. Waiters
//! enter in the order they took their tickets, however many there are (the
//! counters are 64-bit words: no ring to wrap, unlike the zoo's
//! `ticket-ring`).
//!
//! Who releases it when its holder dies? Nobody, by itself: the dead
//! holder's number stays served and every later ticket waits for ever. The
//! lock records its holder's pid, so the parent's repair (`buyer_died`)
//! serves the next ticket. A buyer killed while *waiting* (holding a ticket
//! not yet served) is not repaired: its number would come up and nobody
//! would take it. `booking` kills buyers only at points inside the critical
//! section, where they hold the lock.

use std::io;
use std::sync::atomic::Ordering::SeqCst;

use nix::unistd::Pid;

use super::spin::{Wait, me, words};
use crate::error::Result;
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::SharedWords;

/// `ticket`.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "ticket",
        "a ticket lock in shared memory: fetch-and-add, served in order; waiters yield",
        true,
        prepare,
    )
};

// The words: the next ticket to hand out, the ticket being served, the
// holder's pid (0: none).
const NEXT: usize = 0;
const SERVING: usize = 1;
const HOLDER: usize = 2;

struct Ticket {
    words: SharedWords,
    repair: bool,
}

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Ticket {
        words: words(3)?,
        repair: setup.repair,
    }))
}

impl Ticket {
    /// The holder leaves: the next ticket is served.
    fn serve_next(&self) {
        self.words[HOLDER].store(0, SeqCst);
        self.words[SERVING].fetch_add(1, SeqCst);
    }
}

impl Shared for Ticket {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(TicketLock { ticket: self }))
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        if self.words[HOLDER].load(SeqCst) != pid.as_raw() as u64 {
            return Ok(None);
        }
        if !self.repair {
            return Ok(Some("died holding the ticket lock; not repaired (--no-repair)".into()));
        }
        self.serve_next();
        Ok(Some("died holding the ticket lock; served the next ticket".into()))
    }

    fn describe(&self) -> Option<String> {
        Some(format!(
            "serving ticket {} of {} handed out, holder pid {}",
            self.words[SERVING].load(SeqCst),
            self.words[NEXT].load(SeqCst),
            self.words[HOLDER].load(SeqCst)
        ))
    }
}

struct TicketLock<'a> {
    ticket: &'a Ticket,
}

impl Lock for TicketLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let w = &self.ticket.words;
        let mine = w[NEXT].fetch_add(1, SeqCst);
        Wait::Yield.until(|| w[SERVING].load(SeqCst) == mine);
        w[HOLDER].store(me(), SeqCst);
        Ok(())
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.ticket.serve_next();
        Ok(())
    }
}
