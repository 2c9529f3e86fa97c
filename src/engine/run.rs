//! One booking run, start to verdict: the workspace, the strategy's shared
//! state, the buyers (see [`super::supervise`]), the clean-up, the judge.

use std::path::Path;
use std::time::{Duration, Instant};

use super::collect::Collected;
use super::config::{MAX_BUYERS, RunConfig, Stepping, StockSource};
use super::step::Schedule;
use super::supervise::supervise;
use super::workspace::{Workspace, check_process_limit};
use crate::error::{Error, Result};
use crate::judge::verdict::{Verdict, judge};
use crate::lock::{Setup, Store};
use crate::model::host_records::HostRecords;
use crate::model::outcome::Outcome;
use crate::model::stock::Stock;
use crate::sys::contain::{self, Call};
use crate::sys::{Containment, SingleThreaded};

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Tickets in stock when the run started.
    pub tickets: u64,
    /// One entry per buyer, by id: its record (clean, failed or hung), or
    /// `None` for a `--kill` victim that died as planned.
    pub outcomes: Vec<Option<Outcome>>,
    /// The stock file after the run.
    pub final_stock: Stock,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// From the first fork to the last reap.
    pub wall: Duration,
    /// From the first fork to the start barrier's opening: the part of
    /// `wall` spent creating the buyers (the rest is the race, and
    /// reaping).
    pub spawn: Duration,
    /// Things that happened to buyers (deaths, repairs, the watchdog), one
    /// line each.
    pub events: Vec<String>,
    /// Stepped mode: the schedule followed, and its trace.
    pub schedule: Option<Schedule>,
}

/// How many times a stepped run with an explicit schedule is tried before
/// a step that names a buyer who is not runnable ([`Error::Diverged`]) is
/// reported: a recorded schedule can diverge where the kernel chose among
/// blocked waiters.
pub const STEPPED_TRIES: u32 = 3;

/// Runs the booking `cfg` describes. A stop signal (see
/// [`crate::sys::catch_stop_signals`]) ends it: every buyer is killed and
/// reaped, everything cleaned up, and [`Error::Interrupted`] returned.
///
/// A buyer that fails or hangs does not make this fail: it is a finding,
/// in the verdict (`failed`, `hung`) and the events.
///
/// # Errors
/// [`Error::Input`] for a bad stock file (nothing changed) or too many
/// buyers for the system; [`Error::Diverged`] when a `--schedule` diverged
/// on every try; [`Error::Failed`] when the process has threads
/// or a system call fails; [`Error::Interrupted`] when stopped.
pub fn run(cfg: &RunConfig) -> Result<RunOutput> {
    match &cfg.stepping {
        None | Some(Stepping::Seeded(_) | Stepping::Pct { .. }) => run_once(cfg),
        Some(Stepping::Schedule(_) | Stepping::Explore(_)) => {
            let mut tries = 1;
            loop {
                match run_once(cfg) {
                    Err(Error::Diverged { .. }) if tries < STEPPED_TRIES => tries += 1,
                    other => return other,
                }
            }
        }
    }
}

/// Refuses what a run cannot host: more buyer processes than
/// [`MAX_BUYERS`] (a pool serves more), and a pool with `--kill` (a victim
/// would take its worker's other buyers with it) or a stepped run (the
/// schedule moves buyers, a worker runs one at a time).
fn check_hosting(cfg: &RunConfig) -> Result<()> {
    if cfg.pool.is_none() && cfg.buyers > MAX_BUYERS {
        return Err(Error::Input(format!(
            "--buyers {}: at most {MAX_BUYERS} buyer processes; for more purchases, serve them with a worker pool (--pool K)",
            cfg.buyers
        )));
    }
    if cfg.pool.is_some() && cfg.faults.kill > 0 {
        return Err(Error::Input(
            "--pool with --kill: a killed buyer would take its worker's other buyers with it; kill buyers without a pool".into(),
        ));
    }
    if cfg.stepping.is_some() && !cfg.strategy.steppable() {
        return Err(Error::Input(format!(
            "--lock {}: a stepped run (--schedule, --step-seed) cannot schedule a database's transactions (they wait inside the database, where the scheduler cannot see them); run it free",
            cfg.strategy.name
        )));
    }
    if cfg.faults.pause > 0 && cfg.stepping.is_some() {
        return Err(Error::Input(
            "--pause with a stepped run (--schedule, --step-seed): a pause is a time, a stepped run has none (the schedule already holds any buyer as long as it likes); pause a free run".into(),
        ));
    }
    if cfg.strategy.lock_server && cfg.lock_server.is_none() {
        return Err(needs_lock_server(cfg.strategy));
    }
    if cfg.pool.is_some() && cfg.stepping.is_some() {
        return Err(Error::Input(
            "--pool with a stepped run (--schedule, --step-seed): the schedule moves buyers one step at a time, a worker runs its buyers whole; step without a pool".into(),
        ));
    }
    Ok(())
}

