//! System calls as pause points: a seccomp filter that stops a buyer at
//! each call it makes until its parent, the stepped scheduler, answers
//! (seccomp *user notification*, Linux 5.5 and later).
//!
//! How it works, and who waits for whom:
//!
//! * A buyer installs the filter on itself ([`install`]) after the fork.
//!   From then on every call it makes — and every call of a process it
//!   forks, since a filter is inherited and can never be removed — stops
//!   in the kernel before it runs, and a *notification* (the caller's pid,
//!   the call's number and arguments) waits on the filter's *listener*
//!   descriptor. `exit`, `exit_group` and `rt_sigreturn` pass unstopped,
//!   so a buyer can always die and return from a signal handler, and so
//!   do the calls that only read the caller's own ids, clock and usage
//!   ([`PASS`]).
//! * The parent takes a copy of the buyer's listener with `pidfd_getfd`
//!   ([`Listener::take`]): the right to do that is the right to trace the
//!   buyer, which a parent has over its own child unless the machine's
//!   ptrace policy (Yama, level 2 or 3) or a security module forbids it
//!   — [`usable`] says whether it does before any buyer starts, by
//!   stopping one real child at one call. Where it cannot, a stepped run
//!   pauses its buyers at their points only, and its trace says why.
//! * The parent reads notifications ([`Listener::next`]) and answers each
//!   ([`Listener::proceed`]: the call then runs as if never stopped;
//!   [`Listener::pretend`]: it does not run and returns 0, which is how a
//!   stepped run skips a strategy's sleeps, its time being virtual). Until
//!   it answers, the caller sleeps in the kernel (state `S`).
//! * If the parent dies, the listener closes and every call stopped or
//!   still to come fails with `ENOSYS`: a buyer never waits for an answer
//!   that cannot come.
//!
//! Why not `ptrace` (as strace, rr and Hermit do): it stops a process at
//! every call twice (entry and exit) and turns the parent's `waitpid` into
//! a stream of trace stops, where the run's reaping and its `SIGSTOP`
//! preemption of spinning buyers expect plain exits and stops; and a stop
//! costs about 27 µs against 4–13 µs here (see `docs/stepping.md`). What
//! a notification cannot give is the call's result: the parent reads it
//! from the buyer's `errno` instead ([`Errno::clear`], [`Errno::read`]),
//! which says "failed with E…" or "did not fail".

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno as NixErrno;
use nix::libc;
use nix::unistd::Pid;

/// The architecture the filter accepts (`AUDIT_ARCH_*`); calls of any
/// other (a 32-bit call on a 64-bit kernel) are stopped too, named by
/// number only.
#[cfg(target_arch = "x86_64")]
const ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<u32> = None;

/// The calls that are never stopped: a buyer must always be able to die
/// and to return from a signal handler, and a call that only reads the
/// caller's own ids, clock or usage changes nothing another buyer sees
/// (and the run itself makes them between steps).
const PASS: [i64; 8] = [
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigreturn,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getrusage,
    libc::SYS_clock_gettime,
];

/// The environment variable that turns system calls as pause points off
/// (`BOOKING_STEP_CALLS=off`): a stepped run then pauses its buyers at
/// their points only, as it does on a machine that cannot stop them at
/// their calls. For a teacher who wants the shorter traces, and for the
/// test of that fallback.
pub const OFF_VAR: &str = "BOOKING_STEP_CALLS";

/// Whether this machine can stop a child at its system calls: seccomp
/// user notification with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (5.5),
/// `pidfd_getfd` (5.6), and the right to take a child's descriptors.
/// `Err` says why not, for the run's trace.
///
/// The kernel and the ptrace policy (Yama) are read first; then, since a
/// security module (SELinux, AppArmor) or a container's own seccomp
/// profile can refuse `seccomp` or `pidfd_getfd` whatever the kernel
/// offers, one real child is stopped at one call and answered
/// ([`time_stops`]). The answer is kept for the life of the process (a
/// run asks once, before it forks its buyers).
///
/// # Errors
/// The reason, in words.
pub fn usable() -> Result<(), String> {
    static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ANSWER
        .get_or_init(|| {
            if off_by_env() {
                return Err(format!("{OFF_VAR}=off"));
            }
            kernel_allows()?;
            time_stops(1).map(drop)
        })
        .clone()
}

