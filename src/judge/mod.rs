//! The judge: what a run's records and stock file prove. Pure functions
//! over data, no processes.
//!
//! * [`verdict`] — SAFE, UNSAFE or FAILED, and every count behind it;
//! * [`ledger`] — a shared run's committed sales matched to its buyers;
//! * [`stats`] — medians and percentiles for the reports.

pub mod ledger;
pub mod stats;
pub mod verdict;
