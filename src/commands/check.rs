//! `booking check`: the property harness from the command line. Runs
//! generated scenarios against strategies and says, per strategy, whether
//! any scenario broke the rules — and goes on whatever a strategy does.
//!
//! A scenario's run is one of:
//! * **unsafe** — its verdict proved an anomaly (oversold, double-booked,
//!   lost updates, unaccounted sales, overlapping critical sections);
//! * **failed** — a buyer reported an error, panicked or crashed, or the
//!   run could not be made;
//! * **hung** — the watchdog stopped buyers that made no progress for
//!   `--timeout` (a liveness failure); the next scenario runs anyway;
//! * for a strategy that claims to be safe, also **short** — it sold fewer
//!   than `min(tickets, buyers)` (a buyer turned away while tickets
//!   remained).
//!
//! A strategy that claims to be safe keeps its claim only if none of its
//! scenarios is any of these.
//!
//! Each scenario runs as the plain command of its re-run line, in a
//! process of its own ([`super::apart`]): the strategy cannot tell a check
//! from a run, and its code never runs in this process.
//!
//! Besides the small generated scenarios (which find short
//! counterexamples), every check runs `--lab` rounds of the lab's workload
//! ([`Scenario::lab`]: the README's 150 buyers, 1,000 buyers, a crowd of
//! more than 1,000 queued at once, holders stopped for 1.2 s, arrivals
//! spread), which reach the locks that are only wrong at scale. A lab
//! scenario this machine cannot fork (`ulimit -u`) is skipped and counted
//! as such, never as passed.

use std::time::Duration;

use serde::Serialize;

use super::apart::run_apart;
use super::scenario::{LAB, SPACE, Scenario};
use crate::cli::{CheckArgs, Servers, rerun};
use crate::engine::RunOutput;
use crate::engine::seed::random_seed;
use crate::error::{Error, Result};
use crate::judge::verdict::{Status, count};
use crate::lock::Strategy;
use crate::report::wrap;

/// What one strategy did over all scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyCheck {
    /// The strategy.
    pub strategy: String,
    /// Whether it claims to be safe.
    pub claims_safe: bool,
    /// Scenarios run.
    pub scenarios: usize,
    /// Scenarios whose verdict proved an anomaly.
    pub unsafe_scenarios: usize,
    /// Scenarios in which a buyer failed (or the run could not be made).
    pub failed_scenarios: usize,
    /// Scenarios the watchdog ended.
    pub hung_scenarios: usize,
    /// Scenarios in which a strategy that claims safety sold too few.
    pub short_scenarios: usize,
    /// Lab scenarios not run: the process limit cannot fork their buyers.
    pub skipped_scenarios: usize,
    /// The largest oversell seen.
    pub worst_oversold: u64,
    /// Whether the strategy kept its claim (always true for one that
    /// claims nothing).
    pub kept_claim: bool,
    /// The smallest scenario with a problem (fewest buyers, then fewest
    /// tickets), unsafe ones first, if any.
    pub smallest_problem: Option<Failure>,
}

/// A scenario that broke the rules, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The scenario.
    pub scenario: Scenario,
    /// `unsafe`, `failed`, `hung` or `short`.
    pub kind: &'static str,
    /// What went wrong, one line.
    pub problem: String,
    /// The command that re-runs it: a stepped scenario's carries the
    /// schedule it followed and repeats exactly; a free one's repeats the
    /// seed, delays and arrivals.
    pub rerun: String,
    /// Whether the re-run repeats the outcome exactly (a stepped scenario).
    pub exact: bool,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Whether every strategy that claims to be safe kept its claim.
    pub pass: bool,
    /// The seed the scenarios were drawn with (below 2^53).
    pub seed: u64,
    /// The watchdog's timeout per scenario, in seconds.
    pub timeout_s: f64,
    /// Free-running scenarios per strategy (as many stepped ones follow,
    /// then one paused scenario per ten).
    pub cases: usize,
    /// Rounds of the lab's workload per strategy (6 scenarios a round).
    pub lab_rounds: usize,
    /// Lab scenarios skipped, once each, with why (the same for every
    /// strategy: the process limit).
    pub skipped: Vec<String>,
    /// One entry per strategy checked.
    pub strategies: Vec<StrategyCheck>,
}

