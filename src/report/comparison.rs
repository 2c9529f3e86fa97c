//! The comparison `booking compare` makes, as every exporter reads it: one
//! [`Row`] per strategy (what its runs proved, what they cost), and the
//! cost-of-safety ratios between rows ([`Comparison::set_ratios`]).
//! `commands::compare` runs the strategies and fills it in; the formats
//! (text, JSON, CSV, Markdown, SVG) render it.

use serde::Serialize;

use crate::engine::RunOutput;
use crate::judge::stats::{median, percentile};
use crate::judge::verdict::Status;
use crate::lock::Strategy;

/// The mean and the largest of a count over the runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Mean over the runs.
    pub mean: f64,
    /// Largest over the runs.
    pub max: u64,
}

impl Spread {
    fn of(values: &[u64]) -> Self {
        let n = values.len().max(1) as f64;
        Spread {
            mean: values.iter().sum::<u64>() as f64 / n,
            max: values.iter().copied().max().unwrap_or(0),
        }
    }
}

/// Wall time over the runs, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Wall {
    /// Median.
    pub median: f64,
    /// Fastest run.
    pub min: f64,
    /// Slowest run.
    pub max: f64,
}

/// One strategy's line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The strategy.
    pub strategy: String,
    /// Whether it claims to be safe.
    pub claims_safe: bool,
    /// Measured runs (the warm-up excluded).
    pub runs: usize,
    /// Runs whose verdict was safe.
    pub safe_runs: usize,
    /// Runs in which a buyer failed, or that could not be made.
    pub failed_runs: usize,
    /// Runs the watchdog ended (a buyer hung).
    pub hung_runs: usize,
    /// The first failure or hang, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
    /// Tickets oversold.
    pub oversold: Spread,
    /// Ticket numbers sold more than once.
    pub double_booked: Spread,
    /// Purchases the file forgot.
    pub lost_updates: Spread,
    /// Wall time, ms.
    pub wall_ms: Wall,
    /// Median over the runs of tickets sold per second.
    pub purchases_per_s: f64,
    /// Median lock wait over all buyers of all runs, µs.
    pub wait_p50_us: Option<u64>,
    /// 99th percentile of that wait, µs.
    pub wait_p99_us: Option<u64>,
    /// Mean voluntary context switches per buyer while acquiring the lock,
    /// over all buyers of all runs (see `RunReport::wakeups_per_buyer`).
    pub wakeups_per_buyer: Option<f64>,
    /// Median wall time relative to `none`'s (null if `none` was not run).
    pub vs_none: Option<f64>,
    /// Median wall time relative to the fastest strategy that was safe in
    /// every run (null if none was).
    pub vs_fastest_safe: Option<f64>,
}

impl Row {
    /// Summarises the measured runs of one strategy (ratios left empty);
    /// `errors` are the runs that could not be made at all.
    pub fn of(strategy: &Strategy, runs: &[RunOutput], errors: &[String]) -> Self {
        let field = |f: fn(&RunOutput) -> u64| runs.iter().map(f).collect::<Vec<_>>();
        let walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64() * 1e3).collect();
        let rates: Vec<f64> = runs
            .iter()
            .map(|r| r.verdict.sold as f64 / r.wall.as_secs_f64().max(1e-9))
            .collect();
        let waits: Vec<u64> = runs
            .iter()
            .flat_map(|r| r.outcomes.iter().flatten().map(|o| o.wait_us))
            .collect();
        let status = |want: fn(&RunOutput) -> bool| runs.iter().filter(|r| want(r)).count();
        let first_problem = errors.first().cloned().or_else(|| {
            runs.iter()
                .find(|r| r.verdict.status == Status::Failed)
                .map(|r| r.verdict.summary())
        });
        Row {
            strategy: strategy.name.to_string(),
            claims_safe: strategy.safe,
            runs: runs.len() + errors.len(),
            safe_runs: status(|r| r.verdict.safe),
            failed_runs: errors.len()
                + status(|r| r.verdict.status == Status::Failed && r.verdict.hung == 0),
            hung_runs: status(|r| r.verdict.hung > 0),
            first_problem,
            oversold: Spread::of(&field(|r| r.verdict.oversold)),
            double_booked: Spread::of(&field(|r| r.verdict.double_booked)),
            lost_updates: Spread::of(&field(|r| r.verdict.lost_updates)),
            wall_ms: Wall {
                median: median(&walls).unwrap_or(0.0),
                min: walls.iter().copied().fold(f64::INFINITY, f64::min),
                max: walls.iter().copied().fold(0.0, f64::max),
            },
            purchases_per_s: median(&rates).unwrap_or(0.0),
            wait_p50_us: percentile(&waits, 50.0),
            wait_p99_us: percentile(&waits, 99.0),
            wakeups_per_buyer: super::wakeups_per_buyer(runs.iter().flat_map(|r| &r.outcomes)),
            vs_none: None,
            vs_fastest_safe: None,
        }
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Buyer processes per run.
    pub buyers: u32,
    /// Tickets per run.
    pub tickets: u64,
    /// The delay window.
    pub delay: String,
    /// The seed, the same for every strategy.
    pub seed: u64,
    /// Measured runs per strategy (after one warm-up).
    pub repeat: usize,
    /// One row per strategy, in registry order.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Fills in the cost-of-safety ratios from the rows present.
    pub fn set_ratios(&mut self) {
        let none = self
            .rows
            .iter()
            .find(|r| r.strategy == "none")
            .map(|r| r.wall_ms.median);
        let fastest_safe = self
            .rows
            .iter()
            .filter(|r| r.runs > 0 && r.safe_runs == r.runs)
            .map(|r| r.wall_ms.median)
            .fold(None, |best: Option<f64>, w| {
                Some(best.map_or(w, |b| b.min(w)))
            });
        for row in &mut self.rows {
            let ratio = |base: f64| (base > 0.0).then(|| row.wall_ms.median / base);
            row.vs_none = none.and_then(ratio);
            row.vs_fastest_safe = fastest_safe.and_then(ratio);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::judge::verdict::judge;
    use crate::model::outcome::Outcome;
    use crate::model::stock::Stock;

    /// A hand-made run: `sold` of `tickets` sold, remaining as given,
    /// waits as given, taking `ms`.
    fn fake_run(
        tickets: u64,
        remaining: u64,
        tickets_sold: &[u64],
        waits: &[u64],
        ms: u64,
    ) -> RunOutput {
        let outcomes: Vec<Option<Outcome>> = waits
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut o = Outcome::sold(i as u32, tickets_sold.get(i).copied());
                o.wait_us = w;
                Some(o)
            })
            .collect();
        RunOutput {
            tickets,
            verdict: judge(tickets, remaining, &outcomes, 0),
            outcomes,
            final_stock: Stock::new(remaining),
            wall: Duration::from_millis(ms),
            spawn: Duration::ZERO,
            events: vec![],
            schedule: None,
        }
    }

