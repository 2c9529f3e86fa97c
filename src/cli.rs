//! The command line: clap definitions only. Strategy names and their help
//! come from the registry, so a new strategy appears here by itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::engine::KillPoint;
use crate::engine::delay::{self, Delay};
use crate::engine::seed::MAX_SEED;
use crate::engine::stock::MAX_COUNT;
use crate::lock;
use crate::report::quiz::Question;

/// The default `--delay`: wide enough that 150 buyers without a lock
/// practically always oversell on a 2-core machine, short enough that a safe
/// strategy sells 100 tickets one after the other in well under a second.
pub const DEFAULT_DELAY: &str = "1ms..5ms";

pub use crate::engine::config::{MAX_BUYERS, MAX_POOLED_BUYERS};

/// `--store`: a PostgreSQL URL (`postgres://` or `postgresql://`).
fn parse_server(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err("a PostgreSQL URL: postgres://USER@HOST:PORT/DATABASE (the sql-* strategies need none: SQLite is built in)".into())
    }
}

/// `--lock-server`: a Redis URL.
fn parse_lock_server(s: &str) -> Result<String, String> {
    if s.starts_with("redis://") {
        Ok(s.to_string())
    } else {
        Err("a Redis URL: redis://HOST:PORT".into())
    }
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "ms")?;
    if d < Duration::from_millis(1) {
        return Err("a lease of at least 1ms (Redis counts in milliseconds)".into());
    }
    Ok(d)
}

/// The lock server of the leased strategies (`redis-*`), for every
/// command that runs them.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    /// The lock server of the redis-* strategies: redis://HOST:PORT
    /// (without it they are left out, and naming one is refused).
    #[arg(long, value_name = "URL", value_parser = parse_lock_server)]
    pub lock_server: Option<String>,

    /// How long a lease from the lock server lasts: a holder stopped for
    /// longer (--pause) loses it while it sleeps.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_lease)]
    pub lease: Duration,
}

const EXIT_CODES: &str = "\
Exit codes: 0 the run completed and every buyer reported (whatever the verdict) · \
1 a buyer failed or hung, or the run failed · 2 bad usage or input (nothing changed) · \
3 unsafe verdict with --strict, or a strategy broke its claim in check · \
128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)";

/// `booking`: N buyer processes race for the tickets in one stock file.
#[derive(Debug, Parser)]
#[command(
    name = "booking",
    version,
    about = "Buyer processes race for tickets in one JSON stock file, under a locking strategy of your choice.",
    args_conflicts_with_subcommands = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// What to do; without one, `booking` runs a booking (`run`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options of `run`, accepted without the subcommand.
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// Whether the command asked for JSON output.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            None => self.run.json,
            Some(Command::Run(a)) => a.json,
            Some(Command::Check(a)) => a.json,
            Some(Command::Compare(a)) => a.format.as_deref() == Some("json"),
            Some(Command::Grade(a)) => a.json,
            Some(Command::Verdict(a)) => a.json,
            Some(Command::Completions { .. }) => false,
            Some(Command::Bench(_)) => false,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one booking (the default: `booking --buyers 150 --lock none`).
    Run(RunArgs),
    /// Run generated scenarios against strategies and report, per strategy,
    /// every scenario that was unsafe, failed or hung (is my strategy safe?).
    Check(CheckArgs),
    /// Run one workload against every strategy, repeatedly, and tabulate
    /// safety against speed.
    Compare(CompareArgs),
    /// Measure the safe strategies against the floor and the classic
    /// Python demo (what `make bench` runs).
    Bench(BenchArgs),
    /// Grade one strategy (a student's): safety over free and stepped
    /// scenarios, a holder killed at every point, liveness; a score, and
    /// Gradescope's results.json or JUnit XML on request.
    Grade(GradeArgs),
    /// Judge a run made by several hosts (`--run NAME --hosts N`) from the
    /// database alone: every host's buyers, and the final count.
    Verdict(VerdictArgs),
    /// Print a shell completion script (`booking completions bash >
    /// ~/.local/share/bash-completion/completions/booking`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `verdict`.
