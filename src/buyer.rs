//! What one buyer process does, from the start barrier to its outcome.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::lock::Lock;
use crate::outcome::{Outcome, monotonic_ns};
use crate::stock;

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

/// Buys one ticket under `lock`: acquire; read the stock; if `count > 0`,
/// take ticket number `count`, wait the delay, write `count - 1`; release.
///
/// `released_ns` is read just before the release, so under a real lock the
/// next holder's `acquired_ns` is never earlier: overlapping sections on the
/// timeline are real overlaps.
pub fn buy(lock: &dyn Lock, plan: &Plan<'_>) -> Outcome {
    let pid = std::process::id() as i32;
    let asked = monotonic_ns();
    let guard = match lock.acquire() {
        Ok(g) => g,
        Err(e) => return failed(plan.id, pid, format!("acquiring the lock: {e}")),
    };
    let acquired = monotonic_ns();
    let sale = sell_one(plan);
    let released = monotonic_ns();
    let release = guard.release();
    let mut out = Outcome {
        id: plan.id,
        pid,
        got_ticket: false,
        ticket: None,
        wait_us: (acquired - asked) / 1000,
        hold_us: (released - acquired) / 1000,
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

/// The critical section. Returns the ticket sold, if any.
fn sell_one(plan: &Plan<'_>) -> Result<Option<u64>, String> {
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
    stock::save(plan.stock, &s, plan.mode)
        .map_err(|e: io::Error| format!("writing stock file {}: {e}", plan.stock.display()))?;
    Ok(Some(count))
}

/// The record of a buyer that failed before or while buying.
pub fn failed(id: u32, pid: i32, error: String) -> Outcome {
    Outcome {
        id,
        pid,
        got_ticket: false,
        ticket: None,
        wait_us: 0,
        hold_us: 0,
        acquired_ns: 0,
        released_ns: 0,
        error: Some(error),
    }
}
