//! `booking`: N buyer processes race for the tickets in one JSON stock file,
//! under a pluggable locking strategy; a judge tells exactly what went
//! wrong without a lock, and a benchmark what a lock costs.
//!
//! Layers, one folder each, every import pointing down:
//! * [`commands`] — run, check, compare, bench, grade: from parsed
//!   arguments to an exit code; [`cli`] — the command line and the one
//!   conversion from it to a run's configuration; [`report`] — what the
//!   commands show (and the quiz);
//! * [`engine`] — runs a booking: the buyer's life, the parent's
//!   supervision and its stepped scheduler, the workspace;
//! * [`lock`] — the strategy API, the strategies (one file each) and their
//!   registry; [`lease`] and [`store`] — lock servers and databases, for
//!   the strategies that need them;
//! * [`judge`] — what a run proves, from [`model`] (the stock file, the
//!   outcome records) alone;
//! * [`sys`] — the platform floor: the only `unsafe` code.
//!
//! [`features`]: what a build may leave out — PostgreSQL (`postgres`) and
//! Redis (`redis`), cargo features on by default.
//!
//! Linux only: buyers are forked processes, the `sem` strategy needs
//! `sem_init(pshared = 1)` (unsupported on macOS), and buyers ask for
//! `PR_SET_PDEATHSIG`.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod features;
pub mod judge;
#[cfg(feature = "redis")]
pub mod lease;
pub mod lock;
pub mod model;
pub mod report;
pub mod store;
pub mod sys;
