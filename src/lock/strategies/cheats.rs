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
//! * `forks-chain` — a correct `flock`, but every buyer forks a chain of
//!   20 sleeping processes, each the child of the one before, and buys
//!   only once the deepest exists: a subreaper that kills its children a
//!   fixed number of rounds misses the bottom of the chain; the sweep
//!   loops until none is left.
//! * `prepare-setsid` — a correct `flock`, but `prepare` (in the parent)
//!   starts a helper that calls `setsid` and double-forks, a daemon that
//!   belongs to no one: the parent is a subreaper before `prepare` runs,
//!   so the helper is adopted, and swept.
//! * `floods-channel` — a correct `flock`, but every buyer leaves six
//!   processes that send on the outcome channel as fast as they can: they
//!   are killed before the channel is drained, and the drain is bounded by
//!   the watchdog's `--timeout`; their messages are rejected.
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
use crate::sys::{ShmSemaphore, SingleThreaded, spawn_detached};
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

/// `forks-chain`.
pub const FORKS_CHAIN: Strategy = cheat(
    "forks-chain",
    "cheat: flock, and every buyer forks a chain of 20 sleeping processes",
    |s| Ok(Box::new(Cheat::ForksChain((super::file::STRATEGY.prepare)(s)?))),
);

/// `prepare-setsid`.
pub const PREPARE_SETSID: Strategy = cheat(
    "prepare-setsid",
    "cheat: flock, and prepare starts a setsid, double-forked helper",
    |s| {
        let inner = (super::file::STRATEGY.prepare)(s)?;
        let proof = SingleThreaded::check().map_err(Error::Failed)?;
        // The helper: a new session, a grandchild that sleeps, and an exit
        // that orphans it — the classic daemon.
        let helper = spawn_detached(&proof, || {
            if nix::unistd::setsid().is_err() {
                return 1;
            }
            match SingleThreaded::check() {
                Ok(p) => spawn_detached(&p, sleep_as_stray).map_or(1, |_| 0),
                Err(_) => 1,
            }
        })
        .map_err(|e| Error::failed("forking the helper", e))?;
        // Reaped as a daemon's starter is: the grandchild exists by then.
        while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(helper, None) {}
        Ok(Box::new(Cheat::PrepareSetsid(inner)))
    },
);

/// `floods-channel`.
pub const FLOODS_CHANNEL: Strategy = cheat(
    "floods-channel",
    "cheat: flock, and every buyer leaves processes flooding the outcome channel",
    |s| Ok(Box::new(Cheat::FloodsChannel((super::file::STRATEGY.prepare)(s)?))),
);

/// How deep `forks-chain` forks.
const CHAIN_DEPTH: u32 = 20;

/// How many flooding processes each `floods-channel` buyer leaves.
const FLOODERS: usize = 6;

/// A left-behind process's life: named for whoever looks (`ps`), its
/// output sent to `/dev/null` as a daemon's is (it holds no one's pipe
/// open), it sleeps until killed.
fn sleep_as_stray() -> i32 {
    let _ = nix::sys::prctl::set_name(c"booking-stray");
    detach_output();
    loop {
        std::thread::sleep(Duration::from_secs(600));
    }
}

/// Points standard output and error at `/dev/null`.
fn detach_output() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// Level `left` of a `forks-chain` chain: forks the next level, or, the
/// deepest, writes a byte on `ready`; then sleeps.
fn chain(left: u32, ready: &std::os::fd::OwnedFd) -> i32 {
    let forked = left > 1
        && SingleThreaded::check()
            .is_ok_and(|p| spawn_detached(&p, || chain(left - 1, ready)).is_ok());
    if !forked {
        // The deepest (or a level that could not fork: the chain is then
        // shorter, which the tests see in the count of processes killed).
        let _ = nix::unistd::write(ready, b"!");
    }
    sleep_as_stray()
}

/// A `floods-channel` process: sends on every socket it holds (its end of
/// the outcome channel) for ever; sleeps if the channel is gone.
fn flood() -> i32 {
    let _ = nix::sys::prctl::set_name(c"booking-flood");
    detach_output();
    let fds = sockets();
    loop {
        for &fd in &fds {
            match send(fd, b"flood\n", MsgFlags::MSG_NOSIGNAL) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return sleep_as_stray(),
            }
        }
    }
}

/// Forks the processes a `forks-chain` or `floods-channel` buyer leaves.
fn leave_behind(cheat: &Cheat) -> io::Result<()> {
    let proof = SingleThreaded::check().map_err(io::Error::other)?;
    match cheat {
        Cheat::ForksChain(_) => {
            let (r, w) = nix::unistd::pipe()?;
            spawn_detached(&proof, || chain(CHAIN_DEPTH, &w))?;
            drop(w);
            // Buys only once the deepest level exists (or every level that
            // could write is gone: end-of-file).
            let mut byte = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&r, &mut byte) {}
            Ok(())
        }
        _ => {
            for _ in 0..FLOODERS {
                spawn_detached(&proof, flood)?;
            }
            Ok(())
        }
    }
}

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
    ForksChain(Box<dyn Shared>),
    PrepareSetsid(Box<dyn Shared>),
    FloodsChannel(Box<dyn Shared>),
    EndlessPoints,
}

impl Shared for Cheat {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        let inner = match self {
            Cheat::Twice(s)
            | Cheat::LeavesChild(s)
            | Cheat::ForksChain(s)
            | Cheat::PrepareSetsid(s)
            | Cheat::FloodsChannel(s) => Some(s.open()?),
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
            Cheat::ForksChain(_) | Cheat::FloodsChannel(_) => {
                if !self.done {
                    self.done = true;
                    leave_behind(self.cheat)?;
                }
                self.inner.as_mut().expect("flock").lock()
            }
            Cheat::PrepareSetsid(_) => self.inner.as_mut().expect("flock").lock(),
        }
    }

    fn unlock(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(l) => l.unlock(),
            None => Ok(()),
        }
    }
}
