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
//! one-waiter rule leaves; a buyer preempted while spinning moves only
//! when no other can.

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
    /// For each buyer, the last step at which it moved while spinning (0:
    /// never): among spinners only, the one that spun longest ago moves,
    /// so that they take turns — always moving the highest-priority one
    /// would spin it for ever while the buyer whose turn the lock gives
    /// next waits (a ticket lock's, say).
    spun: Vec<usize>,
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
        Pct {
            priority,
            changes,
            spun: vec![0; n],
        }
    }
}

impl Chooser for Pct {
    /// The highest-priority buyer among the choices; lowers it if this
    /// step is a change point.
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal> {
        // A spinning buyer goes last, whatever its priority, as a thread
        // that yields does in shuttle's PCT: it only waits for another,
        // and always moving it first would starve the one it waits for.
        let spinning = |b: u32| turn.ready.iter().any(|r| r.id == b && r.spinning);
        let b = *turn
            .choices()
            .iter()
            .max_by_key(|&&b| {
                let last_spin = self.spun.get(b as usize).copied().unwrap_or(0);
                let waited = if spinning(b) { usize::MAX - last_spin } else { 0 };
                (!spinning(b), waited, self.priority[b as usize])
            })
            .expect("choices are not empty");
        if spinning(b) {
            if self.spun.len() <= b as usize {
                self.spun.resize(b as usize + 1, 0);
            }
            self.spun[b as usize] = turn.step;
        }
        for &(at, low) in &self.changes {
            if at == turn.step {
                self.priority[b as usize] = low;
            }
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Ready;
    use super::super::tests::{ready, turn};
    use super::*;
    use crate::engine::buyer::Point;

    #[test]
    fn the_highest_priority_moves_until_it_cannot() {
        let mut p = Pct {
            priority: vec![3, 5, 4],
            changes: vec![],
            spun: Vec::new(),
        };
        let all = ready(&[(0, Point::Read), (1, Point::Read), (2, Point::Read)]);
        let not_1 = ready(&[(0, Point::Read), (2, Point::Read)]);
        let only_0 = ready(&[(0, Point::Read)]);
        assert_eq!(p.choose(&turn(1, &all, false)), Ok(1));
        assert_eq!(p.choose(&turn(2, &all, false)), Ok(1));
        assert_eq!(p.choose(&turn(3, &not_1, false)), Ok(2));
        assert_eq!(p.choose(&turn(4, &only_0, false)), Ok(0));
    }

    #[test]
    fn at_a_change_point_the_mover_drops_below_everyone() {
        let mut p = Pct {
            priority: vec![3, 5, 4],
            changes: vec![(2, 2), (4, 1)],
            spun: Vec::new(),
        };
        let all = ready(&[(0, Point::Read), (1, Point::Read), (2, Point::Read)]);
        let got: Vec<u32> = (1..=6)
            .map(|step| p.choose(&turn(step, &all, false)).unwrap())
            .collect();
        // 1 moves at steps 1 and 2, drops to 2 after step 2; 2 moves at 3
        // and 4, drops to 1; then 0 (3) for ever.
        assert_eq!(got, vec![1, 1, 2, 2, 0, 0]);
        assert_eq!(p.priority, vec![3, 2, 1]);
    }

    #[test]
    fn it_keeps_the_one_waiter_rule() {
        let mut p = Pct {
            priority: vec![9, 1],
            changes: vec![],
            spun: Vec::new(),
        };
        let r = ready(&[(0, Point::Lock), (1, Point::Read)]);
        let waiting = turn(1, &r, true);
        assert_eq!(p.choose(&waiting), Ok(1));
        assert_eq!(p.choose(&turn(2, &r, false)), Ok(0));
    }

    #[test]
    fn depth_d_draws_distinct_priorities_above_d_minus_one_change_points() {
        for seed in 0..50 {
            for (n, depth) in [(1, 1), (3, 1), (4, 3), (10, 5)] {
                let p = Pct::new(seed, n, depth);
                let d = u64::from(depth);
                let mut sorted = p.priority.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (d..d + n as u64).collect::<Vec<_>>());
                assert_eq!(p.changes.len(), depth as usize - 1);
                for (j, &(at, low)) in p.changes.iter().enumerate() {
                    assert!((1..=4 * n).contains(&at), "{at}");
                    assert_eq!(low, d - 1 - j as u64);
                }
            }
        }
        assert_eq!(Pct::new(8, 4, 3), Pct::new(8, 4, 3));
        // Pinned: if this fails, printed --step-seed values changed meaning.
        assert_eq!(Pct::new(1, 4, 3), pinned());
    }

    #[test]
    fn spinners_take_turns_when_only_spinners_can_move() {
        let mut p = Pct {
            priority: vec![3, 9, 4],
            changes: vec![],
            spun: Vec::new(),
        };
        let spinning: Vec<Ready> = (0..3)
            .map(|id| Ready {
                id,
                at: Some(Point::Lock),
                spinning: true,
            })
            .collect();
        let moved: Vec<u32> = (1..=6)
            .map(|k| p.choose(&turn(k, &spinning, false)).unwrap())
            .collect();
        // The highest priority first, then each in turn: none spins twice
        // while another has not spun since.
        assert_eq!(moved, vec![1, 2, 0, 1, 2, 0]);
        // A buyer that can move without spinning goes first, whatever its
        // priority.
        let mut mixed = spinning.clone();
        mixed[0].spinning = false;
        assert_eq!(p.choose(&turn(7, &mixed, false)), Ok(0));
    }

    fn pinned() -> Pct {
        Pct {
            priority: vec![5, 6, 4, 3],
            changes: vec![(12, 2), (9, 1)],
            spun: vec![0; 4],
        }
    }

    #[test]
    fn depth_one_runs_each_buyer_whole() {
        let mut p = Pct::new(5, 3, 1);
        let all = ready(&[(0, Point::Read), (1, Point::Read), (2, Point::Read)]);
        let first = p.choose(&turn(1, &all, false)).unwrap();
        for step in 2..=12 {
            assert_eq!(p.choose(&turn(step, &all, false)), Ok(first));
        }
    }
}