    #[test]
    fn a_row_summarises_its_runs() {
        let none = crate::lock::find("none").unwrap();
        // Two tickets; run 1 sells both twice over, run 2 is clean.
        let runs = [
            fake_run(2, 1, &[2, 2, 2], &[10, 20, 30], 30),
            fake_run(2, 0, &[2, 1], &[40, 50, 60], 10),
            fake_run(2, 0, &[2, 1], &[70, 80, 90], 20),
        ];
        let row = Row::of(none, &runs, &[]);
        assert_eq!((row.runs, row.safe_runs), (3, 2));
        assert_eq!(
            row.oversold,
            Spread {
                mean: 1.0 / 3.0,
                max: 1
            }
        );
        assert_eq!(
            row.double_booked,
            Spread {
                mean: 1.0 / 3.0,
                max: 1
            }
        );
        assert_eq!(
            row.lost_updates,
            Spread {
                mean: 2.0 / 3.0,
                max: 2
            }
        );
        assert_eq!(
            row.wall_ms,
            Wall {
                median: 20.0,
                min: 10.0,
                max: 30.0
            }
        );
        // Rates: 3/0.03 = 100, 2/0.01 = 200, 2/0.02 = 100 → median 100.
        assert!((row.purchases_per_s - 100.0).abs() < 1e-9);
        // Nine waits 10..90: p50 is the 5th (50), p99 the 9th (90).
        assert_eq!((row.wait_p50_us, row.wait_p99_us), (Some(50), Some(90)));
    }

    #[test]
    fn ratios_are_against_none_and_the_fastest_all_safe_strategy() {
        let row = |name: &str, median: f64, safe_runs: usize| Row {
            strategy: name.into(),
            claims_safe: name != "none",
            runs: 5,
            safe_runs,
            failed_runs: 0,
            hung_runs: 0,
            first_problem: None,
            oversold: Spread { mean: 0.0, max: 0 },
            double_booked: Spread { mean: 0.0, max: 0 },
            lost_updates: Spread { mean: 0.0, max: 0 },
            wall_ms: Wall {
                median,
                min: median,
                max: median,
            },
            purchases_per_s: 0.0,
            wait_p50_us: None,
            wait_p99_us: None,
            wakeups_per_buyer: None,
            vs_none: None,
            vs_fastest_safe: None,
        };
        let mut c = Comparison {
            buyers: 1,
            tickets: 1,
            delay: "0".into(),
            seed: 0,
            repeat: 5,
            rows: vec![
                row("none", 10.0, 0),
                row("file", 40.0, 5),
                row("sem", 50.0, 5),
                row("bad", 20.0, 4),
            ],
        };
        c.set_ratios();
        let got: Vec<_> = c
            .rows
            .iter()
            .map(|r| (r.vs_none, r.vs_fastest_safe))
            .collect();
        assert_eq!(
            got,
            [
                (Some(1.0), Some(0.25)),
                (Some(4.0), Some(1.0)),
                (Some(5.0), Some(1.25)),
                (Some(2.0), Some(0.5))
            ]
        );
        c.rows.remove(0);
        c.set_ratios();
        assert!(c.rows.iter().all(|r| r.vs_none.is_none()));
    }
}
