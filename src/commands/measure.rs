//! What `bench` and `bench --scale` measure with: the measured run, a run
//! that must be safe, the machine's cores, the median, and the line that
//! prints a figure.

use crate::engine::delay::Delay;
use crate::engine::{RunConfig, RunOutput, StockSource, run};
use crate::error::{Error, Result};
use crate::judge::stats::median;
use crate::lock::Strategy;

/// Tickets in every measured run.
pub(super) const TICKETS: u64 = 100;

/// The run every figure measures: `buyers` under `strategy`, [`TICKETS`]
/// tickets, no delay, seed 1.
pub(super) fn measured(strategy: &'static Strategy, buyers: u32) -> RunConfig {
    RunConfig::new(
        strategy,
        buyers,
        StockSource::Fresh(TICKETS),
        Delay::ZERO,
        1,
    )
}

/// One run that must be safe (a bench of an unsafe run measures nothing).
pub(super) fn safe_run(cfg: &RunConfig) -> Result<RunOutput> {
    let out = run(cfg)?;
    if !out.verdict.safe {
        return Err(Error::Failed(format!(
            "{} was unsafe in the bench: {}",
            cfg.strategy.name,
            out.verdict.summary()
        )));
    }
    Ok(out)
}

/// The cores this process may run on.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The median of `v` (0 for none).
pub(super) fn med(v: &[f64]) -> f64 {
    median(v).unwrap_or(0.0)
}

/// One line of the bench's output.
pub(super) fn say(line: &str) -> Result<()> {
    super::output::print(&format!("{line}\n"))
}
