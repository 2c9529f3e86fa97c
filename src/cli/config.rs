//! From the command line to a run's configuration, and back: the one
//! place where flags become a [`RunConfig`] ([`WorkloadArgs::config`],
//! [`RunArgs::config`]), checked before anything starts, and where a
//! [`RunConfig`] becomes the command line that asks for it again
//! ([`rerun`]). The engine below knows no flags.

use crate::engine::config::{DEFAULT_LEASE, SharedRun, schedule_text};
use crate::engine::delay::fmt_duration;
use crate::engine::seed::random_seed;
use crate::engine::{DEFAULT_TIMEOUT, Faults, RunConfig, Stepping, StockSource};
use crate::error::{Error, Result};
use crate::judge::verdict::count;
use crate::lock::{self, Strategy};

use super::{RunArgs, WorkloadArgs};

impl WorkloadArgs {
    /// The run this workload asks for under `strategy`: a fresh stock of
    /// `--tickets`, the servers given, a random seed if none was, and what
    /// the command adds (`extras`: what the workload does not say). The
    /// watchdog comes last, as it depends on the delays, arrivals and
    /// pauses.
    pub fn config(
        &self,
        strategy: &'static Strategy,
        extras: impl FnOnce(&mut RunConfig),
    ) -> RunConfig {
        let seed = self.seed.unwrap_or_else(random_seed);
        let stock = StockSource::Fresh(self.tickets);
        let mut cfg = RunConfig::new(strategy, self.buyers, stock, self.delay, seed);
        self.servers.apply(&mut cfg);
        extras(&mut cfg);
        cfg.with_timeout(self.timeout)
    }
}

impl RunArgs {
    /// The run these arguments ask for: the workload, and `run`'s own
    /// flags (the stock file, arrivals, faults, stepping, hosting, a run
    /// shared by several hosts).
    ///
    /// # Errors
    /// [`Error::Input`] for a `--schedule` that is empty or names a buyer
    /// the run does not have, `--kill` or `--pause` of more buyers than the
    /// run has, or a server the strategy would not use (nothing has
    /// started).
    pub fn config(&self) -> Result<RunConfig> {
        self.check_schedule()?;
        self.check_faults()?;
        let strategy = lock::named(&self.lock)?;
        self.check_servers(strategy)?;
        Ok(self.workload.config(strategy, |cfg| {
            if let Some(p) = &self.stock {
                cfg.stock = StockSource::File(p.clone());
            }
            cfg.arrival = self.arrival;
            cfg.faults = Faults {
                kill: self.kill,
                kill_at: self.kill_at,
                no_repair: self.no_repair,
                pause: self.pause,
                pause_at: self.pause_at,
                pause_for: self.pause_for,
            };
            cfg.stepping = self.stepping();
            cfg.spawners = self.spawners;
            cfg.pool = self.pool;
            cfg.shared = self.shared();
        }))
    }

    /// `--schedule`, `--step-seed` and `--pct` as the scheduler takes them.
    fn stepping(&self) -> Option<Stepping> {
        if let Some(prefix) = &self.explore {
            return Some(Stepping::Explore(prefix.clone()));
        }
        match (&self.schedule, self.step_seed) {
            (Some(steps), _) => Some(Stepping::Schedule(steps.clone())),
            (None, Some(seed)) => Some(match self.pct {
                Some(depth) => Stepping::Pct { seed, depth },
                None => Stepping::Seeded(seed),
            }),
            (None, None) => None,
        }
    }

