//! Each command's own arguments, beside the groups they share
//! ([`super::WorkloadArgs`], [`super::Servers`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::{
    format_parser, kill_point_parser, lock_parser, parse_pause, parse_run_name, parse_server,
    parse_timeout, quiz_parser, seed_parser,
};
use super::workload::{Servers, WorkloadArgs, in_place};
use crate::engine::KillPoint;
use crate::engine::config::MAX_BUYERS;
use crate::engine::delay::Delay;
use crate::report::quiz::Question;

/// Options of one booking run: the workload, and a fresh stock's
/// `--tickets` or a file (`--stock`), never both.
#[derive(Debug, Clone, Args)]
#[command(mut_args(in_place("tickets", |a| a.conflicts_with("stock"))))]
pub struct RunArgs {
    /// Locking strategy.
    #[arg(short, long, default_value = "none", value_parser = lock_parser())]
    pub lock: String,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Book against this stock file in place (`{"count": N}`; other fields are kept).
    #[arg(short, long, value_name = "FILE")]
    pub stock: Option<PathBuf>,

    /// Each buyer's think time after the start, before it asks for the lock:
    /// a duration or a range drawn per buyer from the seed (default 0: all
    /// arrive at once, as in the classic demo). A range ending in /K
    /// (0..400ms/5) makes K bursts, evenly spaced over it.
    #[arg(short, long, default_value = "0")]
    pub arrival: Delay,

    /// Stepped mode: run exactly this interleaving, a comma-separated list
    /// of buyer ids, one per step (a step moves that buyer to its next
    /// point: lock, read, write, unlock). Virtual time: no delays. A fresh
    /// stock only.
    #[arg(long, value_delimiter = ',', value_name = "IDS", conflicts_with_all = ["stock", "step_seed"])]
    pub schedule: Option<Vec<u32>>,

    /// One run of `check --exhaustive`: these steps, then the buyer that
    /// moved last while it can; records who could have moved at each step.
    #[arg(long, value_delimiter = ',', value_name = "IDS", hide = true, num_args = 0..=1,
          conflicts_with_all = ["stock", "step_seed", "schedule"])]
    pub explore: Option<Vec<u32>>,

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

    /// Print one JSON object instead of the summary (on an error too: an
    /// object with `error`).
    #[arg(long)]
    pub json: bool,

    /// Exit with code 3 when the verdict is unsafe (a run in which a buyer
    /// failed or hung exits 1 anyway).
    #[arg(long)]
    pub strict: bool,

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

    /// Grade every strategy defined in `src/lock/strategies/<STEM>.rs` (how a
    /// student's file is graded: see docs/grading.md).
    #[arg(long, value_name = "STEM", conflicts_with = "lock")]
    pub file: Option<String>,

    /// Scenarios of each kind (free-running, stepped), plus one paused
    /// scenario per ten.
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub cases: u32,

    /// Rounds of the lab's workload, 6 scenarios a round: the README's 150
    /// buyers for 100 tickets, 1,000 buyers, a crowd of 1,001-1,100 all
    /// queued at once, holders stopped for 1.2 s with buyers waiting, and
    /// arrivals spread over 200 ms, then in 4-8 bursts over 400 ms (see
    /// docs/grading.md). 0 leaves them
    /// out, and the item is failed: full marks need the lab's workload.
    #[arg(long, value_name = "ROUNDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub lab: u32,

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

    /// Exit 0 whenever the grade finished and its files were written,
    /// whatever the score (for scripts under `set -e`; the score is in the
    /// output and the files). Bad input is still 2, an interrupt 128+N, and
    /// a grade that did not finish 3.
    #[arg(long)]
    pub exit_zero: bool,
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

    /// Rounds of the lab's workload, which the small scenarios cannot
    /// reach, 6 scenarios a round, counts drawn from the seed: the README's
    /// `booking --buyers 150` (100 tickets, 1-5 ms), 1,000 buyers, a crowd
    /// of 1,001-1,100 buyers all queued at once (a lock correct only up to
    /// 1,000 waiters fails), holders stopped for 1.2 s just after taking
    /// the lock with buyers waiting (a lock that presumes a holder dead
    /// after up to a second fails), arrivals spread over 200 ms, and
    /// arrivals in 4-8 bursts over 400 ms (hundreds at one instant). Each
    /// runs under 5 times --timeout; one the process limit (ulimit -u)
    /// cannot fork is skipped, and says so. 0 leaves them out.
    #[arg(long, value_name = "ROUNDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub lab: u32,

    /// Instead of drawn scenarios: every schedule of BUYERS buyers (2, or
    /// 3; default 2) over 1 and over 2 tickets, stepped at every system
    /// call, with partial-order reduction (steps on different files
    /// commute). For a safe strategy, a proof for that bound; for an unsafe
    /// one, the shortest counterexample. Prints how many schedules each
    /// search ran.
    #[arg(long, value_name = "BUYERS", num_args = 0..=1, default_missing_value = "2",
          value_parser = clap::value_parser!(u32).range(2..=3),
          conflicts_with_all = ["cases", "lab", "seed"])]
    pub exhaustive: Option<u32>,

    /// Seed the scenarios are drawn with (default: random, and printed).
    #[arg(long, value_parser = seed_parser())]
    pub seed: Option<u64>,

    /// Watchdog per scenario: a scenario in which no buyer finishes for this
    /// long is stopped and counted as hung; the check goes on.
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,

    #[command(flatten)]
    pub servers: Servers,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `compare`: the workload of a run, worded per run.
#[derive(Debug, Clone, Args)]
#[command(
    mut_args(in_place("buyers", |a| a.help("Buyers per run (processes, unless --pool)"))),
    mut_args(in_place("tickets", |a| a.help("Tickets per run"))),
    mut_args(in_place("delay", |a| a.help("Simulated delay, as for a run"))),
    mut_args(in_place("seed", |a| a.help(
        "Seed of the delays, the same for every strategy (default: random, and printed)"
    ))),
    mut_args(in_place("timeout", |a| a.help(
        "Watchdog per run: a run in which no buyer finishes for this long is stopped and \
         counted as hung; the comparison goes on"
    ))),
)]
pub struct CompareArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

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

/// Options of `bench`.
#[derive(Debug, Clone, Args)]
#[command(mut_args(in_place("store", |a| a.help(
    "The PostgreSQL server for the pg-* strategies (without it they are left out)"
))))]
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

    #[command(flatten)]
    pub servers: Servers,

    /// With --scale: the strategies to measure, comma-separated (default:
    /// every safe one).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser(), requires = "scale")]
    pub lock: Vec<String>,
}

/// Options of `runs`.
#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// The PostgreSQL server the runs were made on.
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    pub store: String,
    /// Drop this run (its schema, `booking_run_NAME`, and everything in
    /// it) instead of listing.
    #[arg(long, value_name = "NAME", value_parser = parse_run_name)]
    pub drop: Option<String>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
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
    /// A host's records kept on its own disk (`booking-run-NAME-HOST.json`,
    /// written when the server would not take them): counted for a host
    /// the server says did not finish. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub records: Vec<std::path::PathBuf>,
    /// One JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}
