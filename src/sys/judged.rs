//! A run judged from another process: the plumbing between `check` or
//! `grade` (the judge) and the plain `booking` run it starts for each
//! scenario, by `exec`, with the very arguments a user would type.
//!
//! The run's result goes back on a **report socket** the judge hands over
//! as descriptor [`REPORT_FD`], so that nothing about the run's command
//! line or environment differs from a plain run. The run recognises the
//! socket by what an accident cannot give it: descriptor 3 is a Unix socket
//! whose peer, as the kernel tells (`SO_PEERCRED`), is the run's own
//! parent. It then marks it close-on-exec, and **every child this process
//! forks closes it first thing** ([`forget_in_child`], called by the fork
//! boundary): no buyer, spawner or helper holds it, so a strategy's code in
//! a buyer cannot write a report, and the socket reaches end-of-file when
//! the run process itself ends, whatever it left behind.
//!
//! What is not defended: the strategy's `prepare` runs in the run process
//! itself (its shared state must be mapped there before the forks), so
//! code in `prepare` written to find the descriptor and forge `booking`'s
//! report could. The judge never trusts the report's verdict (it judges
//! the records itself) nor anything the run prints.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockType, getsockopt, send, socketpair, sockopt,
};
use nix::unistd::Pid;

/// The descriptor the judge's report socket has in the run.
pub const REPORT_FD: RawFd = 3;

/// The report socket this process took (-1: none, or already used).
static REPORT: AtomicI32 = AtomicI32::new(-1);

/// The run's side, called first thing in `main`: takes descriptor
/// [`REPORT_FD`] as the report socket if the parent handed one over
/// (see the module doc). Returns whether it did.
pub fn adopt() -> bool {
    // SAFETY: `fcntl(F_GETFD)` on any integer is harmless: it only asks
    // whether that descriptor is open.
    if unsafe { libc::fcntl(REPORT_FD, libc::F_GETFD) } < 0 {
        return false;
    }
    // SAFETY: descriptor 3 is open (above) and this borrow ends before
    // anything could close it: nothing in this process has run yet.
    let fd = unsafe { BorrowedFd::borrow_raw(REPORT_FD) };
    let Ok(peer) = getsockopt(&fd, sockopt::PeerCredentials) else {
        return false;
    };
    if peer.pid() != nix::unistd::getppid().as_raw() {
        return false;
    }
    // SAFETY: `fcntl(F_SETFD)` on an open descriptor this process owns
    // from now on; the return code is checked.
    if unsafe { libc::fcntl(REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return false;
    }
    REPORT.store(REPORT_FD, Ordering::SeqCst);
    true
}

/// Whether this process is a judged run (it took a report socket).
pub fn is_judged() -> bool {
    REPORT.load(Ordering::SeqCst) >= 0
}

/// In a freshly forked child, before anything else: closes the report
/// socket, which belongs to the run process alone. Async-signal-safe.
pub(super) fn forget_in_child() {
    let fd = REPORT.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `close` of the descriptor this process adopted, in the
        // child's copy of the table; nothing else in the child uses it.
        unsafe { libc::close(fd) };
    }
}

/// The byte a run sends the judge each time a buyer's record arrives: a run
/// that makes progress, however slowly, is never cut off (see
/// [`Judged::wait`]). The report that follows is JSON, which never starts
/// with it.
pub const PROGRESS: u8 = b'.';

/// The run's side: tells the judge, if there is one, that a buyer
/// reported. Never blocks: with the socket's buffer full (the judge reads
/// it as it comes, so it never is), the byte is dropped.
pub fn progress() {
    let fd = REPORT.load(Ordering::SeqCst);
    if fd >= 0 {
        let _ = send(
            fd,
            &[PROGRESS],
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        );
    }
}

