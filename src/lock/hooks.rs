//! What a strategy may call from inside its `lock` and `unlock`: a pause
//! point for the stepped scheduler ([`point`]), a note for its buyer's
//! record ([`note`]), and the clock of [`super::api::Sold`]'s times
//! ([`now_ns`]).
//!
//! The hooks are process-wide and belong to the buyer process that calls
//! them: the engine installs the point's hook in a buyer after the fork
//! (only in a stepped run) and takes the note when the buyer reports. In
//! the parent, and in a buyer running free, a point does nothing.

use std::sync::Mutex;

/// What [`point`] runs in this process, when the engine installed it.
static POINT: Mutex<Option<fn()>> = Mutex::new(None);

/// What the strategy noted in this buyer, for its record.
static NOTE: Mutex<Option<String>> = Mutex::new(None);

/// Declares a point inside your `lock` or `unlock`. In a stepped run
/// (`--schedule`, `--step-seed`) the buyer pauses here for a turn, so a
/// schedule can let another buyer run between two of your calls (between
/// checking a file and creating it, say); running free it does nothing.
pub fn point() {
    let hook = *POINT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hook) = hook {
        hook();
    }
}

/// Notes what happened in this buyer (say, that it recovered the lock from
/// a holder that died): it travels in the buyer's outcome record and shows
/// in the run's events. A later note replaces an earlier one.
pub fn note(text: &str) {
    *NOTE.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.to_string());
}

/// `CLOCK_MONOTONIC` now, in ns: the clock of [`super::api::Sold`]'s times,
/// shared by every process on the machine.
pub use crate::sys::clock::monotonic_ns as now_ns;

/// For the engine, in a buyer: makes [`point`] run `hook` (the stepped
/// scheduler's pause).
pub fn install_point(hook: fn()) {
    *POINT.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
}

/// For the engine, in a buyer: the note the strategy left, taken.
pub fn take_note() -> Option<String> {
    NOTE.lock().unwrap_or_else(|e| e.into_inner()).take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static CALLS: AtomicU32 = AtomicU32::new(0);

    #[test]
    fn a_point_runs_the_installed_hook_and_a_note_is_taken_once() {
        point();
        assert_eq!(CALLS.load(Ordering::SeqCst), 0, "no hook: nothing runs");
        install_point(|| {
            CALLS.fetch_add(1, Ordering::SeqCst);
        });
        point();
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        note("first");
        note("second");
        assert_eq!(take_note().as_deref(), Some("second"));
        assert_eq!(take_note(), None);
    }
}
