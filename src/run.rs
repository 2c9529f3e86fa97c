//! One booking run: fork N buyers, release them together, collect their
//! outcomes, reap them, clean up, judge.
//!
//! # Why fork, and why it is safe here
//!
//! Buyers are real processes made by `fork`, about 16× cheaper than
//! executing a binary per buyer. A child forked from a multi-threaded
//! process may only call async-signal-safe functions, so [`run`] refuses to
//! fork unless the calling process has exactly one thread. The `booking`
//! binary never starts a thread, and the tests drive that binary, never
//! this function from their own (multi-threaded) harness.
//!
//! # The life of a run
//!
//! 1. The stock: a fresh `{"count": tickets}` in a private run directory
//!    (mode 0700) on a memory file system, or the user's file, in place.
//! 2. The strategy prepares its shared state (lock file, semaphore).
//! 3. Two pipes: the *barrier*, whose write end only the parent keeps, and
//!    the *outcome* pipe all buyers write one line into.
//! 4. Fork every buyer. Each closes its copy of the barrier's write end and
//!    blocks reading the barrier. When all exist, the parent closes its write
//!    end: every read returns end-of-file at once, and they all contend.
//! 5. The parent reads outcome lines and reaps children as they exit. A buyer
//!    that died (killed) is reported to the strategy, which may repair its
//!    lock. A watchdog ends a run that makes no progress.
//! 6. Remove temporary files of buyers that did not finish, drop the
//!    strategy state (unlinks what it made), judge.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpid, getppid, pipe2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::buyer::{Buyer, KillPoint, Plan, Stage};
use crate::delay::Delay;
use crate::error::{Error, Result};
use crate::lock::{Setup, Shared, Strategy};
use crate::outcome::Outcome;
use crate::stock::{self, Stock};
use crate::sys::{self, Forked, SharedCells};
use crate::verdict::{Verdict, judge};

/// Where the tickets come from.
#[derive(Clone, Debug)]
pub enum StockSource {
    /// A fresh stock of this many tickets in a private run directory,
    /// removed after the run.
    Fresh(u64),
    /// The user's stock file, booked against in place and kept.
    File(PathBuf),
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Number of buyer processes.
    pub buyers: u32,
    /// The locking strategy.
    pub strategy: &'static Strategy,
    /// Simulated delay between reading and writing the stock.
    pub delay: Delay,
    /// Seed of every buyer's delay.
    pub seed: u64,
    /// Where the tickets come from.
    pub stock: StockSource,
    /// The watchdog: a run in which no buyer finishes for this long is stopped.
    pub timeout: Duration,
    /// Faults to inject (none by default).
    pub faults: Faults,
}

impl RunConfig {
    /// A run of `buyers` under `strategy` on `stock`, with `delay` seeded by
    /// `seed`, the default watchdog and no faults.
    pub fn new(
        strategy: &'static Strategy,
        buyers: u32,
        stock: StockSource,
        delay: Delay,
        seed: u64,
    ) -> Self {
        RunConfig {
            buyers,
            strategy,
            delay,
            seed,
            stock,
            timeout: watchdog_timeout(DEFAULT_TIMEOUT, delay),
            faults: Faults::default(),
        }
    }
}

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The watchdog's timeout: what was asked, but at least three times the
/// longest delay (under a lock, buyers finish one delay apart at the most).
pub fn watchdog_timeout(asked: Duration, delay: Delay) -> Duration {
    asked.max(delay.max * 3)
}

/// Faults a run injects, to show what each strategy does when a buyer dies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// How many buyers kill themselves with `SIGKILL` (chosen by the seed).
    pub kill: u32,
    /// Where they do it.
    pub kill_at: KillPoint,
    /// Do not repair a semaphore whose holder died: watch the other buyers
    /// wait until the watchdog ends the run.
    pub no_repair: bool,
}