/// The refusal of a leased strategy without `--lock-server`.
pub fn needs_lock_server(strategy: &crate::lock::Strategy) -> Error {
    Error::Input(format!(
        "--lock {}: a leased strategy needs a lock server: --lock-server redis://HOST:PORT",
        strategy.name
    ))
}

/// The lock server of a leased strategy, with the keys of this run;
/// `None` for a strategy that takes no lease. Probed first: a server that
/// does not answer is one line now, not a hang later. (Only a build with
/// the `redis` feature has one; without it, `--lock-server` is refused
/// before any run.)
fn lock_server(cfg: &RunConfig) -> Result<Option<crate::lock::LockServer>> {
    match (cfg.strategy.lock_server, &cfg.lock_server) {
        (false, _) => Ok(None),
        #[cfg(feature = "redis")]
        (true, Some(url)) => {
            crate::lease::probe(url)?;
            Ok(Some(crate::lease::Server::new(url, cfg.lease)))
        }
        (true, _) => Err(needs_lock_server(cfg.strategy)),
    }
}

/// How long the strategy's `prepare`, and its clean-up (dropping its
/// state), may take in the parent: at the limit the process ends (see
/// [`crate::sys::contain`]), a failure, since neither can be moved out of
/// the parent's process. Generous: a database strategy connects in it.
pub const PARENT_CODE_LIMIT: Duration = Duration::from_secs(10);

/// Runs the strategy's parent-side `call` contained: a panic is a
/// [`Error::Failed`] naming it, never a crash of the judge; a hang past
/// [`PARENT_CODE_LIMIT`], an `exit`, or a stop signal meanwhile end the
/// process at once.
fn strategy_code<T>(call: Call, body: impl FnOnce() -> T) -> Result<T> {
    contain::in_parent(call, PARENT_CODE_LIMIT, body)
        .map_err(|panic| Error::Failed(format!("the strategy's {} {panic}", call.name())))
}

