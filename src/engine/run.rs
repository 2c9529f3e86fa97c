//! One booking run, start to verdict: the workspace, the strategy's shared
//! state, the buyers (see [`super::supervise`]), the clean-up, the judge.

use std::time::{Duration, Instant};

use super::config::{RunConfig, StockSource};
use super::fork::SingleThreaded;
use super::outcome::Outcome;
use super::stock::{self, Stock};
use super::supervise::{Collected, supervise};
use super::workspace::{Workspace, check_process_limit};
use crate::error::{Error, Result};
use crate::judge::verdict::{Verdict, judge};
use crate::lock::Setup;

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
    /// Things that happened to buyers (deaths, repairs, the watchdog), one
    /// line each.
    pub events: Vec<String>,
}

/// Runs the booking `cfg` describes. A stop signal (see
/// [`super::sys::catch_stop_signals`]) ends it: every buyer is killed and
/// reaped, everything cleaned up, and [`Error::Interrupted`] returned.
///
/// A buyer that fails or hangs does not make this fail: it is a finding,
/// in the verdict (`failed`, `hung`) and the events.
///
/// # Errors
/// [`Error::Input`] for a bad stock file (nothing changed) or too many
/// buyers for the system; [`Error::Failed`] when the process has threads
/// or a system call fails; [`Error::Interrupted`] when stopped.
pub fn run(cfg: &RunConfig) -> Result<RunOutput> {
    let proof = SingleThreaded::check().map_err(Error::Failed)?;
    // Declared first: the run directory outlives everything below.
    let ws = match &cfg.stock {
        StockSource::Fresh(tickets) => Workspace::fresh(*tickets)?,
        StockSource::File(path) => Workspace::user_file(path)?,
    };
    check_process_limit(cfg.buyers)?;
    let tickets = ws.initial.count();
    let shared = (cfg.strategy.prepare)(&Setup {
        stock: ws.stock.clone(),
        repair: !cfg.faults.no_repair,
    })?;
    let started = Instant::now();
    // Every buyer is reaped when this returns, whatever it returns.
    let result = supervise(cfg, &ws, &*shared, proof);
    let wall = started.elapsed();
    drop(shared);
    let Collected { outcomes, events } = result?;
    let final_stock = stock::load(&ws.stock).map_err(|e| {
        Error::Failed(format!(
            "stock file {} after the run: {e}",
            ws.stock.display()
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
