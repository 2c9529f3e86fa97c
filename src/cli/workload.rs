//! The arguments several commands share, declared once and flattened into
//! each: the servers a strategy may need ([`Servers`]: `run`, `check`,
//! `compare`, `bench`) and the workload of a booking run ([`WorkloadArgs`]:
//! `run` and `compare`). A command that words one of them differently in
//! its `--help`, or ties it to one of its own, says so on its own arguments
//! with [`in_place`]; the flag, its default and its checks stay these.

use std::time::Duration;

use clap::{Arg, Args};

use super::values::{
    DEFAULT_DELAY, parse_lease, parse_lock_server, parse_server, parse_timeout, seed_parser,
};
use crate::engine::RunConfig;
use crate::engine::config::{DEFAULT_LEASE, MAX_POOLED_BUYERS};
use crate::engine::delay::Delay;
use crate::features;
use crate::lock::{self, Strategy};
use crate::model::stock::MAX_COUNT;

/// The servers a command was given: the PostgreSQL server of the `pg-*`
/// strategies (`--store`) and the lock server of the `redis-*` ones
/// (`--lock-server`, with its `--lease`).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Servers {
    /// The PostgreSQL server of the pg-* strategies:
    /// postgres://USER@HOST:PORT/DATABASE. The run makes a schema of its
    /// own there and drops it at the end. (The sql-* strategies use SQLite,
    /// built in: nothing to give.)
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: Option<String>,

    /// A connection pooler in front of --store's server (PgBouncer in
    /// transaction mode; make db starts one): each buyer connects through
    /// it, so a run needs no server connection per buyer. The run's own
    /// sessions still go to --store.
    #[arg(long, value_name = "URL", value_parser = parse_server, requires = "store")]
    pub pooler: Option<String>,

    /// The lock server of the redis-* strategies: redis://HOST:PORT
    /// (without it they are left out, and naming one is refused).
    #[arg(long, value_name = "URL", value_parser = parse_lock_server)]
    pub lock_server: Option<String>,

    /// How long a lease from the lock server lasts: a holder stopped for
    /// longer (--pause) loses it while it sleeps.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_lease)]
    pub lease: Duration,
}

impl Servers {
    /// No server given.
    pub const NONE: Servers = Servers {
        store: None,
        pooler: None,
        lock_server: None,
        lease: DEFAULT_LEASE,
    };

    /// Gives `cfg` these servers.
    pub fn apply(&self, cfg: &mut RunConfig) {
        cfg.server.clone_from(&self.store);
        cfg.pooler.clone_from(&self.pooler);
        cfg.lock_server.clone_from(&self.lock_server);
        cfg.lease = self.lease;
    }

    /// Refuses a server this build cannot talk to: `--store` without the
    /// `postgres` feature, `--lock-server` without `redis` (see
    /// [`crate::features`]). Before anything else, whatever the strategy:
    /// a flag dropped in silence would make a run look served when it is not.
    ///
    /// # Errors
    /// [`crate::error::Error::Input`] naming the flag and the feature.
    pub fn built(&self) -> crate::error::Result<()> {
        if self.store.is_some() {
            features::require("--store", features::POSTGRES)?;
        }
        if self.lock_server.is_some() {
            features::require("--lock-server", features::REDIS)?;
        }
        Ok(())
    }

    /// The flag `s` needs and was not given, if any.
    pub fn missing(&self, s: &Strategy) -> Option<&'static str> {
        if s.store == lock::Store::Postgres && self.store.is_none() {
            Some("--store postgres://HOST:PORT/DATABASE")
        } else if s.lock_server && self.lock_server.is_none() {
            Some("--lock-server redis://HOST:PORT")
        } else {
            None
        }
    }
}

/// The workload of a booking run, as `run` and `compare` take it: how many
/// buyers race for how many tickets, how long each holds the stock, the
/// seed of every draw, the watchdog, and the servers. (Its help is `run`'s;
/// `compare` words it per run.) [`WorkloadArgs::config`] turns it into a
/// [`RunConfig`].
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Number of buyers: one process each, at most 100,000 (with --pool,
    /// up to 1,000,000 purchases).
    #[arg(short, long, default_value_t = 150, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_POOLED_BUYERS)))]
    pub buyers: u32,

    /// Tickets in a fresh stock (in a private run directory, removed afterwards).
    #[arg(short, long, default_value_t = 100, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_COUNT))]
    pub tickets: u64,

    /// Simulated network delay between reading and writing the stock: a
    /// duration (`2ms`) or a range (`0..3ms`) drawn per buyer from the seed.
    #[arg(short, long, default_value = DEFAULT_DELAY)]
    pub delay: Delay,

    /// Seed of the delays, arrivals and --kill victims (default: random,
    /// and always printed; at most 2^53 - 1).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Watchdog: stop the buyers when none has finished for this long (at
    /// least 3× the longest delay plus the longest arrival); they count as
    /// hung and the run still reports.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    #[command(flatten)]
    pub servers: Servers,
}

/// For `#[command(mut_args(...))]`: `change` applied to the argument `id`
/// alone, where it stands (`mut_arg` would move it to the end of the
/// command's list, and of the shell completions made from it).
pub(super) fn in_place(id: &'static str, change: fn(Arg) -> Arg) -> impl FnMut(Arg) -> Arg {
    move |a| if a.get_id() == id { change(a) } else { a }
}
