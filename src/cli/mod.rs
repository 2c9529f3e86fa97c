//! The command line: what `booking` accepts (clap), and the one conversion
//! from it to what a run is asked to do, and back.
//!
//! * [`values`] — what each flag accepts;
//! * [`workload`] — the argument groups several commands share: the
//!   workload of a run ([`WorkloadArgs`]) and the servers ([`Servers`]);
//! * [`args`] — each command's own arguments;
//! * [`config`] — the arguments as a validated [`crate::engine::RunConfig`]
//!   (ripgrep's low and high arguments), and [`rerun`], the command line
//!   that asks for a configuration again.
//!
//! Strategy names and their help come from the registry, so a new strategy
//! appears here by itself.

mod args;
pub mod config;
mod values;
mod workload;

use clap::{Parser, Subcommand};

pub use args::{BenchArgs, CheckArgs, CompareArgs, GradeArgs, RunArgs, RunsArgs, VerdictArgs};
pub use config::{rerun, rerun_args};
pub use values::DEFAULT_DELAY;
pub use workload::{Servers, WorkloadArgs};

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
    /// The servers the command was given, for a command that takes them.
    pub fn servers(&self) -> Option<&Servers> {
        match &self.command {
            None => Some(&self.run.workload.servers),
            Some(Command::Run(a)) => Some(&a.workload.servers),
            Some(Command::Check(a)) => Some(&a.servers),
            Some(Command::Compare(a)) => Some(&a.workload.servers),
            Some(Command::Bench(a)) => Some(&a.servers),
            Some(
                Command::Grade(_)
                | Command::Verdict(_)
                | Command::Runs(_)
                | Command::Completions { .. },
            ) => None,
        }
    }

    /// Whether the command asked for JSON output.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            None => self.run.json,
            Some(Command::Run(a)) => a.json,
            Some(Command::Check(a)) => a.json,
            Some(Command::Compare(a)) => a.format.as_deref() == Some("json"),
            Some(Command::Grade(a)) => a.json,
            Some(Command::Verdict(a)) => a.json,
            Some(Command::Runs(a)) => a.json,
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
    ///
    /// Each scenario runs as the plain command of its re-run line
    /// (`booking --buyers N --lock L ...`), in a process of its own; `check`
    /// judges the records it sends back and never runs a strategy's code.
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
    ///
    /// Each scenario runs as the plain command of its re-run line, in a
    /// process of its own; `grade` judges the records it sends back, never
    /// runs a strategy's code, and always writes its files.
    Grade(GradeArgs),
    /// Judge a run made by several hosts (`--run NAME --hosts N`) from the
    /// database alone: every host's buyers, and the final count.
    Verdict(VerdictArgs),
    /// List the shared runs (`--run NAME`) kept on a PostgreSQL server, or
    /// drop one (`--drop NAME`) once its verdict is no longer needed.
    Runs(RunsArgs),
    /// Print a shell completion script (`booking completions bash >
    /// ~/.local/share/bash-completion/completions/booking`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}
