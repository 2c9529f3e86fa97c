//! `forges-credentials` (hidden) — a correct `flock`, but one buyer first
//! sends a clean record in a sibling's name **with the sibling's pid in its
//! `SCM_CREDENTIALS`**. The kernel lets a process claim another pid only
//! with `CAP_SYS_ADMIN`: a buyer of an unprivileged user never could, but
//! under `root` (as autograders run) it could, and its forged record would
//! be accepted while the sibling's own were rejected. Buyers drop their
//! capabilities right after the fork (see `crate::sys::privilege`), so the
//! kernel refuses the forged credential (`EPERM`); the buyer notes what
//! happened, and the run is judged on the genuine records alone.

use std::io::{self, IoSlice};

use nix::sys::socket::{ControlMessage, MsgFlags, UnixCredentials, sendmsg};

use crate::error::Result;
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::lock::hooks::{note, now_ns};
use crate::model::outcome::Outcome;

/// The registry entry.
pub const STRATEGY: Strategy = Strategy {
    hidden: true,
    ..Strategy::new(
        "forges-credentials",
        "cheat: flock, but one buyer claims a sibling's pid in a record's credentials",
        true,
        prepare,
    )
};

struct Forges(Box<dyn Shared>);

fn prepare(setup: &Setup) -> Result<Box<dyn Shared>> {
    Ok(Box::new(Forges((super::file::STRATEGY.prepare)(setup)?)))
}

impl Shared for Forges {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(ForgingLock {
            inner: self.0.open()?,
            done: false,
        }))
    }
}

struct ForgingLock<'a> {
    inner: Box<dyn Lock + 'a>,
    done: bool,
}

impl Lock for ForgingLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        if !std::mem::replace(&mut self.done, true) {
            forge_once();
        }
        self.inner.lock()
    }

    fn unlock(&mut self) -> io::Result<()> {
        self.inner.unlock()
    }
}

/// The buyer with the lowest pid sends, on every socket it holds (one is
/// its end of the outcome channel), a clean record for the next sibling,
/// claiming that sibling's pid; it notes whether the kernel let it.
fn forge_once() {
    let me = std::process::id() as i32;
    let ppid = nix::unistd::getppid();
    let mut pids: Vec<i32> =
        std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    pids.sort_unstable();
    let (Some(&first), Some(&victim)) = (pids.first(), pids.get(1)) else {
        return;
    };
    if first != me {
        return;
    }
    let now = now_ns();
    let line = Outcome {
        acquired_ns: now,
        released_ns: now,
        ..Outcome::empty(1, nix::unistd::Pid::from_raw(victim))
    }
    .to_line();
    let creds = UnixCredentials::from(nix::libc::ucred {
        pid: victim,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    });
    let mut refused = None;
    let mut sent = false;
    for fd in super::cheats::sockets() {
        match sendmsg::<()>(
            fd,
            &[IoSlice::new(&line)],
            &[ControlMessage::ScmCredentials(&creds)],
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(_) => sent = true,
            Err(e) => refused = Some(e),
        }
    }
    note(&match (sent, refused) {
        (true, _) => format!("forged a credential for pid {victim}: the kernel let it"),
        (false, Some(e)) => format!("forging pid {victim}'s credential was refused: {e}"),
        (false, None) => "found no socket to forge on".to_string(),
    });
}
