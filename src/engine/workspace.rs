//! Where a run's files live: the private run directory of a fresh stock,
//! the user's stock file, and the sweep of what killed runs left behind.
//!
//! # The run directory, and how a later run knows it is dead
//!
//! A fresh stock lives in `booking-<pid>-<6 random characters>` (mode 0700)
//! under [`run_dir_base`]. Inside it, the file `.booking-run` is held with
//! an exclusive `flock` for the whole run. A run killed with `SIGKILL`
//! cannot remove its directory, but the kernel drops its lock (and its
//! buyers', which share the open file description and die with it through
//! `PR_SET_PDEATHSIG`). The next run removes a directory only if it has
//! exactly that name shape **and** holds that marker file **and** the
//! marker's lock can be taken: provably made by `booking` and provably
//! abandoned. A directory of the user's that merely looks alike
//! (`booking-2025-trip-photos`) is never touched.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::model::stock::{self, Stock};
use crate::store::{self, Backend, Database};
use crate::sys::sysv::{entries_and_uid, sweep_dead_ipc};

/// The marker file a live run holds locked in its run directory.
const MARKER: &str = ".booking-run";

/// The directory under which fresh runs make their private directory:
/// `$XDG_RUNTIME_DIR` (per user, mode 0700, memory-backed) if set, else
/// `/dev/shm` (memory-backed), else the system temp directory.
///
/// Memory-backed, because a purchase ends in `rename` over the stock file,
/// and on ext4 a rename over a file forces its data to disk: 0.4–1.3 ms per
/// purchase there against about 12 µs on tmpfs. The lesson is about locks,
/// not disks.
pub fn run_dir_base() -> PathBuf {
    let usable =
        |p: &Path| p.is_dir() && nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && usable(&x)
    {
        return x;
    }
    let shm = Path::new("/dev/shm");
    if usable(shm) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Where a run books, and what it must remove afterwards.
pub struct Workspace {
    /// The stock file buyers read and replace (a link already resolved).
    pub stock: PathBuf,
    /// The stock as it was before the run.
    pub initial: Stock,
    /// The stock file's permissions, given to every rewrite.
    pub mode: u32,
    /// A SQL strategy's database (see [`Workspace::with_sqlite`] and
    /// [`Workspace::with_postgres`]); dropped before the run directory.
    backend: Option<Box<dyn Backend>>,
    /// The run directory of a fresh stock, removed when dropped. Declared
    /// before the marker, so it is removed while the marker is still locked.
    _dir: Option<tempfile::TempDir>,
    _marker: Option<File>,
    /// A user's stock file: the claim that this run alone books it.
    _claim: Option<std::os::fd::OwnedFd>,
}

impl Workspace {
    /// A fresh stock of `tickets` in a new private run directory, after
    /// sweeping the directories of dead runs.
    ///
    /// # Errors
    /// [`Error::Failed`] when the directory or the stock cannot be made.
    pub fn fresh(tickets: u64) -> Result<Self> {
        let (dir, marker) = run_dir()?;
        let stock = dir.path().join("stock.json");
        let initial = Stock::new(tickets);
        stock::save(&stock, &initial, 0o600)
            .map_err(|e| Error::failed("writing the fresh stock", e))?;
        Ok(Workspace {
            stock,
            initial,
            mode: 0o600,
            backend: None,
            _marker: Some(marker),
            _dir: Some(dir),
            _claim: None,
        })
    }

    /// The same workspace with a SQLite database of the stock, for a SQL
    /// strategy: in the run directory (a new one for a user's stock file),
    /// seeded with the stock's count.
    ///
    /// # Errors
    /// [`Error::Failed`] when the database cannot be made.
    pub fn with_sqlite(mut self) -> Result<Self> {
        if self._dir.is_none() {
            let (dir, marker) = run_dir()?;
            self._dir = Some(dir);
            self._marker = Some(marker);
        }
        let dir = self._dir.as_ref().expect("made above").path();
        self.backend = Some(store::backend::sqlite_in(dir, self.initial.count())?);
        Ok(self)
    }

    /// The same workspace with the stock in a schema of its own on the
    /// PostgreSQL server at `url` (`cfg.server`), seeded with the stock's
    /// count; the schema is dropped when the workspace is. A host of a
    /// shared run (`cfg.shared`) joins it under `cfg.strategy`, which every
    /// host must share. The buyers connect through `cfg.pooler`, if any;
    /// connecting gives up after `cfg.timeout`, and the server cancels a
    /// statement of the run's own after it (see
    /// [`store::pg_backend::postgres_at`]).
    ///
    /// # Errors
    /// [`Error::Input`] for a URL that does not parse or resolve;
    /// [`Error::Failed`] when the server refuses.
    #[cfg(feature = "postgres")]
    pub fn with_postgres(mut self, url: &str, cfg: &super::RunConfig) -> Result<Self> {
        /// How long a host of a shared run waits for the others to join.
        const SHARED_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
        let joining = cfg.shared.as_ref().map(|run| store::pg_backend::Joining {
            buyers: cfg.buyers,
            name: &run.name,
            hosts: run.hosts,
            host: &run.host,
            strategy: cfg.strategy.name,
            wait: SHARED_RUN_WAIT,
        });
        let mut tickets = self.initial.count();
        self.backend = Some(store::pg_backend::postgres_at(
            &store::pg_backend::Servers {
                url,
                pooler: cfg.pooler.as_deref(),
                timeout: cfg.timeout,
                connections: cfg.processes() as u32,
                asked: match cfg.pool {
                    Some(k) => format!("--pool {k}"),
                    None => format!("--buyers {}", cfg.buyers),
                },
            },
            joining,
            &mut tickets,
        )?);
        self.initial.set_count(tickets);
        Ok(self)
    }

    /// Where a database strategy's buyers connect, if the stock is in one.
    pub fn database(&self) -> Option<Database> {
        self.backend.as_ref().map(|b| b.database())
    }

    /// The database of the stock, if it is in one.
    pub fn backend(&self) -> Option<&dyn Backend> {
        self.backend.as_deref()
    }

    /// The stock after the run: the stock file, or, with a database, the
    /// initial stock with the database's count — which is then also
    /// written back to a user's stock file (the file gets the run's
    /// result, its other fields kept).
    ///
    /// # Errors
    /// The file or the database cannot be read (or the file written).
    pub fn final_stock(&self) -> std::result::Result<Stock, String> {
        let Some(backend) = &self.backend else {
            return stock::load(&self.stock)
                .map_err(|e| format!("stock file {}: {e}", self.stock.display()));
        };
        let count = backend.count()?;
        let mut s = self.initial.clone();
        s.set_count(count);
        if self._claim.is_some() {
            stock::save(&self.stock, &s, self.mode).map_err(|e| e.to_string())?;
        }
        Ok(s)
    }
}

/// A new private run directory (see the module doc), locked marker
/// included, after sweeping what dead runs left.
fn run_dir() -> Result<(tempfile::TempDir, File)> {
    {
        let base = run_dir_base();
        sweep_dead_run_dirs(&base);
        sweep_dead_ipc(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("booking-{}-", nix::unistd::getpid()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(|e| Error::failed("creating the run directory", e))?;
        // Locked before it gets its name: a sweep by another run never sees
        // the marker unlocked while this run lives.
        let unnamed = dir.path().join(".booking-run.new");
        let marker = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&unnamed)
            .and_then(|f| f.try_lock_exclusive().map(|()| f))
            .and_then(|f| std::fs::rename(&unnamed, dir.path().join(MARKER)).map(|()| f))
            .map_err(|e| Error::failed("marking the run directory", e))?;
        Ok((dir, marker))
    }
}

impl Workspace {
    /// The user's stock file at `path`, checked: a symbolic link is resolved
    /// once (the run books its target, and the link stays a link), the
    /// content must parse, and the file and its directory must be writable.
    /// Temporary files of dead buyers beside it are swept.
    ///
    /// # Errors
    /// [`Error::Input`] naming the file and the problem; nothing is changed.
    pub fn user_file(path: &Path) -> Result<Self> {
        let initial = stock::load(path).map_err(|e| Error::file("stock file", path, e))?;
        let stock = std::fs::canonicalize(path).map_err(|e| Error::file("stock file", path, e))?;
        check_writable(&stock)?;
        let claim = claim(&stock).map_err(|e| Error::file("stock file", path, e))?;
        let mode = std::fs::metadata(&stock)
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| Error::file("stock file", path, e))?;
        sweep_dead_temp_files(&stock);
        sweep_dead_ipc(&run_dir_base());
        Ok(Workspace {
            stock,
            initial,
            mode,
            backend: None,
            _marker: None,
            _dir: None,
            _claim: Some(claim),
        })
    }
}

/// Claims `stock` (a canonical path) for this run: binds a Unix socket in
/// the abstract namespace named after the path. A second run on the same
/// file finds the name taken and is refused, since two runs would each use
/// their own lock (their own semaphore, their own lock-file state) and
/// oversell each other. The kernel frees the name when the run and its
/// buyers are gone, however they end: nothing on disk to clean up.
fn claim(stock: &Path) -> std::result::Result<std::os::fd::OwnedFd, String> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("claiming it for this run: {e}"))?;
    // The abstract namespace allows 107 bytes: a long path is hashed.
    let path = stock.as_os_str().as_bytes();
    let name = if path.len() <= 90 {
        [b"booking-run:".as_slice(), path].concat()
    } else {
        format!("booking-run:{:016x}", super::seed::mix(fnv(path))).into_bytes()
    };
    let addr =
        UnixAddr::new_abstract(&name).map_err(|e| format!("claiming it for this run: {e}"))?;
    match bind(fd.as_raw_fd(), &addr) {
        Ok(()) => Ok(fd),
        Err(Errno::EADDRINUSE) => Err(
            "another booking run is booking against this file right now; wait for it to end (two runs would each use their own lock and oversell each other)".into(),
        ),
        Err(e) => Err(format!("claiming it for this run: {e}")),
    }
}

