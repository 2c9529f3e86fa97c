//! The children of the parent: spawned (one by one, or by parallel
//! spawners), reaped, and killed with their handle. See [`super::fork`]
//! for the promises of the fork boundary.

use std::collections::HashMap;
use std::io;

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::fork::{Ending, SingleThreaded, fork_child, install_panic_hook};
use super::spawner::{Helpers, REPORT_LEN, Role, SpawnError, decode_report, spawner};

/// The children of this process, by index, and how each ended.
pub struct Children {
    pids: Vec<Pid>,
    ended: Vec<Option<Ending>>,
    index: HashMap<Pid, usize>,
    live: usize,
    /// Children this process had before (inherited through `exec`): not
    /// ours to kill.
    before: Vec<Pid>,
    _proof: SingleThreaded,
}

impl Children {
    /// A handle for children still to be spawned. Resets `SIGCHLD` to its
    /// default action (see the module doc).
    ///
    /// # Errors
    /// When `sigaction` fails.
    pub fn new(proof: SingleThreaded) -> io::Result<Self> {
        // SAFETY: installing SIG_DFL runs no code of ours in a handler.
        unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) }?;
        nix::sys::prctl::set_child_subreaper(true)?;
        install_panic_hook();
        Ok(Children {
            pids: Vec::new(),
            ended: Vec::new(),
            index: HashMap::new(),
            live: 0,
            before: current_children(),
            _proof: proof,
        })
    }

    /// Forks a child that runs `body` and exits with the status it returns
    /// ([`PANICKED`] if it panics). Returns the child's index (0, 1, ...)
    /// and pid in the parent; never returns in the child.
    ///
    /// Flush any buffered output before: the child inherits a copy of it.
    ///
    /// # Errors
    /// `EAGAIN` when the process limit (`RLIMIT_NPROC`) or memory is
    /// exhausted.
    pub fn spawn(&mut self, body: impl FnOnce() -> i32) -> io::Result<(usize, Pid)> {
        // SAFETY: `_proof` shows the process is single-threaded.
        let child = unsafe { fork_child(body) }?;
        Ok((self.adopt(child), child))
    }

    /// Takes `child`, a child of this process, as the next index.
    fn adopt(&mut self, child: Pid) -> usize {
        let i = self.pids.len();
        self.pids.push(child);
        self.ended.push(None);
        self.index.insert(child, i);
        self.live += 1;
        i
    }

    /// Forks `n` children, child `i` running `body(Role::Child(i))`, from
    /// `spawners` processes at once, so that creating them uses every core.
    /// Child `i` gets index `i`. With one spawner, this process forks them
    /// all itself.
    ///
    /// Each spawner is a child of this process that first runs
    /// `body(Role::Spawner)` (to close what it must not pass on), forks
    /// every `spawners`-th child, reports each `(i, pid)` on a pipe, and
    /// exits. Its children are then adopted by this process, a child
    /// subreaper (see the module doc), so they are ours to reap like any
    /// other: when this returns, every spawner has been reaped and every
    /// child is this process's. (`clone(CLONE_PARENT)` would make them ours
    /// from the start, but glibc's `fork` alone re-registers a child's
    /// robust-mutex list and thread id, which the robust strategy needs.)
    /// A child must not ask to die with its parent before it is adopted
    /// (its spawner's exit would kill it).
    ///
    /// `stop` is asked between forks, and while waiting for the spawners;
    /// when it says so the forking stops.
    ///
    /// # Errors
    /// [`SpawnError`]: how many children were made, and why no more; those
    /// made are this handle's (dropping it kills them).
    pub fn spawn_all(
        &mut self,
        n: usize,
        spawners: usize,
        stop: impl Fn() -> bool,
        mut body: impl FnMut(Role) -> i32,
    ) -> Result<(), SpawnError> {
        let spawners = spawners.clamp(1, n.max(1));
        if spawners == 1 {
            for i in 0..n {
                if stop() {
                    return Err(SpawnError::Stopped { started: i });
                }
                self.spawn(|| body(Role::Child(i)))
                    .map_err(|e| SpawnError::Refused {
                        started: i,
                        error: e,
                    })?;
            }
            return Ok(());
        }
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Refused {
                started: 0,
                error: e.into(),
            })?;
        let mut helpers = Helpers(Vec::new());
        let (mut report_r, mut report_w) = (Some(report_r), Some(report_w));
        for k in 0..spawners {
            // Runs in the spawner, on its own copy of the pipe's ends.
            let life = || {
                drop(report_r.take());
                let w = report_w.take().expect("the parent's copy is whole");
                spawner(k, spawners, n, w, &mut body)
            };
            // SAFETY: `_proof` shows this process is single-threaded; a
            // spawner is a fork of it, so single-threaded too, and may fork.
            let forked = unsafe { fork_child(life) };
            match forked {
                Ok(pid) => helpers.0.push(pid),
                Err(e) => {
                    return Err(SpawnError::Refused {
                        started: 0,
                        error: e,
                    });
                }
            }
        }
        drop(report_w.take());
        let report_r = report_r.take().expect("the parent keeps it");
        let mut children: Vec<Option<Pid>> = vec![None; n];
        let mut refused: Option<io::Error> = None;
        let mut stopped = false;
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(&report_r, &mut buf) {
                Ok(0) => break,
                Ok(len) => pending.extend_from_slice(&buf[..len]),
                Err(Errno::EINTR) => {
                    if stop() {
                        stopped = true;
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    refused = Some(e.into());
                    break;
                }
            }
            let whole = pending.len() / REPORT_LEN * REPORT_LEN;
            for r in pending[..whole].chunks_exact(REPORT_LEN) {
                let (i, value) = decode_report(r);
                match children.get_mut(i) {
                    Some(slot) => *slot = Some(Pid::from_raw(value)),
                    None => refused = Some(io::Error::from_raw_os_error(value)),
                }
            }
            pending.drain(..whole);
        }
        // Whatever happened, the spawners end (they have nothing left to
        // do, or are killed) and are reaped: their children are ours now.
        helpers.end(stopped || refused.is_some());
        let started = children.iter().flatten().count();
        if started == n && !stopped && refused.is_none() {
            for pid in children.into_iter().flatten() {
                self.adopt(pid);
            }
            return Ok(());
        }
        // Not all made: keep those that were, so that dropping this handle
        // kills them (children adopted after this count are strays, see
        // `kill_strays`).
        for pid in children.into_iter().flatten() {
            self.adopt(pid);
        }
        Err(match (stopped, refused) {
            (true, _) => SpawnError::Stopped { started },
            (false, error) => SpawnError::Refused {
                started,
                error: error.unwrap_or_else(|| io::Error::other("a spawner died")),
            },
        })
    }

    /// Number of children spawned.
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// Whether none was spawned.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// Child `i`'s pid.
    pub fn pid(&self, i: usize) -> Pid {
        self.pids[i]
    }

    /// How child `i` ended, if it was reaped.
    pub fn ending(&self, i: usize) -> Option<Ending> {
        self.ended[i]
    }

    /// Indexes of the children not yet reaped.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.pids.len()).filter(|&i| self.ended[i].is_none())
    }

    /// Whether every child has been reaped.
    pub fn all_reaped(&self) -> bool {
        self.live == 0
    }

    fn record(&mut self, status: WaitStatus) -> Option<(usize, Ending)> {
        let ending = match status {
            WaitStatus::Exited(_, code) => Ending::Exited(code),
            WaitStatus::Signaled(_, sig, _) => Ending::Signaled(sig),
            _ => return None,
        };
        let i = *self.index.get(&status.pid()?)?;
        // Reaped already: this pid is someone else's now (a stray that
        // got it), not this child's second end.
        if self.ended[i].is_some() {
            return None;
        }
        self.ended[i] = Some(ending);
        self.live -= 1;
        Some((i, ending))
    }

    /// Reaps the children that have already ended, without blocking.
    ///
    /// # Errors
    /// Any error of `waitpid` other than `EINTR` and `ECHILD`.
    pub fn reap_ended(&mut self) -> io::Result<Vec<(usize, Ending)>> {
        let mut out = Vec::new();
        while self.live > 0 {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(status) => out.extend(self.record(status)),
            }
        }
        Ok(out)
    }

    /// Waits for child `i` to end (by pid: O(1) in the kernel, where
    /// `waitpid(-1)` scans every child).
    ///
    /// # Errors
    /// Any error of `waitpid` other than `EINTR`.
    pub fn reap(&mut self, i: usize) -> io::Result<Ending> {
        if let Some(e) = self.ended[i] {
            return Ok(e);
        }
        loop {
            match waitpid(self.pids[i], None) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(status) => {
                    if let Some((_, e)) = self.record(status) {
                        return Ok(e);
                    }
                }
            }
        }
    }

    /// Reaps child `i` if it has ended, without blocking (by pid).
    ///
    /// # Errors
    /// Any error of `waitpid` other than `EINTR`.
    pub fn reap_if_ended(&mut self, i: usize) -> io::Result<Option<Ending>> {
        if let Some(e) = self.ended[i] {
            return Ok(Some(e));
        }
        loop {
            match waitpid(self.pids[i], Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(status) => return Ok(self.record(status).map(|(_, e)| e)),
            }
        }
    }

    /// Sends `SIGKILL` to child `i` if it has not been reaped (a reaped
    /// pid may belong to another process by now).
    pub fn kill(&self, i: usize) {
        if self.ended[i].is_none() {
            let _ = kill(self.pids[i], Signal::SIGKILL);
        }
    }

    /// Kills and reaps every child of this process left once the buyers are
    /// all reaped: descendants of a buyer, adopted when their parent died
    /// (this process is a subreaper). Read from `/proc/self/task/*/children`; a few
    /// rounds, since a stray may fork more before it dies.
    pub fn kill_strays(&mut self) {
        for _ in 0..10 {
            let strays: Vec<Pid> = current_children()
                .into_iter()
                .filter(|p| !self.before.contains(p))
                .collect();
            if strays.is_empty() {
                return;
            }
            for &pid in &strays {
                let _ = kill(pid, Signal::SIGKILL);
            }
            for pid in strays {
                while let Err(Errno::EINTR) = waitpid(pid, None) {}
            }
        }
    }

    /// Kills every child not yet reaped, reaps them all, and returns how
    /// each of those ended.
    pub fn kill_and_reap_all(&mut self) -> Vec<(usize, Ending)> {
        let live: Vec<usize> = self.live().collect();
        for &i in &live {
            self.kill(i);
        }
        let mut out = Vec::new();
        for i in live {
            match self.reap(i) {
                Ok(e) => out.push((i, e)),
                // Not our child any more (cannot happen with SIGCHLD at its
                // default): forget it rather than wait for ever.
                Err(_) => {
                    self.ended[i] = Some(Ending::Signaled(Signal::SIGKILL));
                    self.live -= 1;
                }
            }
        }
        out
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_and_reap_all();
    }
}

/// The children of this process now, from `/proc/self/task/*/children`.
fn current_children() -> Vec<Pid> {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}
