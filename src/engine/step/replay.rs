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

#[cfg(test)]
mod tests {
    use super::super::tests::{ready, turn};
    use super::*;
    use crate::engine::buyer::Point;

    #[test]
    fn it_follows_its_schedule() {
        let mut r = Replay::new(vec![1, 0, 1]);
        let both = ready(&[(0, Point::Lock), (1, Point::Lock)]);
        let got: Vec<u32> = (1..=3)
            .map(|step| {
                r.choose(&turn(step, &both, false))
                .unwrap()
            })
            .collect();
        assert_eq!(got, vec![1, 0, 1]);
        assert_eq!(r.finish(3), Ok(()));
    }

    #[test]
    fn it_ignores_the_one_waiter_rule() {
        // Buyer 2 blocked in the lock; the schedule sends 1 in too.
        let mut r = Replay::new(vec![1]);
        let only = ready(&[(0, Point::Read), (1, Point::Lock)]);
        let turn = turn(1, &only, true);
        assert_eq!(r.choose(&turn), Ok(1));
    }

    #[test]
    fn a_named_buyer_who_cannot_move_is_a_divergence() {
        let mut r = Replay::new(vec![0, 2]);
        let zero_and_one = ready(&[(0, Point::Unlock), (1, Point::Read)]);
        let step = |step| turn(step, &zero_and_one, true);
        assert_eq!(r.choose(&step(1)), Ok(0));
        assert_eq!(r.choose(&step(2)), Err(Refusal::NotReady { buyer: 2 }));
    }

    #[test]
    fn a_schedule_too_short_or_too_long_is_refused() {
        let mut r = Replay::new(vec![0]);
        let zero = ready(&[(0, Point::Read)]);
        let step = |step| turn(step, &zero, false);
        assert_eq!(r.choose(&step(1)), Ok(0));
        assert_eq!(r.choose(&step(2)), Err(Refusal::Ended));
        assert_eq!(r.finish(0), Err(Refusal::Unfinished { planned: 1 }));
    }
}
