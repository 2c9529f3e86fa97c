//! Generated scenarios: the workloads `booking check` and the property
//! tests run against every strategy.
//!
//! A scenario varies *how many* buyers and tickets, *how long* a buyer
//! holds the stock (the delay window) and *when* buyers arrive (the arrival
//! window: each waits a seeded think time before asking for the lock). The
//! arrivals matter on a machine with many cores: buyers that all reach the
//! lock in the same microsecond all open the same file, and some wrong
//! strategies (`flock-stock`) are only wrong for buyers that come later.
//!
//! A few scenarios are **paused** ([`Scenario::draw_paused`]): two or
//! three buyers, each stopped with `SIGSTOP` for [`PAUSE_MS`] just after
//! it read the stock, under a lease of a tenth of that. A safe strategy
//! only gets slower; a lease (`redis-lease`) expires under the sleeper and
//! the next buyer reads the same count, a race made certain by a window of
//! 90 ms.
//!
//! The small scenarios find short counterexamples; they cannot reach a lock
//! that is only wrong at scale. So every `check` and `grade` also runs the
//! **lab's workload** ([`Scenario::lab`]): the README's own command (150
//! buyers, 100 tickets, 1–5 ms), 1,000 buyers, a crowd of more than 1,000
//! buyers all queued at once (more than any fixed-size structure up to
//! 1,000 slots), holders stopped for [`HELD_PAUSE_MS`] (more than any
//! "the holder must be dead" timeout up to a second), arrivals in bursts, and arrivals spread
//! so that the lock idles and is taken again by clumps of buyers. Counts are
//! drawn from the seed over the whole range, so a strategy cannot know a
//! test by its ticket or buyer count. These runs have [`LAB_WATCHDOG`] times
//! the watchdog (10 s for the default 2 s, a plain run's default): a
//! thousand pollers on two cores are slow, not hung.

use std::time::Duration;

use serde::Serialize;

use crate::cli::Servers;
use crate::engine::delay::Delay;
use crate::engine::seed::{self, MAX_SEED, between};
use crate::engine::{KillPoint, RunConfig, Stepping, StockSource};

/// The most buyers of a stepped scenario.
pub const STEPPED_MAX_BUYERS: u32 = 6;
/// The most tickets of a stepped scenario.
pub const STEPPED_MAX_TICKETS: u64 = 4;
use crate::lock::Strategy;

/// One workload: tickets, buyers, delay and arrival windows, seed.
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
    /// Arrival window, longest (µs); the shortest is 0.
    pub arrival_max_us: u64,
    /// Seed of the delays and arrivals (below 2^53).
    pub seed: u64,
    /// A stepped scenario: the seed of its schedule (the parent chooses
    /// the interleaving; delays and arrivals do not apply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_seed: Option<u64>,
    /// A stepped scenario scheduled by PCT, aimed at this bug depth
    /// (uniform choice when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pct: Option<u32>,
    /// Processes that fork the buyers (`--spawners`); absent: the default.
    /// A free-running scenario takes 1, 2 or 3 from its seed (not from the
    /// generator, so the scenarios drawn after it stay the same), so the
    /// harness covers buyers forked by `booking` and buyers adopted from a
    /// spawner alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawners: Option<u32>,
    /// A worker pool (`--pool`) serves the buyers; absent: one process per
    /// buyer (what `check` draws).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<u32>,
    /// A paused scenario: every buyer stops (`SIGSTOP`) this long after
    /// reading the stock, and a lease lasts a tenth of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_ms: Option<u64>,
    /// A lab scenario: its workload's name (`readme`, `thousand`, `crowd`,
    /// `held`, `spread`; see [`Scenario::lab`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<&'static str>,
    /// A `held` scenario: [`HELD_PAUSED`] buyers stop (`SIGSTOP`) this long
    /// just after they take the lock (`--pause-at hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_ms: Option<u64>,
    /// Arrivals in this many bursts over the arrival window (`--arrival
    /// 0..Tms/K`); absent: spread evenly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bursts: Option<u32>,
}

