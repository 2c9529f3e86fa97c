//! The fork boundary: the one module that calls `fork`, and the only way
//! to start a buyer process.
//!
//! Three promises, kept by construction rather than by care at call sites:
//!
//! 1. **Only a single-threaded process forks.** A child forked from a
//!    process with other threads may only call async-signal-safe functions
//!    (a lock another thread held at the fork, the allocator's say, stays
//!    taken for ever in the child). [`Children::new`] takes a
//!    [`SingleThreaded`] proof, which only [`SingleThreaded::check`] makes,
//!    from `/proc/self/task`.
//! 2. **A child never returns into the parent's frames.** [`Children::spawn`]
//!    runs the child's body under `catch_unwind` and ends with `_exit`
//!    whatever happens: a panic in a strategy cannot unwind into the
//!    parent's `run()` and run *its* destructors in the child (which would
//!    delete the run directory, other buyers' lock files, a semaphore).
//!    `_exit` also skips `atexit` handlers and stdio buffers copied from
//!    the parent.
//! 3. **No child outlives its handle.** Dropping [`Children`] kills
//!    (`SIGKILL`) and reaps every child not yet reaped, on every path out of
//!    a run: an error, an interrupt, a panic in the parent.
//!
//! `SIGCHLD` is reset to its default action before the first fork: a
//! parent that inherited `SIG_IGN` for it (some shells and CI runners do)
//! would have its children reaped by the kernel, and `waitpid` would fail
//! with `ECHILD`. And the parent becomes a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`): a process a buyer forks (a strategy's own
//! child) that outlives its buyer is adopted by the parent instead of
//! `init`, so [`Children::kill_strays`] can end it before the run ends.

use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

/// Proof that the process had exactly one thread when it was checked.
/// Neither `Send` nor `Sync`: it stays on the thread that checked.
#[derive(Debug)]
pub struct SingleThreaded {
    _not_send: PhantomData<*const ()>,
}

impl SingleThreaded {
    /// Counts the entries of `/proc/self/task`.
    ///
    /// # Errors
    /// A message naming the thread count, or why `/proc` could not be read.
    pub fn check() -> Result<Self, String> {
        match std::fs::read_dir("/proc/self/task").map(Iterator::count) {
            Ok(1) => Ok(SingleThreaded {
                _not_send: PhantomData,
            }),
            Ok(n) => Err(format!(
                "refusing to fork buyers from a process with {n} threads (only a single-threaded process may fork safely)"
            )),
            Err(e) => Err(format!("reading /proc/self/task: {e}")),
        }
    }
}

/// How a child ended, as `waitpid` told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called `_exit` with this status.
    Exited(i32),
    /// A signal ended it.
    Signaled(Signal),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exited with status {code}"),
            Ending::Signaled(sig) => write!(f, "was killed by {sig}"),
        }
    }
}

/// The exit status of a child whose body panicked (Rust's own convention).
pub const PANICKED: i32 = 101;

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
const REPORT_LEN: usize = 8;

fn encode_report(i: u32, value: i32) -> [u8; REPORT_LEN] {
    let mut r = [0u8; REPORT_LEN];
    r[..4].copy_from_slice(&i.to_ne_bytes());
    r[4..].copy_from_slice(&value.to_ne_bytes());
    r
}

fn decode_report(r: &[u8]) -> (usize, i32) {
    let i = u32::from_ne_bytes(r[..4].try_into().expect("4 bytes"));
    let value = i32::from_ne_bytes(r[4..].try_into().expect("4 bytes"));
    (i as usize, value)
}

/// A spawner's life (in the child): forks children `k`, `k + step`, ...
/// below `n`, reporting each on `report`, then returns its exit status.
fn spawner(
    k: usize,
    step: usize,
    n: usize,
    report: std::os::fd::OwnedFd,
    body: &mut impl FnMut(Role) -> i32,
) -> i32 {
    if crate::engine::sys::default_stop_signals().is_err()
        || crate::engine::sys::die_with_parent().is_err()
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
struct Helpers(Vec<Pid>);

impl Helpers {
    /// Reaps every spawner, killing them first if `kill`.
    fn end(&mut self, kill: bool) {
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

/// Forks a child that runs `body` and exits with the status it returns
/// ([`PANICKED`] if it panics); returns its pid, and never returns in the
/// child.
///
/// # Safety
/// The calling process must be single-threaded: only then may the child
/// run any code.
unsafe fn fork_child(body: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: the caller promises a single-threaded process. The child
    // never returns from this block: it runs `body` under catch_unwind and
    // `_exit`s.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            let status = match panic::catch_unwind(AssertUnwindSafe(body)) {
                Ok(status) => status,
                // Never dropped: a payload whose `Drop` panicked would
                // unwind out of here.
                Err(payload) => {
                    std::mem::forget(payload);
                    PANICKED
                }
            };
            exit_child(status)
        }
        ForkResult::Parent { child } => Ok(child),
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

/// The message of the last panic in a child process, recorded by the hook
/// [`install_panic_hook`] installs.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// The process that installed the hook: the parent of every child.
static PARENT: OnceLock<u32> = OnceLock::new();

/// Installs, once, a panic hook that children inherit through `fork`: in
/// a child it records the message for the child's outcome record and
/// prints nothing (no N copies on the terminal); in the parent it does
/// what the hook before it did. Installed before the forks, so no child
/// pays for it.
fn install_panic_hook() {
    if PARENT.set(std::process::id()).is_err() {
        return;
    }
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if PARENT.get() == Some(&std::process::id()) {
            previous(info);
        } else {
            record_panic(info);
        }
    }));
}

fn record_panic(info: &panic::PanicHookInfo<'_>) {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let text = match info.location() {
        Some(l) => {
            // Paths relative to the project, as a student reads them.
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
            let file = l.file().strip_prefix(root).unwrap_or(l.file());
            format!("panicked at {file}:{}: {payload}", l.line())
        }
        None => format!("panicked: {payload}"),
    };
    if let Ok(mut last) = LAST_PANIC.lock() {
        *last = Some(text);
    }
}

/// In a child: the last panic's message (`panicked at FILE:LINE: MSG`),
/// for its outcome record.
pub fn last_panic() -> String {
    LAST_PANIC
        .lock()
        .ok()
        .and_then(|mut l| l.take())
        .unwrap_or_else(|| "panicked".into())
}

/// Ends a forked child at once with `status`, without running `atexit`
/// handlers, destructors or flushing stdio buffers copied from the parent
/// (which would print the parent's pending output twice).
pub fn exit_child(status: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe, takes no pointers and never returns.
    unsafe { libc::_exit(status) }
}
