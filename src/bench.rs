//! `booking bench` (placeholder until measured).
use std::sync::atomic::AtomicBool;

use crate::cli::BenchArgs;
use crate::error::Result;

/// Runs the benchmark.
///
/// # Errors
/// When a run fails.
pub fn bench(_args: &BenchArgs, _stop: &AtomicBool) -> Result<i32> {
    Ok(0)
}
