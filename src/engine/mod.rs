//! The engine: everything that makes a run happen, and nothing about how
//! it is asked for (no clap here) or shown.
//!
//! * [`config`] — what a run is asked to do (the flags that ask for it are
//!   the CLI's: `cli::config`);
//! * [`mod@run`] — one run, start to verdict;
//! * [`supervise`] — the parent: fork, barrier; `collect` — records,
//!   reaping, repairs, watchdog, each buyer's fate;
//! * [`buyer`] — a buyer's whole life, in its own process;
//! * [`workspace`] — the run directory, the user's stock file, the sweep;
//! * [`step`] — stepped mode: the parent chooses the interleaving, its
//!   driver giving the turns and a policy (replay, uniform, PCT) the choice;
//! * [`delay`], [`seed`] — a run's simulated network and its generator.
//!
//! Below it: the platform floor ([`crate::sys`]: the fork boundary, the
//! outcome channel, shared memory, semaphores, signals — all the `unsafe`
//! code), the data it makes ([`crate::model`]: the stock file, the outcome
//! records) and the strategies it runs ([`crate::lock`]).

pub mod buyer;
mod collect;
pub mod config;
pub mod delay;
pub mod run;
pub mod seed;
pub mod step;
pub mod supervise;
pub mod workspace;

pub use config::{
    DEFAULT_TIMEOUT, Faults, KillPoint, RunConfig, Stepping, StockSource, watchdog_timeout,
};
pub use run::{RunOutput, run};
