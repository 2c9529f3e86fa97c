//! What the commands print: a run's summary for people and its JSON for
//! machines, and the comparison in four formats (one exporter per format,
//! over the shared cells of [`table`]).

pub mod csv;
pub mod json;
pub mod markdown;
pub mod table;
pub mod text;

use serde::Serialize;

use crate::outcome::Outcome;
use crate::run::{RunConfig, RunOutput, StockSource};
use crate::stats::percentile;
use crate::verdict::Verdict;

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
    crate::verdict::ticket_holders(outcomes)
        .into_iter()
        .map(|(ticket, buyers)| TicketCount { ticket, buyers })
        .max_by_key(|c| (c.buyers, c.ticket))
}

/// A run's report. `--json` prints exactly this; field names are the
/// grading interface, so they do not change.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The `--lock` strategy.
    pub strategy: String,
    /// Number of buyer processes.
    pub buyers: u32,
    /// Tickets in stock at the start.
    pub tickets: u64,
    /// The seed of the delays; re-run with `--seed` to repeat them.
    pub seed: u64,
    /// The `--delay` window.
    pub delay: String,
    /// The stock file booked against in place, or null for a fresh stock.
    pub stock: Option<String>,
    /// The verdict's numbers (`sold`, `remaining`, `oversold`, ...).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// One line, `SAFE` or `UNSAFE: ...`.
    pub summary: String,
    /// Milliseconds from the first fork to the last reap.
    pub wall_ms: f64,
    /// Tickets sold per second of wall time.
    pub purchases_per_s: f64,
    /// Median time a buyer waited for the lock, in microseconds.
    pub wait_p50_us: Option<u64>,
    /// 99th percentile of that wait, in microseconds.
    pub wait_p99_us: Option<u64>,
    /// The ticket number sold to the most buyers, and to how many (null when
    /// no ticket was sold).
    pub most_sold_ticket: Option<TicketCount>,
    /// Deaths and repairs, one line each.
    pub events: Vec<String>,
    /// The command that repeats this run.
    pub rerun: String,
    /// One record per buyer, by id; null where a buyer never reported.
    pub buyers_detail: Vec<Option<Outcome>>,
}

impl RunReport {
    /// Builds the report of `out`, produced by `cfg`.
    pub fn new(cfg: &RunConfig, out: RunOutput) -> Self {
        let waits: Vec<u64> = out.outcomes.iter().flatten().map(|o| o.wait_us).collect();
        let wall_s = out.wall.as_secs_f64();
        let sold = out.verdict.sold;
        RunReport {
            strategy: cfg.strategy.name.to_string(),
            buyers: cfg.buyers,
            tickets: out.tickets,
            seed: cfg.seed,
            delay: cfg.delay.to_string(),
            stock: match &cfg.stock {
                StockSource::Fresh(_) => None,
                StockSource::File(p) => Some(p.display().to_string()),
            },
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
            most_sold_ticket: most_sold_ticket(&out.outcomes),
            events: out.events,
            rerun: rerun_command(cfg),
            buyers_detail: out.outcomes,
        }
    }