/// How long a `held` lab scenario stops a holder: more than a second, so a
/// lock that takes over from a holder it presumes dead after up to a
/// second is caught.
pub const HELD_PAUSE_MS: u64 = 1_200;
/// How many holders a `held` lab scenario stops: two, so one of them at
/// least has buyers waiting behind it (only one can be the last).
pub const HELD_PAUSED: u32 = 2;
/// How many times the watchdog a lab scenario runs under.
pub const LAB_WATCHDOG: u32 = 5;
/// The lab scenarios of one round, in order.
pub const LAB: [&str; 6] = ["readme", "thousand", "crowd", "held", "spread", "bursts"];

/// How long a paused scenario stops each buyer.
pub const PAUSE_MS: u64 = 100;

/// The ranges scenarios are drawn from.
#[derive(Clone, Copy, Debug)]
pub struct Space {
    /// Most tickets.
    pub max_tickets: u64,
    /// Most buyers.
    pub max_buyers: u32,
    /// Longest delay (µs).
    pub max_delay_us: u64,
    /// Longest arrival window (µs).
    pub max_arrival_us: u64,
}

/// The default space: up to 60 tickets, 40 buyers, 3 ms of delay, arrivals
/// spread over up to 3 ms. Small enough that a case of a safe strategy
/// takes about 0.1 s; wide enough that a race without a lock shows in most
/// cases.
pub const SPACE: Space = Space {
    max_tickets: 60,
    max_buyers: 40,
    max_delay_us: 3_000,
    max_arrival_us: 3_000,
};

/// A free-running scenario's spawners, from its seed: 1, 2 or 3.
pub fn spawners_of(seed: u64) -> u32 {
    1 + (seed % 3) as u32
}

impl Scenario {
    /// Draws a scenario from `space`.
    pub fn draw(rng: &mut seed::SeededRng, space: Space) -> Self {
        let a = between(rng, 0, space.max_delay_us);
        let b = between(rng, 0, space.max_delay_us);
        let tickets = between(rng, 0, space.max_tickets);
        let buyers = between(rng, 1, u64::from(space.max_buyers)) as u32;
        let arrival_max_us = between(rng, 0, space.max_arrival_us);
        let seed = between(rng, 0, MAX_SEED);
        Scenario {
            tickets,
            buyers,
            delay_min_us: a.min(b),
            delay_max_us: a.max(b),
            arrival_max_us,
            seed,
            step_seed: None,
            pct: None,
            spawners: Some(spawners_of(seed)),
            pool: None,
            pause_ms: None,
            lab: None,
            held_ms: None,
            bursts: None,
        }
    }

    /// A fixed free-running scenario: `buyers` for `tickets`, each holding
    /// the stock for 0 to `delay_max_us`, all arriving at once, seeded by
    /// `seed` (what `grade`'s kill and liveness items run).
    pub fn fixed(tickets: u64, buyers: u32, delay_max_us: u64, seed: u64) -> Self {
        Scenario {
            tickets,
            buyers,
            delay_min_us: 0,
            delay_max_us,
            arrival_max_us: 0,
            seed,
            step_seed: None,
            pct: None,
            spawners: None,
            pool: None,
            pause_ms: None,
            lab: None,
            held_ms: None,
            bursts: None,
        }
    }

    /// Draws a paused scenario: 2 or 3 buyers, 1 to 3 tickets, no delay,
    /// all arriving at once, each stopped for [`PAUSE_MS`] after its read.
    pub fn draw_paused(rng: &mut seed::SeededRng) -> Self {
        let (tickets, buyers) = (between(rng, 1, 3), between(rng, 2, 3) as u32);
        Scenario {
            pause_ms: Some(PAUSE_MS),
            ..Scenario::fixed(tickets, buyers, 0, between(rng, 0, MAX_SEED))
        }
    }

