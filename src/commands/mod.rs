//! The commands: from parsed arguments to an exit code. `main` calls
//! [`main`]; each command lives in its own module.
//!
//! Exit codes (also in `--help`): 0 the command completed and, for a run,
//! every buyer reported · 1 a buyer failed or hung, or the command failed ·
//! 2 bad usage or input (nothing changed) · 3 an unsafe verdict with
//! `--strict`, or a strategy that claims safety broke its claim in `check`
//! · 128 + N a stop signal N (130 for Ctrl-C, 143 for `SIGTERM`, 129 for
//! `SIGHUP`).

pub mod apart;
pub mod bench;
pub mod check;
pub mod compare;
pub mod exhaustive;
pub mod grade;
mod measure;
pub mod output;
pub mod run;
#[cfg(feature = "postgres")]
pub mod runs;
pub mod scale;
pub mod scenario;
#[cfg(feature = "postgres")]
pub mod verdict;

use crate::cli::{Cli, Command, Servers};
use crate::error::{Error, Result};
use crate::lock;
use crate::sys;

/// Runs the command `cli` names and returns the process exit code. Errors
/// are printed as one line on stderr; under `--json`, also as one JSON
/// object `{"error": ..., "exit_code": ...}` on stdout.
pub fn main(cli: Cli) -> i32 {
    let json = cli.wants_json();
    let result = sys::catch_stop_signals()
        .map_err(|e| Error::failed("installing the signal handlers", e))
        .and_then(|()| cli.servers().map_or(Ok(()), Servers::built))
        .and_then(|()| match cli.command {
            None => run::command(&cli.run),
            Some(Command::Run(args)) => run::command(&args),
            Some(Command::Check(args)) => check::command(&args),
            Some(Command::Compare(args)) => compare::command(&args),
            Some(Command::Bench(args)) => bench::bench(&args),
            Some(Command::Grade(args)) => grade::command(&args),
            #[cfg(feature = "postgres")]
            Some(Command::Verdict(args)) => verdict::command(&args),
            #[cfg(feature = "postgres")]
            Some(Command::Runs(args)) => runs::command(&args),
            #[cfg(not(feature = "postgres"))]
            Some(Command::Verdict(_)) => Err(crate::features::missing(
                "the verdict command",
                crate::features::POSTGRES,
            )),
            #[cfg(not(feature = "postgres"))]
            Some(Command::Runs(_)) => Err(crate::features::missing(
                "the runs command",
                crate::features::POSTGRES,
            )),
            Some(Command::Completions { shell }) => completions(shell),
        });
    match result {
        Ok(code) => code,
        Err(e) => fail(&e.to_string(), e.exit_code(), json),
    }
}

/// Prints the completion script for `shell` (clap_complete: the standard
/// generator for clap's command lines, so every flag and `--lock` value
/// from the registry is offered).
fn completions(shell: clap_complete::Shell) -> Result<i32> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "booking", &mut script);
    output::print(&String::from_utf8_lossy(&script))?;
    Ok(0)
}

/// Prints the one-line error (and its JSON under `--json`); returns `code`.
fn fail(message: &str, code: i32, json: bool) -> i32 {
    output::warn(&format!("booking: {message}"));
    if json {
        let obj = serde_json::json!({ "error": message, "exit_code": code });
        output::print_last_words(&format!("{obj}\n"));
    }
    code
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
        let _ = output::print(&e.render().to_string());
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
    // One line (the usage errors' rule), its parts still apart: "unexpected
    // argument '--buyer' found; tip: a similar argument exists: '--buyers'".
    let line = parts.join("; ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    let json = std::env::args().any(|a| a == "--json");
    fail(&format!("{line} (try --help)"), 2, json)
}

/// The strategies named by `--lock a,b`, or every listed one.
///
/// # Errors
/// [`Error::Input`] for a strategy this build left out (see
/// [`lock::named`]).
fn chosen(names: &[String]) -> Result<Vec<&'static lock::Strategy>> {
    if names.is_empty() {
        Ok(lock::listed().collect())
    } else {
        names.iter().map(|n| lock::named(n)).collect()
    }
}

