//! From parsed arguments to an exit code: what `main` does, testable.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{CheckArgs, Cli, Command, CompareArgs, Format, RunArgs};
use crate::compare::{Comparison, compare};
use crate::error::{Error, Result};
use crate::lock;
use crate::report;
use crate::report::RunReport;
use crate::run::{Faults, RunConfig, StockSource, run, watchdog_timeout};

/// Runs the command `cli` names and returns the process exit code. Errors
/// are printed as one line on stderr.
pub fn main(cli: Cli) -> i32 {
    let result = match cli.command {
        None => run_command(&cli.run),
        Some(Command::Run(args)) => run_command(&args),
        Some(Command::Check(args)) => check_command(&args),
        Some(Command::Compare(args)) => compare_command(&args),
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

/// Reports a command-line error as one line on stderr (exit code 2), or
/// prints help and version as clap does (exit code 0).
pub fn usage_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind::{
        DisplayHelp, DisplayHelpOnMissingArgumentOrSubcommand, DisplayVersion,
    };
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return e.exit_code();
    }
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let line = parts.join(" ");
    eprintln!(
        "booking: {} (try --help)",
        line.strip_prefix("error: ").unwrap_or(&line)
    );
    2
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
    let stock = match &args.stock {
        Some(p) => StockSource::File(p.clone()),
        None => StockSource::Fresh(args.tickets),
    };
    let strategy = lock::find(&args.lock).expect("clap only accepts registered names");
    let seed = args.seed.unwrap_or_else(rand::random);
    RunConfig {
        timeout: watchdog_timeout(args.timeout, args.delay),
        faults: Faults {
            kill: args.kill.min(args.buyers),
            kill_at: args.kill_at,
            no_repair: args.no_repair,
        },
        ..RunConfig::new(strategy, args.buyers, stock, args.delay, seed)
    }
}

/// Where `--timeline` goes, checked before the run.
enum TimelineOut {
    Terminal,
    Text(std::path::PathBuf),
    Svg(std::path::PathBuf),
}

fn timeline_out(args: &RunArgs) -> Result<Option<TimelineOut>> {
    let Some(path) = &args.timeline else {
        return Ok(None);
    };
    if path.as_os_str() == "-" {
        if args.json {
            return Err(Error::Input(
                "--timeline - and --json both write to standard output; give --timeline a file (.svg or .txt)".into(),
            ));
        }
        return Ok(Some(TimelineOut::Terminal));
    }
    let out = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => TimelineOut::Svg(path.clone()),
        Some("txt") => TimelineOut::Text(path.clone()),
        _ => {
            return Err(Error::file(
                "--timeline",
                path,
                "needs a .svg or .txt name, or - for the terminal",
            ));
        }
    };
    // Refuse an unwritable file before the run, not after it.
    std::fs::write(path, "").map_err(|e| Error::file("--timeline", path, e))?;
    Ok(Some(out))
}

fn run_command(args: &RunArgs) -> Result<i32> {
    let timeline = timeline_out(args)?;
    let stop = stop_flag()?;
    let cfg = config(args);
    let quiz = args.quiz || args.predict.is_some();
    if quiz {
        println!(
            "Quiz: {} buyer processes, lock {}, delay {}. Running...",
            cfg.buyers, cfg.strategy.name, cfg.delay
        );
    }
    let out = run(&cfg, &stop)?;
    let report = RunReport::new(&cfg, out);
    if quiz {
        let guess = match args.predict {
            Some(g) => g,
            None => ask_prediction(&report)?,
        };
        println!();
        print!("{}", report.human());
        println!("{}", crate::quiz::reveal(&report, guess));
    } else if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report always serialises")
        );
    } else {
        print!("{}", report.human());
    }
    match timeline {
        None => {}
        Some(TimelineOut::Terminal) => print!("\n{}", crate::timeline::text(&report, 72)),
        Some(TimelineOut::Text(p)) => std::fs::write(&p, crate::timeline::text(&report, 100))
            .map_err(|e| Error::failed(format_args!("writing {}", p.display()), e))?,
        Some(TimelineOut::Svg(p)) => std::fs::write(&p, crate::timeline::svg(&report))
            .map_err(|e| Error::failed(format_args!("writing {}", p.display()), e))?,
    }
    Ok(if args.strict && !report.verdict.safe {
        3
    } else {
        0
    })
}