impl CheckReport {
    /// The human table.
    pub fn human(&self) -> String {
        let mut out = format!(
            "booking check: scenario seed {}, watchdog {}s per scenario\n",
            self.seed, self.timeout_s
        );
        let w = self
            .strategies
            .iter()
            .map(|s| s.strategy.len())
            .max()
            .unwrap_or(0)
            .max(8);
        out += &format!(
            "{:<w$} {:<7} {:>9} {:>6} {:>6} {:>4} {:>9}  verdict\n",
            "strategy", "claims", "scenarios", "unsafe", "failed", "hung", "oversell"
        );
        for s in &self.strategies {
            let verdict = if !s.kept_claim {
                "BROKE ITS CLAIM"
            } else if s.claims_safe {
                "kept its claim"
            } else if s.unsafe_scenarios > 0 {
                "caught"
            } else if s.failed_scenarios + s.hung_scenarios > 0 {
                // A liveness mistake (sql-deferred): buyers fail, data stay.
                "caught, its buyers failing"
            } else {
                "NOT CAUGHT"
            };
            out += &format!(
                "{:<w$} {:<7} {:>9} {:>6} {:>6} {:>4} {:>9}  {verdict}\n",
                s.strategy,
                if s.claims_safe { "safe" } else { "unsafe" },
                s.scenarios,
                s.unsafe_scenarios,
                s.failed_scenarios,
                s.hung_scenarios,
                s.worst_oversold,
            );
            // The smallest problem under its row, within the width.
            if let Some(f) = &s.smallest_problem {
                out += &under_row(&f.problem, &f.rerun);
            }
        }
        out += if self.pass {
            "every strategy that claims to be safe was safe in every scenario\n"
        } else {
            "A STRATEGY THAT CLAIMS TO BE SAFE BROKE ITS CLAIM (see above)\n"
        };
        for why in &self.skipped {
            out += &format!("{why}\n");
        }
        out += &wrap::words(
            "",
            &format!(
                "(scenarios: free-running, as many stepped (--step-seed: the parent chooses the interleaving), one paused per ten (--pause: every buyer stopped past its lease after reading), and {} of the lab's workload (150 buyers for 100 tickets; 1,000 buyers; over 1,000 queued at once; holders stopped 1.2 s; arrivals spread; arrivals in bursts). A stepped re-run line carries its --schedule and repeats exactly; a free one repeats the seed, delays, arrivals and pauses, but the interleaving is the scheduler's)\n",
                count(self.lab_rounds as u64, "round", "rounds")
            ),
            wrap::WIDTH,
            "",
        );
        out
    }
}

/// What is wrong with one run of `scenario` under `strategy`, if anything:
/// its kind and one line.
pub fn problem(
    strategy: &Strategy,
    scenario: &Scenario,
    out: &RunOutput,
) -> Option<(&'static str, String)> {
    let v = &out.verdict;
    match v.status {
        Status::Unsafe => return Some(("unsafe", v.summary())),
        Status::Failed if v.hung > 0 => return Some(("hung", v.summary())),
        Status::Failed => return Some(("failed", v.summary())),
        Status::Safe => {}
    }
    let want = scenario.tickets.min(u64::from(scenario.buyers));
    if strategy.safe && v.sold != want {
        return Some((
            "short",
            format!(
                "sold {} of the {want} it should have",
                count(v.sold, "ticket", "tickets")
            ),
        ));
    }
    None
}

