//! Parallel spawners: a parent with thousands of buyers to start forks a
//! few spawners, and each spawner forks its share of the children, which
//! the parent then adopts (it is their subreaper). Each spawner reports
//! every child it made on a pipe, in records small enough to arrive whole.

use std::io;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::fork::fork_child;

/// Who runs the body given to [`Children::spawn_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A spawner, once, before it forks its children (its return value is
    /// ignored).
    Spawner,
    /// Child `i`.
    Child(usize),
}

/// Why [`Children::spawn_all`] made fewer children than asked.
#[derive(Debug)]
pub enum SpawnError {
    /// `stop` said so.
    Stopped {
        /// Children made.
        started: usize,
    },
    /// The system refused a fork (`EAGAIN`: the process limit or memory).
    Refused {
        /// Children made.
        started: usize,
        /// The error.
        error: io::Error,
    },
}

/// A spawner's report: child index (u32) and pid (i32), or `u32::MAX` and
/// the errno of a fork that failed. 8 bytes: below `PIPE_BUF`, so every
/// report arrives whole, never interleaved with another spawner's.
pub(super) const REPORT_LEN: usize = 8;

pub(super) fn encode_report(i: u32, value: i32) -> [u8; REPORT_LEN] {
    let mut r = [0u8; REPORT_LEN];
    r[..4].copy_from_slice(&i.to_ne_bytes());
    r[4..].copy_from_slice(&value.to_ne_bytes());
    r
}

pub(super) fn decode_report(r: &[u8]) -> (usize, i32) {
    let i = u32::from_ne_bytes(r[..4].try_into().expect("4 bytes"));
    let value = i32::from_ne_bytes(r[4..].try_into().expect("4 bytes"));
    (i as usize, value)
}

/// A spawner's life (in the child): forks children `k`, `k + step`, ...
/// below `n`, reporting each on `report`, then returns its exit status.
pub(super) fn spawner(
    k: usize,
    step: usize,
    n: usize,
    report: std::os::fd::OwnedFd,
    body: &mut impl FnMut(Role) -> i32,
) -> i32 {
    if super::signals::default_stop_signals().is_err() || super::signals::die_with_parent().is_err()
    {
        return 1;
    }
    body(Role::Spawner);
    let send = |r: [u8; REPORT_LEN]| loop {
        match nix::unistd::write(&report, &r) {
            Err(Errno::EINTR) => continue,
            other => return other.is_ok(),
        }
    };
    let mut report_copy = Some(&report);
    for i in (k..n).step_by(step) {
        // The child closes its copy of the report pipe, so that the pipe
        // ends when the spawners do.
        let life = || {
            if let Some(fd) = report_copy.take() {
                // SAFETY: the child has its own copy of the descriptor
                // table and never drops this `OwnedFd` (it ends with
                // `_exit`): closing its copy closes nothing of the
                // spawner's, and nothing is closed twice.
                if unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(fd)) } != 0 {
                    return 1;
                }
            }
            body(Role::Child(i))
        };
        // SAFETY: a spawner is single-threaded (a fork of a process that
        // proved it was).
        let forked = unsafe { fork_child(life) };
        let sent = match forked {
            Ok(pid) => send(encode_report(i as u32, pid.as_raw())),
            Err(e) => {
                send(encode_report(
                    u32::MAX,
                    e.raw_os_error().unwrap_or(libc::EAGAIN),
                ));
                return 1;
            }
        };
        if !sent {
            return 1;
        }
    }
    0
}

/// The spawners of [`Children::spawn_all`]: ended and reaped on every path.
pub(super) struct Helpers(pub(super) Vec<Pid>);

impl Helpers {
    /// Reaps every spawner, killing them first if `kill`.
    pub(super) fn end(&mut self, kill: bool) {
        for pid in self.0.drain(..) {
            if kill {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
            while let Err(Errno::EINTR) = waitpid(pid, None) {}
        }
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        self.end(true);
    }
}