    /// The human summary.
    pub fn human(&self) -> String {
        let v = &self.verdict;
        let mut s = String::new();
        let source = match &self.stock {
            None => format!("a fresh stock of {} tickets", self.tickets),
            Some(p) => format!(
                "{} ({} ticket{})",
                p,
                self.tickets,
                if self.tickets == 1 { "" } else { "s" }
            ),
        };
        s += &format!(
            "booking: {} buyers, lock {}, delay {}, seed {}, {}\n",
            self.buyers, self.strategy, self.delay, self.seed, source
        );
        for e in &self.events {
            s += &format!("  ! {e}\n");
        }
        let rows = [
            ("sold", v.sold, "buyers told they got a ticket"),
            ("remaining", v.remaining, "count left in the stock file"),
            ("oversold", v.oversold, "sold beyond the stock"),
            (
                "double-booked",
                v.double_booked,
                "ticket numbers sold more than once",
            ),
            ("lost updates", v.lost_updates, "purchases the file forgot"),
            (
                "indeterminate",
                v.indeterminate,
                "buyers that never reported",
            ),
        ];
        for (name, n, what) in rows {
            s += &format!("  {name:<14}{n:>7}   {what}\n");
        }
        if v.unaccounted > 0 {
            s += &format!(
                "  {:<14}{:>7}   {}\n",
                "unaccounted", v.unaccounted, "sales in the file nobody reported"
            );
        }
        if let Some(t) = self.most_sold_ticket.filter(|t| t.buyers > 1) {
            s += &format!(
                "  worst: ticket #{} was sold to {} buyers\n",
                t.ticket, t.buyers
            );
        }
        s += &format!("verdict: {}\n", self.summary);
        let us = |x: Option<u64>| x.map_or("-".to_string(), fmt_us);
        s += &format!(
            "wall {:.1} ms · {:.0} purchases/s · lock wait p50 {} p99 {}\n",
            self.wall_ms,
            self.purchases_per_s,
            us(self.wait_p50_us),
            us(self.wait_p99_us)
        );
        s += &format!("re-run: {}\n", self.rerun);
        s
    }
}

/// Microseconds, shown in the unit that reads best.
pub fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// The command line that repeats the run `cfg` describes.
pub fn rerun_command(cfg: &RunConfig) -> String {
    let stock = match &cfg.stock {
        StockSource::Fresh(t) => format!("--tickets {t}"),
        StockSource::File(p) => format!("--stock {}", p.display()),
    };
    format!(
        "booking --buyers {} --lock {} {stock} --delay {} --seed {}",
        cfg.buyers, cfg.strategy.name, cfg.delay, cfg.seed
    )
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

/// Golden samples of the comparison in every format, from a fixed input.
/// Set `BOOKING_BLESS=1` to rewrite them after an intended change, then
/// read the diff.
#[cfg(test)]
mod golden {
    use crate::cli::Format;
    use crate::compare::{Comparison, Row, Spread, Wall};

    fn sample() -> Comparison {
        let row =
            |strategy: &str, safe_runs, over: (f64, u64), wall: (f64, f64, f64), p50, p99| Row {
                strategy: strategy.into(),
                claims_safe: strategy != "none",
                runs: 3,
                safe_runs,
                oversold: Spread {
                    mean: over.0,
                    max: over.1,
                },
                double_booked: Spread {
                    mean: over.0 / 10.0,
                    max: over.1 / 10,
                },
                lost_updates: Spread {
                    mean: over.0 * 2.0,
                    max: over.1 * 2,
                },
                wall_ms: Wall {
                    median: wall.0,
                    min: wall.1,
                    max: wall.2,
                },
                purchases_per_s: 100_000.0 / wall.0,
                wait_p50_us: p50,
                wait_p99_us: p99,
                vs_none: None,
                vs_fastest_safe: None,
            };
        let mut c = Comparison {
            buyers: 150,
            tickets: 100,
            delay: "1ms..5ms".into(),
            seed: 42,
            repeat: 3,
            rows: vec![
                row("none", 0, (49.5, 50), (61.25, 58.0, 70.5), Some(0), Some(3)),
                row(
                    "file",
                    3,
                    (0.0, 0),
                    (395.0, 380.5, 402.0),
                    Some(251_000),
                    Some(388_500),
                ),
                row(
                    "sem",
                    3,
                    (0.0, 0),
                    (401.5, 399.0, 450.0),
                    Some(260_100),
                    None,
                ),
            ],
        };
        c.set_ratios();
        c
    }

    fn golden(format: Format, file: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(file);
        let got = crate::app::render(&sample(), format);
        if std::env::var_os("BOOKING_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "{} differs from the golden sample",
            path.display()
        );
    }

    #[test]
    fn text() {
        golden(Format::Text, "compare.txt");
    }

    #[test]
    fn markdown() {
        golden(Format::Markdown, "compare.md");
    }

    #[test]
    fn csv() {
        golden(Format::Csv, "compare.csv");
    }

    #[test]
    fn json() {
        golden(Format::Json, "compare.json");
    }
}
