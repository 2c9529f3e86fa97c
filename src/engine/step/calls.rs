//! A strategy's system call as the stepped trace shows it: its name and
//! the arguments a student recognises (`openat("stock.json.excl",
//! O_WRONLY|O_CREAT|O_EXCL)`, `flock(3, LOCK_EX)`), as strace would print
//! them, and which calls are waits on time that a stepped run skips.

use nix::libc;
use nix::unistd::Pid;

use super::Touch;
use crate::sys::seccomp::{Notice, read_string};

/// What a stopped call is for the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A sleep (`nanosleep`, `clock_nanosleep`): a poller waiting between
    /// tries. Time is virtual, so its turn skips the sleep; it counts as
    /// spinning, so a scheduler lets the others go first.
    Sleep,
    /// `sched_yield`: the caller says it waits for another; it counts as
    /// spinning.
    Yield,
    /// Any other call.
    Other,
}

/// The kind of call `nr`.
pub fn kind(nr: i64) -> Kind {
    match nr {
        libc::SYS_nanosleep | libc::SYS_clock_nanosleep => Kind::Sleep,
        libc::SYS_sched_yield => Kind::Yield,
        _ => Kind::Other,
    }
}

/// The call's name (`syscall 451` for one this build does not know).
pub fn name(nr: i64) -> String {
    usize::try_from(nr)
        .ok()
        .and_then(syscalls::Sysno::new)
        .map_or_else(|| format!("syscall {nr}"), |s| s.name().to_string())
}

/// The call as the trace shows it, its arguments read from `pid` (the
/// stopped caller) where they are strings.
pub fn describe(n: &Notice, pid: Pid) -> String {
    let a = n.args;
    let path = |at: u64| {
        read_string(pid, at).map_or_else(|| format!("{at:#x}"), |p| format!("{:?}", short(&p)))
    };
    let fd = |v: u64| (v as i32).to_string();
    // A call relative to the working directory names only its path
    // (strace would print `AT_FDCWD` first).
    let at = |dir: u64, p: u64| {
        if dir as i32 == libc::AT_FDCWD {
            vec![path(p)]
        } else {
            vec![fd(dir), path(p)]
        }
    };
    let args: Vec<String> = match n.nr {
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => vec![path(a[0]), open_flags(a[1])],
        libc::SYS_openat => [at(a[0], a[1]), vec![open_flags(a[2])]].concat(),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_unlink | libc::SYS_rmdir | libc::SYS_mkdir | libc::SYS_access => {
            vec![path(a[0])]
        }
        #[cfg(target_arch = "x86_64")]
        libc::SYS_stat | libc::SYS_lstat => vec![path(a[0])],
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename | libc::SYS_link => vec![path(a[0]), path(a[1])],
        libc::SYS_unlinkat
        | libc::SYS_mkdirat
        | libc::SYS_newfstatat
        | libc::SYS_faccessat
        | libc::SYS_statx => at(a[0], a[1]),
        libc::SYS_renameat | libc::SYS_renameat2 | libc::SYS_linkat => {
            [at(a[0], a[1]), at(a[2], a[3])].concat()
        }
        libc::SYS_flock => vec![fd(a[0]), flock_op(a[1])],
        libc::SYS_fcntl => vec![fd(a[0]), fcntl_cmd(a[1])],
        libc::SYS_close | libc::SYS_fsync | libc::SYS_fdatasync => vec![fd(a[0])],
        libc::SYS_read | libc::SYS_write | libc::SYS_pread64 | libc::SYS_pwrite64 => {
            vec![fd(a[0]), "…".into(), a[2].to_string()]
        }
        libc::SYS_futex => vec![format!("{:#x}", a[0]), futex_op(a[1])],
        libc::SYS_semop | libc::SYS_semtimedop => vec![fd(a[0]), "…".into()],
        libc::SYS_kill => vec![fd(a[0]), fd(a[1])],
        libc::SYS_sched_yield | libc::SYS_getpid | libc::SYS_gettid | libc::SYS_getppid => {
            Vec::new()
        }
        _ => vec!["…".into()],
    };
    format!("{}({})", name(n.nr), args.join(", "))
}

/// A path as the trace shows it: the last two components, which name the
/// file (`…/stock.json.excl`) without the run's temporary directory.
fn short(path: &str) -> String {
    let parts: Vec<&str> = path.rsplitn(2, '/').collect();
    match parts.as_slice() {
        [file, dir] if !dir.is_empty() => format!("…/{file}"),
        _ => path.to_string(),
    }
}

fn open_flags(v: u64) -> String {
    let v = v as i32;
    let mut out = vec![match v & libc::O_ACCMODE {
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    }];
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
    ] {
        if v & bit != 0 {
            out.push(name);
        }
    }
    out.join("|")
}

fn flock_op(v: u64) -> String {
    let v = v as i32;
    let mut out = match v & !libc::LOCK_NB {
        libc::LOCK_SH => "LOCK_SH".to_string(),
        libc::LOCK_EX => "LOCK_EX".to_string(),
        libc::LOCK_UN => "LOCK_UN".to_string(),
        other => other.to_string(),
    };
    if v & libc::LOCK_NB != 0 {
        out.push_str("|LOCK_NB");
    }
    out
}

fn fcntl_cmd(v: u64) -> String {
    match v as i32 {
        libc::F_SETLK => "F_SETLK".into(),
        libc::F_SETLKW => "F_SETLKW".into(),
        libc::F_GETLK => "F_GETLK".into(),
        libc::F_OFD_SETLK => "F_OFD_SETLK".into(),
        libc::F_OFD_SETLKW => "F_OFD_SETLKW".into(),
        libc::F_OFD_GETLK => "F_OFD_GETLK".into(),
        libc::F_GETFD => "F_GETFD".into(),
        libc::F_SETFD => "F_SETFD".into(),
        libc::F_GETFL => "F_GETFL".into(),
        libc::F_SETFL => "F_SETFL".into(),
        other => other.to_string(),
    }
}