    /// Draws a stepped scenario: a few buyers and tickets (an interleaving
    /// of a few buyers is where races are found; every step is a choice),
    /// and a schedule seed.
    pub fn draw_stepped(rng: &mut seed::SeededRng) -> Self {
        Scenario {
            tickets: between(rng, 1, STEPPED_MAX_TICKETS),
            buyers: between(rng, 2, u64::from(STEPPED_MAX_BUYERS)) as u32,
            delay_min_us: 0,
            delay_max_us: 0,
            arrival_max_us: 0,
            seed: between(rng, 0, MAX_SEED),
            step_seed: Some(between(rng, 0, MAX_SEED)),
            // Half uniform, half PCT aimed at depth 2 or 3 (depth 1 runs
            // each buyer whole: it finds no race).
            pct: (between(rng, 0, 1) == 1).then(|| between(rng, 2, 3) as u32),
            spawners: None,
            pool: None,
            pause_ms: None,
            lab: None,
            held_ms: None,
            bursts: None,
        }
    }

    /// The lab scenario `name` (one of [`LAB`]), its counts drawn from
    /// `rng`; all but `spread` arrive at once:
    /// * `readme` — the README's `booking --buyers 150`: 150 buyers, 100
    ///   tickets, the default delay of 1–5 ms;
    /// * `thousand` — 1,000 buyers for 100–300 tickets, 1–5 ms;
    /// * `crowd` — 1,001–1,100 buyers for 100–200 tickets, 2–6 ms: the
    ///   holds with tickets last far longer than the whole crowd takes to
    ///   reach the lock, so more than 1,000 wait at once;
    /// * `held` — 41–300 buyers for 41–300 tickets, 1–5 ms, and
    ///   [`HELD_PAUSED`] holders stopped for [`HELD_PAUSE_MS`] just after
    ///   they take the lock, the others waiting behind them;
    /// * `spread` — 41–1,000 buyers for 0–1,000 tickets, 1–5 ms, arriving
    ///   over 0–200 ms: the lock idles and is taken again by clumps;
    /// * `bursts` — 300–1,000 buyers for 100–600 tickets, 1–5 ms, arriving
    ///   in 4–8 bursts over 400 ms: hundreds at one instant, then none
    ///   while the lock drains, again and again.
    pub fn lab_one(rng: &mut seed::SeededRng, name: &'static str) -> Self {
        let mut bursts = None;
        let (tickets, buyers, delay, arrival_ms, held) = match name {
            "readme" => (100, 150, (1, 5), 0, None),
            "thousand" => (between(rng, 100, 300), 1_000, (1, 5), 0, None),
            "crowd" => (
                between(rng, 100, 200),
                between(rng, 1_001, 1_100),
                (2, 6),
                0,
                None,
            ),
            "held" => (
                between(rng, 41, 300),
                between(rng, 41, 300),
                (1, 5),
                0,
                Some(HELD_PAUSE_MS),
            ),
            "spread" => (
                between(rng, 0, 1_000),
                between(rng, 41, 1_000),
                (1, 5),
                200,
                None,
            ),
            "bursts" => {
                bursts = Some(between(rng, 4, 8) as u32);
                (
                    between(rng, 100, 600),
                    between(rng, 300, 1_000),
                    (1, 5),
                    400,
                    None,
                )
            }
            other => panic!("no lab scenario {other}"),
        };
        Scenario {
            delay_min_us: delay.0 * 1_000,
            arrival_max_us: arrival_ms * 1_000,
            lab: Some(name),
            held_ms: held,
            bursts,
            ..Scenario::fixed(
                tickets,
                buyers as u32,
                delay.1 * 1_000,
                between(rng, 0, MAX_SEED),
            )
        }
    }

    /// `rounds` rounds of the lab's workload ([`LAB`], in order), their
    /// counts drawn with a generator seeded by `seed`.
    pub fn lab(seed: u64, rounds: usize) -> Vec<Self> {
        let mut rng = seed::rng(seed, seed::stream::SCENARIOS + 3);
        (0..rounds)
            .flat_map(|_| LAB)
            .map(|name| Scenario::lab_one(&mut rng, name))
            .collect()
    }

