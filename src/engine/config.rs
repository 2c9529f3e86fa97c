//! What a run is asked to do: [`RunConfig`]. (The command line that asks
//! for it, and asks for it again, is the CLI's: `cli::config`.)

use std::path::PathBuf;
use std::time::Duration;

use super::delay::Delay;
use super::seed;
use crate::lock::Strategy;

/// Where the tickets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockSource {
    /// A fresh stock of this many tickets in a private run directory,
    /// removed after the run.
    Fresh(u64),
    /// The user's stock file, booked against in place and kept.
    File(PathBuf),
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Number of buyer processes.
    pub buyers: u32,
    /// The locking strategy.
    pub strategy: &'static Strategy,
    /// Simulated delay between reading and writing the stock.
    pub delay: Delay,
    /// Each buyer's think time after the start, before it asks for the
    /// lock: spreads arrivals, so buyers also meet the lock at different
    /// moments (not only all at once).
    pub arrival: Delay,
    /// Seed of every buyer's delay and arrival, and of the `--kill` victims.
    pub seed: u64,
    /// Where the tickets come from.
    pub stock: StockSource,
    /// The watchdog: a run in which no buyer finishes for this long is
    /// stopped, and its stuck buyers reported as hung.
    pub timeout: Duration,
    /// Faults to inject (none by default).
    pub faults: Faults,
    /// Stepped mode: the parent chooses the interleaving (see
    /// [`super::step`]); `None` runs free.
    pub stepping: Option<Stepping>,
    /// How many processes fork the buyers at once (`None`: see
    /// [`RunConfig::spawners`]). Changes how fast the buyers start, never
    /// what they do.
    pub spawners: Option<u32>,
    /// A worker pool (`--pool K`): K processes serve the buyers, each
    /// buyer after buyer (like `multiprocessing.Pool`); `None`: one process
    /// per buyer. The verdict is per buyer either way.
    pub pool: Option<u32>,
    /// The PostgreSQL server of the `pg-*` strategies (`--store URL`).
    pub server: Option<String>,
    /// A connection pooler in front of `server` (`--pooler URL`): the
    /// buyers connect through it.
    pub pooler: Option<String>,
    /// A run shared by several hosts (`--run`), on `server`.
    pub shared: Option<SharedRun>,
    /// The lock server of the `redis-*` strategies (`--lock-server URL`).
    pub lock_server: Option<String>,
    /// How long a lease from the lock server lasts (`--lease`).
    pub lease: Duration,
}

/// The default `--lease`: far longer than any holder's delay (5 ms by
/// default), so that only a pause (`--pause`) or a starved machine
/// outlives it.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(500);

/// One host's part in a run several hosts share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedRun {
    /// The run's name.
    pub name: String,
    /// How many hosts it waits for.
    pub hosts: u32,
    /// This host's name.
    pub host: String,
}

/// How a stepped run chooses whose turn it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stepping {
    /// Exactly this schedule: the buyer ids, one per step.
    Schedule(Vec<u32>),
    /// A schedule drawn from this seed: at each step, a runnable buyer
    /// chosen uniformly.
    Seeded(u64),
    /// PCT (probabilistic concurrency testing, Burckhardt et al., ASPLOS
    /// 2010): random distinct priorities, the highest-priority runnable
    /// buyer always moves, and at `depth - 1` random steps the buyer that
    /// moved drops below every other. It finds any bug that needs `depth`
    /// ordering constraints with probability at least 1 / (n · k^(d-1))
    /// for n buyers and k steps, where uniform choice has no such bound.
    Pct {
        /// The seed of the priorities and change points.
        seed: u64,
        /// The bug depth aimed at (1: no change point).
        depth: u32,
    },
    /// One run of an exhaustive exploration (`check --exhaustive`): this
    /// schedule's steps, then the buyer that moved last while it can
    /// (else the lowest id; spinners last), recording at each step who
    /// could have moved instead.
    Explore(Vec<u32>),
}

/// The most buyer processes one run may start.
pub const MAX_BUYERS: u32 = 100_000;