/// [`chosen`], for a command with servers: the default list leaves out
/// the strategies whose server was not given (and says so on standard
/// error), and naming one is refused.
///
/// # Errors
/// [`Error::Input`] when a strategy is named without its server.
fn chosen_with_servers(
    names: &[String],
    servers: &Servers,
) -> Result<Vec<&'static lock::Strategy>> {
    let all = chosen(names)?;
    probe_servers(&all, servers)?;
    if !names.is_empty() {
        if let Some((s, flag)) = all
            .iter()
            .find_map(|s| servers.missing(s).map(|flag| (s, flag)))
        {
            return Err(Error::Input(format!(
                "--lock {}: this strategy needs a server: {flag}",
                s.name
            )));
        }
        return Ok(all);
    }
    Ok(available(false, servers))
}

/// Probes, once, each server given that one of `strategies` will use (see
/// [`crate::sys::probe`]): a silent one is one line now, not a wait in
/// every run.
///
/// # Errors
/// The probe's line, or an interrupt.
#[cfg_attr(
    not(any(feature = "postgres", feature = "redis")),
    allow(
        unused_variables,
        reason = "a build without either feature has no server to probe"
    )
)]
fn probe_servers(strategies: &[&'static lock::Strategy], servers: &Servers) -> Result<()> {
    // Without the feature, no strategy needs the server, and its flag was
    // refused before (`Servers::built`).
    #[cfg(feature = "postgres")]
    if let Some(url) = &servers.store
        && strategies.iter().any(|s| s.store == lock::Store::Postgres)
    {
        let config = crate::store::postgres::config(url)
            .map_err(|e| Error::Input(format!("--store {e}")))?;
        crate::store::postgres::probe(&config, "--store", url)?;
        if let Some(pooler) = &servers.pooler {
            let config = crate::store::postgres::config(pooler)
                .map_err(|e| Error::Input(format!("--pooler {e}")))?;
            crate::store::postgres::probe(&config, "--pooler", pooler)?;
        }
    }
    #[cfg(feature = "redis")]
    if let Some(url) = &servers.lock_server
        && strategies.iter().any(|s| s.lock_server)
    {
        crate::lease::probe(url)?;
    }
    Ok(())
}

/// The listed strategies (with `safe_only`, those that claim to be safe)
/// less those whose server was not given, with one line on standard error
/// per missing server that names the strategies it leaves out and the flag
/// that would bring them in; and one per feature this build lacks, naming
/// the strategies it left out and the feature that builds them.
fn available(safe_only: bool, servers: &Servers) -> Vec<&'static lock::Strategy> {
    let all: Vec<_> = lock::listed().filter(|s| s.safe || !safe_only).collect();
    let mut left: Vec<(String, Vec<&str>)> = Vec::new();
    let mut leave_out = |why: String, name| match left.iter_mut().find(|(w, _)| *w == why) {
        Some((_, names)) => names.push(name),
        None => left.push((why, vec![name])),
    };
    for s in &all {
        if let Some(flag) = servers.missing(s) {
            leave_out(format!("no server: give {flag}"), s.name);
        }
    }
    for g in lock::not_built().filter(|g| g.safe || !safe_only) {
        leave_out(
            format!("not built: --features {} builds them", g.feature),
            g.name,
        );
    }
    for (why, names) in &left {
        output::warn(&crate::report::wrap::words(
            "booking: left out ",
            &format!("{} ({why})", names.join(", ")),
            crate::report::wrap::WIDTH,
            "  ",
        ));
    }
    all.into_iter()
        .filter(|s| servers.missing(s).is_none())
        .collect()
}

/// A stop signal that arrived, as the error that ends the command.
fn stopped(doing: &str) -> Result<()> {
    match sys::stop_signal() {
        Some(sig) => Err(Error::interrupted(sig, doing.into())),
        None => Ok(()),
    }
}