    /// Why this machine cannot run this scenario, if it cannot: more
    /// buyers than the process limit (`ulimit -u`) leaves room for. Root
    /// is not held to the limit.
    pub fn cannot_run(&self) -> Option<String> {
        use nix::sys::resource::{Resource, getrlimit};
        if nix::unistd::geteuid().is_root() {
            return None;
        }
        let (soft, _) = getrlimit(Resource::RLIMIT_NPROC).ok()?;
        // The parent, spawners and a margin for the user's other processes.
        let needed = u64::from(self.buyers) + 64;
        (soft != nix::sys::resource::RLIM_INFINITY && soft < needed).then(|| {
            format!(
                "skipped: {} buyers need {needed} processes, `ulimit -u` allows {soft}",
                self.buyers
            )
        })
    }

    /// What one run of this scenario may take on two cores, watchdog
    /// included: its arrivals, its holds one after another (a sale holds
    /// up to the longest delay; a stepped run's time is the parent's
    /// choices, a few ms a buyer), its pauses, a millisecond a buyer to
    /// fork and reap, and the watchdog it runs under (a hang is stopped
    /// that long after the last progress).
    pub fn budget(&self, timeout: Duration) -> Duration {
        let sold = self.tickets.min(u64::from(self.buyers)) as u32;
        let hold = match self.stepped() {
            true => Duration::from_millis(5),
            false => Duration::from_micros(self.delay_max_us),
        };
        let paused = match (self.held_ms, self.pause_ms) {
            (Some(ms), _) => Duration::from_millis(ms) * HELD_PAUSED,
            (None, Some(ms)) => Duration::from_millis(ms) * self.buyers,
            (None, None) => Duration::ZERO,
        };
        let watchdog = match self.lab {
            Some(_) => timeout * LAB_WATCHDOG,
            None => timeout,
        };
        Duration::from_micros(self.arrival_max_us)
            + hold * sold
            + paused
            + Duration::from_millis(u64::from(self.buyers))
            + watchdog
    }

    /// `count` free-running scenarios drawn from `space`, then `count`
    /// stepped ones, then one paused scenario per ten (at least one), with
    /// generators seeded by `seed`.
    pub fn generate_both(seed: u64, count: usize, space: Space) -> Vec<Self> {
        let mut all = Scenario::generate(seed, count, space);
        let mut rng = seed::rng(seed, seed::stream::SCENARIOS + 1);
        all.extend((0..count).map(|_| Scenario::draw_stepped(&mut rng)));
        let mut rng = seed::rng(seed, seed::stream::SCENARIOS + 2);
        all.extend((0..count.div_ceil(10)).map(|_| Scenario::draw_paused(&mut rng)));
        all
    }

    /// `count` scenarios drawn from `space` with a generator seeded by
    /// `seed`.
    pub fn generate(seed: u64, count: usize, space: Space) -> Vec<Self> {
        let mut rng = seed::rng(seed, seed::stream::SCENARIOS);
        (0..count)
            .map(|_| Scenario::draw(&mut rng, space))
            .collect()
    }

    /// The delay window.
    pub fn delay(&self) -> Delay {
        Delay::between(
            Duration::from_micros(self.delay_min_us),
            Duration::from_micros(self.delay_max_us),
        )
    }

    /// The arrival window.
    pub fn arrival(&self) -> Delay {
        Delay {
            bursts: self.bursts.unwrap_or(0),
            ..Delay::between(Duration::ZERO, Duration::from_micros(self.arrival_max_us))
        }
    }

    /// Whether the parent chooses this scenario's interleaving.
    pub fn stepped(&self) -> bool {
        self.step_seed.is_some()
    }

    /// A size for "smallest": buyers first, then tickets.
    pub fn size(&self) -> (u32, u64) {
        (self.buyers, self.tickets)
    }

