//! `booking check`: the property harness from the command line. Runs
//! generated scenarios against strategies and says, per strategy, whether
//! any scenario broke the rules.
//!
//! A scenario breaks the rules when its verdict is unsafe (oversold,
//! double-booked, lost updates, unaccounted sales). For a strategy that
//! claims to be safe it also breaks them when it sells fewer than
//! `min(tickets, buyers)` (a buyer turned away while tickets remained) or a
//! buyer fails to report.

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::error::Result;
use crate::lock::Strategy;
use crate::run::run;
use crate::scenario::{SPACE, Scenario};

/// What one strategy did over all scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyCheck {
    /// The strategy.
    pub strategy: String,
    /// Whether it claims to be safe.
    pub claims_safe: bool,
    /// Scenarios run.
    pub scenarios: usize,
    /// Scenarios that broke the rules.
    pub unsafe_scenarios: usize,
    /// The largest oversell seen.
    pub worst_oversold: u64,
    /// The smallest scenario that broke the rules (fewest buyers, then
    /// fewest tickets), if any.
    pub smallest_unsafe: Option<Failure>,
}

/// A scenario that broke the rules, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The scenario.
    pub scenario: Scenario,
    /// What went wrong, one line.
    pub problem: String,
    /// The command that re-runs it.
    pub rerun: String,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The seed the scenarios were drawn with.
    pub seed: u64,
    /// One entry per strategy checked.
    pub strategies: Vec<StrategyCheck>,
}

impl CheckReport {
    /// Whether every strategy that claims safety kept its claim.
    pub fn claims_hold(&self) -> bool {
        self.strategies
            .iter()
            .all(|s| !s.claims_safe || s.unsafe_scenarios == 0)
    }

    /// The human table.
    pub fn human(&self) -> String {
        let mut out = format!("booking check: scenario seed {}\n", self.seed);
        let w = self
            .strategies
            .iter()
            .map(|s| s.strategy.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let indent = w + 43;
        out += &format!(
            "{:<w$} {:<7} {:>9} {:>7} {:>14}  smallest unsafe scenario\n",
            "strategy", "claims", "scenarios", "unsafe", "worst oversell"
        );
        for s in &self.strategies {
            let smallest = s.smallest_unsafe.as_ref().map_or("-".to_string(), |f| {
                format!("{}\n{:indent$}re-run: {}", f.problem, "", f.rerun)
            });
            out += &format!(
                "{:<w$} {:<7} {:>9} {:>7} {:>14}  {}\n",
                s.strategy,
                if s.claims_safe { "safe" } else { "unsafe" },
                s.scenarios,
                s.unsafe_scenarios,
                s.worst_oversold,
                smallest
            );
        }
        out += if self.claims_hold() {
            "every strategy that claims to be safe was safe in every scenario\n"
        } else {
            "A STRATEGY THAT CLAIMS TO BE SAFE BROKE THE RULES (see above)\n"
        };
        out
    }
}

/// What is wrong with one run of `scenario` under `strategy`, if anything.
pub fn problem(
    strategy: &Strategy,
    scenario: &Scenario,
    out: &crate::run::RunOutput,
) -> Option<String> {
    let v = &out.verdict;
    if !v.safe {
        return Some(v.summary());
    }
    if strategy.safe {
        let want = scenario.tickets.min(u64::from(scenario.buyers));
        if v.indeterminate > 0 {
            return Some(format!("{} buyers never reported", v.indeterminate));
        }
        if v.sold != want {
            return Some(format!("sold {} of {} it should have", v.sold, want));
        }
    }
    None
}

/// Runs `cases` scenarios drawn with `seed` against each of `strategies`;
/// `progress` is called after each run.
///
/// # Errors
/// When a run fails or is interrupted.
pub fn check(
    strategies: &[&'static Strategy],
    cases: usize,
    seed: u64,
    stop: &AtomicBool,
    mut progress: impl FnMut(),
) -> Result<CheckReport> {
    let scenarios = Scenario::generate(seed, cases, SPACE);
    let mut report = CheckReport {
        seed,
        strategies: Vec::new(),
    };
    for &strategy in strategies {
        let mut entry = StrategyCheck {
            strategy: strategy.name.to_string(),
            claims_safe: strategy.safe,
            scenarios: 0,
            unsafe_scenarios: 0,
            worst_oversold: 0,
            smallest_unsafe: None,
        };
        for scenario in &scenarios {
            let out = run(&scenario.config(strategy), stop)?;
            entry.scenarios += 1;
            entry.worst_oversold = entry.worst_oversold.max(out.verdict.oversold);
            if let Some(problem) = problem(strategy, scenario, &out) {
                entry.unsafe_scenarios += 1;
                let smaller = entry
                    .smallest_unsafe
                    .as_ref()
                    .is_none_or(|f| scenario.size() < f.scenario.size());
                if smaller {
                    entry.smallest_unsafe = Some(Failure {
                        scenario: *scenario,
                        problem,
                        rerun: scenario.command(strategy),
                    });
                }
            }
            progress();
        }
        report.strategies.push(entry);
    }
    Ok(report)
}
