//! The command line: clap definitions only. Strategy names and their help
//! come from the registry, so a new strategy appears here by itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Parser, Subcommand};

use crate::buyer::KillPoint;
use crate::delay::{self, Delay};
use crate::lock::STRATEGIES;
use crate::stock::MAX_COUNT;

/// The default `--delay`: wide enough that 150 buyers without a lock
/// practically always oversell on a 2-core machine, short enough that a safe
/// strategy sells 100 tickets one after the other in well under a second.
pub const DEFAULT_DELAY: &str = "1ms..5ms";

/// The most buyers one run may start.
pub const MAX_BUYERS: u32 = 100_000;

const EXIT_CODES: &str = "\
Exit codes: 0 the run completed (whatever the verdict) · 1 the run failed · \
2 bad usage or input (nothing changed) · 3 unsafe verdict with --strict · 130 interrupted";

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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one booking (the default: `booking --buyers 150 --lock none`).
    Run(RunArgs),
    /// Run generated scenarios against strategies and report, per strategy,
    /// whether any scenario oversold (is my strategy safe?).
    Check(CheckArgs),
    /// Run one workload against every strategy, repeatedly, and tabulate
    /// safety against speed.
    Compare(CompareArgs),
    /// Measure the safe strategies against the floor and the classic
    /// Python demo (what `make bench` runs).
    Bench(BenchArgs),
}

/// Options of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Strategies to check, comma-separated (default: all).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser())]
    pub lock: Vec<String>,

    /// Scenarios per strategy (up to 60 tickets, 40 buyers, 3 ms of delay).
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cases: u32,

    /// Seed the scenarios are drawn with (default: random, and printed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Text,
    /// One JSON object.
    Json,
    /// One CSV row per strategy, raw numbers.
    Csv,
    /// A Markdown table.
    Markdown,
}

/// Options of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Buyer processes per run.
    #[arg(short, long, default_value_t = 150, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BUYERS)))]
    pub buyers: u32,

    /// Tickets per run.
    #[arg(short, long, default_value_t = 100, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_COUNT))]
    pub tickets: u64,

    /// Simulated delay, as for a run.
    #[arg(short, long, default_value = DEFAULT_DELAY)]
    pub delay: Delay,

    /// Seed of the delays, the same for every strategy (default: random, and printed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Strategies to compare, comma-separated (default: all).
    #[arg(short, long, value_delimiter = ',', value_parser = lock_parser())]
    pub lock: Vec<String>,

    /// Measured runs per strategy, after one warm-up run.
    #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,

    /// Output format (default: text; with --out, guessed from the file's
    /// extension: .json, .csv, .md).
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,

    /// Also write the results to FILE, rewritten after each strategy so that
    /// a failure later loses nothing; the table is still shown.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

fn lock_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        STRATEGIES
            .iter()
            .map(|s| PossibleValue::new(s.name).help(s.about)),
    )
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
    /// Number of buyer processes.
    #[arg(short, long, default_value_t = 150, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BUYERS)))]
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

    /// Seed of the delays (default: random, and always printed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Exit with code 3 when the verdict is unsafe.
    #[arg(long)]
    pub strict: bool,

    /// Watchdog: stop the run when no buyer has finished for this long (at
    /// least 3× the longest delay).
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Kill this many buyers (chosen by the seed) with SIGKILL, at --kill-at.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub kill: u32,

    /// Where the --kill victims die.
    #[arg(long, value_enum, default_value_t = KillPoint::Hold, value_name = "POINT")]
    pub kill_at: KillPoint,

    /// Do not repair a semaphore whose holder died: the others wait until
    /// the watchdog (--timeout) ends the run.
    #[arg(long)]
    pub no_repair: bool,

    /// Draw the run's timeline: FILE.svg (a picture), FILE.txt (text), or
    /// `-` (text, on the terminal, after the summary).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Predict, then see: run, ask how many buyers will be told they got a
    /// ticket, then reveal the verdict and whether you were right.
    #[arg(long, conflicts_with = "json")]
    pub quiz: bool,

    /// The quiz's prediction, given up front (for scripts; implies --quiz).
    #[arg(long, value_name = "SOLD", conflicts_with = "json")]
    pub predict: Option<u64>,
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
}