/// FNV-1a: a short, stable name for a long path.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Refuses a stock file the buyers could not replace: its directory must be
/// writable (the temporary file goes there) and so must the file.
fn check_writable(path: &Path) -> Result<()> {
    use nix::unistd::{AccessFlags, access};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    access(path, AccessFlags::W_OK)
        .map_err(|e| Error::file("stock file", path, format!("not writable ({})", e.desc())))?;
    access(dir, AccessFlags::W_OK).map_err(|e| {
        Error::file(
            "stock file",
            path,
            format!(
                "its directory is not writable ({}), so it cannot be replaced atomically",
                e.desc()
            ),
        )
    })
}

/// Whether `name` has exactly the shape of a run directory's name:
/// `booking-<pid>-<6 letters or digits>`.
pub fn is_run_dir_name(name: &str) -> bool {
    let Some((pid, suffix)) = name
        .strip_prefix("booking-")
        .and_then(|r| r.split_once('-'))
    else {
        return false;
    };
    !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && suffix.len() == 6
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the run directories in `base` that a dead run left: see the
/// module doc for the three conditions.
fn sweep_dead_run_dirs(base: &Path) {
    let Some((entries, me)) = entries_and_uid(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_run_dir_name) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let marker = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path.join(MARKER));
        // No marker: not a run directory. Locked: its run is alive.
        if let Ok(m) = marker
            && m.try_lock_exclusive().is_ok()
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Removes temporary files `.<stock>.<pid>.tmp` of buyers that no longer
/// exist, beside `stock` (a buyer killed mid-write leaves one, and so does a
/// whole run killed with `SIGKILL`). Only that exact name shape, only this
/// user's, never through a link; a live pid, even someone else's, keeps its
/// file.
fn sweep_dead_temp_files(stock: &Path) {
    let dir = match stock.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = stock
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{name}.");
    let Some((entries, me)) = entries_and_uid(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix)?.strip_suffix(".tmp"))
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|&p| p > 0)
        else {
            continue;
        };
        if !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH)) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.uid() == me && meta.is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Refuses more buyers than `RLIMIT_NPROC` (`ulimit -u`) lets this user
/// start. The limit counts every process of the user, so a run below it can
/// still be refused by `fork`; the run then stops the buyers it started.
///
/// # Errors
/// [`Error::Input`] naming `--buyers` and the limit.
pub fn check_process_limit(buyers: u32) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit};
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NPROC) else {
        return Ok(());
    };
    if soft != libc::RLIM_INFINITY && u64::from(buyers) >= soft {
        return Err(Error::Input(format!(
            "--buyers {buyers}: more processes than this user may start (ulimit -u is {soft}); nothing was started"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_name_shape_is_a_run_directory() {
        // `booking-2025-photos` has the shape; the marker protects it (see
        // the integration test of the sweep).
        assert!(is_run_dir_name("booking-4242-aB3xYz"));
        for not in [
            "booking-2025-trip-photos",
            "booking-4242-aB3xY",
            "booking--aB3xYz",
            "booking-12a-aB3xYz",
            "booking-bench-aB3xYz",
            "mybooking-4242-aB3xYz",
        ] {
            assert!(!is_run_dir_name(not), "{not}");
        }
    }
}
