//! What `/proc` tells of a process the parent forked: whether it sleeps in
//! the kernel, and whether that sleep is a wait for another process.
//!
//! A process in state `S` or `D` is asleep, but not always waiting for
//! another: on a loaded machine a buyer sleeps in a page fault, or on the
//! disk, for as long as the machine makes it. The two differ in what the
//! kernel shows:
//!
//! * a wait for another process — a futex (POSIX semaphores, pthread
//!   mutexes), `flock`, `fcntl`'s record locks, `semop`, a pipe or a
//!   message queue, `sigsuspend`, a sleep between polls — is an
//!   *interruptible* sleep (`S`) inside a system call;
//! * a page fault is a sleep outside any call (`/proc/PID/syscall` says
//!   `-1`), and disk I/O an *uninterruptible* one (`D`).
//!
//! So a process waits for another when it is in state `S` inside a call.
//! Reading `/proc/PID/syscall` needs the right to trace the process, which
//! a parent has over its own children (same user, or root).

use nix::unistd::Pid;

/// Whether `pid` sleeps interruptibly inside a system call: waits for
/// another process (see the module doc). `None` when `/proc` does not say
/// (the process is gone, or its `syscall` file cannot be read): the caller
/// decides from [`asleep`] alone.
pub fn waiting(pid: Pid) -> Option<bool> {
    if state(pid)? != 'S' {
        return Some(false);
    }
    let line = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    Some(in_a_call(&line))
}

/// Where `pid` is now: the number of the system call it is in (`Some(n)`),
/// or `None` when it is on a processor, in a page fault, or gone.
pub fn call(pid: Pid) -> Option<i64> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    line.split_whitespace()
        .next()?
        .parse::<i64>()
        .ok()
        .filter(|&n| n >= 0)
}

/// Whether `pid` is asleep in the kernel (state `S` or `D` in
/// `/proc/PID/stat`); `None` when it cannot be read.
pub fn asleep(pid: Pid) -> Option<bool> {
    Some(matches!(state(pid)?, 'S' | 'D'))
}

/// Whether `pid` is stopped by a signal (state `T` in `/proc/PID/stat`);
/// `None` when it cannot be read.
pub fn stopped(pid: Pid) -> Option<bool> {
    Some(state(pid)? == 'T')
}

/// How long `pid` has run on a processor, in nanoseconds: the first field
/// of `/proc/PID/schedstat`, which counts to the nanosecond (the
/// `utime`/`stime` of `stat` count in ticks of 10 ms). It grows only while
/// the process runs, never while it waits or while the machine runs
/// others, so a quantum measured with it does not depend on the load.
/// `None` when it cannot be read.
pub fn cpu_ns(pid: Pid) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Where `pid`'s writable shared mappings start (`rw-s` in
/// `/proc/PID/maps`): memory another process may write too. `None` when
/// it cannot be read.
pub fn shared_writable(pid: Pid) -> Option<Vec<usize>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    Some(
        maps.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("rw-s"))
            .filter_map(|l| usize::from_str_radix(l.split('-').next()?, 16).ok())
            .collect(),
    )
}

/// The state letter of `/proc/PID/stat`.
fn state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Reads a `/proc/PID/syscall` line: the call's number first, `-1` outside
/// a call (a page fault), `running` for a process on a processor.
fn in_a_call(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|n| n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sleep_inside_a_call_is_a_wait() {
        let futex = format!(
            "{} 0x7f 0x80 0x0 0x0 0x0 0x0 0x7ffc 0x7f12",
            nix::libc::SYS_futex
        );
        assert!(in_a_call(&futex));
        assert!(
            in_a_call("0 0x3 0x7ffc 0x1 0x0 0x0 0x0 0x7ffc 0x7f12"),
            "read(2) is call 0"
        );
        assert!(!in_a_call("-1 0x7ffc 0x7f12"), "a page fault is no call");
        assert!(!in_a_call("running"));
        assert!(!in_a_call(""));
    }

    #[test]
    fn this_process_has_run() {
        // This thread (a test runs on a thread of its own): `/proc/TID`
        // is there for every thread, listed or not.
        let me = nix::unistd::gettid();
        let ran = cpu_ns(me).expect("schedstat of this thread");
        // Burn a little: the count only grows.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_ns(me).unwrap() > ran);
        assert_eq!(stopped(me), Some(false));
    }

    #[test]
    fn a_process_that_is_gone_tells_nothing() {
        // Above any pid_max: no such process.
        let gone = Pid::from_raw(i32::MAX);
        assert_eq!(asleep(gone), None);
        assert_eq!(waiting(gone), None);
        assert_eq!(cpu_ns(gone), None);
    }
}
