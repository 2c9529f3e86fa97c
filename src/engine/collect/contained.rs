//! The strategy's parent-side calls during a run — `buyer_died` after a
//! death, `describe` for the watchdog — each in a helper process forked
//! from the parent (see [`crate::sys::contain`]), so that a panic, a hang
//! or an `exit` there is a finding, not the end or the hang of the judge.
//! The helper shares the strategy's mappings and files, so a repair it
//! makes (a semaphore posted in shared memory, a lock file removed) is
//! every buyer's.

use std::time::Duration;

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::lock::Shared;
use crate::sys::contain::{Helped, in_helper};

/// How long `buyer_died` and `describe` may take: each is a few system
/// calls (a `sem_post`, a file removed, a server asked).
pub const HELPER_LIMIT: Duration = Duration::from_secs(1);

/// `shared.buyer_died(pid)`, contained: its repair message, if any.
///
/// # Errors
/// [`Error::Failed`] when it failed, panicked, hung past [`HELPER_LIMIT`]
/// or ended its process; [`Error::Interrupted`] on a stop signal.
pub fn buyer_died(shared: &dyn Shared, pid: Pid) -> Result<Option<String>> {
    let helped = in_helper(HELPER_LIMIT, || match shared.buyer_died(pid) {
        Ok(Some(what)) => [b"S", what.as_bytes()].concat(),
        Ok(None) => b"N".to_vec(),
        Err(e) => [b"E", e.to_string().as_bytes()].concat(),
    })
    .map_err(|e| Error::failed("forking a helper for the strategy's buyer_died", e))?;
    match helped {
        Helped::Returned(answer) => match answer.split_first() {
            Some((b'S', what)) => Ok(Some(String::from_utf8_lossy(what).into_owned())),
            Some((b'E', why)) => Err(Error::Failed(format!(
                "the strategy's buyer_died failed: {}",
                String::from_utf8_lossy(why)
            ))),
            _ => Ok(None),
        },
        Helped::Stopped(sig) => Err(Error::interrupted(
            sig,
            "while the strategy's buyer_died ran; all buyers stopped".into(),
        )),
        other => Err(Error::Failed(not_returned("buyer_died", &other))),
    }
}

/// `shared.describe()`, contained: its line, or what went wrong with it.
pub fn describe(shared: &dyn Shared) -> Option<String> {
    let helped = in_helper(HELPER_LIMIT, || match shared.describe() {
        Some(line) => [b"S", line.as_bytes()].concat(),
        None => b"N".to_vec(),
    });
    match helped {
        Ok(Helped::Returned(answer)) => match answer.split_first() {
            Some((b'S', line)) => Some(String::from_utf8_lossy(line).into_owned()),
            _ => None,
        },
        Ok(Helped::Stopped(_)) => None,
        Ok(other) => Some(not_returned("describe", &other)),
        Err(e) => Some(format!("the strategy's describe could not be run: {e}")),
    }
}

/// What became of a call that did not return: one line.
fn not_returned(call: &str, helped: &Helped) -> String {
    match helped {
        Helped::Panicked(p) => format!("the strategy's {call} {p}"),
        Helped::TimedOut(limit) => format!(
            "the strategy's {call} did not return within {}s (killed)",
            limit.as_secs_f64()
        ),
        Helped::Ended(e) => format!("the strategy's {call} ended its process ({e})"),
        Helped::Returned(_) | Helped::Stopped(_) => format!("the strategy's {call} returned"),
    }
}