    /// `--run`, `--hosts` and `--host-name` (by default the machine's name
    /// and this process's id).
    fn shared(&self) -> Option<SharedRun> {
        let name = self.run.as_ref()?;
        Some(SharedRun {
            name: name.clone(),
            hosts: self.hosts,
            host: self.host_name.clone().unwrap_or_else(|| {
                let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "host".into());
                format!("{machine}-{}", std::process::id())
            }),
        })
    }

    /// Refuses more victims than buyers: `--kill 20 --buyers 10` would kill
    /// ten and say nothing of the other ten asked for.
    fn check_faults(&self) -> Result<()> {
        let buyers = self.workload.buyers;
        for (flag, n) in [("--kill", self.kill), ("--pause", self.pause)] {
            if n > buyers {
                return Err(Error::Input(format!(
                    "{flag} {n}: the run has {}; at most {buyers}",
                    count(u64::from(buyers), "buyer", "buyers")
                )));
            }
        }
        Ok(())
    }

    /// Refuses a server the strategy would not use: a flag silently
    /// ignored would make a run look shared, or served, when it is not.
    fn check_servers(&self, strategy: &Strategy) -> Result<()> {
        let name = strategy.name;
        let pg = strategy.store == lock::Store::Postgres;
        if self.run.is_some() && !pg {
            return Err(Error::Input(format!(
                "--run: --lock {name} cannot span hosts: a shared run keeps its stock on a PostgreSQL server, for the pg-* strategies"
            )));
        }
        if self.workload.servers.store.is_some() && !pg {
            return Err(Error::Input(format!(
                "--store: --lock {name} keeps its stock {}, not on a PostgreSQL server; --store is for the pg-* strategies",
                match strategy.store {
                    lock::Store::File => "in the JSON stock file",
                    _ => "in SQLite",
                }
            )));
        }
        if self.workload.servers.lock_server.is_some() && !strategy.lock_server {
            return Err(Error::Input(format!(
                "--lock-server: --lock {name} takes no lease from a lock server; --lock-server is for the redis-* strategies"
            )));
        }
        Ok(())
    }

    /// Refuses a schedule that names a buyer the run does not have.
    fn check_schedule(&self) -> Result<()> {
        let Some(steps) = &self.schedule else {
            return Ok(());
        };
        if steps.is_empty() {
            return Err(Error::Input("--schedule: empty".into()));
        }
        let buyers = self.workload.buyers;
        if let Some((k, b)) = steps.iter().enumerate().find(|(_, b)| **b >= buyers) {
            return Err(Error::Input(format!(
                "--schedule: step {} names buyer {b}, but the run has {} (0 to {})",
                k + 1,
                count(u64::from(buyers), "buyer", "buyers"),
                buyers - 1
            )));
        }
        Ok(())
    }
}

/// The command line that asks for `cfg` again: every flag that shapes
/// it, and [`RunArgs::config`] gives `cfg` back from it. (The interleaving
/// itself is the scheduler's: see [`RunConfig::repeats_exactly`].)
///
/// A stepped run made with system calls turned off as pause points by
/// the environment ([`crate::sys::seccomp::OFF_VAR`]) is re-run the same
/// way: the line begins with the variable, since the same schedule steps
/// differently with calls on.
pub fn rerun(cfg: &RunConfig) -> String {
    let mut line = String::new();
    if cfg.stepping.is_some() && crate::sys::seccomp::off_by_env() {
        line = format!("{}=off ", crate::sys::seccomp::OFF_VAR);
    }
    line += "booking";
    let mut previous = String::new();
    for word in rerun_args(cfg) {
        // A server's password is never printed (see `model::secret`).
        let shown = match previous.as_str() {
            "--store" | "--pooler" | "--lock-server" => crate::model::secret::redact(&word),
            _ => word.clone(),
        };
        line.push(' ');
        line += &shell_word(&shown);
        previous = word;
    }
    line
}

