//! Containment of a strategy's parent-side code: what the judge's process
//! runs of a strategy cannot end, hang or forge the judgement.
//!
//! * [`in_helper`] runs a call (`buyer_died`, `describe`) in a short-lived
//!   process forked from the single-threaded parent: it shares the
//!   strategy's mappings (a semaphore in `MAP_SHARED` memory, whose repair
//!   every process sees) and its open files, returns its answer over a
//!   pipe and ends with `_exit`; it is killed at its time limit or on a
//!   stop signal. A panic, a hang, an exit there is the helper's end, told
//!   as a [`Helped`], never the parent's.
//! * [`in_parent`] runs a call that must leave its state in the parent
//!   (`prepare`, the strategy's `Drop`): a panic is caught and told with
//!   its message; its standard output goes to standard error (a report it
//!   prints is not the judge's); and while it runs, [`Guard`] keeps two
//!   promises whatever it does, at the price of ending the process: a
//!   stop signal ends it within [`TICK`], and so does the end of its time
//!   limit — first putting in place the *last words* the command
//!   registered ([`LastWords`]: a failed `results.json` written in advance),
//!   which is also done, with a failing status, if the strategy calls
//!   `exit`. What the run had made is then left for the next run's sweep,
//!   as after a `SIGKILL`.

use std::ffi::CString;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::fork::{
    Ending, SingleThreaded, exit_child, fork_child, install_panic_hook, last_panic, record_panic,
};
use super::signals::{default_stop_signals, die_with_parent, stop_signal};

/// The longest answer taken from a helper (the rest is dropped).
const MAX_ANSWER: usize = 4096;

/// How a call in a helper process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Helped {
    /// It returned this answer.
    Returned(Vec<u8>),
    /// It panicked: `panicked at FILE:LINE: MSG`.
    Panicked(String),
    /// It had not returned at its time limit; the helper was killed.
    TimedOut(Duration),
    /// The helper ended without answering (an `exit`, a crash).
    Ended(Ending),
    /// A stop signal arrived while it ran; the helper was killed.
    Stopped(Signal),
}

/// Runs `body` in a helper process forked from this one, which must be
/// single-threaded, and waits at most `limit` for its answer. The helper
/// shares this process's shared mappings and open files; what it changes
/// in private memory is lost with it. It is killed (`SIGKILL`) and reaped
/// before this returns, whatever happened, and asks to die with this
/// process.
///
/// # Errors
/// When this process has threads, or `pipe`, `fork` or `waitpid` fail.
pub fn in_helper(limit: Duration, body: impl FnOnce() -> Vec<u8>) -> io::Result<Helped> {
    let proof = SingleThreaded::check().map_err(io::Error::other)?;
    install_panic_hook();
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let parent = nix::unistd::getpid();
    super::fork::flush();
    // SAFETY: `proof` shows the process is single-threaded.
    let pid = unsafe {
        fork_child(|| {
            let _ = default_stop_signals();
            if die_with_parent().is_err() || nix::unistd::getppid() != parent {
                exit_child(1);
            }
            let answer = match panic::catch_unwind(AssertUnwindSafe(body)) {
                Ok(mut a) => {
                    a.insert(0, b'R');
                    a
                }
                Err(payload) => {
                    std::mem::forget(payload);
                    let mut a = last_panic().into_bytes();
                    a.insert(0, b'P');
                    a
                }
            };
            write_all_blocking(&w, &answer[..answer.len().min(MAX_ANSWER)]);
            0
        })
    }?;
    let _ = proof;
    drop(w);
    wait_helper(pid, &r, limit)
}

/// Writes `bytes` to the nonblocking `w`, waiting while the pipe is full.
fn write_all_blocking(w: &OwnedFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(w, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let _ = poll(
                    &mut [PollFd::new(w.as_fd_ref(), PollFlags::POLLOUT)],
                    PollTimeout::from(100u16),
                );
            }
            Err(_) => return,
        }
    }
}

