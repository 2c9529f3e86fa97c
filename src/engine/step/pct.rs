//! PCT, probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010;
//! `--step-seed` with `--pct`): distinct random priorities, the
//! highest-priority buyer among the choices always moves, and at `d - 1`
//! random steps (the change points) the buyer that moves drops below every
//! other. A bug that needs `d` ordering constraints is found with
//! probability at least 1 / (n · k^(d-1)) for n buyers and k steps.
//!
//! Unlike shuttle's and Coyote's PCT, every step counts towards the change
//! points, including steps with one choice, and the horizon is fixed in
//! advance: a purchase is four steps, so `4 n`. The choices are those the
//! one-waiter rule leaves.

use super::{Chooser, Refusal, Turn};
use crate::engine::config::Stepping;
use crate::engine::seed;

/// The chooser for `--step-seed` with `--pct`.
pub(super) fn chooser(stepping: &Stepping, buyers: usize) -> Option<Box<dyn Chooser>> {
    match stepping {
        Stepping::Pct { seed, depth } => Some(Box::new(Pct::new(*seed, buyers, *depth))),
        _ => None,
    }
}

/// PCT's state: a priority per buyer (higher moves first) and the steps at
/// which the buyer that moves drops to the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pct {
    priority: Vec<u64>,
    /// Step numbers (from 1), each with the low priority it gives.
    changes: Vec<(usize, u64)>,
}

impl Pct {
    /// For `n` buyers and bug depth `depth`, drawn from `seed`'s schedule
    /// stream: priorities `depth..depth + n` in a random order; `depth - 1`
    /// change points among the first `4 n` steps, with priorities
    /// `depth - 1` down to 1, below every initial one.
    pub(super) fn new(seed: u64, n: usize, depth: u32) -> Self {
        let rng = &mut seed::rng(seed, seed::stream::SCHEDULE);
        let d = u64::from(depth.max(1));
        let mut priority: Vec<u64> = (0..n as u64).map(|i| d + i).collect();
        for i in (1..n).rev() {
            priority.swap(i, seed::between(rng, 0, i as u64) as usize);
        }
        let horizon = (4 * n).max(1) as u64;
        let changes = (1..d)
            .map(|j| (seed::between(rng, 1, horizon) as usize, d - j))
            .collect();
        Pct { priority, changes }
    }
}

impl Chooser for Pct {
    /// The highest-priority buyer among the choices; lowers it if this
    /// step is a change point.
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal> {
        let b = *turn
            .choices()
            .iter()
            .max_by_key(|&&b| self.priority[b as usize])
            .expect("choices are not empty");
        for &(at, low) in &self.changes {
            if at == turn.step {
                self.priority[b as usize] = low;
            }
        }
        Ok(b)
    }
}
