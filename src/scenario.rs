//! Generated scenarios: the workloads `booking check` and the property
//! tests run against every strategy.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::delay::Delay;
use crate::lock::Strategy;
use crate::run::{RunConfig, StockSource};

/// One workload: how many tickets, how many buyers, what delay, which seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Tickets in the fresh stock.
    pub tickets: u64,
    /// Buyer processes.
    pub buyers: u32,
    /// Delay window, shortest (µs).
    pub delay_min_us: u64,
    /// Delay window, longest (µs).
    pub delay_max_us: u64,
    /// Seed of the delays.
    pub seed: u64,
}

/// The ranges scenarios are drawn from.
#[derive(Clone, Copy, Debug)]
pub struct Space {
    /// Most tickets.
    pub max_tickets: u64,
    /// Most buyers.
    pub max_buyers: u32,
    /// Longest delay (µs).
    pub max_delay_us: u64,
}

/// The default space: up to 60 tickets, 40 buyers, 3 ms of delay. Small
/// enough that a case of a safe strategy takes about 0.1 s; wide enough
/// that a race without a lock shows in most cases.
pub const SPACE: Space = Space {
    max_tickets: 60,
    max_buyers: 40,
    max_delay_us: 3_000,
};

impl Scenario {
    /// Draws a scenario from `space`.
    pub fn draw(rng: &mut StdRng, space: Space) -> Self {
        let a = rng.random_range(0..=space.max_delay_us);
        let b = rng.random_range(0..=space.max_delay_us);
        Scenario {
            tickets: rng.random_range(0..=space.max_tickets),
            buyers: rng.random_range(1..=space.max_buyers),
            delay_min_us: a.min(b),
            delay_max_us: a.max(b),
            seed: rng.random(),
        }
    }

    /// `count` scenarios drawn from `space` with an RNG seeded by `seed`.
    pub fn generate(seed: u64, count: usize, space: Space) -> Vec<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..count)
            .map(|_| Scenario::draw(&mut rng, space))
            .collect()
    }

    /// The delay window.
    pub fn delay(&self) -> Delay {
        Delay {
            min: Duration::from_micros(self.delay_min_us),
            max: Duration::from_micros(self.delay_max_us),
        }
    }

    /// A size for "smallest": buyers first, then tickets.
    pub fn size(&self) -> (u32, u64) {
        (self.buyers, self.tickets)
    }

    /// The run configuration of this scenario under `strategy`.
    pub fn config(&self, strategy: &'static Strategy) -> RunConfig {
        RunConfig::new(
            strategy,
            self.buyers,
            StockSource::Fresh(self.tickets),
            self.delay(),
            self.seed,
        )
    }

    /// The command line that re-runs this scenario under `strategy`.
    pub fn command(&self, strategy: &'static Strategy) -> String {
        crate::report::rerun_command(&self.config(strategy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_seeded_and_in_range() {
        let a = Scenario::generate(9, 50, SPACE);
        assert_eq!(a, Scenario::generate(9, 50, SPACE));
        assert_ne!(a, Scenario::generate(10, 50, SPACE));
        for s in &a {
            assert!(s.tickets <= 60 && (1..=40).contains(&s.buyers));
            assert!(s.delay_min_us <= s.delay_max_us && s.delay_max_us <= 3_000);
        }
    }

    #[test]
    fn the_command_round_trips_the_delay() {
        let s = Scenario {
            tickets: 3,
            buyers: 7,
            delay_min_us: 250,
            delay_max_us: 1000,
            seed: 5,
        };
        let sem = crate::lock::find("sem").unwrap();
        assert_eq!(
            s.command(sem),
            "booking --buyers 7 --lock sem --tickets 3 --delay 250us..1ms --seed 5"
        );
        assert_eq!(s.delay().to_string().parse::<Delay>(), Ok(s.delay()));
    }
}
