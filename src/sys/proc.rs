//! What `/proc` tells of a process the parent forked: whether it sleeps in
//! the kernel, and whether that sleep is a wait for another process.
//!
//! A process in state `S` or `D` is asleep, but not always waiting for a
//! lock: on a loaded machine a buyer sleeps in a page fault, on the disk
//! (`fsync`), or on a kernel lock of its own mappings, for as long as the
//! machine makes it. `/proc/PID/syscall` names the system call it sleeps in
//! (`-1` when it sleeps outside one, as in a page fault); only the calls
//! that wait for *another* process (a futex, `flock`, `fcntl`'s record
//! locks, `semop`, a sleep between polls) make it blocked. Reading that
//! file needs the right to trace the process, which a parent has over its
//! own children (same user, or root).

use nix::libc;
use nix::unistd::Pid;

/// The system calls in which a sleeping process waits for another: the
/// futex (POSIX semaphores, pthread mutexes), `flock`, `fcntl` (record and
/// OFD locks), System V `semop`, and the sleeps a polling lock takes
/// between tries.
const WAITING: [libc::c_long; 10] = [
    libc::SYS_futex,
    libc::SYS_flock,
    libc::SYS_fcntl,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
];

/// Whether `pid` is asleep in a system call that waits for another
/// process. `None` when `/proc` does not say (the process is gone, or its
/// `syscall` file cannot be read): the caller decides from the state alone.
pub fn waiting(pid: Pid) -> Option<bool> {
    if !asleep(pid)? {
        return Some(false);
    }
    let line = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    Some(waits_in(&line))
}

/// Whether `pid` is asleep in the kernel (state `S` or `D` in
/// `/proc/PID/stat`); `None` when it cannot be read.
pub fn asleep(pid: Pid) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    Some(matches!(state, 'S' | 'D'))
}

/// Reads a `/proc/PID/syscall` line: the call's number first, `-1` outside
/// a call, `running` for a process on a processor.
fn waits_in(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse::<libc::c_long>().ok())
        .is_some_and(|n| WAITING.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_waiting_call_is_a_wait() {
        let futex = format!(
            "{} 0x7f 0x80 0x0 0x0 0x0 0x0 0x7ffc 0x7f12",
            libc::SYS_futex
        );
        assert!(waits_in(&futex));
        let fsync = format!("{} 0x3 0x0 0x0 0x0 0x0 0x0 0x7ffc 0x7f12", libc::SYS_fsync);
        assert!(!waits_in(&fsync), "the disk is not another buyer");
        assert!(!waits_in("-1 0x7ffc 0x7f12"), "a page fault is no call");
        assert!(!waits_in("running"));
        assert!(!waits_in(""));
    }

    #[test]
    fn a_process_that_is_gone_tells_nothing() {
        // Above any pid_max: no such process.
        let gone = Pid::from_raw(i32::MAX);
        assert_eq!(asleep(gone), None);
        assert_eq!(waiting(gone), None);
    }
}