/// The arguments of [`rerun`]'s command line, one word each, unquoted:
/// what `check` and `grade` run each scenario with (see
/// [`crate::engine::apart`]).
pub fn rerun_args(cfg: &RunConfig) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut add = |words: &[&dyn std::fmt::Display]| {
        args.extend(words.iter().map(|w| w.to_string()));
    };
    add(&[&"--buyers", &cfg.buyers, &"--lock", &cfg.strategy.name]);
    match &cfg.stock {
        StockSource::Fresh(t) => add(&[&"--tickets", t]),
        StockSource::File(p) => add(&[&"--stock", &p.display()]),
    }
    match &cfg.stepping {
        // Virtual time: no delay, no arrival; the schedule is all.
        Some(Stepping::Schedule(steps)) => add(&[&"--schedule", &schedule_text(steps)]),
        Some(Stepping::Seeded(seed)) => add(&[&"--step-seed", seed]),
        Some(Stepping::Pct { seed, depth }) => add(&[&"--step-seed", seed, &"--pct", depth]),
        Some(Stepping::Explore(prefix)) if prefix.is_empty() => add(&[&"--explore"]),
        Some(Stepping::Explore(prefix)) => add(&[&"--explore", &schedule_text(prefix)]),
        None => {
            add(&[&"--delay", &cfg.delay]);
            if !cfg.arrival.is_zero() {
                add(&[&"--arrival", &cfg.arrival]);
            }
        }
    }
    add(&[&"--seed", &cfg.seed]);
    if cfg.timeout != cfg.watchdog(DEFAULT_TIMEOUT) {
        add(&[&"--timeout", &fmt_duration(cfg.timeout)]);
    }
    let f = &cfg.faults;
    if f.kill > 0 {
        add(&[&"--kill", &f.kill, &"--kill-at", &f.kill_at]);
    }
    if f.no_repair {
        add(&[&"--no-repair"]);
    }
    if f.pause > 0 {
        add(&[
            &"--pause",
            &f.pause,
            &"--pause-at",
            &f.pause_at,
            &"--pause-for",
            &fmt_duration(f.pause_for),
        ]);
    }
    if cfg.strategy.lock_server {
        if let Some(url) = &cfg.lock_server {
            add(&[&"--lock-server", url]);
        }
        if cfg.lease != DEFAULT_LEASE {
            add(&[&"--lease", &fmt_duration(cfg.lease)]);
        }
    }
    if let Some(k) = cfg.pool {
        add(&[&"--pool", &k]);
    }
    if let Some(url) = cfg
        .server
        .as_ref()
        .filter(|_| cfg.strategy.store == lock::Store::Postgres)
    {
        add(&[&"--store", url]);
        if let Some(pooler) = &cfg.pooler {
            add(&[&"--pooler", pooler]);
        }
    }
    if let Some(r) = &cfg.shared {
        add(&[
            &"--run",
            &r.name,
            &"--hosts",
            &r.hosts,
            &"--host-name",
            &r.host,
        ]);
    }
    if let Some(k) = cfg.spawners {
        add(&[&"--spawners", &k]);
    }
    args
}

