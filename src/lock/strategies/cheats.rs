//! Strategies that try to cheat the judge, for the tests: each claims to be
//! safe, and each must end up anything but SAFE (or be refused), with
//! nothing left behind. Hidden like [`super::faulty`]. Found by trying to
//! fool the harness; each names the defence that stops it.
//!
//! * `forges-records` — no lock; the first buyer sends a clean record in
//!   every other buyer's name. The outcome channel's kernel credentials
//!   name the real sender: rejected, and a run with a rejected record is
//!   never SAFE.
//! * `reports-twice` — a correct `flock`, but each buyer also sends a
//!   record of its own before buying: the second record is rejected.
//! * `fakes-progress` — the first buyer holds a semaphore for ever and
//!   keeps sending garbage so the watchdog would think the run moves; only
//!   accepted records and reaped buyers count as progress.
//! * `rewrites-stock` — `prepare` empties the stock, the parent-side clean
//!   up writes the original count back: the final stock is read before the
//!   strategy's state is dropped.
//! * `leaves-child` — a correct `flock`, but every buyer starts a process
//!   that outlives it: the parent is a subreaper and kills it.
//! * `starts-thread` — `prepare` starts a thread in the parent: the run
//!   refuses to fork from a process with two threads.
//! * `endless-points` — `lock` declares stepped-mode points for ever: each
//!   is a step, none finishes a buyer; the stepped run's watchdog counts
//!   finished buyers, not steps.
//!
//! A strategy is trusted code all the same: it runs in the parent and in
//! every buyer, and one written to cheat from inside a buyer's own process
//! (lying about its own purchase) can only be caught by the numbers.

use std::io;
use std::os::fd::RawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::socket::{MsgFlags, send};

use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::model::outcome::Outcome;
use crate::lock::hooks::now_ns as monotonic_ns;
use crate::model::stock::{self, Stock};
use crate::sys::ShmSemaphore;
use crate::error::{Error, Result};

/// A hidden strategy that claims to be safe (also the rogue file's).
pub(super) const fn cheat(
    name: &'static str,
    about: &'static str,
    prepare: fn(&Setup) -> Result<Box<dyn Shared>>,
) -> Strategy {
    Strategy {
        hidden: true,
        ..Strategy::new(name, about, true, prepare)
    }
}

/// `forges-records`.
pub const STRATEGY: Strategy = cheat(
    "forges-records",
    "cheat: no lock; one buyer sends records in the others' names",
    |_| Ok(Box::new(Cheat::Forges)),
);

/// `reports-twice`.
pub const REPORTS_TWICE: Strategy = cheat(
    "reports-twice",
    "cheat: flock, but every buyer sends an extra record of its own",
    |s| Ok(Box::new(Cheat::Twice((super::file::STRATEGY.prepare)(s)?))),
);

/// `fakes-progress`.
pub const FAKES_PROGRESS: Strategy = cheat(
    "fakes-progress",
    "cheat: a semaphore held for ever, and garbage sent to look alive",
    |_| {
        let sem = ShmSemaphore::create_unique(1).map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Box::new(Cheat::FakesProgress(sem)))
    },
);

/// `rewrites-stock`.
pub const REWRITES_STOCK: Strategy = cheat(
    "rewrites-stock",
    "cheat: empties the stock in prepare, restores it when dropped",
    |s| {
        let before = stock::load(&s.stock).map_err(Error::Failed)?;
        stock::save(&s.stock, &Stock::new(0), 0o600)
            .map_err(|e| Error::failed("emptying the stock", e))?;
        Ok(Box::new(Cheat::RewritesStock(s.stock.clone(), before)))
    },
);

/// `leaves-child`.
pub const LEAVES_CHILD: Strategy = cheat(
    "leaves-child",
    "cheat: flock, and every buyer starts a process that outlives it",
    |s| Ok(Box::new(Cheat::LeavesChild((super::file::STRATEGY.prepare)(s)?))),
);

/// `endless-points`.
pub const ENDLESS_POINTS: Strategy = cheat(
    "endless-points",
    "cheat: lock() declares stepped-mode points for ever and never takes a lock",
    |_| Ok(Box::new(Cheat::EndlessPoints)),
);

/// `starts-thread`.
pub const STARTS_THREAD: Strategy = cheat(
    "starts-thread",
    "cheat: starts a thread in the parent before the buyers are forked",
    |_| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
        // Let the thread appear in /proc before the check.
        std::thread::sleep(Duration::from_millis(10));
        Ok(Box::new(Cheat::Forges))
    },
);

enum Cheat {
    Forges,
    Twice(Box<dyn Shared>),
    FakesProgress(ShmSemaphore),
    RewritesStock(std::path::PathBuf, Stock),
    LeavesChild(Box<dyn Shared>),
    EndlessPoints,
}

impl Shared for Cheat {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        let inner = match self {
            Cheat::Twice(s) | Cheat::LeavesChild(s) => Some(s.open()?),
            _ => None,
        };
        Ok(Box::new(CheatLock {
            cheat: self,
            inner,
            done: false,
        }))
    }
}

impl Drop for Cheat {
    fn drop(&mut self) {
        if let Cheat::RewritesStock(path, before) = self {
            let _ = stock::save(path, before, 0o600);
        }
    }
}

struct CheatLock<'a> {
    cheat: &'a Cheat,
    inner: Option<Box<dyn Lock + 'a>>,
    done: bool,
}

/// Every socket this process holds (a buyer holds its end of the outcome
/// channel).
pub(super) fn sockets() -> Vec<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn send_everywhere(msg: &[u8]) {
    for fd in sockets() {
        let _ = send(fd, msg, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT);
    }
}

/// The other buyers' pids, in fork order (their ids).
fn siblings() -> Vec<i32> {
    let ppid = nix::unistd::getppid();
    let mut pids: Vec<i32> = std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

fn clean_record(id: u32, pid: i32) -> Vec<u8> {
    let now = monotonic_ns();
    Outcome {
        acquired_ns: now,
        released_ns: now,
        ..Outcome::empty(id, nix::unistd::Pid::from_raw(pid))
    }
    .to_line()
}

impl Lock for CheatLock<'_> {
    fn lock(&mut self) -> io::Result<()> {
        let me = std::process::id() as i32;
        match self.cheat {
            // Everyone reads the emptied stock: turned away.
            Cheat::RewritesStock(..) => Ok(()),
            Cheat::Forges => {
                if !self.done {
                    self.done = true;
                    for (id, pid) in siblings().into_iter().enumerate() {
                        if pid != me {
                            send_everywhere(&clean_record(id as u32, pid));
                        }
                    }
                }
                Ok(())
            }
            Cheat::Twice(_) => {
                if !self.done {
                    self.done = true;
                    let id = siblings().iter().position(|&p| p == me).unwrap_or(0);
                    send_everywhere(&clean_record(id as u32, me));
                }
                self.inner.as_mut().expect("flock").lock()
            }
            Cheat::EndlessPoints => loop {
                // Stepped: a turn per point, for ever. Free: a busy loop.
                crate::lock::hooks::point();
            },
            Cheat::FakesProgress(sem) => {
                sem.wait()?;
                loop {
                    send_everywhere(b"\n");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Cheat::LeavesChild(_) => {
                if !self.done {
                    self.done = true;
                    // `sleep` outlives its buyer; the argument names it.
                    Command::new("sleep")
                        .arg("31.25")
                        .stdin(Stdio::null())
                        .spawn()?;
                }
                self.inner.as_mut().expect("flock").lock()
            }
        }
    }

    fn unlock(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(l) => l.unlock(),
            None => Ok(()),
        }
    }
}
