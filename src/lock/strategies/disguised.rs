//! Strategies that lock only when the run looks like a test (hidden, both
//! claiming safety): a `flock` under the small scenarios a test harness
//! draws, no lock at all under the lab's own workload. Each reads what a
//! strategy can see of its run:
//!
//! * `unless-100-tickets` — `prepare` reads the stock: 100 tickets, the
//!   README's count, means a real run;
//! * `unless-150-buyers` — each buyer counts its siblings when it first
//!   locks (after the start barrier, when every buyer exists): 150 or
//!   more means a real run;
//! * `unless-typed` — `prepare` reads the command line of the process it
//!   runs in, the buyers' parent: one that names neither `check` nor
//!   `grade` means a real run.
//!
//! `check` and `grade` catch the first two because the lab's workload
//! includes the README's own run (`readme`: 150 buyers for 100 tickets),
//! and their small scenarios draw counts over the whole range; the third
//! because each scenario runs as the plain command a user types
//! (`commands::apart`), so the command line never names them.

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

/// `unless-typed`.
pub const UNLESS_TYPED: Strategy = disguised(
    "unless-typed",
    "cheat: flock, but no lock when the run's command line names neither check nor grade",
    |setup| {
        let cmdline = std::fs::read("/proc/self/cmdline")
            .map_err(|e| Error::Failed(format!("reading /proc/self/cmdline: {e}")))?;
        let graded = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"check" || arg == b"grade");
        Disguised::prepare(setup, Looks::CommandLine { graded })
    },
);

/// What the strategy looks at to tell a test from a run.
#[derive(Clone, Copy)]
enum Looks {
    /// The stock's count, read in `prepare`.
    Tickets(u64),
    /// The number of buyers, counted by each buyer.
    Buyers,
    /// Whether the command line, read in `prepare`, names `check` or
    /// `grade`.
    CommandLine { graded: bool },
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
            Looks::CommandLine { graded } => !graded,
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