/// Asks on the terminal (or reads from standard input) how many buyers
/// were told they got a ticket.
fn ask_prediction(report: &RunReport) -> Result<u64> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("{} ", crate::quiz::question(report));
        let _ = std::io::stdout().flush();
        line.clear();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::failed("reading your prediction", e))?;
        if n == 0 {
            return Err(Error::Input(
                "--quiz: no prediction given (standard input ended); try --predict N".into(),
            ));
        }
        match line.trim().parse() {
            Ok(g) => return Ok(g),
            Err(_) => println!("  a whole number, please"),
        }
    }
}

/// The strategies named by `--lock a,b`, or all of them.
fn chosen(names: &[String]) -> Vec<&'static lock::Strategy> {
    if names.is_empty() {
        lock::STRATEGIES.iter().collect()
    } else {
        names
            .iter()
            .map(|n| lock::find(n).expect("clap only accepts registered names"))
            .collect()
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal and not
/// `quiet`. It draws from the calling thread (no ticker thread), so the
/// process stays single-threaded and may fork.
fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs · {msg} · {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn check_command(args: &CheckArgs) -> Result<i32> {
    let stop = stop_flag()?;
    let strategies = chosen(&args.lock);
    let seed = args.seed.unwrap_or_else(rand::random);
    let cases = args.cases as usize;
    let bar = progress_bar((cases * strategies.len()) as u64, args.json);
    let report = crate::check::check(&strategies, cases, seed, &stop, || bar.inc(1));
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a check report always serialises")
        );
    } else {
        print!("{}", report.human());
    }
    Ok(if report.claims_hold() { 0 } else { 3 })
}

fn format_for(args: &CompareArgs) -> Format {
    let by_ext = || match args
        .out
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
    {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("md" | "markdown") => Format::Markdown,
        _ => Format::Text,
    };
    args.format.unwrap_or_else(by_ext)
}

/// Renders a comparison in `format`.
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Text => report::text::render(c),
        Format::Json => report::json::render(c),
        Format::Csv => report::csv::render(c),
        Format::Markdown => report::markdown::render(c),
    }
}

fn compare_command(args: &CompareArgs) -> Result<i32> {
    let stop = stop_flag()?;
    let strategies = chosen(&args.lock);
    let seed = args.seed.unwrap_or_else(rand::random);
    let base = RunConfig::new(
        strategies[0],
        args.buyers,
        StockSource::Fresh(args.tickets),
        args.delay,
        seed,
    );
    let format = format_for(args);
    let repeat = args.repeat as usize;
    let bar = progress_bar((strategies.len() * (repeat + 1)) as u64, args.quiet);
    if let Some(path) = &args.out {
        // Refuse an unwritable --out before any run, not after all of them.
        std::fs::write(path, "").map_err(|e| Error::file("--out", path, e))?;
    }
    let write_out = |c: &Comparison| -> Result<()> {
        if let Some(path) = &args.out {
            std::fs::write(path, render(c, format))
                .map_err(|e| Error::failed(format_args!("writing {}", path.display()), e))?;
        }
        Ok(())
    };
    let result = compare(
        &base,
        &strategies,
        repeat,
        &stop,
        |name| {
            bar.set_message(name.to_string());
            bar.inc(1);
        },
        write_out,
    );
    bar.finish_and_clear();
    let cmp = result?;
    let shown = if args.out.is_some() {
        Format::Text
    } else {
        format
    };
    print!("{}", render(&cmp, shown));
    if let Some(path) = &args.out {
        eprintln!("booking: wrote {}", path.display());
    }
    Ok(0)
}
