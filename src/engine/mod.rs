//! The engine: everything that makes a run happen, and nothing about how
//! it is asked for (no clap here) or shown.
//!
//! * [`config`] — what a run is asked to do (the flags that ask for it are
//!   the CLI's: `cli::config`);
//! * [`mod@run`] — one run, start to verdict;
//! * [`supervise`] — the parent: fork, barrier; `collect` — records,
//!   reaping, repairs, watchdog, each buyer's fate;
//! * [`buyer`] — a buyer's whole life, in its own process;
//! * [`fork`] — the fork boundary (the only place that forks);
//! * [`workspace`] — the run directory, the user's stock file, the sweep;
//! * [`step`] — stepped mode: the parent chooses the interleaving, its
//!   driver giving the turns and a policy (replay, uniform, PCT) the choice;
//! * [`channel`] — the outcome channel, whose kernel names each sender;
//! * [`stock`], [`outcome`], [`delay`], [`seed`] — the data;
//! * [`sys`] — the other `unsafe` code: shared memory, semaphores, signals.

pub mod buyer;
mod collect;
pub mod config;
pub mod delay;
pub mod outcome;
pub mod run;
pub mod seed;
pub mod step;
pub mod stock;
pub mod supervise;
pub mod workspace;

pub use config::{
    DEFAULT_TIMEOUT, Faults, KillPoint, RunConfig, Stepping, StockSource, watchdog_timeout,
};
pub use run::{RunOutput, run};