impl Faults {
    /// Which buyers are victims: the first `kill` of a shuffle of the ids
    /// seeded by `seed`, so a run with the same seed kills the same buyers.
    pub fn victims(&self, buyers: u32, seed: u64) -> Vec<bool> {
        let mut ids: Vec<u32> = (0..buyers).collect();
        ids.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x6b69_6c6c));
        let mut victim = vec![false; buyers as usize];
        for &id in ids.iter().take(self.kill as usize) {
            victim[id as usize] = true;
        }
        victim
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Tickets in stock when the run started.
    pub tickets: u64,
    /// One record per buyer, by id; `None` where a buyer never reported.
    pub outcomes: Vec<Option<Outcome>>,
    /// The stock file after the run.
    pub final_stock: Stock,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// From the first fork to the last reap.
    pub wall: Duration,
    /// Things that happened to buyers (deaths, repairs), one line each.
    pub events: Vec<String>,
}

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

/// Removes what runs killed with `SIGKILL` (which nothing can clean up
/// after) left in `dir`: entries whose name `pid_of` maps to a pid that is
/// no longer a live process, owned by this user, never following a link.
/// A live pid, even someone else's, keeps its entry.
fn sweep_dead(dir: &Path, pid_of: impl Fn(&str) -> Option<i32>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(&pid_of)
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
        if meta.uid() != me || meta.file_type().is_symlink() {
            continue;
        }
        let _ = if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
    }
}

/// Run directories `booking-<pid>-*` of dead runs, in `base`.
fn sweep_stale_run_dirs(base: &Path) {
    sweep_dead(base, |name| {
        let (pid, _) = name.strip_prefix("booking-")?.split_once('-')?;
        pid.parse().ok()
    });
}

/// Temporary files `.<stock>.<pid>.tmp` of dead buyers, beside `stock`.
fn sweep_stale_temp_files(stock: &Path) {
    let Some(dir) = stock.parent().map(|d| {
        if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }
    }) else {
        return;
    };
    let name = stock
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{name}.");
    sweep_dead(dir, |entry| {
        entry
            .strip_prefix(&prefix)?
            .strip_suffix(".tmp")?
            .parse()
            .ok()
    });
}

/// Runs the booking. `stop` is polled: when it turns true (the binary sets it
/// on `SIGINT`/`SIGTERM`), every buyer is killed and reaped, everything is
/// cleaned up and [`Error::Interrupted`] returned.
///
/// # Errors
/// [`Error::Input`] for a bad stock file (nothing changed) or too many
/// buyers for the system; [`Error::Failed`] when the run fails;
/// [`Error::Interrupted`] when stopped.
pub fn run(cfg: &RunConfig, stop: &AtomicBool) -> Result<RunOutput> {
    ensure_single_threaded()?;
    // The run directory (if any) must outlive everything below: declared first.
    let (_run_dir, stock_path, initial) = match &cfg.stock {
        StockSource::Fresh(tickets) => {
            let base = run_dir_base();
            sweep_stale_run_dirs(&base);
            let dir = tempfile::Builder::new()
                .prefix(&format!("booking-{}-", std::process::id()))
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir_in(&base)
                .map_err(|e| Error::failed("creating the run directory", e))?;
            let path = dir.path().join("stock.json");
            let s = Stock::new(*tickets);
            stock::save(&path, &s, 0o600)
                .map_err(|e| Error::failed("writing the fresh stock", e))?;
            (Some(dir), path, s)
        }
        StockSource::File(path) => {
            let s = stock::load(path).map_err(|e| Error::file("stock file", path, e))?;
            check_writable(path)?;
            sweep_stale_temp_files(path);
            (None, path.clone(), s)
        }
    };
    check_process_limit(cfg.buyers)?;
    let mode = std::fs::metadata(&stock_path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| Error::file("stock file", &stock_path, e))?;
    let tickets = initial.count();
    let shared = (cfg.strategy.prepare)(&Setup {
        stock: stock_path.clone(),
        repair: !cfg.faults.no_repair,
    })?;

    let mut children = Children::default();
    let started = Instant::now();
    let result = book(cfg, &*shared, &stock_path, mode, stop, &mut children);
    // Whatever happened, no buyer survives this point.
    children.kill_and_reap_all();
    let wall = started.elapsed();
    children.remove_temp_files(&stock_path);
    drop(shared);
    let (outcomes, events) = result?;

    let final_stock = stock::load(&stock_path).map_err(|e| {
        Error::Failed(format!(
            "stock file {} after the run: {e}",
            stock_path.display()
        ))
    })?;
    let verdict = judge(tickets, final_stock.count(), &outcomes);
    Ok(RunOutput {
        tickets,
        outcomes,
        final_stock,
        verdict,
        wall,
        events,
    })
}