/// `s`, quoted for a POSIX shell if it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::Parser;
    use proptest::prelude::*;

    use super::{rerun, shell_word};
    use crate::cli::{Cli, DEFAULT_DELAY};
    use crate::engine::config::{MAX_BUYERS, MAX_POOLED_BUYERS, SharedRun};
    use crate::engine::delay::{Delay, MAX_DELAY};
    use crate::engine::seed::MAX_SEED;
    use crate::engine::{Faults, KillPoint, RunConfig, Stepping, StockSource};
    use crate::lock;
    use crate::model::stock::MAX_COUNT;

    #[test]
    fn the_rerun_line_carries_every_flag() {
        let sem = lock::find("sem").unwrap();
        let mut cfg = RunConfig::new(
            sem,
            7,
            StockSource::File("my stock.json".into()),
            "1ms..2ms".parse().unwrap(),
            5,
        );
        assert_eq!(
            rerun(&cfg),
            "booking --buyers 7 --lock sem --stock 'my stock.json' --delay 1ms..2ms --seed 5"
        );
        cfg.arrival = "0..3ms".parse().unwrap();
        cfg = cfg.with_timeout(Duration::from_secs(2));
        cfg.faults = Faults {
            kill: 2,
            kill_at: KillPoint::Commit,
            no_repair: true,
            ..Faults::default()
        };
        assert_eq!(
            rerun(&cfg),
            "booking --buyers 7 --lock sem --stock 'my stock.json' --delay 1ms..2ms --arrival 0..3ms --seed 5 --timeout 2s --kill 2 --kill-at commit --no-repair"
        );
        // A leased strategy's flags; only the redis feature builds one.
        #[cfg(feature = "redis")]
        {
            let mut leased = RunConfig::new(
                lock::find("redis-lease").unwrap(),
                3,
                StockSource::Fresh(2),
                Delay::ZERO,
                1,
            );
            leased.faults.pause = 3;
            leased.faults.pause_at = KillPoint::Read;
            leased.faults.pause_for = Duration::from_millis(300);
            leased.lock_server = Some("redis://127.0.0.1:6379".into());
            leased.lease = Duration::from_millis(50);
            leased = leased.with_timeout(crate::engine::DEFAULT_TIMEOUT);
            assert_eq!(
                rerun(&leased),
                "booking --buyers 3 --lock redis-lease --tickets 2 --delay 0 --seed 1 --pause 3 --pause-at read --pause-for 300ms --lock-server redis://127.0.0.1:6379 --lease 50ms"
            );
        }
        assert_eq!(
            cfg.lock_server, None,
            "a strategy without a lock server names none"
        );
    }

    /// The words a POSIX shell makes of `line`, as far as [`shell_word`]
    /// quotes: single quotes, and a backslash outside them.
    fn shell_split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let (mut word, mut in_word, mut quoted) = (String::new(), false, false);
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => quoted = !quoted,
                c if quoted => word.push(c),
                '\\' => word.extend(chars.next()),
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                    continue;
                }
                c => word.push(c),
            }
            in_word = true;
        }
        if in_word {
            words.push(word);
        }
        words
    }

    /// The configuration the command line `line` asks for, through the
    /// real parser and [`RunArgs::config`].
    fn parsed(line: &str) -> RunConfig {
        let cli = Cli::try_parse_from(shell_split(line))
            .unwrap_or_else(|e| panic!("{line}: {}", e.render()));
        assert!(cli.command.is_none(), "{line}: a run needs no subcommand");
        cli.run.config().unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// A duration the command line can write: whole seconds, milliseconds,
    /// microseconds or nanoseconds, from `min` up to `max`.
    fn duration(min: Duration, max: Duration) -> impl Strategy<Value = Duration> {
        let ns = |d: Duration| d.as_nanos() as u64;
        let (lo, hi) = (ns(min), ns(max));
        prop_oneof![
            (lo.div_ceil(1_000_000_000)..=hi / 1_000_000_000).prop_map(Duration::from_secs),
            (lo.div_ceil(1_000_000)..=hi / 1_000_000).prop_map(Duration::from_millis),
            (lo.div_ceil(1_000)..=hi / 1_000).prop_map(Duration::from_micros),
            (lo..=hi).prop_map(Duration::from_nanos),
        ]
    }

    fn delay() -> impl Strategy<Value = Delay> {
        let d = || duration(Duration::ZERO, MAX_DELAY);
        (d(), d(), prop_oneof![Just(0u32), 2..50u32]).prop_map(|(a, b, k)| Delay {
            min: a.min(b),
            max: a.max(b),
            // A fixed delay has no bursts: `2ms/3` means nothing.
            bursts: if a == b { 0 } else { k },
        })
    }

    /// Text a shell must quote: spaces, quotes, `$`, `&`; never a leading
    /// `-` (a value clap would take for a flag).
    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ._'\"$&?=][a-zA-Z0-9 ._'\"$&?=-]{0,15}"
    }

    fn kill_point() -> impl Strategy<Value = KillPoint> {
        prop::sample::select(KillPoint::ALL.to_vec())
    }

    /// How a run is stepped, for `buyers` buyers.
    fn stepping(buyers: u32) -> impl Strategy<Value = Option<Stepping>> {
        let seed = || 0..=MAX_SEED;
        prop_oneof![
            Just(None),
            prop::collection::vec(0..buyers, 1..12).prop_map(|s| Some(Stepping::Schedule(s))),
            seed().prop_map(|s| Some(Stepping::Seeded(s))),
            (seed(), 1..=10u32).prop_map(|(seed, depth)| Some(Stepping::Pct { seed, depth })),
        ]
    }

    /// Faults for `buyers` buyers, as the command line can ask for them:
    /// a point and a length only with a count (else their defaults).
    fn faults(buyers: u32) -> impl Strategy<Value = Faults> {
        let pause_for = duration(Duration::from_millis(1), MAX_DELAY);
        (
            0..=buyers.min(5),
            kill_point(),
            any::<bool>(),
            0..=buyers.min(5),
            kill_point(),
            pause_for,
        )
            .prop_map(
                |(kill, kill_at, no_repair, pause, pause_at, pause_for)| Faults {
                    kill,
                    kill_at: if kill > 0 { kill_at } else { KillPoint::Hold },
                    no_repair,
                    pause,
                    pause_at: if pause > 0 { pause_at } else { KillPoint::Read },
                    pause_for: if pause > 0 {
                        pause_for
                    } else {
                        Duration::from_secs(1)
                    },
                },
            )
    }

    /// Configurations the command line can ask for.
    fn configs() -> impl Strategy<Value = RunConfig> {
        (
            prop::sample::select(lock::all().to_vec()),
            prop_oneof![1..=MAX_BUYERS, 1..=MAX_POOLED_BUYERS, 1..=8u32],
        )
            .prop_flat_map(|(strategy, buyers)| {
                let stock = (0..=MAX_COUNT, prop::option::of(text()));
                let hosting = (
                    prop::option::of(1..=1024u32),
                    prop::option::of(1..=MAX_BUYERS),
                );
                let servers = (
                    prop::option::of(text().prop_map(|u| format!("postgres://{u}"))),
                    prop::option::of(text().prop_map(|u| format!("redis://{u}"))),
                    duration(Duration::from_millis(1), MAX_DELAY),
                    prop::option::of(("[a-z0-9_]{1,40}", 1..=1000u32, text())),
                    prop::option::of(text().prop_map(|u| format!("postgres://{u}"))),
                );
                (
                    (Just(strategy), Just(buyers), stock, delay(), delay()),
                    (0..=MAX_SEED, faults(buyers), stepping(buyers)),
                    (hosting, servers),
                    duration(Duration::from_millis(1), MAX_DELAY),
                )
            })
            .prop_map(|(workload, draws, (hosting, servers), timeout)| {
                let (strategy, buyers, stock, delay, arrival) = workload;
                let (seed, faults, stepping) = draws;
                let (server, lock_server, lease, shared, pooler) = servers;
                let stock = match (stock, &stepping) {
                    // A stepped run books a fresh stock: clap refuses
                    // --stock with it.
                    ((_, Some(file)), None) => StockSource::File(PathBuf::from(file)),
                    ((tickets, _), _) => StockSource::Fresh(tickets),
                };
                let mut cfg = RunConfig::new(strategy, buyers, stock, delay, seed);
                cfg.arrival = arrival;
                cfg.faults = faults;
                cfg.stepping = stepping;
                (cfg.spawners, cfg.pool) = hosting;
                (cfg.server, cfg.lock_server, cfg.lease) = (server, lock_server, lease);
                // --run needs --store, which a re-run line carries for a
                // PostgreSQL strategy only.
                if strategy.store == lock::Store::Postgres && cfg.server.is_some() {
                    cfg.shared = shared.map(|(name, hosts, host)| SharedRun { name, hosts, host });
                    cfg.pooler = pooler;
                }
                cfg.with_timeout(timeout)
            })
    }

    proptest! {
        // Counterexamples are kept beside this file, as the integration
        // tests keep theirs.
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
            )),
            ..ProptestConfig::default()
        })]

        /// `rerun(cfg)`, parsed by the real parser and converted, gives
        /// back `cfg`: every field its line carries. (A stepped run's line
        /// carries no delays, its time being virtual; a server only for a
        /// strategy that uses it.)
        #[test]
        fn the_rerun_line_parses_back_to_its_configuration(cfg in configs()) {
            let line = rerun(&cfg);
            let back = parsed(&line);
            prop_assert_eq!(back.strategy.name, cfg.strategy.name, "{}", line);
            prop_assert_eq!(back.buyers, cfg.buyers, "{}", line);
            prop_assert_eq!(&back.stock, &cfg.stock, "{}", line);
            prop_assert_eq!(back.seed, cfg.seed, "{}", line);
            prop_assert_eq!(back.timeout, cfg.timeout, "{}", line);
            prop_assert_eq!(back.faults, cfg.faults, "{}", line);
            prop_assert_eq!(&back.stepping, &cfg.stepping, "{}", line);
            prop_assert_eq!(back.spawners, cfg.spawners, "{}", line);
            prop_assert_eq!(back.pool, cfg.pool, "{}", line);
            prop_assert_eq!(&back.shared, &cfg.shared, "{}", line);
            if cfg.stepping.is_none() {
                prop_assert_eq!(back.delay, cfg.delay, "{}", line);
                prop_assert_eq!(back.arrival, cfg.arrival, "{}", line);
            } else {
                prop_assert_eq!(back.delay, DEFAULT_DELAY.parse().unwrap(), "{}", line);
            }
            if cfg.strategy.store == lock::Store::Postgres {
                prop_assert_eq!(&back.server, &cfg.server, "{}", line);
                prop_assert_eq!(&back.pooler, &cfg.pooler, "{}", line);
            }
            if cfg.strategy.lock_server {
                prop_assert_eq!(&back.lock_server, &cfg.lock_server, "{}", line);
                prop_assert_eq!(back.lease, cfg.lease, "{}", line);
            }
        }
    }

    #[test]
    fn the_shell_splits_what_shell_word_quotes() {
        for s in [
            "plain",
            "",
            "my stock.json",
            "it's",
            "''",
            "a'b'c",
            " $x & y ",
        ] {
            assert_eq!(
                shell_split(&format!("x {} y", shell_word(s))),
                ["x", s, "y"]
            );
        }
    }
}
