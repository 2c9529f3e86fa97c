//! A run's report: `--json` prints exactly [`RunReport`]; the summary is
//! [`RunReport::human`].

use super::wrap;
use serde::Serialize;

use super::fmt_us;
use crate::engine::{RunConfig, RunOutput, StockSource};
use crate::model::outcome::Outcome;

/// The longest step trace the summary prints (`--json` has it whole).
const MAX_TRACE: usize = 40;
use crate::judge::stats::percentile;
use crate::judge::verdict::{Verdict, count, ticket_holders};

/// A ticket number and how many buyers were sold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TicketCount {
    /// The ticket number.
    pub ticket: u64,
    /// How many buyers were told it was theirs.
    pub buyers: u64,
}

/// The ticket sold to the most buyers (the highest number among equals).
pub fn most_sold_ticket(outcomes: &[Option<Outcome>]) -> Option<TicketCount> {
    ticket_holders(outcomes)
        .into_iter()
        .map(|(ticket, buyers)| TicketCount { ticket, buyers })
        .max_by_key(|c| (c.buyers, c.ticket))
}

/// A run's report. `--json` prints exactly this; field names are the
/// grading interface: fields are added, never renamed.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The `--lock` strategy.
    pub strategy: String,
    /// Number of buyer processes.
    pub buyers: u32,
    /// Tickets in stock at the start.
    pub tickets: u64,
    /// The seed of the delays, arrivals and victims (below 2^53).
    pub seed: u64,
    /// The `--delay` window.
    pub delay: String,
    /// The `--arrival` window.
    pub arrival: String,
    /// The stock file booked against in place, or null for a fresh stock.
    pub stock: Option<String>,
    /// The worker pool that served the buyers (`--pool`): absent when every
    /// buyer was its own process. A pool worker's buyers share its pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<u32>,
    /// The verdict's numbers (`status`, `sold`, `remaining`, `failed`, ...).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// One line: `SAFE`, `UNSAFE: ...` or `FAILED: ...`.
    pub summary: String,
    /// Milliseconds from the first fork to the last reap.
    pub wall_ms: f64,
    /// Tickets sold per second of wall time.
    pub purchases_per_s: f64,
    /// Median time a buyer waited for the lock, in microseconds.
    pub wait_p50_us: Option<u64>,
    /// 99th percentile of that wait, in microseconds.
    pub wait_p99_us: Option<u64>,
    /// Mean voluntary context switches per buyer while acquiring the lock
    /// (see `Outcome::wakeups`): about 1 when each waiter sleeps once,
    /// more when waiters are woken for nothing (null when no buyer got as
    /// far as the lock).
    pub wakeups_per_buyer: Option<f64>,
    /// The ticket number sold to the most buyers, and to how many (null when
    /// no ticket was sold).
    pub most_sold_ticket: Option<TicketCount>,
    /// Deaths, repairs, the watchdog, one line each.
    pub events: Vec<String>,
    /// The command that repeats the run: every flag that shaped it.
    pub rerun: String,
    /// Whether that command repeats the outcome exactly: false whenever
    /// the outcome depends on the scheduler's interleaving (true for a
    /// stepped run, whose re-run line carries its schedule).
    pub rerun_exact: bool,
    /// Stepped mode: the schedule followed (`--schedule` replays it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Stepped mode: one line per step, and who blocked or woke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    /// One record per buyer, by id; null for a `--kill` victim that never
    /// reported.
    pub buyers_detail: Vec<Option<Outcome>>,
}

/// The mean of `Outcome::wakeups` over the clean records that got the
/// lock; `None` when there are none.
pub fn wakeups_per_buyer<'a>(
    outcomes: impl IntoIterator<Item = &'a Option<Outcome>>,
) -> Option<f64> {
    let w: Vec<u64> = outcomes
        .into_iter()
        .flatten()
        .filter(|o| o.is_clean() && o.acquired_ns > 0)
        .map(|o| o.wakeups)
        .collect();
    (!w.is_empty()).then(|| w.iter().sum::<u64>() as f64 / w.len() as f64)
}

impl RunReport {
    /// Builds the report of `out`, produced by `cfg`; `rerun` writes the
    /// command line that asks for a configuration (the CLI's `rerun`: the
    /// report knows no flags).
    pub fn new(cfg: &RunConfig, out: RunOutput, rerun: impl FnOnce(&RunConfig) -> String) -> Self {
        let waits: Vec<u64> = out
            .outcomes
            .iter()
            .flatten()
            .filter(|o| o.is_clean())
            .map(|o| o.wait_us)
            .collect();
        let wall_s = out.wall.as_secs_f64();
        let sold = out.verdict.sold;
        let cfg_rerun = &cfg.replaying(out.schedule.as_ref().map(|s| &s.steps[..]));
        RunReport {
            strategy: cfg.strategy.name.to_string(),
            buyers: cfg.buyers,
            tickets: out.tickets,
            seed: cfg.seed,
            delay: cfg.delay.to_string(),
            arrival: cfg.arrival.to_string(),
            stock: match &cfg.stock {
                StockSource::Fresh(_) => None,
                StockSource::File(p) => Some(p.display().to_string()),
            },
            pool: cfg.pool,
            summary: out.verdict.summary(),
            verdict: out.verdict,
            wall_ms: wall_s * 1e3,
            purchases_per_s: if wall_s > 0.0 {
                sold as f64 / wall_s
            } else {
                0.0
            },
            wait_p50_us: percentile(&waits, 50.0),
            wait_p99_us: percentile(&waits, 99.0),
            wakeups_per_buyer: wakeups_per_buyer(&out.outcomes),
            most_sold_ticket: most_sold_ticket(&out.outcomes),
            events: out.events,
            rerun: rerun(cfg_rerun),
            rerun_exact: cfg_rerun.repeats_exactly(),
            schedule: out.schedule.as_ref().map(|s| s.text()),
            trace: out.schedule.map(|s| s.trace).unwrap_or_default(),
            buyers_detail: out.outcomes,
        }
    }

