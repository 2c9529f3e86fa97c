//! Uniform random choice (`--step-seed`): at each step, one of the
//! choices the one-waiter rule leaves, each as likely, drawn from the
//! seed's own stream, so that a seed always means the same schedule.

use super::{Chooser, Refusal, Turn};
use crate::engine::config::Stepping;
use crate::engine::seed::{self, SeededRng};

/// The chooser for `--step-seed` without `--pct`.
pub(super) fn chooser(stepping: &Stepping, _buyers: usize) -> Option<Box<dyn Chooser>> {
    match stepping {
        Stepping::Seeded(s) => Some(Box::new(Uniform::new(*s))),
        _ => None,
    }
}

/// Draws each step's buyer from the seed's schedule stream.
pub(super) struct Uniform {
    rng: SeededRng,
}

impl Uniform {
    pub(super) fn new(seed: u64) -> Self {
        Uniform {
            rng: seed::rng(seed, seed::stream::SCHEDULE),
        }
    }
}

impl Chooser for Uniform {
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal> {
        let choices = turn.choices();
        // One draw per step, even when there is one choice: the draws of
        // later steps do not depend on how many choices earlier ones had.
        let k = seed::between(&mut self.rng, 0, choices.len() as u64 - 1);
        Ok(choices[k as usize])
    }
}
