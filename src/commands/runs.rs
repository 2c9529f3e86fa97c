//! `booking runs --store URL`: the shared runs (`--run NAME --hosts N`)
//! kept on a PostgreSQL server — each stays after its hosts end, so that
//! `booking verdict` can judge it — and `--drop NAME` to remove one.

use crate::cli::RunsArgs;
use crate::error::{Error, Result};
use crate::model::secret::redact;
use crate::store::postgres;

/// Lists the runs, or drops one. Exit 0; 2 for a run to drop that is not
/// there.
///
/// # Errors
/// A server that cannot be reached; [`Error::Input`] for no such run.
pub fn command(args: &RunsArgs) -> Result<i32> {
    let config = postgres::config(&args.store).map_err(|e| Error::Input(format!("--store {e}")))?;
    postgres::probe(&config, "--store", &args.store)?;
    let at = redact(&args.store);
    if let Some(name) = &args.drop {
        let dropped = postgres::drop_run(&config, name)
            .map_err(|e| Error::failed(format_args!("dropping run {name} at {at}"), e))?;
        if !dropped {
            return Err(Error::Input(format!("--drop {name}: no such run at {at}")));
        }
        if args.json {
            super::output::print(&format!("{}\n", serde_json::json!({ "dropped": name })))?;
        } else {
            super::output::print(&format!("dropped run {name} at {at}\n"))?;
        }
        return Ok(0);
    }
    let runs = postgres::list_runs(&config)
        .map_err(|e| Error::failed(format_args!("listing the runs at {at}"), e))?;
    if args.json {
        super::output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))
                .expect("a list of runs always serialises")
        ))?;
        return Ok(0);
    }
    let mut out = format!(
        "{} at {at}\n",
        crate::judge::verdict::count(runs.len() as u64, "shared run", "shared runs")
    );
    if !runs.is_empty() {
        out += &format!(
            "{:<24}{:<18}{:>10}{:>10}  hosts joined / finished\n",
            "run", "strategy", "tickets", "left"
        );
    }
    for r in &runs {
        out += &format!(
            "{:<24}{:<18}{:>10}{:>10}  {} of {} / {}\n",
            r.name,
            if r.strategy.is_empty() {
                "-"
            } else {
                &r.strategy
            },
            r.tickets,
            r.remaining,
            r.joined,
            r.hosts,
            r.finished
        );
    }
    if !runs.is_empty() {
        out += &crate::report::wrap::words(
            "",
            "(judge one with booking verdict --store URL --run NAME; remove one with booking runs --store URL --drop NAME)",
            crate::report::wrap::WIDTH,
            " ",
        );
        out += "\n";
    }
    super::output::print(&out)?;
    Ok(0)
}