/// The most buyers one run may have when a worker pool (`--pool`) serves
/// them: they are not processes, only purchases.
pub const MAX_POOLED_BUYERS: u32 = 1_000_000;

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl RunConfig {
    /// A run of `buyers` under `strategy` on `stock`, with `delay` seeded by
    /// `seed`, all arriving at once, the default watchdog and no faults.
    pub fn new(
        strategy: &'static Strategy,
        buyers: u32,
        stock: StockSource,
        delay: Delay,
        seed: u64,
    ) -> Self {
        RunConfig {
            buyers,
            strategy,
            delay,
            arrival: Delay::ZERO,
            seed,
            stock,
            timeout: watchdog_timeout(DEFAULT_TIMEOUT, delay, Delay::ZERO),
            faults: Faults::default(),
            stepping: None,
            spawners: None,
            pool: None,
            server: None,
            pooler: None,
            shared: None,
            lock_server: None,
            lease: DEFAULT_LEASE,
        }
    }

    /// The processes that run the buyers: one per buyer, or the pool's
    /// workers (never more than there are buyers).
    pub fn processes(&self) -> usize {
        match self.pool {
            Some(k) => (k as usize).clamp(1, (self.buyers as usize).max(1)),
            None => self.buyers as usize,
        }
    }

    /// The process (0 to [`RunConfig::processes`] - 1) that runs buyer
    /// `id`: its own, or worker `id mod K` of a pool.
    pub fn host(&self, id: usize) -> usize {
        id % self.processes().max(1)
    }

    /// The processes that fork the buyers: as asked, else one per core
    /// (`sched_getaffinity`), but no more than one per 64 buyers — below
    /// that, starting a spawner costs more than it saves — and never more
    /// than there are buyers. One means `booking` forks every buyer
    /// itself.
    pub fn spawners(&self) -> usize {
        let n = self.processes();
        match self.spawners {
            Some(k) => (k as usize).clamp(1, n.max(1)),
            None => {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                cores.min(n / 64).max(1)
            }
        }
    }

    /// The same run with the watchdog at `asked` (see [`watchdog_timeout`]).
    pub fn with_timeout(mut self, asked: Duration) -> Self {
        self.timeout = self.watchdog(asked);
        self
    }

    /// The watchdog's timeout for `asked`: see [`watchdog_timeout`], for
    /// the delays the buyers sleep ([`RunConfig::sleeps`]); a `--pause`
    /// adds its length (a stopped buyer finishes nothing).
    pub fn watchdog(&self, asked: Duration) -> Duration {
        let paused = if self.faults.pause > 0 {
            self.faults.pause_for
        } else {
            Duration::ZERO
        };
        let (delay, arrival) = self.sleeps();
        watchdog_timeout(asked, delay, arrival)
            .max(watchdog_timeout(Duration::ZERO, delay, arrival) + paused * 2)
    }

    /// The delay and arrival windows the buyers sleep: none in a stepped
    /// run, whose time is virtual (the schedule, not sleeps, orders the
    /// buyers).
    pub fn sleeps(&self) -> (Delay, Delay) {
        match self.stepping {
            Some(_) => (Delay::ZERO, Delay::ZERO),
            None => (self.delay, self.arrival),
        }
    }

    /// The configuration that repeats a run of this one: a stepped run by
    /// the schedule it followed (`schedule`, as recorded), any other as it
    /// is.
    pub fn replaying(&self, schedule: Option<&[u32]>) -> RunConfig {
        match schedule {
            Some(steps) => RunConfig {
                stepping: Some(Stepping::Schedule(steps.to_vec())),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Whether a re-run repeats this run's outcome exactly. The seed fixes
    /// every delay, arrival and victim, but which buyer gets the lock first,
    /// and whether two unlocked buyers read the same count, is the
    /// scheduler's choice: with more than one buyer, the outcome of an
    /// unsafe strategy depends on timing.
    pub fn repeats_exactly(&self) -> bool {
        self.buyers <= 1 || matches!(self.stepping, Some(Stepping::Schedule(_)))
    }
}

/// A schedule as `--schedule` takes it: `0,1,1,0`.
pub fn schedule_text(steps: &[u32]) -> String {
    let ids: Vec<String> = steps.iter().map(u32::to_string).collect();
    ids.join(",")
}

/// The watchdog's timeout: what was asked, but at least three times the
/// longest delay plus the longest arrival (under a lock, buyers finish one
/// delay apart at the most, after arriving).
pub fn watchdog_timeout(asked: Duration, delay: Delay, arrival: Delay) -> Duration {
    asked.max(delay.max * 3 + arrival.max)
}

/// Where `--kill` kills its victims (each kills itself with `SIGKILL`, so
/// the point is exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KillPoint {
    /// Right after acquiring the lock, before reading the stock.
    #[default]
    Hold,
    /// After reading the stock, before the delay and the write.
    Read,
    /// Mid-write: half of the new stock is in the temporary file, not yet
    /// renamed over the stock file. (Only buyers that found a ticket.)
    Write,
    /// After the rename, before releasing the lock and reporting: the
    /// purchase is in the file, but nobody was told. (Only buyers that
    /// found a ticket.)
    Commit,
}

impl KillPoint {
    /// Every point, in the order of a purchase.
    pub const ALL: [KillPoint; 4] = [
        KillPoint::Hold,
        KillPoint::Read,
        KillPoint::Write,
        KillPoint::Commit,
    ];

    /// The `--kill-at` name.
    pub fn name(self) -> &'static str {
        match self {
            KillPoint::Hold => "hold",
            KillPoint::Read => "read",
            KillPoint::Write => "write",
            KillPoint::Commit => "commit",
        }
    }

    /// What happens there, for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            KillPoint::Hold => "just acquired the lock, before reading the stock",
            KillPoint::Read => "read the stock, before the delay and the write",
            KillPoint::Write => {
                "half the new stock in the temporary file (buyers that found a ticket)"
            }
            KillPoint::Commit => {
                "renamed over the stock file, not yet released or reported (buyers that found a ticket)"
            }
        }
    }
}