fn futex_op(v: u64) -> String {
    let op = v as i32 & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    match op {
        libc::FUTEX_WAIT => "FUTEX_WAIT".into(),
        libc::FUTEX_WAKE => "FUTEX_WAKE".into(),
        libc::FUTEX_WAIT_BITSET => "FUTEX_WAIT_BITSET".into(),
        libc::FUTEX_WAKE_BITSET => "FUTEX_WAKE_BITSET".into(),
        libc::FUTEX_LOCK_PI => "FUTEX_LOCK_PI".into(),
        libc::FUTEX_UNLOCK_PI => "FUTEX_UNLOCK_PI".into(),
        other => other.to_string(),
    }
}

/// A call's result as the trace shows it, from the caller's `errno` read
/// after it (cleared before): `-1 EEXIST` when it failed, `ok` when it
/// did not (a notification does not carry the value itself); `None` when
/// `errno` could not be read.
pub fn result(errno: Option<i32>) -> Option<String> {
    match errno? {
        0 => Some("ok".into()),
        e => Some(format!("-1 {:?}", nix::errno::Errno::from_raw(e))),
    }
}

/// What the stopped call `n` of `pid` touches, as far as its arguments
/// say (see [`Touch`]): the files it names or holds open, nothing (a
/// call that only looks at the caller itself), or not known.
pub fn touch(n: &Notice, pid: Pid) -> Touch {
    let a = n.args;
    let path = |dir: Option<u64>, p: u64| -> Option<String> {
        let name = read_string(pid, p)?;
        let base = match dir {
            Some(d) if d as i32 != libc::AT_FDCWD => fd_path(pid, d)?,
            _ => std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()?
                .to_string_lossy()
                .into_owned(),
        };
        Some(canonical(&std::path::Path::new(&base).join(name)))
    };
    let files = |paths: Vec<Option<String>>| -> Touch {
        paths
            .into_iter()
            .collect::<Option<Vec<String>>>()
            .map_or(Touch::Unknown, Touch::Files)
    };
    match n.nr {
        libc::SYS_getpid
        | libc::SYS_gettid
        | libc::SYS_getppid
        | libc::SYS_sched_yield
        | libc::SYS_nanosleep
        | libc::SYS_clock_nanosleep
        | libc::SYS_clock_gettime
        | libc::SYS_getrusage => Touch::Nothing,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open
        | libc::SYS_unlink
        | libc::SYS_rmdir
        | libc::SYS_mkdir
        | libc::SYS_access
        | libc::SYS_stat
        | libc::SYS_lstat => files(vec![path(None, a[0])]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename | libc::SYS_link => files(vec![path(None, a[0]), path(None, a[1])]),
        libc::SYS_openat
        | libc::SYS_unlinkat
        | libc::SYS_mkdirat
        | libc::SYS_newfstatat
        | libc::SYS_faccessat
        | libc::SYS_statx => files(vec![path(Some(a[0]), a[1])]),
        libc::SYS_renameat | libc::SYS_renameat2 | libc::SYS_linkat => {
            files(vec![path(Some(a[0]), a[1]), path(Some(a[2]), a[3])])
        }
        libc::SYS_flock
        | libc::SYS_fcntl
        | libc::SYS_close
        | libc::SYS_fsync
        | libc::SYS_fdatasync
        | libc::SYS_read
        | libc::SYS_write
        | libc::SYS_pread64
        | libc::SYS_pwrite64
        | libc::SYS_lseek
        | libc::SYS_ftruncate
        | libc::SYS_fstat => files(vec![fd_path(pid, a[0])]),
        _ => Touch::Unknown,
    }
}

/// The file that descriptor `fd` of `pid` is open on, by path.
fn fd_path(pid: Pid, fd: u64) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{}", fd as i32))
        .ok()
        .map(|p| canonical(&p))
}

/// `path` with its directory's links resolved, so that two names of one
/// file compare equal (the file itself may not exist yet).
pub fn canonical(path: &std::path::Path) -> String {
    let resolved = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)),
        _ => std::fs::canonicalize(path),
    };
    resolved
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_as_strace_prints_them() {
        assert_eq!(
            open_flags((libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL) as u64),
            "O_WRONLY|O_CREAT|O_EXCL"
        );
        assert_eq!(
            flock_op((libc::LOCK_EX | libc::LOCK_NB) as u64),
            "LOCK_EX|LOCK_NB"
        );
        assert_eq!(fcntl_cmd(libc::F_OFD_SETLKW as u64), "F_OFD_SETLKW");
        assert_eq!(
            futex_op((libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as u64),
            "FUTEX_WAIT"
        );
        assert_eq!(
            short("/tmp/booking.x1/stock.json.excl"),
            "…/stock.json.excl"
        );
        assert_eq!(short("stock.json"), "stock.json");
        assert_eq!(name(libc::SYS_flock), "flock");
        assert_eq!(kind(libc::SYS_nanosleep), Kind::Sleep);
        assert_eq!(kind(libc::SYS_sched_yield), Kind::Yield);
        assert_eq!(kind(libc::SYS_openat), Kind::Other);
        assert_eq!(result(Some(libc::EEXIST)).unwrap(), "-1 EEXIST");
        assert_eq!(result(Some(0)).unwrap(), "ok");
        assert_eq!(result(None), None);
    }
}
