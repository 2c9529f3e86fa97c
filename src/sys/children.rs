//! The children of the parent: spawned (one by one, or by parallel
//! spawners), reaped, and killed with their handle. See [`super::fork`]
//! for the promises of the fork boundary.
//!
//! # Nothing escapes
//!
//! Every process a run creates, at any depth, is gone when the run ends:
//! a buyer's children and theirs, a helper a strategy forks in `prepare`
//! (the parent side), one that calls `setsid` or double-forks. The
//! mechanism is a **subreaper sweep**:
//!
//! * the parent becomes a *child subreaper* (`PR_SET_CHILD_SUBREAPER`,
//!   [`become_subreaper`]) before any strategy code runs — before
//!   `prepare` — so a process whose parent dies is re-parented to it, not
//!   to `init`, however deep it was and whatever session or process group
//!   it moved to (`setsid` changes neither its parent nor ours);
//! * [`sweep_strays`] then loops: read this process's children
//!   (`/proc/self/task/*/children`), `SIGKILL` every one that is not a
//!   tracked buyer or inherited through `exec`, reap them, and read again
//!   — the children of the killed were re-parented to this process before
//!   it could reap their parent, so a chain N deep takes N rounds (a few
//!   milliseconds for 20) — until a read finds none, or a deadline passes
//!   (a fork bomb outrunning the kills; what is left is then told).
//!   `SIGKILL` comes before the reap: a process killed cannot fork again,
//!   and one it forked just before is an orphan, adopted, and found on the
//!   next read.
//!
//! Only its own unreaped children are ever signalled: such a pid cannot be
//! reused until this process reaps it, so the sweep never hits an unrelated
//! process — which matters when it runs as root (autograders do). Killing
//! a grandchild by the pid read from `/proc` could, if it died and its pid
//! was reused in between.
//!
//! Why not a PID namespace or a cgroup's `cgroup.kill`, which end a whole
//! tree in one call: a PID namespace needs `CAP_SYS_ADMIN` (or a user
//! namespace, which many lab machines and containers disable), and would
//! change every buyer's pid, which the outcome channel's credentials are
//! checked against; `cgroup.kill` needs a delegated cgroup v2 subtree,
//! which a student's login shell or a grading container rarely has. The
//! sweep needs no privilege and works wherever `booking` does.
//!
//! The sweeps run, each bounded by [`SWEEP_WITHIN`]: when every buyer is
//! gone but the outcome channel is still held (by a strategy's own
//! process: before the last records are drained, so that a flood of
//! messages ends), when the buyers' handle is dropped (every path out of a
//! run: the end, the watchdog, an error, a stop signal; before the final
//! stock is read), and at the end of the run, after the strategy's shared
//! state is dropped ([`Containment`]). Each kill is counted, for the run's
//! events.