    /// The human summary.
    pub fn human(&self) -> String {
        let v = &self.verdict;
        let mut s = String::new();
        let source = match &self.stock {
            None => format!(
                "a fresh stock of {}",
                count(self.tickets, "ticket", "tickets")
            ),
            Some(p) => format!("{p} ({})", count(self.tickets, "ticket", "tickets")),
        };
        let arrival = if self.arrival == "0" {
            String::new()
        } else {
            format!(", arrival {}", self.arrival)
        };
        let timing = if self.schedule.is_some() {
            "stepped (the schedule below, no delays)".to_string()
        } else {
            format!("delay {}{arrival}", self.delay)
        };
        s += &wrap::words(
            "",
            &format!(
                "booking: {}, lock {}, {timing}, seed {}, {}",
                count(u64::from(self.buyers), "buyer", "buyers"),
                self.strategy,
                self.seed,
                source
            ),
            wrap::WIDTH,
            "  ",
        );
        s += "\n";
        for e in &self.events {
            s += &wrap::words("  ! ", e, wrap::WIDTH, "    ");
            s += "\n";
        }
        let rows = [
            ("sold", v.sold, "buyers told they got a ticket", true),
            (
                "turned away",
                v.turned_away,
                "buyers that found no ticket left",
                true,
            ),
            (
                "remaining",
                v.remaining,
                "count left in the stock file",
                true,
            ),
            ("oversold", v.oversold, "sold beyond the stock", true),
            (
                "double-booked",
                v.double_booked,
                "ticket numbers sold more than once",
                true,
            ),
            (
                "lost updates",
                v.lost_updates,
                "purchases the file forgot",
                true,
            ),
            (
                "overlapping",
                v.overlapping,
                "buyers whose critical section overlapped another's",
                v.overlapping > 0,
            ),
            (
                "failed",
                v.failed,
                "buyers that reported an error, panicked or crashed",
                v.failed > 0,
            ),
            (
                "hung",
                v.hung,
                "buyers the watchdog stopped (no progress)",
                v.hung > 0,
            ),
            (
                "indeterminate",
                v.indeterminate,
                "--kill victims: their purchase may or may not be in the file",
                v.indeterminate > 0,
            ),
            (
                "unaccounted",
                v.unaccounted,
                "sales in the file nobody reported",
                v.unaccounted > 0,
            ),
        ];
        for (name, n, what, shown) in rows {
            if shown {
                s += &format!("  {name:<14}{n:>7}   {what}\n");
            }
        }
        if let Some(t) = self.most_sold_ticket.filter(|t| t.buyers > 1) {
            s += &format!(
                "  worst: ticket #{} was sold to {} buyers\n",
                t.ticket, t.buyers
            );
        }
        if let Some(schedule) = &self.schedule {
            if self.trace.len() <= MAX_TRACE {
                s += "  steps:\n";
                for line in &self.trace {
                    // A long call (a path, its flags) goes on under itself.
                    let text = line.trim_start();
                    let lead = format!("    {}", &line[..line.len() - text.len()]);
                    let indent = format!("{}  ", " ".repeat(lead.len()));
                    s += &wrap::words(&lead, text, wrap::WIDTH, &indent);
                    s += "\n";
                }
            }
            s += &format!("  schedule: {schedule}\n");
        }
        s += &wrap::words("verdict: ", &self.summary, wrap::WIDTH, "  ");
        s += "\n";
        let us = |x: Option<u64>| x.map_or("-".to_string(), fmt_us);
        s += &format!(
            "wall {:.1} ms · {:.0} purchases/s · lock wait p50 {} p99 {} · {} wakeups per buyer\n",
            self.wall_ms,
            self.purchases_per_s,
            us(self.wait_p50_us),
            us(self.wait_p99_us),
            self.wakeups_per_buyer
                .map_or("-".to_string(), |w| format!("{w:.1}"))
        );
        s += &wrap::command("re-run: ", &self.rerun, wrap::WIDTH, "    ");
        s += "\n";
        if !self.rerun_exact {
            s += "  (same seed: same delays, arrivals and victims; the interleaving is the\n   scheduler's, so the outcome may differ)\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sold(id: u32, ticket: u64) -> Option<Outcome> {
        Some(Outcome::sold(id, Some(ticket)))
    }

    #[test]
    fn the_most_sold_ticket_is_found() {
        let h = [
            sold(0, 5),
            sold(1, 4),
            sold(2, 5),
            None,
            sold(3, 4),
            sold(4, 5),
        ];
        assert_eq!(
            most_sold_ticket(&h),
            Some(TicketCount {
                ticket: 5,
                buyers: 3
            })
        );
        assert_eq!(
            most_sold_ticket(&[sold(0, 2), sold(1, 3)]),
            Some(TicketCount {
                ticket: 3,
                buyers: 1
            })
        );
        assert_eq!(most_sold_ticket(&[None]), None);
    }
}
