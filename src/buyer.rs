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

/// One buyer's instructions, fixed by the parent before the fork.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// The buyer's number.
    pub id: u32,
    /// The stock file.
    pub stock: &'a Path,
    /// Permissions for the rewritten stock file (those it had).
    pub mode: u32,
    /// The simulated network delay between reading and writing.
    pub delay: Duration,
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
        let asked = monotonic_ns();
        let guard = match lock.acquire() {
            Ok(g) => g,
            Err(e) => return failed(plan.id, pid, format!("acquiring the lock: {e}")),
        };
        let acquired = monotonic_ns();
        let mut tmp = Some(tmp);
        let sale = sell_one(&plan, &mut tmp);
        let released = monotonic_ns();
        let release = guard.release();
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
    if count == 0 {
        return Ok(None);
    }
    if !plan.delay.is_zero() {
        // std's sleep resumes after EINTR for the remaining time.
        std::thread::sleep(plan.delay);
    }
    s.set_count(count - 1);
    tmp.take()
        .expect("one temporary file per purchase")
        .commit(&s)
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