/// Fails unless the calling process has exactly one thread, the condition
/// for forking and then running ordinary code in the child.
///
/// # Errors
/// [`Error::Failed`] naming the thread count.
pub fn ensure_single_threaded() -> Result<()> {
    match sys::thread_count() {
        Ok(1) => Ok(()),
        Ok(n) => Err(Error::Failed(format!(
            "refusing to fork buyers from a process with {n} threads (only a single-threaded process may fork safely)"
        ))),
        Err(e) => Err(Error::failed("reading /proc/self/task", e)),
    }
}

/// Refuses more buyers than `RLIMIT_NPROC` (`ulimit -u`) lets this user
/// start. The limit counts every process of the user, so a run below it can
/// still be refused by `fork`; the run then stops the buyers it started.
fn check_process_limit(buyers: u32) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit};
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NPROC) else {
        return Ok(());
    };
    if soft != nix::libc::RLIM_INFINITY && u64::from(buyers) >= soft {
        return Err(Error::Input(format!(
            "--buyers {buyers}: more processes than this user may start (ulimit -u is {soft}); nothing was started"
        )));
    }
    Ok(())
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

/// The buyers, by id, and what is known of their end.
#[derive(Default)]
struct Children {
    /// Each buyer's pid, by id.
    pids: Vec<Pid>,
    /// Whether each buyer has been reaped, by id.
    reaped: Vec<bool>,
    /// Buyer ids by pid, for `waitpid(-1)`; filled once all are forked.
    ids: HashMap<Pid, u32>,
    /// Pids of buyers that did not exit cleanly (their temporary file may remain).
    unfinished: Vec<Pid>,
}

impl Children {
    fn push(&mut self, pid: Pid) {
        self.pids.push(pid);
        self.reaped.push(false);
    }

    fn live(&self) -> impl Iterator<Item = (u32, Pid)> + '_ {
        self.pids
            .iter()
            .zip(&self.reaped)
            .enumerate()
            .filter(|(_, (_, reaped))| !**reaped)
            .map(|(id, (pid, _))| (id as u32, *pid))
    }

    /// Records how buyer `id` ended; tells the strategy if it was killed.
    fn ended(
        &mut self,
        id: u32,
        status: WaitStatus,
        shared: &dyn Shared,
        events: &mut Vec<String>,
    ) -> Result<()> {
        let pid = self.pids[id as usize];
        self.reaped[id as usize] = true;
        match status {
            WaitStatus::Exited(_, 0) => {}
            WaitStatus::Signaled(_, sig, _) => {
                self.unfinished.push(pid);
                let note = shared.buyer_died(pid).map_err(|e| {
                    Error::failed(format_args!("repairing after buyer {id} died"), e)
                })?;
                events.push(format!(
                    "buyer {id} (pid {pid}) {}",
                    note.unwrap_or_else(|| format!("was killed by {sig}"))
                ));
            }
            other => {
                self.unfinished.push(pid);
                events.push(format!(
                    "buyer {id} (pid {pid}) ended abnormally: {other:?}"
                ));
            }
        }
        Ok(())
    }

    /// Reaps the buyers that have already exited. Returns whether any.
    fn reap_exited(&mut self, shared: &dyn Shared, events: &mut Vec<String>) -> Result<bool> {
        if self.ids.is_empty() {
            self.ids = self.live().map(|(id, pid)| (pid, id)).collect();
        }
        let mut any = false;
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(any),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::failed("waitpid", e)),
                Ok(s) => s,
            };
            if let Some(&id) = status.pid().and_then(|p| self.ids.get(&p)) {
                self.ended(id, status, shared, events)?;
                any = true;
            }
        }
    }

    /// Waits for every buyer not yet reaped, by pid (each wait is O(1) in
    /// the kernel, where `waitpid(-1)` scans the whole list of children).
    fn reap_rest(&mut self, shared: &dyn Shared, events: &mut Vec<String>) -> Result<()> {
        let live: Vec<(u32, Pid)> = self.live().collect();
        for (id, pid) in live {
            let status = loop {
                match waitpid(pid, None) {
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(Error::failed("waitpid", e)),
                    Ok(s) => break s,
                }
            };
            self.ended(id, status, shared, events)?;
        }
        Ok(())
    }

    /// Kills and reaps whatever is still running: the last word of every run.
    fn kill_and_reap_all(&mut self) {
        let live: Vec<(u32, Pid)> = self.live().collect();
        for &(_, pid) in &live {
            let _ = kill(pid, Signal::SIGKILL);
        }
        for (id, pid) in live {
            while let Err(Errno::EINTR) = waitpid(pid, None) {}
            self.reaped[id as usize] = true;
            self.unfinished.push(pid);
        }
    }

    fn remove_temp_files(&self, stock: &Path) {
        for pid in &self.unfinished {
            let _ = std::fs::remove_file(stock::temp_path(stock, pid.as_raw()));
        }
    }
}

