//! Strategies that lock only when the run looks like a test (hidden, both
//! claiming safety): a `flock` under the small scenarios a test harness
//! draws, no lock at all under the lab's own workload. Each reads what a
//! strategy can see of its run:
//!
//! * `unless-100-tickets` — `prepare` reads the stock: 100 tickets, the
//!   README's count, means a real run;
//! * `unless-150-buyers` — each buyer counts its siblings when it first
//!   locks (after the start barrier, when every buyer exists): 150 or
//!   more means a real run.
//!
//! `check` and `grade` catch both because the lab's workload includes the
//! README's own run (`readme`: 150 buyers for 100 tickets), and their
//! small scenarios draw counts over the whole range. A strategy that reads
//! the parent's command line (`check`, `grade`) is not caught this way: that
//! needs each scenario run as the plain command a user types.

use std::io;

use crate::error::{Error, Result};
use crate::lock::api::{Lock, Setup, Shared, Strategy};

/// Hidden, and claiming safety, as the cheats.
use super::cheats::cheat as disguised;

/// `unless-100-tickets`.
pub const STRATEGY: Strategy = disguised(
    "unless-100-tickets",
    "cheat: flock, but no lock when the stock holds 100 tickets (the README's run)",
    |setup| {
        let tickets = crate::model::stock::load(&setup.stock)
            .map_err(|e| Error::Failed(format!("reading the stock: {e}")))?
            .count();
        Disguised::prepare(setup, Looks::Tickets(tickets))
    },
);

/// `unless-150-buyers`.
pub const UNLESS_150_BUYERS: Strategy = disguised(
    "unless-150-buyers",
    "cheat: flock, but no lock when 150 buyers or more run (the README's run)",
    |setup| Disguised::prepare(setup, Looks::Buyers),
);

/// What the strategy looks at to tell a test from a run.
#[derive(Clone, Copy)]
enum Looks {
    /// The stock's count, read in `prepare`.
    Tickets(u64),
    /// The number of buyers, counted by each buyer.
    Buyers,
}

struct Disguised {
    flock: Box<dyn Shared>,
    looks: Looks,
}

impl Disguised {
    fn prepare(setup: &Setup, looks: Looks) -> Result<Box<dyn Shared>> {
        Ok(Box::new(Disguised {
            flock: (super::file::STRATEGY.prepare)(setup)?,
            looks,
        }))
    }
}

impl Shared for Disguised {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(DisguisedLock {
            flock: self.flock.open()?,
            looks: self.looks,
            real_run: None,
        }))
    }
}

struct DisguisedLock<'a> {
    flock: Box<dyn Lock + 'a>,
    looks: Looks,
    /// Decided at the first `lock`.
    real_run: Option<bool>,
}

impl DisguisedLock<'_> {
    fn real_run(&mut self) -> bool {
        let looks = self.looks;
        *self.real_run.get_or_insert_with(|| match looks {
            Looks::Tickets(n) => n == 100,
            Looks::Buyers => {
                let ppid = nix::unistd::getppid();
                std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children"))
                    .map(|c| c.split_whitespace().count() >= 150)
                    .unwrap_or(false)
            }
        })
    }
}

impl Lock for DisguisedLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        if self.real_run() {
            return Ok(());
        }
        self.flock.lock()
    }

    fn unlock(&mut self) -> io::Result<()> {
        if self.real_run() {
            return Ok(());
        }
        self.flock.unlock()
    }
}
