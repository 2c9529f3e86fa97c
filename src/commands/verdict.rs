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
//! FAILED, never SAFE — unless its records are given with `--records`:
//! a host whose server would not take them keeps them on its own disk
//! (see [`crate::model::host_records`]), and they count as if the server
//! had them. A run whose hosts did not all join never started.
//!
//! Every sale the database committed is then matched to its buyer's
//! record (see [`crate::judge::ledger`]): a committed sale no buyer
//! reported is named with why (killed, failed after its commit, its host
//! did not finish), and a sale reported but never committed, or one its
//! buyer denied, makes the run UNSAFE.

use serde::Serialize;

use crate::cli::VerdictArgs;
use crate::error::{Error, Result};
use crate::judge::ledger::{HostOutcomes, Ledger, reconcile};
use crate::judge::verdict::{Status, Verdict, judge};
use crate::model::host_records::HostRecords;
use crate::model::outcome::Outcome;
use crate::report::wrap;
use crate::store::postgres;

/// The JSON of `verdict`.
#[derive(Serialize)]
struct Report<'a> {
    run: &'a str,
    tickets: u64,
    hosts: Vec<HostLine>,
    #[serde(flatten)]
    verdict: &'a Verdict,
    /// The committed sales matched to their buyers (absent for a run made
    /// by an older booking, whose sales do not name their host).
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<Ledger>,
    summary: String,
}

/// One host's line.
#[derive(Serialize)]
struct HostLine {
    name: String,
    buyers: u32,
    finished: bool,
    /// The file its records were read from, where the server lacked them.
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_in: Option<String>,
    sold: u64,
}

/// The host records given with `--records`, each with its file. A file of
/// another run, of a host that never joined this one, or given twice for
/// one host is refused.
///
/// # Errors
/// [`Error::Input`] naming the file and the problem.
fn kept_records(
    args: &VerdictArgs,
    joined: &[(String, u32, bool, Vec<String>)],
) -> Result<Vec<(HostRecords, std::path::PathBuf)>> {
    let mut kept: Vec<(HostRecords, std::path::PathBuf)> = Vec::new();
    for path in &args.records {
        let bad = |why: String| Error::Input(format!("--records {}: {why}", path.display()));
        let r = HostRecords::load(path).map_err(bad)?;
        if r.run != args.run {
            return Err(bad(format!(
                "the records of run {}, not {}",
                r.run, args.run
            )));
        }
        let Some((_, buyers, _, _)) = joined.iter().find(|(h, ..)| *h == r.host) else {
            return Err(bad(format!(
                "host {} never joined run {}",
                r.host, args.run
            )));
        };
        if r.records.len() != *buyers as usize {
            return Err(bad(format!(
                "{} records for host {}'s {buyers} buyers",
                r.records.len(),
                r.host
            )));
        }
        if kept.iter().any(|(k, _)| k.host == r.host) {
            return Err(bad(format!("host {}'s records given twice", r.host)));
        }
        kept.push((r, path.clone()));
    }
    Ok(kept)
}

/// The ledger's lines: its counts, then the first committed sale no buyer
/// reported and the first reported sale never committed, each with how
/// many more there are.
fn ledger_lines(l: &Ledger) -> String {
    let mut text = format!(
        "committed in the database {}: reported {}, unreported {}, reported but not committed {}\n",
        l.committed,
        l.reported,
        l.committed_unreported.len(),
        l.reported_uncommitted.len()
    );
    for (what, list) in [
        ("committed, unreported: ", &l.committed_unreported),
        ("reported, not committed: ", &l.reported_uncommitted),
    ] {
        if let Some(first) = list.first() {
            let more = match list.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            text += &wrap::words(
                &format!("  {what}"),
                &format!("{first}{more}"),
                wrap::WIDTH,
                "    ",
            );
            text.push('\n');
        }
    }
    text
}