/// Whether the environment turns system calls as pause points off
/// ([`OFF_VAR`] is `off` or `0`).
pub fn off_by_env() -> bool {
    std::env::var(OFF_VAR).is_ok_and(|v| v == "off" || v == "0")
}

/// What [`usable`] reads without forking: the architecture, the kernel's
/// `pidfd_getfd`, Yama's ptrace scope.
fn kernel_allows() -> Result<(), String> {
    if ARCH.is_none() {
        return Err("not on x86_64 or aarch64".into());
    }
    // `pidfd_getfd` on a descriptor that is no pidfd: EBADF where the
    // call exists (5.6, which also has the CONTINUE flag), ENOSYS where
    // it does not.
    // SAFETY: a plain system call with integer arguments; -1 is no
    // descriptor, so nothing is read or written.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) };
    if rc < 0 && NixErrno::last() == NixErrno::ENOSYS {
        return Err("the kernel has no pidfd_getfd (Linux 5.6 or later needed)".into());
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if scope >= 3 || (scope == 2 && !nix::unistd::geteuid().is_root()) {
        return Err(format!(
            "the ptrace policy forbids a parent to reach its child \
             (kernel.yama.ptrace_scope = {scope})"
        ));
    }
    Ok(())
}

/// Forks a child that installs the stepped runs' filter and makes `n`
/// calls (`getuid`), each stopped and answered at once by this process,
/// exactly as a stepped run stops its buyers; returns the time of the `n`
/// stops. The process must be single-threaded (it forks).
///
/// Every wait is bounded (10 s for the child to announce its listener,
/// 5 s for each call), and the child is killed and reaped on every path.
///
/// # Errors
/// Which step failed, and the system's error.
pub fn time_stops(n: u32) -> Result<std::time::Duration, String> {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    const NOT_INSTALLED: u64 = u64::MAX;
    let announced = super::SharedWords::new(1).map_err(|e| format!("mmap: {e}"))?;
    let proof = super::SingleThreaded::check()?;
    let mut children = super::Children::new(proof).map_err(|e| format!("SIGCHLD: {e}"))?;
    let cell = &announced[0];
    let (_, pid) = children
        .spawn(|| {
            // After `install`, every call but an exit stops until the
            // parent answers: the fd is announced in shared memory.
            match install() {
                Ok(listener) => {
                    cell.store(listener.as_raw_fd() as u64, Ordering::SeqCst);
                    for _ in 0..n {
                        std::hint::black_box(nix::unistd::getuid());
                    }
                    0
                }
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(libc::EINVAL);
                    cell.store(NOT_INSTALLED - code as u64, Ordering::SeqCst);
                    1
                }
            }
        })
        .map_err(|e| format!("fork: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let fd = loop {
        match cell.load(Ordering::SeqCst) {
            0 if Instant::now() > deadline => {
                return Err("a child did not install the filter within 10 s".into());
            }
            0 => {
                if let Ok(Some(end)) = children.reap_if_ended(0) {
                    return Err(format!("a child {end} before it installed the filter"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            v if v > NOT_INSTALLED - 4096 => {
                let e = NixErrno::from_raw((NOT_INSTALLED - v) as i32);
                return Err(format!("installing the filter failed: {e}"));
            }
            v => break v as RawFd,
        }
    };
    let listener = Listener::take(pid, fd)
        .map_err(|e| format!("taking a child's listener (pidfd_getfd) failed: {e}"))?;
    let wait = nix::poll::PollTimeout::from(5000u16);
    let start = Instant::now();
    let mut answered = 0;
    while answered < n {
        let call = listener
            .next_within(wait)
            .map_err(|e| format!("reading a stopped call failed: {e}"))?
            .ok_or("a child's call did not stop within 5 s")?;
        listener
            .proceed(call.id)
            .map_err(|e| format!("answering a stopped call failed: {e}"))?;
        if call.nr == libc::SYS_getuid {
            answered += 1;
        }
    }
    let took = start.elapsed();
    // Its exit is not stopped; anything else it does is answered.
    while let Ok(Some(call)) = listener.next_within(nix::poll::PollTimeout::from(100u16)) {
        let _ = listener.proceed(call.id);
    }
    match children.reap(0) {
        Ok(super::Ending::Exited(0)) => Ok(took),
        Ok(end) => Err(format!("the stopped child {end}")),
        Err(e) => Err(format!("waitpid: {e}")),
    }
}

/// In a buyer: installs the filter (see the module doc) and returns the
/// listener, for the parent to take (by its number) before the buyer
/// closes it. Sets
/// `no_new_privs`, which a filter needs without `CAP_SYS_ADMIN`.
///
/// After this returns, the buyer's next call stops until the parent
/// answers.
///
/// # Errors
/// Any error of `prctl` or `seccomp` (`EINVAL` on a kernel without user
/// notification).
pub fn install() -> io::Result<OwnedFd> {
    let arch = ARCH.ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?;
    nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)?;
    let nr = std::mem::offset_of!(libc::seccomp_data, nr) as u32;
    let arch_at = std::mem::offset_of!(libc::seccomp_data, arch) as u32;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // Instructions after the architecture's check: the call's number, one
    // test per passing call, the test for `fcntl(F_GETFD)` (three), the
    // stop, the pass. A jump counts the instructions it skips.
    let n = PASS.len() as u8;
    let arg1 = (std::mem::offset_of!(libc::seccomp_data, args) + 8) as u32;
    let mut prog = vec![
        stmt(load, arch_at),
        // Another architecture's call: stop it (by number) as well.
        jeq(arch, 0, 1 + n + 3),
        stmt(load, nr),
    ];
    // The calls that pass: the k-th jumps over the rest and the stop.
    for (k, &call) in PASS.iter().enumerate() {
        prog.push(jeq(call as u32, (n - 1 - k as u8) + 3 + 1, 0));
    }
    // `fcntl(fd, F_GETFD)` reads the caller's own descriptor flags (a debug
    // build of Rust's standard library makes one as it closes a file):
    // it passes, so that a schedule is the same for a debug build and a
    // release one. Any other `fcntl` stops.
    prog.push(jeq(libc::SYS_fcntl as u32, 0, 2));
    prog.push(stmt(load, arg1));
    prog.push(jeq(libc::F_GETFD as u32, 1, 0));
    prog.push(stmt(ret, libc::SECCOMP_RET_USER_NOTIF));
    prog.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, a valid classic-BPF program of
    // `len` instructions that lives across the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &raw const fprog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor returned to us, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// One stopped call, as the kernel tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The notification's id: what the answer names.
    pub id: u64,
    /// The calling thread (in the listener's pid namespace).
    pub pid: Pid,
    /// The call's number.
    pub nr: i64,
    /// Its six arguments.
    pub args: [u64; 6],
}

/// The parent's copy of a buyer's listener.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Takes descriptor `fd` of process `pid` (its listener, as
    /// [`install`] returned it) with `pidfd_open` and `pidfd_getfd`.
    ///
    /// # Errors
    /// Any error of either call (`EPERM` where the ptrace policy forbids
    /// it, `ESRCH` for a process that is gone).
    pub fn take(pid: Pid, fd: RawFd) -> io::Result<Self> {
        // SAFETY: plain system calls with integer arguments; each new
        // descriptor is owned at once.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `pidfd` is a descriptor just returned to us and owned by
        // nobody else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        // SAFETY: as above; `fd` is a number in the other process.
        let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor returned to us, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(got as RawFd) };
        Ok(Listener { fd })
    }

    /// Its descriptor, to poll: readable when a notification waits.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next stopped call, if one waits now (never blocks).
    ///
    /// # Errors
    /// Any error of `poll` or of the receiving `ioctl` other than `EINTR`
    /// and `ENOENT` (a caller that died before it was read: `None`).
    pub fn next(&self) -> io::Result<Option<Notice>> {
        self.next_within(nix::poll::PollTimeout::ZERO)
    }

    /// The next stopped call, waiting for one up to `wait`.
    ///
    /// # Errors
    /// As [`Listener::next`].
    pub fn next_within(&self, wait: nix::poll::PollTimeout) -> io::Result<Option<Notice>> {
        use nix::poll::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, wait) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(NixErrno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            // POLLHUP: the filter is gone (every process under it ended).
            return Ok(None);
        }
        loop {
            // SAFETY: `seccomp_notif` is plain data for which all zero
            // bytes is valid (and the kernel requires it zeroed).
            let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: the ioctl writes one `seccomp_notif` into `n`, which
            // is exactly that size and lives across the call.
            let rc = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV,
                    &raw mut n,
                )
            };
            if rc == 0 {
                let mut args = [0u64; 6];
                args.copy_from_slice(&n.data.args);
                return Ok(Some(Notice {
                    id: n.id,
                    pid: Pid::from_raw(n.pid as i32),
                    nr: i64::from(n.data.nr),
                    args,
                }));
            }
            match NixErrno::last() {
                NixErrno::EINTR => continue,
                NixErrno::ENOENT => return Ok(None),
                e => return Err(e.into()),
            }
        }
    }

    /// Lets the stopped call `id` run, as if it had never stopped.
    ///
    /// # Errors
    /// Any error of the answering `ioctl` other than `EINTR` and `ENOENT`
    /// (the caller died, or a signal ended its call meanwhile: nothing to
    /// answer).
    pub fn proceed(&self, id: u64) -> io::Result<()> {
        self.answer(id, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Answers the stopped call `id` with 0 without running it (a sleep
    /// that virtual time skips).
    ///
    /// # Errors
    /// As [`Listener::proceed`].
    pub fn pretend(&self, id: u64) -> io::Result<()> {
        self.answer(id, 0, 0)
    }

    fn answer(&self, id: u64, val: i64, flags: u32) -> io::Result<()> {
        let mut r = libc::seccomp_notif_resp {
            id,
            val,
            error: 0,
            flags,
        };
        loop {
            // SAFETY: the ioctl reads one `seccomp_notif_resp` from `r`,
            // which is exactly that size and lives across the call.
            let rc = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_SEND,
                    &raw mut r,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            match NixErrno::last() {
                NixErrno::EINTR => continue,
                NixErrno::ENOENT => return Ok(()),
                e => return Err(e.into()),
            }
        }
    }
}

/// A child's `errno`, read and written from its parent: a child forked
/// from this (single-threaded) process keeps its thread-local `errno` at
/// the address this thread's has.
pub struct Errno;

impl Errno {
    fn at() -> usize {
        // SAFETY: returns the address of this thread's errno; no memory
        // is touched.
        unsafe { libc::__errno_location() as usize }
    }

    /// Sets `pid`'s `errno` to 0 (before letting it make a call).
    /// Best effort: `false` if it could not be written.
    pub fn clear(pid: Pid) -> bool {
        use nix::sys::uio::{RemoteIoVec, process_vm_writev};
        let zero = 0i32.to_ne_bytes();
        let remote = [RemoteIoVec {
            base: Self::at(),
            len: zero.len(),
        }];
        process_vm_writev(pid, &[io::IoSlice::new(&zero)], &remote).is_ok()
    }

    /// `pid`'s `errno` now; `None` if it could not be read.
    pub fn read(pid: Pid) -> Option<i32> {
        let mut buf = [0u8; 4];
        read_remote(pid, Self::at(), &mut buf).then(|| i32::from_ne_bytes(buf))
    }
}

/// Reads `buf.len()` bytes at `addr` in `pid`; whether all were read.
fn read_remote(pid: Pid, addr: usize, buf: &mut [u8]) -> bool {
    use nix::sys::uio::{RemoteIoVec, process_vm_readv};
    let len = buf.len();
    let remote = [RemoteIoVec { base: addr, len }];
    process_vm_readv(pid, &mut [io::IoSliceMut::new(buf)], &remote).is_ok_and(|n| n == len)
}

/// The NUL-terminated string at `addr` in `pid` (a path a call names), at
/// most 256 bytes of it; `None` if it cannot be read.
pub fn read_string(pid: Pid, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    let mut at = addr as usize;
    while out.len() < 256 {
        // Byte by byte up to the page's end, so a string that ends just
        // before an unmapped page is still read.
        let page_left = 4096 - (at % 4096);
        let mut buf = vec![0u8; page_left.min(64)];
        if !read_remote(pid, at, &mut buf) {
            return None;
        }
        if let Some(end) = buf.iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf);
        at += buf.len();
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}
