//! `booking`: N buyer processes race for the tickets in one JSON stock file,
//! under a pluggable locking strategy; a checker tells exactly what went
//! wrong without a lock, and a benchmark what a lock costs.
//!
//! Linux only: buyers are forked processes, the `sem` strategy needs
//! `sem_init(pshared = 1)` (unsupported on macOS), and buyers ask for
//! `PR_SET_PDEATHSIG`.

pub mod app;
pub mod bench;
pub mod buyer;
pub mod check;
pub mod cli;
pub mod compare;
pub mod delay;
pub mod error;
pub mod lock;
pub mod outcome;
pub mod quiz;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod stock;
mod sys;
pub mod timeline;
pub mod verdict;