    /// The run configuration of this scenario under `strategy`, on
    /// `servers`, with the watchdog at `timeout`. A stepped scenario runs
    /// free for a strategy that cannot be stepped (a database's
    /// transactions: see [`Strategy::steppable`]): the same buyers and
    /// tickets, all at once.
    pub fn config(
        &self,
        strategy: &'static Strategy,
        timeout: Duration,
        servers: &Servers,
    ) -> RunConfig {
        let mut cfg = RunConfig::new(
            strategy,
            self.buyers,
            StockSource::Fresh(self.tickets),
            self.delay(),
            self.seed,
        );
        cfg.arrival = self.arrival();
        cfg.spawners = self.spawners;
        cfg.pool = self.pool;
        cfg.stepping = self
            .step_seed
            .filter(|_| strategy.steppable())
            .map(|seed| match self.pct {
                Some(depth) => Stepping::Pct { seed, depth },
                None => Stepping::Seeded(seed),
            });
        servers.apply(&mut cfg);
        if let Some(ms) = self.pause_ms {
            cfg.faults.pause = self.buyers;
            cfg.faults.pause_at = KillPoint::Read;
            cfg.faults.pause_for = Duration::from_millis(ms);
            cfg.lease = Duration::from_millis(ms / 10);
        }
        if let Some(ms) = self.held_ms {
            cfg.faults.pause = HELD_PAUSED.min(self.buyers);
            cfg.faults.pause_at = KillPoint::Hold;
            cfg.faults.pause_for = Duration::from_millis(ms);
        }
        if self.lab.is_some() {
            return cfg.with_timeout(timeout * LAB_WATCHDOG);
        }
        cfg.with_timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::rerun;
    use crate::engine::DEFAULT_TIMEOUT;

    #[test]
    fn generation_is_seeded_and_in_range() {
        let a = Scenario::generate(9, 50, SPACE);
        assert_eq!(a, Scenario::generate(9, 50, SPACE));
        assert_ne!(a, Scenario::generate(10, 50, SPACE));
        for s in &a {
            assert!(s.tickets <= 60 && (1..=40).contains(&s.buyers));
            assert!(s.delay_min_us <= s.delay_max_us && s.delay_max_us <= 3_000);
            assert!(s.arrival_max_us <= 3_000 && s.seed <= MAX_SEED);
        }
    }

    #[test]
    fn the_command_round_trips_the_windows() {
        let s = Scenario {
            tickets: 3,
            buyers: 7,
            delay_min_us: 250,
            delay_max_us: 1000,
            arrival_max_us: 1500,
            seed: 5,
            step_seed: None,
            pct: None,
            spawners: None,
            pool: None,
            pause_ms: None,
            lab: None,
            held_ms: None,
            bursts: None,
        };
        let sem = crate::lock::find("sem").unwrap();
        assert_eq!(
            rerun(&s.config(sem, DEFAULT_TIMEOUT, &Servers::NONE)),
            "booking --buyers 7 --lock sem --tickets 3 --delay 250us..1ms --arrival 0..1500us --seed 5"
        );
        assert_eq!(s.delay().to_string().parse::<Delay>(), Ok(s.delay()));
        assert_eq!(s.arrival().to_string().parse::<Delay>(), Ok(s.arrival()));
    }

    /// The lab's round reaches what the lab test runs by hand: the
    /// README's 150 buyers for 100 tickets released at once (more than any
    /// 64-slot ring), and holders stopped for over a second with buyers
    /// behind them (longer than a 300 ms takeover).
    #[test]
    fn a_lab_round_holds_the_readme_and_a_held_scenario() {
        let round = Scenario::lab(1, 1);
        assert_eq!(round.len(), LAB.len());
        let by = |name: &str| round.iter().find(|s| s.lab == Some(name)).unwrap();
        let readme = by("readme");
        assert_eq!(
            (readme.buyers, readme.tickets, readme.arrival_max_us),
            (150, 100, 0)
        );
        let held = by("held");
        assert!(held.held_ms.is_some_and(|ms| ms >= 1_000), "{held:?}");
        assert!(held.buyers > HELD_PAUSED, "{held:?}");
        assert!(by("crowd").buyers > 1_000 && by("thousand").buyers == 1_000);
        let bursts = by("bursts");
        let arrival = bursts.arrival();
        assert!((4..=8).contains(&arrival.bursts), "{bursts:?}");
        assert!(
            arrival
                .to_string()
                .ends_with(&format!("/{}", arrival.bursts))
        );
        assert_eq!(round, Scenario::lab(1, 1), "seeded");
    }
}