type Collected = (Vec<Option<Outcome>>, Vec<String>);

fn book(
    cfg: &RunConfig,
    shared: &dyn Shared,
    stock_path: &Path,
    mode: u32,
    stop: &AtomicBool,
    children: &mut Children,
) -> Result<Collected> {
    let (barrier_r, barrier_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let (outcome_r, outcome_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let parent = getpid();
    let stages = SharedCells::new(cfg.buyers as usize).map_err(|e| Error::failed("mmap", e))?;
    let victims = cfg.faults.victims(cfg.buyers, cfg.seed);
    // Nothing buffered may be copied into the children.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    for id in 0..cfg.buyers {
        if stop.load(Ordering::SeqCst) {
            // Stopped before the barrier opens: nobody has bought anything.
            children.kill_and_reap_all();
            return Err(Error::Interrupted(format!(
                "while starting buyers ({id} of {} started); all stopped, nothing sold",
                cfg.buyers
            )));
        }
        match sys::fork_single_threaded() {
            Ok(Forked::Child) => {
                drop(barrier_w);
                drop(outcome_r);
                let plan = Plan {
                    id,
                    stock: stock_path,
                    mode,
                    delay: cfg.delay.for_buyer(cfg.seed, id),
                    kill_at: victims[id as usize].then_some(cfg.faults.kill_at),
                    stages: &stages,
                };
                buyer_process(parent, shared, barrier_r, outcome_w, plan)
            }
            Ok(Forked::Parent(pid)) => {
                children.push(pid);
            }
            Err(e) => {
                children.kill_and_reap_all();
                return Err(Error::Input(format!(
                    "--buyers {}: the system refused to start buyer {} ({e}; see `ulimit -u`); the {id} started were stopped and nothing was sold",
                    cfg.buyers,
                    id + 1
                )));
            }
        }
    }
    drop(outcome_w);
    drop(barrier_r);
    // The start barrier: one byte per buyer, in one write (up to the pipe's
    // capacity), wakes them all at once. End-of-file without a byte means
    // the parent died: a buyer then leaves without buying.
    let mut go = File::from(barrier_w);
    if let Err(e) = go.write_all(&vec![1u8; cfg.buyers as usize]) {
        children.kill_and_reap_all();
        return Err(Error::failed("opening the start barrier", e));
    }
    drop(go);
    collect(cfg, shared, outcome_r, stop, children, &stages)
}

/// The whole life of a forked buyer. Never returns.
fn buyer_process(
    parent: Pid,
    shared: &dyn Shared,
    barrier: OwnedFd,
    out: OwnedFd,
    plan: Plan<'_>,
) -> ! {
    if sys::become_buyer().is_err() || getppid() != parent {
        sys::exit_child(1);
    }
    // Before the barrier, while the parent forks the others.
    let ready = Buyer::prepare(shared, plan);
    plan.stage(Stage::Ready);
    let mut barrier = File::from(barrier);
    let mut byte = [0u8; 1];
    loop {
        match barrier.read(&mut byte) {
            Ok(1) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // End-of-file: the parent is gone. Leave without buying.
            _ => sys::exit_child(1),
        }
    }
    let outcome = match ready {
        Ok(buyer) => buyer.buy(),
        Err(failed) => *failed,
    };
    // One write of less than PIPE_BUF bytes: atomic, never interleaved.
    let ok = File::from(out).write_all(&outcome.to_line()).is_ok();
    sys::exit_child(if ok { 0 } else { 1 })
}

fn collect(
    cfg: &RunConfig,
    shared: &dyn Shared,
    outcome_r: OwnedFd,
    stop: &AtomicBool,
    children: &mut Children,
    stages: &SharedCells,
) -> Result<Collected> {
    let n = cfg.buyers as usize;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut events = Vec::new();
    let mut pipe = File::from(outcome_r);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last_progress = Instant::now();
    // Read outcomes until every buyer has closed the pipe, i.e. exited. Only
    // when nothing arrives for a while reap early: a dead semaphore holder
    // must be found and repaired, or the others would wait for ever.
    loop {
        if stop.load(Ordering::SeqCst) {
            let done = outcomes.iter().filter(|o| o.is_some()).count();
            return Err(Error::Interrupted(format!(
                "mid-run ({done} of {n} buyers had finished); all buyers stopped"
            )));
        }
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(20u16)) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::failed("poll", e)),
            Ok(0) => {
                if children.reap_exited(shared, &mut events)? {
                    last_progress = Instant::now();
                } else if last_progress.elapsed() > cfg.timeout {
                    let mut msg = stuck_report(cfg, shared, children, stages);
                    for e in &events {
                        msg += &format!("; earlier, {e}");
                    }
                    return Err(Error::Failed(msg));
                }
            }
            Ok(_) => match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => {
                    buf.extend_from_slice(&chunk[..k]);
                    if take_lines(&mut buf, &mut outcomes)? {
                        last_progress = Instant::now();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::failed("reading outcomes", e)),
            },
        }
    }
    children.reap_rest(shared, &mut events)?;
    Ok((outcomes, events))
}

