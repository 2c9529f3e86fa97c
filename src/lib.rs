//! `booking`: N buyer processes race for the tickets in one JSON stock file,
//! under a pluggable locking strategy; a judge tells exactly what went
//! wrong without a lock, and a benchmark what a lock costs.
//!
//! Three layers, one folder each:
//! * [`engine`] — runs a booking: the fork boundary, the buyer's life, the
//!   parent's supervision, the workspace, the stock file;
//! * [`judge`] — what a run proves: the verdict, statistics;
//! * [`commands`] — run, check, compare, bench, grade; [`report`] shows
//!   their results (and asks the quiz); [`cli`] parses the command line.
//!
//! The strategies live in [`lock`], one file each.
//!
//! Linux only: buyers are forked processes, the `sem` strategy needs
//! `sem_init(pshared = 1)` (unsupported on macOS), and buyers ask for
//! `PR_SET_PDEATHSIG`.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod judge;
pub mod lease;
pub mod lock;
pub mod report;
pub mod store;
pub mod sys;
