//! `booking verdict --store URL --run NAME`: the verdict of a run several
//! hosts shared, from the database alone — every host's outcome records
//! and the final count, judged by the same function as a single run.
//!
//! Critical sections are not compared across hosts (each host's clock is
//! its own): overlaps are judged by each host among its own buyers; the
//! run is judged by its counts — oversold, double-booked ticket numbers,
//! lost updates against the final count.
//!
//! A host that joined but did not finish (it died, or is still running)
//! wrote no records: each of its buyers counts as **failed** ("its host
//! did not finish"), their purchases maybe in the stock, so the run is
//! FAILED, never SAFE. A run whose hosts did not all join never started.

use serde::Serialize;

use crate::cli::VerdictArgs;
use crate::error::{Error, Result};
use crate::judge::verdict::{Verdict, judge};
use crate::model::outcome::Outcome;
use crate::store::postgres;

/// The JSON of `verdict`.
#[derive(Serialize)]
struct Report<'a> {
    run: &'a str,
    tickets: u64,
    hosts: Vec<HostLine>,
    #[serde(flatten)]
    verdict: &'a Verdict,
    summary: String,
}

/// One host's line.
#[derive(Serialize)]
struct HostLine {
    name: String,
    buyers: u32,
    finished: bool,
    sold: u64,
}

/// Judges the run and prints it. Exit code as a run's: 0 when every
/// buyer of every host reported (whatever the verdict), 1 otherwise.
///
/// # Errors
/// A server that cannot be reached, or no such run.
pub fn command(args: &VerdictArgs) -> Result<i32> {
    let config = postgres::config(&args.store).map_err(|e| Error::Input(format!("--store {e}")))?;
    postgres::probe(&config, &args.store)?;
    let place = postgres::Place {
        config,
        schema: postgres::run_schema(&args.run),
    };
    let run = postgres::read_run(&place).map_err(|e| {
        Error::Input(format!(
            "--run {}: no such run at {} ({e})",
            args.run,
            crate::model::secret::redact(&args.store)
        ))
    })?;
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let mut hosts = Vec::new();
    let mut rejected = 0;
    for (name, buyers, finished, records) in &run.hosts {
        let first = outcomes.len();
        if *finished {
            for r in records {
                match serde_json::from_str::<Option<Outcome>>(r) {
                    // Sections are not compared across hosts: their clocks
                    // (CLOCK_MONOTONIC) are not one clock. Each host judged
                    // the overlaps among its own buyers.
                    Ok(o) => outcomes.push(o.map(|o| Outcome {
                        acquired_ns: 0,
                        released_ns: 0,
                        ..o
                    })),
                    Err(_) => {
                        rejected += 1;
                        outcomes.push(None);
                    }
                }
            }
        } else {
            for id in 0..*buyers {
                outcomes.push(Some(Outcome::failed(
                    id,
                    nix::unistd::Pid::from_raw(0),
                    format!("its host {name} did not finish"),
                )));
            }
        }
        hosts.push(HostLine {
            name: name.clone(),
            buyers: *buyers,
            finished: *finished,
            sold: outcomes[first..]
                .iter()
                .flatten()
                .filter(|o| o.got_ticket)
                .count() as u64,
        });
    }
    let mut verdict = judge(run.tickets, run.remaining, &outcomes, rejected);
    let mut summary = verdict.summary();
    // A run whose hosts did not all join proves nothing, whatever its
    // (perhaps empty) records say: its status says so too, not only its
    // summary.
    let all_joined = run.hosts.len() as u32 >= run.hosts_wanted;
    if !all_joined {
        verdict.status = crate::judge::verdict::Status::Failed;
        verdict.safe = false;
        summary = format!(
            "FAILED: only {} of {} hosts joined; the run never started",
            run.hosts.len(),
            run.hosts_wanted
        );
    }
    let complete = verdict.failed == 0 && verdict.hung == 0 && rejected == 0;
    if args.json {
        super::output::print_json(&Report {
            run: &args.run,
            tickets: run.tickets,
            hosts,
            verdict: &verdict,
            summary,
        })?;
    } else {
        let mut text = format!(
            "booking verdict: run {}, {} tickets, {} of {} hosts joined\n",
            args.run,
            run.tickets,
            run.hosts.len(),
            run.hosts_wanted
        );
        for h in &hosts {
            text += &format!(
                "  host {:<20} {:>6} buyers  {:>6} sold  {}\n",
                h.name,
                h.buyers,
                h.sold,
                if h.finished {
                    "finished"
                } else {
                    "DID NOT FINISH"
                }
            );
        }
        text += &format!(
            "sold {}, remaining {}, oversold {}, double-booked {}, lost updates {}, failed {}\nverdict: {summary}\n",
            verdict.sold,
            verdict.remaining,
            verdict.oversold,
            verdict.double_booked,
            verdict.lost_updates,
            verdict.failed
        );
        super::output::print(&super::output::paint_verdict(&text))?;
    }
    Ok(if complete && all_joined { 0 } else { 1 })
}