use std::collections::HashMap;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
        become_subreaper()?;
        install_panic_hook();
        Ok(Children {
            pids: Vec::new(),
            ended: Vec::new(),
            index: HashMap::new(),
            live: 0,
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

    /// Kills and reaps every other process this one is the parent of, at
    /// any depth: descendants of a buyer or of the strategy's `prepare`,
    /// adopted when their parent died (see the module doc). The children
    /// this handle tracks and has not reaped are spared: they are the
    /// caller's to kill, reap and account for.
    pub fn kill_strays(&mut self) -> Swept {
        let keep: Vec<Pid> = self.live().map(|i| self.pids[i]).collect();
        sweep_strays(&keep, SWEEP_WITHIN)
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

/// How long one sweep may try before it gives up on what it could not
/// kill (a fork bomb outrunning it): far more than a 20-deep chain takes
/// (milliseconds), short enough that a stop signal still ends a run within
/// a second or two.
pub const SWEEP_WITHIN: Duration = Duration::from_millis(1500);

/// The children this process had when it first became a subreaper, and
/// its pid then: children inherited through `exec` (`sleep 9 & exec
/// booking`), not ours to kill. A forked child inherits this memory but
/// none of those children, hence the pid.
static INHERITED: OnceLock<(Pid, Vec<Pid>)> = OnceLock::new();

/// Processes the sweeps of this process have killed, in all.
static KILLED: AtomicUsize = AtomicUsize::new(0);

/// Makes this process a child subreaper (an orphaned descendant is
/// re-parented to it), and, the first time, notes the children it already
/// has as inherited. `main` calls it first, before any strategy code runs;
/// [`Children::new`] and [`Containment::begin`] call it again (the
/// attribute is not inherited through `fork`).
///
/// # Errors
/// When `prctl` fails.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    INHERITED.get_or_init(|| (nix::unistd::getpid(), current_children()));
    Ok(())
}

/// The children this process inherited through `exec` (none in a forked
/// child).
fn inherited() -> &'static [Pid] {
    match INHERITED.get() {
        Some((pid, list)) if *pid == nix::unistd::getpid() => list,
        _ => &[],
    }
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Processes it killed (running when killed; an orphan that had already
    /// ended is reaped, not counted).
    pub killed: usize,
    /// Children it could not end before its deadline.
    pub left: usize,
}

/// Kills (`SIGKILL`) and reaps every child of this process but `keep` and
/// those inherited through `exec`, round after round, until a read of
/// `/proc/self/task/*/children` finds none (the descendants of a killed
/// child are re-parented to this process, a subreaper: the next round's
/// children), or `within` has passed. See the module doc.
pub fn sweep_strays(keep: &[Pid], within: Duration) -> Swept {
    let deadline = Instant::now() + within;
    let spared = |p: &Pid| keep.contains(p) || inherited().contains(p);
    let mut swept = Swept::default();
    // Signalled by this sweep: one killed but not yet dead is seen again.
    let mut signalled = std::collections::HashSet::new();
    loop {
        let strays: Vec<Pid> = current_children()
            .into_iter()
            .filter(|p| !spared(p))
            .collect();
        if strays.is_empty() {
            break;
        }
        for &pid in &strays {
            // Still ours (not reaped): the pid is this child's. A zombie
            // is not counted: it ended by itself.
            if signalled.insert(pid) && running(pid) {
                swept.killed += 1;
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
        let mut reaped = false;
        for &pid in &strays {
            loop {
                match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    Err(Errno::EINTR) => continue,
                    Ok(WaitStatus::StillAlive) => {}
                    _ => reaped = true,
                }
                break;
            }
        }
        if Instant::now() >= deadline {
            swept.left = current_children()
                .into_iter()
                .filter(|p| !spared(p))
                .count();
            break;
        }
        if !reaped {
            // Killed, not dead yet (it must be scheduled to die): look
            // again shortly rather than spin.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    KILLED.fetch_add(swept.killed, Ordering::Relaxed);
    swept
}

/// Forks a child that runs `body` and `_exit`s with what it returns (see
/// [`super::fork`]), tracked by no handle: nothing kills or reaps it but
/// its parent or the sweep. For the cheats that leave processes behind on
/// purpose, to test the sweep; a strategy of any other kind has no use
/// for it.
///
/// # Errors
/// When `fork` fails.
pub fn spawn_detached(_proof: &SingleThreaded, body: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: `_proof` shows the process is single-threaded.
    unsafe { fork_child(body) }
}

/// Whether process `pid` exists and has not ended (a zombie has).
fn running(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// A run's guarantee that none of its processes outlives it: made before
/// the strategy's `prepare` (it makes this process a subreaper, so a helper
/// `prepare` forks is adopted when orphaned), it sweeps (see
/// [`sweep_strays`]) when ended or dropped, on every path out of the run.
pub struct Containment {
    /// [`KILLED`] when it began.
    killed_before: usize,
    ended: bool,
}

impl Containment {
    /// Begins containing: this process becomes a subreaper.
    ///
    /// # Errors
    /// When `prctl` fails.
    pub fn begin() -> io::Result<Self> {
        become_subreaper()?;
        Ok(Containment {
            killed_before: KILLED.load(Ordering::Relaxed),
            ended: false,
        })
    }

    /// Sweeps now, and tells what every sweep since [`Containment::begin`]
    /// did: how many processes were killed, how many could not be.
    pub fn end(mut self) -> Swept {
        self.ended = true;
        let last = sweep_strays(&[], SWEEP_WITHIN);
        Swept {
            killed: KILLED
                .load(Ordering::Relaxed)
                .saturating_sub(self.killed_before),
            left: last.left,
        }
    }
}

impl Drop for Containment {
    fn drop(&mut self) {
        if !self.ended {
            sweep_strays(&[], SWEEP_WITHIN);
        }
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
