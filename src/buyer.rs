//! What one buyer process does, from the start barrier to its outcome.
//!
//! A buyer works in two steps. [`Buyer::prepare`] runs right after the fork,
//! before the start barrier: it opens the lock, creates the temporary file
//! of its save, and runs the parse and format code once, so that the pages
//! of code and heap it needs are faulted in while the parent is still
//! forking the others (on the other core). [`Buyer::buy`] runs after the
//! barrier and does only the purchase.

use std::path::Path;
use std::time::Duration;

use crate::lock::{Lock, Shared};
use crate::outcome::{Outcome, monotonic_ns};
use crate::stock::{self, Stock, TempFile};
use crate::sys::SharedCells;

/// Where a buyer is, written to its cell of shared memory so that the
/// parent can tell what a stuck buyer is stuck on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Forked, not yet at the start barrier.
    Starting = 0,
    /// Waiting at the start barrier.
    Ready = 1,
    /// Asking for the lock.
    Waiting = 2,
    /// Holding the lock: reading, deciding, writing.
    Holding = 3,
    /// Released the lock; reporting and exiting.
    Done = 4,
}

impl Stage {
    /// The stage a cell holds.
    pub fn from_cell(v: u8) -> Self {
        match v {
            1 => Stage::Ready,
            2 => Stage::Waiting,
            3 => Stage::Holding,
            4 => Stage::Done,
            _ => Stage::Starting,
        }
    }

    /// What a buyer at this stage is doing, for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::Ready => "waiting at the start barrier",
            Stage::Waiting => "waiting for the lock",
            Stage::Holding => "holding the lock",
            Stage::Done => "reporting",
        }
    }
}

/// Where `--kill` kills its victims (each kills itself with `SIGKILL`, so
/// the point is exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KillPoint {
    /// Right after acquiring the lock, before reading the stock.
    #[default]
    Hold,
    /// After reading the stock, before the delay and the write.
    Read,
    /// Mid-write: half of the new stock is in the temporary file, not yet
    /// renamed over the stock file. (Only buyers that found a ticket.)
    Write,
    /// After the rename, before releasing the lock and reporting: the
    /// purchase is in the file, but nobody was told. (Only buyers that
    /// found a ticket.)
    Commit,
}

impl KillPoint {
    /// Dies here if this is the point.
    fn at(me: Option<Self>, here: Self) {
        if me == Some(here) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// One buyer's instructions, fixed by the parent before the fork.
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    /// The buyer's number.
    pub id: u32,
    /// The stock file.
    pub stock: &'a Path,
    /// Permissions for the rewritten stock file (those it had).
    pub mode: u32,
    /// The simulated network delay between reading and writing.
    pub delay: Duration,
    /// Where this buyer kills itself, if it is a `--kill` victim.
    pub kill_at: Option<KillPoint>,
    /// Every buyer's stage, in shared memory.
    pub stages: &'a SharedCells,
}

impl Plan<'_> {
    /// Records this buyer's stage for the parent.
    pub fn stage(&self, stage: Stage) {
        self.stages.set(self.id as usize, stage as u8);
    }
}

/// A buyer ready to buy.
pub struct Buyer<'a> {
    plan: Plan<'a>,
    pid: i32,
    lock: Box<dyn Lock + 'a>,
    tmp: TempFile,
}

impl<'a> Buyer<'a> {
    /// Everything that can be done before the race starts.
    ///
    /// # Errors
    /// A failed outcome record, when the lock or the temporary file cannot
    /// be made.
    pub fn prepare(shared: &'a dyn Shared, plan: Plan<'a>) -> Result<Self, Box<Outcome>> {
        let pid = std::process::id() as i32;
        let fail =
            |what: &str, e: std::io::Error| Box::new(failed(plan.id, pid, format!("{what}: {e}")));
        let lock = shared.open().map_err(|e| fail("opening the lock", e))?;
        let tmp = TempFile::create(plan.stock, plan.mode)
            .map_err(|e| fail("creating the temporary file", e))?;
        // Warm-up: fault in the code and heap pages the purchase will use.
        let warm = Stock::new(u64::from(plan.id)).to_text();
        let _ = Stock::parse(&warm).map(|s| s.count());
        let _ = failed(plan.id, pid, warm).to_line();
        Ok(Buyer {
            plan,
            pid,
            lock,
            tmp,
        })
    }

    /// Buys one ticket under the lock: acquire; read the stock; if
    /// `count > 0`, take ticket number `count`, wait the delay, write
    /// `count - 1`; release.
    ///
    /// `released_ns` is read just before the release, so under a real lock
    /// the next holder's `acquired_ns` is never earlier: overlapping
    /// sections on the timeline are real overlaps.
    pub fn buy(self) -> Outcome {
        let Buyer {
            plan,
            pid,
            lock,
            tmp,
        } = self;
        plan.stage(Stage::Waiting);
        let asked = monotonic_ns();
        let guard = match lock.acquire() {
            Ok(g) => g,
            Err(e) => return failed(plan.id, pid, format!("acquiring the lock: {e}")),
        };
        let acquired = monotonic_ns();
        plan.stage(Stage::Holding);
        KillPoint::at(plan.kill_at, KillPoint::Hold);
        let mut tmp = Some(tmp);
        let sale = sell_one(&plan, &mut tmp);
        if matches!(sale, Ok(Some(_))) {
            KillPoint::at(plan.kill_at, KillPoint::Commit);
        }
        let released = monotonic_ns();
        let release = guard.release();
        plan.stage(Stage::Done);
        let mut out = Outcome {
            id: plan.id,
            pid,
            got_ticket: false,
            ticket: None,
            wait_us: (acquired - asked) / 1000,
            hold_us: (released - acquired) / 1000,
            delay_us: plan.delay.as_micros() as u64,
            acquired_ns: acquired,
            released_ns: released,
            error: None,
        };
        match (sale, release) {
            (Ok(ticket), Ok(())) => {
                out.got_ticket = ticket.is_some();
                out.ticket = ticket;
            }
            (Err(e), _) => out.error = Some(e),
            (Ok(_), Err(e)) => out.error = Some(format!("releasing the lock: {e}")),
        }
        out
    }
}

/// The critical section. Returns the ticket sold, if any. A buyer that
/// sells nothing leaves `tmp` to its caller, who drops (removes) it after
/// releasing the lock.
fn sell_one(plan: &Plan<'_>, tmp: &mut Option<TempFile>) -> Result<Option<u64>, String> {
    let mut s = stock::load(plan.stock)
        .map_err(|e| format!("reading stock file {}: {e}", plan.stock.display()))?;
    let count = s.count();
    KillPoint::at(plan.kill_at, KillPoint::Read);
    if count == 0 {
        return Ok(None);
    }
    if !plan.delay.is_zero() {
        // std's sleep resumes after EINTR for the remaining time.
        std::thread::sleep(plan.delay);
    }
    s.set_count(count - 1);
    let mut tmp = tmp.take().expect("one temporary file per purchase");
    if plan.kill_at == Some(KillPoint::Write) {
        let _ = tmp.write_torn(&s);
        KillPoint::at(plan.kill_at, KillPoint::Write);
    }
    tmp.commit(&s)
        .map_err(|e| format!("writing stock file {}: {e}", plan.stock.display()))?;
    Ok(Some(count))
}

/// The record of a buyer that failed before or while buying.
pub fn failed(id: u32, pid: i32, error: String) -> Outcome {
    Outcome {
        error: Some(error),
        ..Outcome::empty(id, pid)
    }
}