impl std::fmt::Display for KillPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KillPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        KillPoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown kill point '{s}' (hold, read, write, commit)"))
    }
}

/// Faults a run injects, to show what each strategy does when a buyer dies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// How many buyers kill themselves with `SIGKILL` (chosen by the seed).
    pub kill: u32,
    /// Where they do it.
    pub kill_at: KillPoint,
    /// Do not repair a lock whose holder died: watch the other buyers
    /// wait until the watchdog ends the run.
    pub no_repair: bool,
    /// How many buyers stop (`SIGSTOP`) for [`Faults::pause_for`] (chosen
    /// by the seed, apart from the `--kill` victims' draw).
    pub pause: u32,
    /// Where they stop: `--kill-at`'s points.
    pub pause_at: KillPoint,
    /// How long they stay stopped.
    pub pause_for: Duration,
}

impl Faults {
    /// Which buyers are victims: the first `kill` of a shuffle of the ids
    /// seeded by `seed`, so a run with the same seed kills the same buyers.
    pub fn victims(&self, buyers: u32, seed: u64) -> Vec<bool> {
        chosen(buyers, self.kill, seed, seed::stream::VICTIMS)
    }

    /// Which buyers `--pause` stops: as [`Faults::victims`], from a stream
    /// of their own, so adding a pause leaves the victims the same.
    pub fn paused(&self, buyers: u32, seed: u64) -> Vec<bool> {
        chosen(buyers, self.pause, seed, seed::stream::PAUSED)
    }
}

/// `n` of `buyers`: the first `n` of a shuffle of the ids seeded by `seed`
/// in `stream`.
fn chosen(buyers: u32, n: u32, seed: u64, stream: u64) -> Vec<bool> {
    let mut ids: Vec<u32> = (0..buyers).collect();
    let mut rng = seed::rng(seed, stream);
    // Fisher–Yates, with our own portable draws.
    for i in (1..ids.len()).rev() {
        let j = seed::between(&mut rng, 0, i as u64) as usize;
        ids.swap(i, j);
    }
    let mut pick = vec![false; buyers as usize];
    for &id in ids.iter().take(n as usize) {
        pick[id as usize] = true;
    }
    pick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victims_are_seeded() {
        let f = Faults {
            kill: 3,
            ..Faults::default()
        };
        let a = f.victims(20, 9);
        assert_eq!(a, f.victims(20, 9));
        assert_eq!(a.iter().filter(|&&v| v).count(), 3);
        assert_eq!(f.victims(2, 9), [true, true]);
    }

    #[test]
    fn kill_points_parse_their_names() {
        for p in KillPoint::ALL {
            assert_eq!(p.name().parse::<KillPoint>(), Ok(p));
        }
        assert!("later".parse::<KillPoint>().is_err());
    }
}