/// Runs `cases` scenarios drawn with `seed`, then `lab` rounds of the lab's
/// workload, against each of `strategies`, each under a watchdog of
/// `timeout` (the lab's under [`super::scenario::LAB_WATCHDOG`] times that); `progress` is
/// called after each run. A scenario that fails or hangs is recorded and
/// the check goes on.
///
/// # Errors
/// Only when interrupted.
pub fn check(
    strategies: &[&'static Strategy],
    cases: usize,
    lab: usize,
    seed: u64,
    timeout: Duration,
    servers: &Servers,
    mut progress: impl FnMut(),
) -> Result<CheckReport> {
    let mut scenarios = Scenario::generate_both(seed, cases, SPACE);
    scenarios.extend(Scenario::lab(seed, lab));
    let mut report = CheckReport {
        pass: true,
        seed,
        timeout_s: timeout.as_secs_f64(),
        cases,
        lab_rounds: lab,
        skipped: scenarios
            .iter()
            .filter_map(|s| Some(format!("{}: {}", s.lab?, s.cannot_run()?)))
            .collect(),
        strategies: Vec::new(),
    };
    for &strategy in strategies {
        let mut entry = StrategyCheck {
            strategy: strategy.name.to_string(),
            claims_safe: strategy.safe,
            scenarios: 0,
            unsafe_scenarios: 0,
            failed_scenarios: 0,
            hung_scenarios: 0,
            short_scenarios: 0,
            skipped_scenarios: 0,
            worst_oversold: 0,
            kept_claim: true,
            smallest_problem: None,
        };
        for scenario in &scenarios {
            if scenario.cannot_run().is_some() {
                entry.skipped_scenarios += 1;
                progress();
                continue;
            }
            let cfg = scenario.config(strategy, timeout, servers);
            let mut replay = None;
            let found = match run_apart(&cfg, scenario.budget(timeout)) {
                Ok(out) => {
                    entry.worst_oversold = entry.worst_oversold.max(out.verdict.oversold);
                    // A stepped run is re-run by the schedule it followed.
                    replay = out.schedule.as_ref().map(|s| cfg.replaying(Some(&s.steps)));
                    problem(strategy, scenario, &out)
                }
                Err(e @ Error::Interrupted(..)) => return Err(e),
                Err(e) => Some(("failed", format!("the run could not be made: {e}"))),
            };
            entry.scenarios += 1;
            if let Some((kind, problem)) = found {
                *match kind {
                    "unsafe" => &mut entry.unsafe_scenarios,
                    "hung" => &mut entry.hung_scenarios,
                    "short" => &mut entry.short_scenarios,
                    _ => &mut entry.failed_scenarios,
                } += 1;
                // Unsafe findings first, then those whose re-run line
                // repeats the interleaving exactly (stepped), then the
                // smallest scenario.
                let rank = |k: &str, exact: bool, s: &Scenario| (k != "unsafe", !exact, s.size());
                let better = entry.smallest_problem.as_ref().is_none_or(|f| {
                    rank(kind, replay.is_some(), scenario) < rank(f.kind, f.exact, &f.scenario)
                });
                if better {
                    entry.smallest_problem = Some(Failure {
                        scenario: *scenario,
                        kind,
                        problem,
                        rerun: rerun(replay.as_ref().unwrap_or(&cfg)),
                        exact: replay.is_some(),
                    });
                }
            }
            progress();
        }
        entry.kept_claim = !strategy.safe || entry.smallest_problem.is_none();
        report.pass &= entry.kept_claim;
        report.strategies.push(entry);
    }
    Ok(report)
}

/// `booking check --exhaustive` (see [`super::exhaustive`]): exit codes as
/// for `check`.
fn exhaustive(args: &CheckArgs, buyers: u32, strategies: &[&'static Strategy]) -> Result<i32> {
    crate::sys::contain::set_failure_status(3);
    let bar = crate::report::progress_bar(0, args.json);
    let report = super::exhaustive::check(strategies, buyers, args.timeout, &args.servers, || {
        bar.inc(1)
    });
    bar.finish_and_clear();
    let report = report?;
    finish(args.json, &report, || report.human(), report.pass)
}

/// Prints a check's `report` (as JSON, or as its `human` text) and gives
/// the exit code: 0 when every claim was kept (`pass`), else 3.
fn finish(
    json: bool,
    report: &impl Serialize,
    human: impl FnOnce() -> String,
    pass: bool,
) -> Result<i32> {
    if json {
        super::output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(report).expect("a check report always serialises")
        ))?;
    } else {
        super::output::print(&human())?;
    }
    Ok(if pass { 0 } else { 3 })
}

/// A problem and its re-run line, under a strategy's row, within the
/// width.
pub fn under_row(problem: &str, rerun: &str) -> String {
    let mut out = wrap::words("  ", problem, wrap::WIDTH, "    ");
    out += "\n";
    out += &wrap::command("  re-run: ", rerun, wrap::WIDTH, "      ");
    out += "\n";
    out
}

/// `booking check`: exit 0 when every strategy that claims safety kept its
/// claim, 3 when one broke it.
///
/// # Errors
/// Only when interrupted.
pub fn command(args: &CheckArgs) -> Result<i32> {
    let servers = &args.servers;
    let strategies = super::chosen_with_servers(&args.lock, servers)?;
    if let Some(buyers) = args.exhaustive {
        return exhaustive(args, buyers, &strategies);
    }
    let seed = args.seed.unwrap_or_else(random_seed);
    // A strategy's code that hangs or exits in this process ends it: not a
    // pass (see `crate::sys::contain`).
    crate::sys::contain::set_failure_status(3);
    let (cases, lab) = (args.cases as usize, args.lab as usize);
    let per_strategy = 2 * cases + cases.div_ceil(10) + lab * LAB.len();
    let bar = crate::report::progress_bar((per_strategy * strategies.len()) as u64, args.json);
    let report = check(&strategies, cases, lab, seed, args.timeout, servers, || {
        bar.inc(1)
    });
    bar.finish_and_clear();
    let report = report?;
    finish(args.json, &report, || report.human(), report.pass)
}