/// Judges the run and prints it. Exit code as a run's: 0 when every
/// buyer of every host reported (whatever the verdict), 1 otherwise.
///
/// # Errors
/// A server that cannot be reached, or no such run.
pub fn command(args: &VerdictArgs) -> Result<i32> {
    let config = postgres::config(&args.store).map_err(|e| Error::Input(format!("--store {e}")))?;
    postgres::probe(&config, "--store", &args.store)?;
    let place = postgres::Place {
        buyers: config.clone(),
        config,
        schema: postgres::run_schema(&args.run),
        host: String::new(),
        patience: std::time::Duration::ZERO,
    };
    let run = postgres::read_run(&place).map_err(|e| {
        Error::Input(format!(
            "--run {}: no such run at {} ({e})",
            args.run,
            crate::model::secret::redact(&args.store)
        ))
    })?;
    let kept = kept_records(args, &run.hosts)?;
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let mut hosts = Vec::new();
    // Where each host's records begin in `outcomes`.
    let mut firsts = Vec::new();
    let mut rejected = 0;
    for (name, buyers, finished, records) in &run.hosts {
        let first = outcomes.len();
        firsts.push(first);
        let from = (!*finished)
            .then(|| kept.iter().find(|(k, _)| &k.host == name))
            .flatten();
        // As the server keeps them: a buyer without a record is `null`.
        let kept_lines: Option<Vec<String>> = from.map(|(k, _)| {
            k.records
                .iter()
                .map(|r| r.clone().unwrap_or_else(|| "null".into()))
                .collect()
        });
        let (finished, records) = match &kept_lines {
            Some(lines) => (true, lines),
            None => (*finished, records),
        };
        if finished {
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
            finished,
            kept_in: from.map(|(_, path)| path.display().to_string()),
            sold: outcomes[first..]
                .iter()
                .flatten()
                .filter(|o| o.got_ticket)
                .count() as u64,
        });
    }
    let mut verdict = judge(run.tickets, run.remaining, &outcomes, rejected);
    let mut summary = verdict.summary();
    let ledger = run.sales.as_ref().map(|sales| {
        let ends = firsts.iter().skip(1).copied().chain([outcomes.len()]);
        let by_host: Vec<HostOutcomes<'_>> = run
            .hosts
            .iter()
            .zip(firsts.iter().zip(ends))
            .map(|((name, ..), (&a, b))| HostOutcomes {
                name,
                outcomes: &outcomes[a..b],
            })
            .collect();
        reconcile(&by_host, sales)
    });
    if let Some(l) = ledger.as_ref().filter(|l| l.proves_anomaly()) {
        let count = |n: usize| crate::judge::verdict::count(n as u64, "sale", "sales");
        let found = match (l.reported_uncommitted.first(), l.contradicted.first()) {
            (Some(first), _) => format!(
                "{} reported but never committed — first: {first}",
                count(l.reported_uncommitted.len())
            ),
            (None, first) => format!(
                "{} in the database that no buyer of the run reported — first: {}",
                count(l.contradicted.len()),
                first.map_or("", String::as_str)
            ),
        };
        // What the counts proved comes first; the ledger's proof after.
        summary = if verdict.status == Status::Unsafe {
            format!("{summary}; and {found}")
        } else {
            format!("UNSAFE: {found}")
        };
        verdict.status = Status::Unsafe;
        verdict.safe = false;
    }
    // A run whose hosts did not all join proves nothing, whatever its
    // (perhaps empty) records say: its status says so too, not only its
    // summary.
    let all_joined = run.hosts.len() as u32 >= run.hosts_wanted;
    if !all_joined {
        verdict.status = Status::Failed;
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
            ledger,
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
                match (h.finished, &h.kept_in) {
                    (true, Some(file)) => format!("finished (records kept in {file})"),
                    (true, None) => "finished".into(),
                    (false, _) => "DID NOT FINISH".into(),
                }
            );
        }
        text += &format!(
            "sold {}, remaining {}, oversold {}, double-booked {}, lost updates {}, failed {}\n",
            verdict.sold,
            verdict.remaining,
            verdict.oversold,
            verdict.double_booked,
            verdict.lost_updates,
            verdict.failed
        );
        if let Some(l) = &ledger {
            text += &ledger_lines(l);
        }
        text += &wrap::words("verdict: ", &summary, wrap::WIDTH, "  ");
        text.push('\n');
        super::output::print(&super::output::paint_verdict(&text))?;
    }
    Ok(if complete && all_joined { 0 } else { 1 })
}
