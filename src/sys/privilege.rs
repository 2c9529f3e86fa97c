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
    // the effective set loses below. The parent narrowed it before the
    // forks ([`narrow_bounding_set`]), so this costs one check a buyer.
    if caps::has_cap(None, CapSet::Bounding, Capability::CAP_SYS_ADMIN).unwrap_or(true) {
        narrow_bounding(&keep).map_err(fail)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(fail)?;
    caps::clear(None, CapSet::Inheritable).map_err(fail)?;
    // Effective before permitted: the effective set must stay a subset.
    caps::set(None, CapSet::Effective, &keep).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(fail)?;
    Ok(())
}

/// In the parent, once, before the buyers are forked: narrows the bounding
/// set (what any later `exec` could grant) to [`KEPT`], so that each buyer
/// finds it done and [`drop_to_buyer`] stays a handful of calls in the
/// spawn path (dropping 38 capabilities one `prctl` at a time in every
/// buyer cost a tenth of a 1,000-buyer run). The parent keeps its own
/// effective and permitted sets: only what an `exec` of it could gain
/// shrinks. Nothing to do without `CAP_SETPCAP` (an ordinary user, whose
/// buyers have no capability to drop).
///
/// # Errors
/// When the kernel refuses a `prctl`.
pub fn narrow_bounding_set() -> io::Result<()> {
    if !caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        return Ok(());
    }
    narrow_bounding(&KEPT.into_iter().collect()).map_err(|e| io::Error::other(e.to_string()))
}

/// Drops from the bounding set every capability not in `keep`.
fn narrow_bounding(keep: &CapsHashSet) -> Result<(), caps::errors::CapsError> {
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)?;
        }
    }
    Ok(())
}