/// The watchdog's message: which buyers were stuck, grouped by what they
/// were doing, and what the strategy knows of its lock.
fn stuck_report(
    cfg: &RunConfig,
    shared: &dyn Shared,
    children: &Children,
    stages: &SharedCells,
) -> String {
    let mut by_stage: Vec<(Stage, Vec<String>)> = Vec::new();
    for (id, _) in children.live() {
        let stage = Stage::from_cell(stages.get(id as usize));
        match by_stage.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => by_stage.push((stage, vec![id.to_string()])),
        }
    }
    let groups: Vec<String> = by_stage
        .iter()
        .map(|(stage, ids)| {
            format!(
                "{} {} (buyer {})",
                ids.len(),
                stage.doing(),
                truncate_list(ids, 10)
            )
        })
        .collect();
    let mut msg = format!(
        "watchdog: no buyer finished for {} (--timeout); stopped the stuck buyers: {}",
        crate::delay::Delay::fixed(cfg.timeout),
        groups.join("; ")
    );
    if let Some(lock) = shared.describe() {
        msg += &format!("; {lock}");
    }
    msg
}

fn truncate_list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!(
            "{}, … ({} more)",
            items[..max].join(", "),
            items.len() - max
        )
    }
}

/// Moves every complete line of `buf` into `outcomes`. Returns whether any.
fn take_lines(buf: &mut Vec<u8>, outcomes: &mut [Option<Outcome>]) -> Result<bool> {
    let mut start = 0;
    let mut any = false;
    while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + nl];
        let o =
            Outcome::from_line(line).map_err(|e| Error::failed("a garbled outcome record", e))?;
        let slot = outcomes
            .get_mut(o.id as usize)
            .ok_or_else(|| Error::Failed(format!("an outcome from unknown buyer {}", o.id)))?;
        *slot = Some(o);
        any = true;
        start += nl + 1;
    }
    buf.drain(..start);
    Ok(any)
}