fn run_once(cfg: &RunConfig) -> Result<RunOutput> {
    SingleThreaded::check().map_err(Error::Failed)?;
    check_hosting(cfg)?;
    let lease = lock_server(cfg)?;
    // Once here rather than in every buyer (see `sys::privilege`).
    crate::sys::privilege::narrow_bounding_set()
        .map_err(|e| Error::failed("narrowing the capability bounding set", e))?;
    if cfg.stepping.is_some() && matches!(cfg.stock, StockSource::File(_)) {
        return Err(Error::Input(
            "a stepped run (--schedule, --step-seed) books a fresh stock, not --stock".into(),
        ));
    }
    // Declared first: the run directory outlives everything below.
    let ws = match &cfg.stock {
        StockSource::Fresh(tickets) => Workspace::fresh(*tickets)?,
        StockSource::File(path) => Workspace::user_file(path)?,
    };
    let ws = match (cfg.strategy.store, &cfg.server) {
        (Store::File, _) => ws,
        (Store::Sqlite, _) => ws.with_sqlite()?,
        #[cfg(feature = "postgres")]
        (Store::Postgres, Some(url)) => ws.with_postgres(url, cfg)?,
        (Store::Postgres, _) => {
            return Err(Error::Input(format!(
                "--lock {}: a PostgreSQL strategy needs a server: --store postgres://HOST:PORT/DATABASE",
                cfg.strategy.name
            )));
        }
    };
    check_process_limit(cfg.processes() as u32)?;
    let tickets = ws.initial.count();
    // Before any strategy code: every process the run creates, at any
    // depth, is adopted by this one when orphaned, and swept when the run
    // ends, on every path (see `sys::children`).
    let containment =
        Containment::begin().map_err(|e| Error::failed("PR_SET_CHILD_SUBREAPER", e))?;
    let setup = Setup {
        stock: ws.stock.clone(),
        repair: !cfg.faults.no_repair,
        leases: super::workspace::run_dir_base(),
        database: ws.database(),
        lease,
    };
    let shared = strategy_code(Call::Prepare, || (cfg.strategy.prepare)(&setup))??;
    // Checked again after the strategy's `prepare`, which might have
    // started a thread: the forks come next.
    let proof = SingleThreaded::check()
        .map_err(|e| Error::Failed(format!("after preparing {}: {e}", cfg.strategy.name)))?;
    let started = Instant::now();
    let started_ns = crate::model::outcome::monotonic_ns();
    // Every buyer, and any process a buyer left behind, is gone when this
    // returns, whatever it returns.
    let result = supervise(cfg, &ws, &*shared, proof);
    let wall = started.elapsed();
    // The final stock is read before the strategy's state is dropped: what
    // the strategy's clean-up does to the file is not part of the run.
    let final_stock = result.as_ref().ok().map(|_| ws.final_stock());
    // A clean-up that panics fails the run, after an interrupt or an error
    // of the run itself, which say more.
    let cleaned = strategy_code(Call::CleanUp, || drop(shared));
    let swept = containment.end();
    let (
        Collected {
            outcomes,
            events,
            rejected,
            opened_ns,
        },
        schedule,
    ) = result?;
    cleaned?;
    let final_stock = match final_stock.expect("read when the run succeeded") {
        Ok(stock) => stock,
        // A host of a shared run needs no count to hand over its records
        // (`verdict` reads the count): a server that will not give it
        // must not cost the records.
        Err(e) => match (&cfg.shared, ws.backend()) {
            (Some(run), Some(backend)) if backend.is_shared() => {
                return Err(keep_locally(
                    &run.name,
                    &run.host,
                    record_lines(&outcomes),
                    &format!("reading the count after the run: {e}"),
                ));
            }
            _ => return Err(Error::Failed(format!("after the run: {e}"))),
        },
    };
    let mut events = events;
    if swept.killed > 0 {
        events.push(format!(
            "killed {} left behind (the strategy's own; none may outlive the run)",
            crate::judge::verdict::count(swept.killed as u64, "process", "processes")
        ));
    }
    if swept.left > 0 {
        events.push(format!(
            "{} of the run could not be killed: still forking after {:?} of sweeping",
            crate::judge::verdict::count(swept.left as u64, "process", "processes"),
            crate::sys::children::SWEEP_WITHIN
        ));
    }
    if cfg.faults.pause > 0 {
        let ids: Vec<String> = cfg
            .faults
            .paused(cfg.buyers, cfg.seed)
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .map(|(i, _)| i.to_string())
            .collect();
        let (who, was) = if ids.len() == 1 {
            ("buyer", "was")
        } else {
            ("buyers", "were")
        };
        events.push(format!(
            "{who} {} {was} stopped (SIGSTOP) at {} for {} (--pause)",
            ids.join(", "),
            cfg.faults.pause_at,
            super::delay::fmt_duration(cfg.faults.pause_for),
        ));
    }
    let verdict = match (&cfg.shared, ws.backend()) {
        (Some(run), Some(backend)) if backend.is_shared() => {
            // The stock is every host's: this host can judge only its own
            // buyers (double bookings among them, overlaps, failures), not
            // the count. It hands its records to the run for `verdict`.
            let records = record_lines(&outcomes);
            if let Err(e) = backend.report(&run.host, &records) {
                return Err(keep_locally(&run.name, &run.host, records, &e));
            }
            events.push(format!(
                "run {}: host {} judged only its own buyers (the stock is shared); `booking verdict --run {}` judges the whole run",
                run.name, run.host, run.name
            ));
            let sold = outcomes.iter().flatten().filter(|o| o.got_ticket).count() as u64;
            judge(sold, 0, &outcomes, rejected)
        }
        _ => judge(tickets, final_stock.count(), &outcomes, rejected),
    };
    Ok(RunOutput {
        tickets,
        outcomes,
        final_stock,
        verdict,
        wall,
        spawn: Duration::from_nanos(opened_ns.saturating_sub(started_ns)),
        events,
        schedule,
    })
}

/// The error of a host whose server would not take its records, after it
/// kept them on its own disk (see [`HostRecords`]): the file, and the
/// `verdict` line that reads it. Where even that fails, both errors.
fn keep_locally(
    run: &str,
    host: &str,
    records: Vec<Option<String>>,
    e: &dyn std::fmt::Display,
) -> Error {
    let kept = HostRecords {
        run: run.to_string(),
        host: host.to_string(),
        records,
    };
    match kept.save_in(Path::new(".")) {
        Ok(path) => Error::Failed(format!(
            "reporting to run {run}: {e}; this host's records are kept in {}: \
             `booking verdict --run {run} --records {} --store …` counts them",
            path.display(),
            path.display()
        )),
        Err(local) => Error::Failed(format!(
            "reporting to run {run}: {e}; keeping them in {} failed too: {local}",
            kept.path_in(Path::new(".")).display()
        )),
    }
}

/// Each buyer's record as the run's server keeps it: its JSON line, or
/// `None` for a buyer that sent none.
fn record_lines(outcomes: &[Option<Outcome>]) -> Vec<Option<String>> {
    outcomes
        .iter()
        .map(|o| {
            o.as_ref().map(|o| {
                let line = o.to_line();
                String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned()
            })
        })
        .collect()
}
