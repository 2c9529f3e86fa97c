//! From parsed arguments to an exit code: what `main` does, testable.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::cli::{Cli, Command, RunArgs};
use crate::error::{Error, Result};
use crate::lock;
use crate::report::RunReport;
use crate::run::{RunConfig, StockSource, run};

/// Runs the command `cli` names and returns the process exit code. Errors
/// are printed as one line on stderr.
pub fn main(cli: Cli) -> i32 {
    let result = match cli.command {
        None => run_command(&cli.run),
        Some(Command::Run(args)) => run_command(&args),
        Some(Command::Bench(args)) => {
            stop_flag().and_then(|stop| crate::bench::bench(&args, &stop))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("booking: {e}");
            e.exit_code()
        }
    }
}

/// A flag set by `SIGINT` and `SIGTERM`. Registering it replaces their
/// default action (death), so the run can stop and reap its buyers, remove
/// what it created, and exit 130. The handler only stores to an atomic: no
/// thread is started, and the process stays single-threaded.
///
/// # Errors
/// When a handler cannot be installed.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::failed("installing the signal handler", e))?;
    }
    Ok(stop)
}

/// The run's configuration from its arguments (a random seed if none).
pub fn config(args: &RunArgs) -> RunConfig {
    RunConfig {
        buyers: args.buyers,
        strategy: lock::find(&args.lock).expect("clap only accepts registered names"),
        delay: args.delay,
        seed: args.seed.unwrap_or_else(rand::random),
        stock: match &args.stock {
            Some(p) => StockSource::File(p.clone()),
            None => StockSource::Fresh(args.tickets),
        },
        timeout: args.timeout.max(args.delay.max * 3),
    }
}

fn run_command(args: &RunArgs) -> Result<i32> {
    let stop = stop_flag()?;
    let cfg = config(args);
    let out = run(&cfg, &stop)?;
    let report = RunReport::new(&cfg, out);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report always serialises")
        );
    } else {
        print!("{}", report.human());
    }
    Ok(if args.strict && !report.verdict.safe {
        3
    } else {
        0
    })
}
