//! System V semaphores: kernel objects that live until removed, with an
//! undo record that gives a dead holder's permit back, and the lease
//! files that let a later run remove what a killed run left.

use std::io;

use nix::errno::Errno;
use nix::libc;
use nix::unistd::{Pid, getpid};

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fs2::FileExt;

/// A System V semaphore set of one semaphore, private to this run
/// (`IPC_PRIVATE`, mode 0600), used as a lock with **`SEM_UNDO`**: the
/// kernel keeps, per process, the sum of its operations, and applies the
/// reverse when the process exits — however it exits. A holder that dies
/// gives its permit back by itself; no repair code of ours.
///
/// Unlike a POSIX semaphore in unlinked shared memory, a System V set
/// lives until removed (`IPC_RMID`): the parent removes it when dropped. A
/// `booking` killed with `SIGKILL` cannot; the set's lease file (see
/// [`IpcLease`]) lets the next run remove it.
pub struct SysvSemaphore {
    id: libc::c_int,
    creator: Pid,
}

impl SysvSemaphore {
    /// A new set of one semaphore at `value`.
    ///
    /// # Errors
    /// Any error of `semget` or `semctl`.
    pub fn create(value: u32) -> io::Result<Self> {
        // SAFETY: plain system call; no pointers.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        let id = Errno::result(id)?;
        let this = SysvSemaphore {
            id,
            creator: getpid(),
        };
        // SAFETY: SETVAL takes an int as its fourth (variadic) argument.
        let rc = unsafe { libc::semctl(id, 0, libc::SETVAL, value as libc::c_int) };
        Errno::result(rc)?;
        Ok(this)
    }

    /// The set's id and its change time (`sem_ctime`, set by the
    /// `SETVAL` of [`SysvSemaphore::create`]): together they name this set
    /// and no later one that reuses the id.
    ///
    /// # Errors
    /// Any error of `semctl(IPC_STAT)`.
    pub fn id_and_stamp(&self) -> io::Result<(i32, i64)> {
        Ok((self.id, stat(self.id)?.sem_ctime))
    }

    /// Removes the set `id` of a dead run, if it is still that run's: this
    /// user's, and changed last at `stamp`. Returns whether it was removed.
    ///
    /// # Errors
    /// `semctl` failing for another reason than the set being gone
    /// (`EINVAL`, `EIDRM`).
    pub fn remove_abandoned(id: i32, stamp: i64) -> io::Result<bool> {
        let ds = match stat(id) {
            Ok(ds) => ds,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM)) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if ds.sem_perm.uid != nix::unistd::getuid().as_raw() || ds.sem_ctime != stamp {
            return Ok(false);
        }
        // SAFETY: IPC_RMID takes no fourth argument.
        let rc = unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
        Errno::result(rc)?;
        Ok(true)
    }

    fn op(&self, delta: i16) -> io::Result<()> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: libc::SEM_UNDO as libc::c_short,
        };
        loop {
            // SAFETY: `op` is one valid sembuf for the duration of the call.
            let rc = unsafe { libc::semop(self.id, &mut op, 1) };
            match Errno::result(rc) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `P`: takes a permit, recorded for undo.
    ///
    /// # Errors
    /// Any error of `semop` other than `EINTR`.
    pub fn wait(&self) -> io::Result<()> {
        self.op(-1)
    }

    /// `V`: gives it back (the undo record balances again).
    ///
    /// # Errors
    /// Any error of `semop` other than `EINTR`.
    pub fn post(&self) -> io::Result<()> {
        self.op(1)
    }
}

/// `semctl(IPC_STAT)` of the set `id`.
fn stat(id: libc::c_int) -> io::Result<libc::semid_ds> {
    // SAFETY: semid_ds is plain integers; all zeros is a valid value.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT takes a pointer to a semid_ds as its fourth
    // argument (the `buf` member of union semun), valid for the call.
    let rc = unsafe { libc::semctl(id, 0, libc::IPC_STAT, &raw mut ds) };
    Errno::result(rc)?;
    Ok(ds)
}

impl Drop for SysvSemaphore {
    fn drop(&mut self) {
        if getpid() == self.creator {
            // SAFETY: IPC_RMID takes no fourth argument; the return code is
            // ignored because Drop cannot report (the set is gone or was
            // never ours).
            unsafe { libc::semctl(self.id, 0, libc::IPC_RMID) };
        }
    }
}

/// Proof that a live run owns a System V IPC object, and the way a later
/// run removes it when the owner was killed.
///
/// A System V set is not a file and not a mapping: nothing the kernel
/// closes at exit removes it, so a `booking` killed with `SIGKILL` would
/// leave it until reboot. While it exists, the lease file
/// `booking-sysv-<id>` in the directory of run directories holds the set's id and change
/// time and is held with an exclusive `flock` — by the parent and, through
/// the shared open file description, by its buyers, which die with it
/// (`PR_SET_PDEATHSIG`). A sweep that can take the lock knows the owner is
/// dead; it removes the set only if the set is still the same one (this
/// user's, same change time) and then the file. Like the run marker, the
/// file is locked before it gets its name.
pub struct IpcLease {
    path: PathBuf,
    creator: Pid,
    _file: File,
}

/// The lease files' name prefix.
const LEASE_PREFIX: &str = "booking-sysv-";

impl IpcLease {
    /// Takes the lease of the System V semaphore set `id`, last changed at
    /// `stamp` (see [`SysvSemaphore::id_and_stamp`]).
    ///
    /// # Errors
    /// The lease file cannot be made, locked or named.
    pub fn take(base: &Path, id: i32, stamp: i64) -> std::io::Result<Self> {
        use std::io::Write as _;
        let path = base.join(format!("{LEASE_PREFIX}{id}"));
        let unnamed = base.join(format!(".{LEASE_PREFIX}{id}.{}.new", nix::unistd::getpid()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&unnamed)?;
        let named = file
            .try_lock_exclusive()
            .and_then(|()| writeln!(file, "{id} {stamp}"))
            .and_then(|()| std::fs::rename(&unnamed, &path));
        if let Err(e) = named {
            let _ = std::fs::remove_file(&unnamed);
            return Err(e);
        }
        Ok(IpcLease {
            path,
            creator: nix::unistd::getpid(),
            _file: file,
        })
    }
}

impl Drop for IpcLease {
    fn drop(&mut self) {
        // Only the parent that took it gives it up (buyers end with _exit
        // and never drop, but say so here too).
        if nix::unistd::getpid() == self.creator {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes the System V sets whose owner died (see [`IpcLease`]).
pub fn sweep_dead_ipc(base: &Path) {
    let Some((entries, me)) = entries_and_uid(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix(LEASE_PREFIX))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<i32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let Ok(mut file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
        else {
            continue;
        };
        let mine = file.metadata().is_ok_and(|m| m.is_file() && m.uid() == me);
        // Locked: its run is alive.
        if !mine || file.try_lock_exclusive().is_err() {
            continue;
        }
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut file, &mut text);
        let stamp = text
            .split_once(' ')
            .filter(|(i, _)| i.parse() == Ok(id))
            .and_then(|(_, s)| s.trim().parse::<i64>().ok());
        if let Some(stamp) = stamp {
            let _ = SysvSemaphore::remove_abandoned(id, stamp);
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// The entries of `dir`, and this user's uid (what a sweep compares an
/// entry's owner with); `None` when either cannot be read.
pub fn entries_and_uid(dir: &Path) -> Option<(std::fs::ReadDir, u32)> {
    let entries = std::fs::read_dir(dir).ok()?;
    let me = std::fs::metadata("/proc/self").ok()?.uid();
    Some((entries, me))
}