trait AsFdRef {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl AsFdRef for OwnedFd {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// The parent's side of [`in_helper`]: reads the answer while the helper
/// runs, and reaps it; kills it at the limit or on a stop signal.
fn wait_helper(pid: Pid, r: &OwnedFd, limit: Duration) -> io::Result<Helped> {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut open = true;
    loop {
        if open {
            open = drain(r, &mut answer);
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(WaitStatus::Exited(_, code)) => {
                return Ok(answered(r, answer, Ending::Exited(code)));
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return Ok(answered(r, answer, Ending::Signaled(sig)));
            }
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(sig) = stop_signal() {
            end_helper(pid);
            return Ok(Helped::Stopped(sig));
        }
        if started.elapsed() >= limit {
            end_helper(pid);
            return Ok(Helped::TimedOut(limit));
        }
        // Wakes on the answer, on end-of-file, or after 5 ms to look at
        // the helper, the clock and the stop signal.
        let wait = PollTimeout::from(5u16);
        if open {
            let _ = poll(&mut [PollFd::new(r.as_fd_ref(), PollFlags::POLLIN)], wait);
        } else {
            let _ = poll(&mut [] as &mut [PollFd<'_>], wait);
        }
    }
}

/// Reads what is waiting in the nonblocking `r` into `answer` (up to
/// [`MAX_ANSWER`]). Returns whether the pipe is still open.
fn drain(r: &OwnedFd, answer: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(r, &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = (MAX_ANSWER + 1).saturating_sub(answer.len());
                answer.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

/// The helper ended as `ending`: its answer, if it gave one in full.
fn answered(r: &OwnedFd, mut answer: Vec<u8>, ending: Ending) -> Helped {
    drain(r, &mut answer);
    match (ending, answer.split_first()) {
        (Ending::Exited(0), Some((b'R', rest))) => Helped::Returned(rest.to_vec()),
        (_, Some((b'P', rest))) => Helped::Panicked(String::from_utf8_lossy(rest).into_owned()),
        _ => Helped::Ended(ending),
    }
}

/// Kills and reaps the helper `pid`.
fn end_helper(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// How often, at most, a guarded call is looked at: a stop signal or the
/// end of its limit ends the process within this.
pub const TICK: Duration = Duration::from_millis(100);

/// What a guarded call is, for the message that ends the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// The strategy's `prepare`.
    Prepare,
    /// The strategy's clean-up (`Drop` of its state).
    CleanUp,
}

impl Call {
    /// The code's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Call::Prepare => "prepare",
            Call::CleanUp => "clean-up (Drop)",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The messages the process ends with, made before they are needed (a
/// signal handler cannot format): by [`Call`], a stop, a time limit, an
/// `exit`.
const STOPPED: [&[u8]; 2] = [
    b"booking: stopped by a signal while the strategy's prepare ran; what the run made is left for the next run's sweep\n",
    b"booking: stopped by a signal while the strategy's clean-up (Drop) ran; what the run made is left for the next run's sweep\n",
];
const TIMED_OUT: [&[u8]; 2] = [
    b"booking: the strategy's prepare did not return within its limit; booking ended (no verdict: a failure)\n",
    b"booking: the strategy's clean-up (Drop) did not return within its limit; booking ended (no verdict: a failure)\n",
];
const EXITED: [&[u8]; 2] = [
    b"booking: the strategy's prepare ended the process (exit); no verdict: a failure\n",
    b"booking: the strategy's clean-up (Drop) ended the process (exit); no verdict: a failure\n",
];

/// The process a guard is active in (0: none). Forked children see
/// another pid, so a guard copied into them does nothing.
static GUARDED_PID: AtomicI32 = AtomicI32::new(0);
/// `CLOCK_MONOTONIC` (ns) at which the guarded call's time is up.
static DEADLINE_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// The guarded [`Call`]'s index.
static CALL: AtomicUsize = AtomicUsize::new(0);
/// The exit status for a guarded call that timed out or called `exit`.
static FAILURE_STATUS: AtomicI32 = AtomicI32::new(1);

/// Sets the exit status the process ends with when a strategy's code run
/// in it hangs past its limit or calls `exit` (1 unless set: a failure;
/// `check` and `grade` make it 3, a broken claim or a failed grade).
pub fn set_failure_status(status: i32) {
    FAILURE_STATUS.store(status, Ordering::SeqCst);
}

/// Up to this many files put in place as last words.
const LAST_WORDS: usize = 4;

/// A file and its replacement, as C strings leaked for the life of the
/// process (the signal handler reads them): `[from, to]`.
static LAST: [AtomicPtr<[*const libc::c_char; 2]>; LAST_WORDS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; LAST_WORDS];

/// Files the process puts in place if it is ended while a strategy's code
/// runs in it (time limit, stop signal, `exit`): each a file written in
/// advance, renamed over its target — `rename` is all a signal handler may
/// do. Registered by a command before the run, withdrawn after.
pub struct LastWords(Vec<usize>);

impl LastWords {
    /// Registers `ready` (a file already written) to be renamed over
    /// `target` should the process be ended by strategy code.
    ///
    /// # Errors
    /// When more than [`LAST_WORDS`] are registered, or a path holds a
    /// NUL byte.
    pub fn register(pairs: &[(&Path, &Path)]) -> io::Result<Self> {
        let mut slots = Vec::new();
        let mut taken = LastWords(Vec::new());
        for (ready, target) in pairs {
            let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
            let pair: Box<[*const libc::c_char; 2]> =
                Box::new([c(ready)?.into_raw(), c(target)?.into_raw()]);
            let pair = Box::into_raw(pair);
            let slot = LAST.iter().position(|s| {
                s.compare_exchange(
                    std::ptr::null_mut(),
                    pair,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            });
            match slot {
                Some(i) => slots.push(i),
                None => return Err(io::Error::other("too many last words")),
            }
            taken.0.clone_from(&slots);
        }
        Ok(taken)
    }
}

impl Drop for LastWords {
    fn drop(&mut self) {
        for &i in &self.0 {
            let pair = LAST[i].swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !pair.is_null() {
                // SAFETY: made by `Box::into_raw` in `register` from two
                // `CString::into_raw`; taken out of the slot, so no one
                // else frees them. (A signal handler that read the slot
                // before the swap has ended the process: `_exit`.)
                unsafe {
                    let pair = Box::from_raw(pair);
                    drop(CString::from_raw(pair[0].cast_mut()));
                    drop(CString::from_raw(pair[1].cast_mut()));
                }
            }
        }
    }
}

/// Renames every registered file over its target. Async-signal-safe.
fn put_last_words_in_place() {
    for slot in &LAST {
        let pair = slot.load(Ordering::SeqCst);
        if !pair.is_null() {
            // SAFETY: a non-null slot points to two live C strings (freed
            // only after being taken out of the slot); `rename` is
            // async-signal-safe.
            unsafe {
                libc::rename((*pair)[0], (*pair)[1]);
            }
        }
    }
}

/// Writes `msg` to standard error and ends the process with `status`,
/// after putting the last words in place. Async-signal-safe.
fn end_now(msg: &[u8], status: i32) -> ! {
    put_last_words_in_place();
    // SAFETY: `write` and `_exit` are async-signal-safe; `msg` is valid
    // for its length.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(status)
    }
}

fn guarded_here() -> bool {
    // SAFETY: `getpid` is async-signal-safe and cannot fail.
    let me = unsafe { libc::getpid() };
    GUARDED_PID.load(Ordering::SeqCst) == me
}

extern "C" fn on_tick(_: libc::c_int) {
    if !guarded_here() {
        return;
    }
    let call = CALL.load(Ordering::SeqCst).min(1);
    if let Some(sig) = stop_signal() {
        end_now(STOPPED[call], 128 + sig as i32);
    }
    if super::clock::monotonic_ns() >= DEADLINE_NS.load(Ordering::SeqCst) {
        end_now(TIMED_OUT[call], FAILURE_STATUS.load(Ordering::SeqCst));
    }
}

extern "C" fn at_exit() {
    if guarded_here() {
        let call = CALL.load(Ordering::SeqCst).min(1);
        end_now(EXITED[call], FAILURE_STATUS.load(Ordering::SeqCst));
    }
}

/// Installs, once, the tick's handler and the `exit` hook.
fn install() -> io::Result<()> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *done {
        return Ok(());
    }
    // SA_RESTART: the tick must not make the strategy's own calls fail
    // with EINTR.
    let action = SigAction::new(
        SigHandler::Handler(on_tick),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only reads atomics, calls `getpid`,
    // `clock_gettime`, `rename`, `write` and `_exit`: async-signal-safe.
    unsafe { sigaction(Signal::SIGALRM, &action) }?;
    // SAFETY: `at_exit` is a plain function that reads atomics and, when a
    // guard is active in this process, calls `rename`, `write`, `_exit`.
    if unsafe { libc::atexit(at_exit) } != 0 {
        return Err(io::Error::other("atexit refused"));
    }
    *done = true;
    Ok(())
}

/// Active while a strategy's code runs in this process (see the module
/// doc): a tick every [`TICK`] ends the process on a stop signal or at
/// the limit; an `exit` ends it with the failure status; standard output
/// goes to standard error. Dropping it ends all that.
struct Guard {
    _timer: nix::sys::timer::Timer,
    stdout: Option<OwnedFd>,
}

impl Guard {
    fn new(call: Call, limit: Duration) -> io::Result<Self> {
        use nix::sys::signal::{SigEvent, SigevNotify};
        use nix::sys::time::TimeSpec;
        use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
        install()?;
        let tick = SigEvent::new(SigevNotify::SigevSignal {
            signal: Signal::SIGALRM,
            si_value: 0,
        });
        let mut timer = Timer::new(nix::time::ClockId::CLOCK_MONOTONIC, tick)?;
        let every = TimeSpec::from_duration(TICK);
        timer.set(
            Expiration::IntervalDelayed(every, every),
            TimerSetTimeFlags::empty(),
        )?;
        let limit_ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        DEADLINE_NS.store(
            super::clock::monotonic_ns().saturating_add(limit_ns),
            Ordering::SeqCst,
        );
        CALL.store(call.index(), Ordering::SeqCst);
        GUARDED_PID.store(std::process::id() as i32, Ordering::SeqCst);
        super::fork::flush();
        // Standard output to standard error for the call: what it prints
        // is never mistaken for the judge's report.
        let stdout = nix::unistd::dup(io::stdout()).ok();
        if stdout.is_some() {
            let _ = nix::unistd::dup2_stdout(io::stderr());
        }
        Ok(Guard {
            _timer: timer,
            stdout,
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = io::stdout().flush();
        if let Some(saved) = self.stdout.take() {
            let _ = nix::unistd::dup2_stdout(&saved);
        }
        GUARDED_PID.store(0, Ordering::SeqCst);
        DEADLINE_NS.store(u64::MAX, Ordering::SeqCst);
        // The timer (`_timer`) is deleted after this, once the guard is
        // off: a tick still pending finds nothing to do.
    }
}

/// Runs `body`, the strategy's `call`, in this process under a [`Guard`]
/// of `limit`, and catches its panic: `Err("panicked at FILE:LINE: MSG")`.
/// The panic is recorded, not printed.
///
/// # Errors
/// The panic's message; or why the guard could not be set up.
pub fn in_parent<T>(call: Call, limit: Duration, body: impl FnOnce() -> T) -> Result<T, String> {
    let guard = Guard::new(call, limit).map_err(|e| format!("guarding the strategy: {e}"))?;
    let previous = panic::take_hook();
    panic::set_hook(Box::new(record_panic));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    panic::set_hook(previous);
    drop(guard);
    result.map_err(|payload| {
        // Never dropped: a payload whose `Drop` panics would unwind here.
        std::mem::forget(payload);
        last_panic()
    })
}