#[derive(Debug, Clone, Args)]
pub struct VerdictArgs {
    /// The PostgreSQL server the hosts booked on.
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: String,
    /// The run's name, as the hosts gave it.
    #[arg(long, value_name = "NAME", value_parser = parse_run_name)]
    pub run: String,
    /// One JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// `--run`: a name for a run several hosts share (a SQL identifier part).
fn parse_run_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(s.to_string())
    } else {
        Err("1 to 40 characters from a-z, 0-9 and _".into())
    }
}

/// Options of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Strategies to check, comma-separated (default: all).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser())]
    pub lock: Vec<String>,

    /// Scenarios per strategy, twice over: free-running ones (up to 60
    /// tickets, 40 buyers, 3 ms of delay, arrivals spread over up to 3 ms)
    /// and as many stepped ones (up to 6 buyers and 4 tickets, a seeded
    /// interleaving); plus one paused scenario per ten (2 or 3 buyers, each
    /// stopped for 100 ms after its read, under a 10 ms lease).
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cases: u32,

    /// Seed the scenarios are drawn with (default: random, and printed).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Watchdog per scenario: a scenario in which no buyer finishes for this
    /// long is stopped and counted as hung; the check goes on.
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The PostgreSQL server of the pg-* strategies:
    /// postgres://USER@HOST:PORT/DATABASE. The run makes a schema of its
    /// own there and drops it at the end. (The sql-* strategies use SQLite,
    /// built in: nothing to give.)
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: Option<String>,

    #[command(flatten)]
    pub lease: LeaseArgs,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Buyers per run (processes, unless --pool).
    #[arg(short, long, default_value_t = 150, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_POOLED_BUYERS)))]
    pub buyers: u32,

    /// Tickets per run.
    #[arg(short, long, default_value_t = 100, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_COUNT))]
    pub tickets: u64,

    /// Simulated delay, as for a run.
    #[arg(short, long, default_value = DEFAULT_DELAY)]
    pub delay: Delay,

    /// Seed of the delays, the same for every strategy (default: random, and printed).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Watchdog per run: a run in which no buyer finishes for this long is
    /// stopped and counted as hung; the comparison goes on.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The PostgreSQL server of the pg-* strategies:
    /// postgres://USER@HOST:PORT/DATABASE. The run makes a schema of its
    /// own there and drops it at the end. (The sql-* strategies use SQLite,
    /// built in: nothing to give.)
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: Option<String>,

    #[command(flatten)]
    pub lease: LeaseArgs,

    /// Strategies to compare, comma-separated (default: all).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser())]
    pub lock: Vec<String>,

    /// Measured runs per strategy, after one warm-up run.
    #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,

    /// Output format (default: text; with --out, guessed from the file's
    /// extension: .json, .csv, .md, .svg).
    #[arg(short, long, value_parser = format_parser())]
    pub format: Option<String>,

    /// Also write the results to FILE, rewritten after each strategy so that
    /// a failure later loses nothing; the table is still shown.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Draw one run of each strategy (the one of median wall time) in
    /// FILE.svg, stacked on one time scale: the cost of each lock, side by
    /// side.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,

    /// Also run every strategy on a worker pool of K processes (a row per
    /// K, beside the row with one process per buyer), comma-separated.
    #[arg(long, value_name = "K", value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BUYERS)))]
    pub pool: Vec<u32>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--lock` values: every strategy of the registry (hidden ones accepted
/// but not listed).
fn lock_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        lock::all()
            .iter()
            .map(|s| PossibleValue::new(s.name).help(s.about).hide(s.hidden)),
    )
}

fn quiz_parser() -> impl TypedValueParser<Value = Question> {
    PossibleValuesParser::new(
        Question::ALL
            .iter()
            .map(|q| PossibleValue::new(q.name()).help(q.about())),
    )
    .try_map(|s| s.parse::<Question>())
}

fn format_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        crate::report::EXPORTERS
            .iter()
            .map(|e| PossibleValue::new(e.name).help(e.about)),
    )
}

fn kill_point_parser() -> impl TypedValueParser<Value = KillPoint> {
    PossibleValuesParser::new(
        KillPoint::ALL
            .iter()
            .map(|p| PossibleValue::new(p.name()).help(p.about())),
    )
    .try_map(|s| s.parse::<KillPoint>())
}

/// Seeds up to 2^53 - 1, the largest integer JSON readers (jq,
/// JavaScript) keep exact.
fn seed_parser() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=MAX_SEED)
}

fn parse_pause(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "ms")?;
    if d.is_zero() || d > Duration::from_secs(600) {
        return Err("a pause above 0 and at most 10min".into());
    }
    Ok(d)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "s")?;
    if d.is_zero() {
        return Err("the watchdog needs a timeout above 0".into());
    }
    Ok(d)
}

/// Options of one booking run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Number of buyers: one process each, at most 100,000 (with --pool,
    /// up to 1,000,000 purchases).
    #[arg(short, long, default_value_t = 150, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_POOLED_BUYERS)))]
    pub buyers: u32,

    /// Locking strategy.
    #[arg(short, long, default_value = "none", value_parser = lock_parser())]
    pub lock: String,

    /// Tickets in a fresh stock (in a private run directory, removed afterwards).
    #[arg(short, long, default_value_t = 100, conflicts_with = "stock", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_COUNT))]
    pub tickets: u64,

    /// Book against this stock file in place (`{"count": N}`; other fields are kept).
    #[arg(short, long, value_name = "FILE")]
    pub stock: Option<PathBuf>,

    /// Simulated network delay between reading and writing the stock: a
    /// duration (`2ms`) or a range (`0..3ms`) drawn per buyer from the seed.
    #[arg(short, long, default_value = DEFAULT_DELAY)]
    pub delay: Delay,

    /// Each buyer's think time after the start, before it asks for the lock:
    /// a duration or a range drawn per buyer from the seed (default 0: all
    /// arrive at once, as in the classic demo).
    #[arg(short, long, default_value = "0")]
    pub arrival: Delay,

    /// Stepped mode: run exactly this interleaving, a comma-separated list
    /// of buyer ids, one per step (a step moves that buyer to its next
    /// point: lock, read, write, unlock). Virtual time: no delays. A fresh
    /// stock only.
    #[arg(long, value_delimiter = ',', value_name = "IDS", conflicts_with_all = ["stock", "step_seed"])]
    pub schedule: Option<Vec<u32>>,

    /// Stepped mode with a seeded schedule: at each step a runnable buyer
    /// drawn from this seed moves; the schedule used is printed, and its
    /// re-run line replays it exactly.
    #[arg(long, value_name = "N", conflicts_with = "stock", value_parser = seed_parser())]
    pub step_seed: Option<u64>,

    /// With --step-seed: choose by PCT instead of uniformly (random
    /// priorities, the highest runnable buyer moves, D - 1 random steps at
    /// which the mover drops to the bottom), aimed at bugs of depth D.
    #[arg(long, value_name = "D", requires = "step_seed",
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub pct: Option<u32>,

    /// Seed of the delays, arrivals and --kill victims (default: random,
    /// and always printed; at most 2^53 - 1).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Print one JSON object instead of the summary (on an error too: an
    /// object with `error`).
    #[arg(long)]
    pub json: bool,

    /// Exit with code 3 when the verdict is unsafe (a run in which a buyer
    /// failed or hung exits 1 anyway).
    #[arg(long)]
    pub strict: bool,

    /// Watchdog: stop the buyers when none has finished for this long (at
    /// least 3× the longest delay plus the longest arrival); they count as
    /// hung and the run still reports.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The PostgreSQL server of the pg-* strategies:
    /// postgres://USER@HOST:PORT/DATABASE. The run makes a schema of its
    /// own there and drops it at the end. (The sql-* strategies use SQLite,
    /// built in: nothing to give.)
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: Option<String>,

    /// Kill this many buyers (chosen by the seed) with SIGKILL, at --kill-at.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub kill: u32,

    /// Where the --kill victims die.
    #[arg(long, value_parser = kill_point_parser(), default_value = "hold", value_name = "POINT")]
    pub kill_at: KillPoint,

    /// Do not repair a lock whose holder died (sem, excl): the others wait
    /// until the watchdog (--timeout) stops them.
    #[arg(long)]
    pub no_repair: bool,

    /// Stop this many buyers (chosen by the seed) with SIGSTOP at
    /// --pause-at, for --pause-for: a pause the buyer does not see (a
    /// garbage collector, a swapped-out page). A kernel lock waits for it;
    /// a lease (redis-lease) expires under it. Not in a stepped run.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub pause: u32,

    /// Where the --pause buyers stop (the --kill-at points).
    #[arg(long, value_parser = kill_point_parser(), default_value = "read", value_name = "POINT")]
    pub pause_at: KillPoint,

    /// How long the --pause buyers stay stopped.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_pause)]
    pub pause_for: Duration,

    #[command(flatten)]
    pub lease: LeaseArgs,

    /// Processes that fork the buyers at once, so starting them uses every
    /// core (default: one per core, at most one per 64 buyers; 1: booking
    /// forks every buyer itself). How fast buyers start, never what they do.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub spawners: Option<u32>,

    /// A worker pool, like Python's multiprocessing.Pool: K processes serve
    /// the buyers, each buyer after buyer, so a million purchases need not
    /// be a million processes. The verdict is per buyer, as without it. Not
    /// with --kill or a stepped run.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BUYERS)))]
    pub pool: Option<u32>,

    /// A run shared by several hosts (with --store and a pg-* strategy):
    /// each host runs its own buyers against one stock, after a start
    /// barrier in the database; `booking verdict --run NAME` judges them
    /// all. Each host judges only its own part.
    #[arg(long, value_name = "NAME", value_parser = parse_run_name, requires = "store")]
    pub run: Option<String>,

    /// With --run: how many hosts the run waits for before it starts.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "run",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub hosts: u32,

    /// With --run: this host's name in the run (default: the machine's
    /// name and this process's id).
    #[arg(long, value_name = "NAME", requires = "run")]
    pub host_name: Option<String>,

    /// Draw the run's timeline: FILE.svg (a picture), FILE.txt (text), or
    /// `-` (text, on the terminal, after the summary).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Predict, then see: run, ask a question about it (sold, the default;
    /// remaining, oversold, ticket, safe), then reveal the verdict and
    /// whether you were right.
    #[arg(long, value_name = "WHAT", num_args = 0..=1, default_missing_value = "sold",
          value_parser = quiz_parser(), conflicts_with = "json")]
    pub quiz: Option<Question>,

    /// The quiz's answer, given up front (for scripts; implies --quiz).
    #[arg(long, value_name = "ANSWER", conflicts_with = "json")]
    pub predict: Option<String>,
}

/// Options of `grade`.
#[derive(Debug, Clone, Args)]
pub struct GradeArgs {
    /// The strategy to grade (hidden ones too).
    #[arg(short, long, value_parser = lock_parser(), required_unless_present = "file")]
    pub lock: Option<String>,

    /// Grade every strategy defined in `src/lock/<STEM>.rs` (how a
    /// student's file is graded: see docs/grading.md).
    #[arg(long, value_name = "STEM", conflicts_with = "lock")]
    pub file: Option<String>,

    /// Scenarios of each kind (free-running, stepped), plus one paused
    /// scenario per ten.
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub cases: u32,

    /// Seed the scenarios are drawn with (default: random, and printed).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Watchdog per scenario: no buyer finished for this long is a hang.
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Also write Gradescope's results.json here.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,

    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Print one JSON object (the results.json content) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,

    /// Skip the classic Python demo even if `python3` is installed.
    #[arg(long)]
    pub no_python: bool,

    /// Buyer counts to measure, comma-separated (default: 150,1000; with
    /// --scale 150,1000,10000,100000).
    #[arg(long, value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BUYERS)))]
    pub buyers: Vec<u32>,

    /// The price of a lock at scale: time per buyer of every safe strategy
    /// at each buyer count, beside a kernel-only benchmark of the same lock
    /// (N processes, one barrier, lock and unlock, nothing else), and the
    /// wakeups per buyer. Counts the machine cannot start (pid_max, ulimit
    /// -u) are skipped with the reason.
    #[arg(long)]
    pub scale: bool,

    /// The PostgreSQL server for the pg-* strategies (without it they are
    /// left out).
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: Option<String>,

    #[command(flatten)]
    pub lease: LeaseArgs,

    /// With --scale: the strategies to measure, comma-separated (default:
    /// every safe one).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser(), requires = "scale")]
    pub lock: Vec<String>,
}
