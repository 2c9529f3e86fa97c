//! Replay: a fixed schedule (`--schedule`), the buyer ids one per step.
//!
//! It follows the schedule and nothing else: no one-waiter rule, since the
//! user's schedule may mean to send a second waiter into the lock. A step
//! that names a buyer who cannot move is refused, not skipped: for a
//! schedule that `booking` recorded, it means the kernel woke another
//! waiter than the one it woke when recording, and the run diverged.

use super::{Chooser, Refusal, Turn};
use crate::engine::config::Stepping;

/// The chooser for `--schedule`.
pub(super) fn chooser(stepping: &Stepping, _buyers: usize) -> Option<Box<dyn Chooser>> {
    match stepping {
        Stepping::Schedule(steps) => Some(Box::new(Replay::new(steps.clone()))),
        _ => None,
    }
}

/// Follows `steps`, one buyer id per step.
#[derive(Clone, Debug)]
pub(super) struct Replay {
    steps: Vec<u32>,
}

impl Replay {
    pub(super) fn new(steps: Vec<u32>) -> Self {
        Replay { steps }
    }
}

impl Chooser for Replay {
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal> {
        let Some(&buyer) = self.steps.get(turn.step - 1) else {
            return Err(Refusal::Ended);
        };
        if turn.ready.iter().any(|r| r.id == buyer) {
            Ok(buyer)
        } else {
            Err(Refusal::NotReady { buyer })
        }
    }

    fn finish(&self, steps: usize) -> Result<(), Refusal> {
        if self.steps.len() > steps {
            Err(Refusal::Unfinished {
                planned: self.steps.len(),
            })
        } else {
            Ok(())
        }
    }
}
