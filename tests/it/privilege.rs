//! Run as root, as autograders run: a buyer cannot claim another buyer's
//! pid in the credentials of its record (`SCM_CREDENTIALS` needs
//! `CAP_SYS_ADMIN`, which buyers drop right after the fork).

use crate::support::{Work, u};

/// `forges-credentials` locks correctly, but its first buyer sends a
/// clean record in its sibling's name with the sibling's pid in the
/// credentials. Under root with capabilities, the kernel would take it
/// (measured before the defence: the sibling's own record was then
/// rejected and the run UNSAFE); without them it answers `EPERM`, which
/// the buyer notes. Deterministic: the send happens once, before the lock.
#[test]
fn as_root_a_forged_credential_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        // Only root may forge; an ordinary user's buyers never could.
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
            panic!("this test needs root (CI runs as root): it checks what root's buyers may do");
        }
        eprintln!("SKIPPED privilege::as_root_a_forged_credential_is_refused: not root");
        return;
    }
    let work = Work::new();
    let r = work
        .booking(&["--buyers", "4", "--lock", "forges-credentials", "--json"])
        .json();
    let events = r["events"].to_string();
    assert!(
        events.contains("credential was refused"),
        "the kernel must refuse the forged pid: {events}"
    );
    assert_eq!(u(&r, "rejected"), 0, "no genuine record displaced: {r}");
    assert_eq!(r["status"], "safe", "{r}");
    work.assert_clean();
}
