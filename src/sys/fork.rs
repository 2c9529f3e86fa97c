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

use std::io::{self, Write as _};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use nix::libc;
use nix::sys::signal::Signal;
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

/// Forks a child that runs `body` and exits with the status it returns
/// ([`PANICKED`] if it panics); returns its pid, and never returns in the
/// child.
///
/// # Safety
/// The calling process must be single-threaded: only then may the child
/// run any code.
pub(super) unsafe fn fork_child(body: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: the caller promises a single-threaded process. The child
    // never returns from this block: it runs `body` under catch_unwind and
    // `_exit`s.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // The judge's report socket is the run process's alone.
            super::judged::forget_in_child();
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
pub(super) fn install_panic_hook() {
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

pub(super) fn record_panic(info: &panic::PanicHookInfo<'_>) {
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

/// Flushes standard output and standard error before a fork: a child
/// would inherit a copy of anything buffered, and print it again.
pub fn flush() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}
