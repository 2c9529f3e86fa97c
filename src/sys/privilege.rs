//! What a buyer gives up right after the fork, before any strategy code
//! runs in it: every capability but those that let it reach files.
//!
//! Run as root (autograders are), a buyer would hold every capability, and
//! with `CAP_SYS_ADMIN` it could put another process's pid in the
//! credentials of a message (`SCM_CREDENTIALS`): write a record in a
//! sibling's name that the parent would accept, and have the sibling's own
//! rejected. With `CAP_SYS_PTRACE` it could trace the parent; with
//! `CAP_SETUID` become anyone. So a buyer that holds capabilities drops
//! them from all its sets, the bounding set included (an `exec` cannot
//! bring them back), and sets `no_new_privs` (no set-user-id program
//! either). It keeps its user id and the three capabilities that reach
//! files — `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_FOWNER` — so a
//! root run still books a stock file it does not own, as before.
//!
//! Not defended (see docs/grading.md): a buyer still has the parent's user
//! id, so it may signal the parent; the parent's own strategy code
//! (`prepare`, `buyer_died`) keeps the parent's privileges.

use std::io;

use caps::{CapSet, Capability, CapsHashSet};

/// The capabilities a buyer keeps: those that reach files.
const KEPT: [Capability; 3] = [
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_FOWNER,
];

/// Drops this process's capabilities but [`KEPT`] (see the module doc). A
/// process with none (any ordinary user) has nothing to do but set
/// `no_new_privs`.
///
/// # Errors
/// When the kernel refuses a change (`prctl`, `capset`).
pub fn drop_to_buyer() -> io::Result<()> {
    let fail = |e: caps::errors::CapsError| io::Error::other(e.to_string());
    nix::sys::prctl::set_no_new_privs()?;
    let permitted = caps::read(None, CapSet::Permitted).map_err(fail)?;
    if permitted.is_empty() {
        return Ok(());
    }
    let keep: CapsHashSet = KEPT.into_iter().filter(|c| permitted.contains(c)).collect();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which
    // the effective set loses below.
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(fail)?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(fail)?;
    caps::clear(None, CapSet::Inheritable).map_err(fail)?;
    // Effective before permitted: the effective set must stay a subset.
    caps::set(None, CapSet::Effective, &keep).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(fail)?;
    Ok(())
}