/// The run's side: sends `report` to the judge and closes the socket.
/// Without a judge, does nothing.
///
/// # Errors
/// Any error of `send` but `EINTR` (retried).
pub fn report(report: &[u8]) -> io::Result<()> {
    let fd = REPORT.swap(-1, Ordering::SeqCst);
    if fd < 0 {
        return Ok(());
    }
    // SAFETY: the descriptor was adopted by this process and is closed
    // only here (taken out of `REPORT` above), so ownership is unique.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut rest = report;
    while !rest.is_empty() {
        match send(owned.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A judged run, seen from the judge.
pub struct Judged {
    child: Child,
    report: std::fs::File,
    stderr: ChildStderr,
}

/// How a judged run ended.
pub struct Finished {
    /// Everything it sent on the report socket.
    pub report: Vec<u8>,
    /// The last [`STDERR_TAIL`] bytes it (and its children) wrote to
    /// standard error.
    pub stderr: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether it ran past its limit (then it was killed).
    pub timed_out: bool,
    /// Whether the judge was told to stop meanwhile (then it was killed).
    pub stopped: bool,
}

/// How much of a run's standard error the judge keeps.
pub const STDERR_TAIL: usize = 4096;

/// How long a run told to stop (`SIGTERM`, or Ctrl-C on the terminal) has
/// before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long the judge reads on after the run process ended: what it sent
/// is in the socket by then; only a process the strategy forked itself
/// could hold the socket open longer.
const AFTER_END: Duration = Duration::from_millis(100);

/// The judge's side: starts this very program again — `/proc/self/exe`,
/// the file it was started from even if that was rebuilt or removed since
/// — with the judge's own `argv[0]` (the name a user typed) and `args`,
/// its environment, standard input and output on `/dev/null`, standard
/// error on a pipe, and the report socket as descriptor [`REPORT_FD`].
///
/// # Errors
/// When the socket cannot be made or the program cannot be started.
pub fn spawn_self(args: &[String]) -> io::Result<Judged> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let raw = theirs.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(name) = std::env::args_os().next() {
        cmd.arg0(name);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before `exec` and calls
    // only `dup2` and `fcntl`, both async-signal-safe; it allocates
    // nothing. `dup2` gives a copy without close-on-exec; when the socket
    // already is descriptor 3, the flag is cleared instead.
    unsafe {
        cmd.pre_exec(move || {
            let done = if raw == REPORT_FD {
                libc::fcntl(REPORT_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, REPORT_FD)
            };
            if done < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(theirs);
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok(Judged {
        child,
        report: std::fs::File::from(ours),
        stderr,
    })
}

impl Judged {
    /// The run's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the report and standard error until the run has ended and its
    /// report socket closed, or until `stopped()` says so, or until `limit`
    /// has passed *and* nothing has come on the report socket (a
    /// [`PROGRESS`] byte or the report) for `quiet`: then the run gets
    /// `SIGTERM`, [`STOP_GRACE`] to end, and `SIGKILL`. Its descendants are
    /// the caller's to sweep. The leading [`PROGRESS`] bytes are left out
    /// of [`Finished::report`].
    ///
    /// # Errors
    /// When reading or waiting fails other than by `EINTR`.
    pub fn wait(
        mut self,
        limit: Duration,
        quiet: Duration,
        stopped: impl Fn() -> bool,
    ) -> io::Result<Finished> {
        let deadline = Instant::now() + limit;
        let mut heard = Instant::now();
        let (mut report, mut tail) = (Vec::new(), Vec::new());
        let (mut report_open, mut stderr_open) = (true, true);
        let mut ended: Option<(ExitStatus, Instant)> = None;
        let mut killing: Option<Instant> = None;
        let (mut timed_out, mut was_stopped) = (false, false);
        let status = loop {
            if ended.is_none() {
                ended = self.child.try_wait()?.map(|s| (s, Instant::now()));
            }
            if let Some((status, at)) = ended {
                if !report_open || at.elapsed() >= AFTER_END {
                    break status;
                }
            } else if let Some(since) = killing {
                if since.elapsed() >= STOP_GRACE {
                    self.signal(Signal::SIGKILL);
                    break self.reap()?;
                }
            } else {
                was_stopped = stopped();
                timed_out = !was_stopped && Instant::now() >= deadline && heard.elapsed() >= quiet;
                if was_stopped || timed_out {
                    self.signal(Signal::SIGTERM);
                    killing = Some(Instant::now());
                }
            }
            let mut fds = Vec::with_capacity(2);
            if report_open {
                fds.push(PollFd::new(self.report.as_fd(), PollFlags::POLLIN));
            }
            if stderr_open {
                fds.push(PollFd::new(self.stderr.as_fd(), PollFlags::POLLIN));
            }
            if fds.is_empty() {
                // Both closed, the process not yet ended: a short nap.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            match poll(&mut fds, PollTimeout::from(20u8)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let mut ready = ready.into_iter();
            if report_open && ready.next() == Some(true) {
                let before = report.len();
                report_open = read_some(&mut self.report, &mut report, usize::MAX)?;
                if report.len() > before {
                    heard = Instant::now();
                }
                if report.first() == Some(&PROGRESS) {
                    let dots = report.iter().take_while(|b| **b == PROGRESS).count();
                    report.drain(..dots);
                }
            }
            if stderr_open && ready.next() == Some(true) {
                stderr_open = read_some(&mut self.stderr, &mut tail, STDERR_TAIL)?;
            }
        };
        Ok(Finished {
            report,
            stderr: String::from_utf8_lossy(&tail).into_owned(),
            status,
            timed_out,
            stopped: was_stopped,
        })
    }

    fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
    }

    fn reap(&mut self) -> io::Result<ExitStatus> {
        loop {
            match self.child.wait() {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads what is there from `from` onto `into`, keeping at most its last
/// `keep` bytes; returns whether `from` is still open.
fn read_some(from: &mut impl Read, into: &mut Vec<u8>, keep: usize) -> io::Result<bool> {
    let mut buf = [0u8; 16 * 1024];
    match from.read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            if into.len() > keep {
                into.drain(..into.len() - keep);
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(e),
    }
}
