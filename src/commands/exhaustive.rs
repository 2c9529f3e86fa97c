//! `booking check --exhaustive`: every interleaving of a small scenario,
//! run on real processes and real kernel locks, with partial-order
//! reduction.
//!
//! The search is stateless, as in VeriSoft and CHESS. Each run follows a
//! prefix of steps chosen here, then a default continuation (the last
//! mover goes on while it can: see `engine::step::explore`), and says at
//! each step which buyers could have moved instead and what each step
//! touched ([`Explored`]). Every alternative at every depth past the
//! prefix becomes a new prefix to run, depth first, until none is left.
//!
//! **Partial-order reduction.** Two steps of different buyers that touch
//! different files, or nothing another buyer sees, commute: in either
//! order they leave the same state (the same is true of shuttle's and
//! loom's independence of operations on different objects). So two
//! prefixes that differ only by such swaps (the same Mazurkiewicz trace)
//! reach the same state, and the search runs only the first of them. It
//! compares traces by their lexicographic normal form ([`normal_form`]).
//! A step whose effect is not known (code before a strategy's first call,
//! a futex, an unknown call), or any step of a strategy whose buyers map
//! shared memory of their own (which code between two calls may touch
//! unseen), commutes with nothing. The reduction is then off, and the
//! search is the plain enumeration.
//!
//! What is covered: the schedules of the stepped scheduler. While one
//! buyer is blocked in the lock, no other is sent in (the one-waiter rule,
//! which never binds with two buyers, and with three leaves out the
//! schedules in which two wait at once: which of them the kernel wakes, no
//! schedule can choose). A buyer that waits by spinning
//! (sleeping, yielding, or looping through calls) moves only when no
//! other can: while the buyer it waits for has not moved, its retries
//! change nothing, and choosing it again and again would make the search
//! endless. A safe result is therefore a proof for that bound and that
//! scheduler; an unsafe one comes with the shortest counterexample found
//! (fewest steps, then fewest switches between buyers).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::apart::run_apart;
use super::check::problem;
use super::scenario::Scenario;
use crate::cli::{Servers, rerun};
use crate::engine::Stepping;
use crate::engine::step::{Explored, Touch};
use crate::error::{Error, Result};
use crate::judge::verdict::count;
use crate::lock::Strategy;
use crate::report::wrap;

/// The scenarios explored for `buyers` buyers: (buyers, tickets).
pub fn bounds(buyers: u32) -> [(u32, u64); 2] {
    [(buyers, 1), (buyers, 2)]
}

/// The most runs one scenario's search may take before it stops
/// unfinished (and proves nothing).
pub const MAX_RUNS: usize = 5_000;

/// The seed of the explored runs' (unused) delays: stepped runs sleep
/// none, so any seed gives the same runs.
const SEED: u64 = 1;

/// One scenario's search.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    /// Buyers.
    pub buyers: u32,
    /// Tickets.
    pub tickets: u64,
    /// Runs made: one schedule each.
    pub schedules: usize,
    /// Whether every schedule was covered (not stopped at [`MAX_RUNS`]).
    pub complete: bool,
    /// Whether partial-order reduction applied (no strategy memory).
    pub reduced: bool,
    /// Schedules that went wrong.
    pub problems: usize,
    /// The shortest schedule that went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortest: Option<Counterexample>,
    /// Wall time of the search, in seconds.
    pub seconds: f64,
}

/// A schedule that went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// `unsafe`, `failed`, `hung` or `short`.
    pub kind: &'static str,
    /// What went wrong.
    pub problem: String,
    /// Its steps.
    pub steps: usize,
    /// The command that repeats it exactly.
    pub rerun: String,
    /// The schedule.
    #[serde(skip)]
    pub schedule: Vec<u32>,
}

/// One strategy's exhaustive check.
#[derive(Debug, Clone, Serialize)]
pub struct StrategySearch {
    /// Its name.
    pub strategy: String,
    /// Whether it claims to be safe.
    pub claims_safe: bool,
    /// Why it was not explored (a strategy a stepped run cannot schedule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_explored: Option<String>,
    /// One search per scenario of [`bounds`].
    pub searches: Vec<Search>,
    /// Whether it kept its claim: a safe one with no problem in any
    /// schedule, an unsafe one with no more to say.
    pub kept_claim: bool,
    /// Whether a safe claim is proved for every bound (every search
    /// complete, no problem).
    pub proved: bool,
}

/// The whole exhaustive check.
#[derive(Debug, Clone, Serialize)]
pub struct ExhaustiveReport {
    /// Whether every strategy kept its claim.
    pub pass: bool,
    /// The buyers of every scenario explored.
    pub buyers: u32,
    /// Why system calls are not pause points on this machine, if they
    /// are not (see `docs/stepping.md`). The schedules are then those of
    /// the purchase points only: a race between two of a strategy's own
    /// calls is not among them, so nothing is proved safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_only: Option<String>,
    /// Each strategy's searches.
    pub strategies: Vec<StrategySearch>,
}

/// The lexicographic normal form of a sequence of steps (each a buyer and
/// what it touched): of all the orders equivalent to it by swapping
/// adjacent steps that commute, the one that is smallest taking buyer ids
/// in turn. Two sequences are equivalent exactly when their normal forms
/// are equal.
pub fn normal_form(steps: &[(u32, Touch)]) -> Vec<(u32, Touch)> {
    let depends = |a: &(u32, Touch), b: &(u32, Touch)| a.0 == b.0 || !a.1.commutes_with(&b.1);
    let mut left: Vec<usize> = (0..steps.len()).collect();
    let mut out = Vec::with_capacity(steps.len());
    while !left.is_empty() {
        // The steps that nothing left before them must precede.
        let pick = left
            .iter()
            .enumerate()
            .filter(|&(pos, &j)| !left[..pos].iter().any(|&e| depends(&steps[e], &steps[j])))
            .min_by_key(|&(_, &j)| steps[j].0)
            .map(|(pos, _)| pos)
            .expect("the first step left is always free");
        out.push(steps[left.remove(pick)].clone());
    }
    out
}

/// Explores every schedule of `buyers` buyers over `tickets` tickets under
/// `strategy` (see the module doc); `progress` is called after each run.
///
/// # Errors
/// Only when interrupted.
pub fn search(
    strategy: &'static Strategy,
    buyers: u32,
    tickets: u64,
    timeout: Duration,
    servers: &Servers,
    mut progress: impl FnMut(),
) -> Result<Search> {
    let started = Instant::now();
    let scenario = Scenario {
        step_seed: Some(SEED),
        ..Scenario::fixed(tickets, buyers, 0, SEED)
    };
    let base = scenario.config(strategy, timeout, servers);
    let budget = scenario.budget(timeout);
    let mut found = Search {
        buyers,
        tickets,
        schedules: 0,
        complete: true,
        reduced: true,
        problems: 0,
        shortest: None,
        seconds: 0.0,
    };
    let mut seen: HashSet<Vec<(u32, Touch)>> = HashSet::new();
    // What a buyer's step touched from a state (a prefix's normal form),
    // as some run saw: the same from every equivalent state, since a run
    // is determined by its schedule. Better than what is known before a
    // step runs (a point's step into the strategy: not known).
    let mut learned: HashMap<(Vec<(u32, Touch)>, u32), Touch> = HashMap::new();
    let mut stack: Vec<Vec<u32>> = vec![Vec::new()];
    while let Some(prefix) = stack.pop() {
        if found.schedules >= MAX_RUNS {
            found.complete = false;
            break;
        }
        let mut cfg = base.clone();
        cfg.stepping = Some(Stepping::Explore(prefix.clone()));
        found.schedules += 1;
        let out = match run_apart(&cfg, budget) {
            Ok(out) => out,
            Err(e @ Error::Interrupted(..)) => return Err(e),
            Err(e) => {
                // A run that could not be made (a prefix that diverged,
                // say) is a finding, and its subtree is not explored.
                found.problems += 1;
                note(
                    &mut found,
                    "failed",
                    format!("the run could not be made: {e}"),
                    &prefix,
                    rerun(&cfg),
                );
                progress();
                continue;
            }
        };
        let schedule = out.schedule.clone().unwrap_or_default();
        let steps = &schedule.steps;
        if let Some((kind, what)) = problem(strategy, &scenario, &out) {
            found.problems += 1;
            note(
                &mut found,
                kind,
                what,
                steps,
                rerun(&cfg.replaying(Some(steps))),
            );
        }
        found.reduced &= !schedule.shared_memory;
        let blind = |t: &Touch| {
            if schedule.shared_memory {
                Touch::Unknown
            } else {
                t.clone()
            }
        };
        let events: Vec<(u32, Touch)> = steps
            .iter()
            .zip(&schedule.explored)
            .map(|(&b, e)| (b, blind(&e.touch)))
            .collect();
        for k in 0..=events.len() {
            let state = normal_form(&events[..k]);
            if let Some(&b) = steps.get(k) {
                learned.insert((state.clone(), b), events[k].1.clone());
            }
            seen.insert(state);
        }
        for (k, Explored { options, .. }) in schedule.explored.iter().enumerate().skip(prefix.len())
        {
            for (b, touch) in options {
                if *b == steps[k] {
                    continue;
                }
                let mut alternative = events[..k].to_vec();
                let known = learned.get(&(normal_form(&alternative), *b));
                alternative.push((*b, known.cloned().unwrap_or_else(|| blind(touch))));
                if seen.insert(normal_form(&alternative)) {
                    let mut next = steps[..k].to_vec();
                    next.push(*b);
                    stack.push(next);
                }
            }
        }
        progress();
    }
    found.seconds = started.elapsed().as_secs_f64();
    Ok(found)
}

/// Keeps `steps` as the search's counterexample if it is the shortest yet
/// (fewest steps, then fewest switches between buyers).
fn note(found: &mut Search, kind: &'static str, problem: String, steps: &[u32], rerun: String) {
    let switches = |s: &[u32]| s.windows(2).filter(|w| w[0] != w[1]).count();
    let rank = (steps.len(), switches(steps));
    let better = found
        .shortest
        .as_ref()
        .is_none_or(|c| rank < (c.schedule.len(), switches(&c.schedule)));
    if better {
        found.shortest = Some(Counterexample {
            kind,
            problem,
            steps: steps.len(),
            rerun,
            schedule: steps.to_vec(),
        });
    }
}

/// The exhaustive check of `strategies`.
///
/// # Errors
/// Only when interrupted.
pub fn check(
    strategies: &[&'static Strategy],
    buyers: u32,
    timeout: Duration,
    servers: &Servers,
    mut progress: impl FnMut(),
) -> Result<ExhaustiveReport> {
    let mut report = ExhaustiveReport {
        pass: true,
        buyers,
        points_only: crate::sys::seccomp::usable().err(),
        strategies: Vec::new(),
    };
    for &strategy in strategies {
        let mut entry = StrategySearch {
            strategy: strategy.name.to_string(),
            claims_safe: strategy.safe,
            not_explored: None,
            searches: Vec::new(),
            kept_claim: true,
            proved: false,
        };
        if !strategy.steppable() {
            entry.not_explored = Some(
                "a stepped run cannot schedule a database's transactions (see docs/stepping.md)"
                    .into(),
            );
            report.strategies.push(entry);
            continue;
        }
        for (buyers, tickets) in bounds(buyers) {
            entry.searches.push(search(
                strategy,
                buyers,
                tickets,
                timeout,
                servers,
                &mut progress,
            )?);
        }
        let problems: usize = entry.searches.iter().map(|s| s.problems).sum();
        entry.kept_claim = !strategy.safe || problems == 0;
        entry.proved = strategy.safe
            && problems == 0
            && entry.searches.iter().all(|s| s.complete)
            && report.points_only.is_none();
        report.pass &= entry.kept_claim;
        report.strategies.push(entry);
    }
    Ok(report)
}

impl ExhaustiveReport {
    /// The report as text, within [`wrap::WIDTH`] columns.
    pub fn human(&self) -> String {
        let bounds: Vec<String> = bounds(self.buyers)
            .iter()
            .map(|&(b, t)| format!("{b} buyers, {}", count(t, "ticket", "tickets")))
            .collect();
        let mut out = wrap::words(
            "",
            &format!(
                "booking check --exhaustive: every schedule of {}, on real processes and locks (schedules run, after partial-order reduction)",
                bounds.join("; ")
            ),
            wrap::WIDTH,
            "  ",
        );
        out += "\n";
        if let Some(why) = &self.points_only {
            out += &wrap::words(
                "",
                &format!(
                    "SYSTEM CALLS ARE NOT PAUSE POINTS HERE ({why}): the schedules are those of \
                     the purchase points only, and no strategy is proved safe"
                ),
                wrap::WIDTH,
                "  ",
            );
            out += "\n";
        }
        out += &format!(
            "{:<20}{:<8}{:>22}{:>22}  result\n",
            "strategy", "claims", bounds[0], bounds[1]
        );
        for s in &self.strategies {
            let cell = |x: &Search| {
                let mut c = x.schedules.to_string();
                if !x.complete {
                    c += "+ (stopped)";
                } else if x.problems > 0 {
                    c += &format!(", {} bad", x.problems);
                }
                c
            };
            let result = match (&s.not_explored, s.claims_safe, s.proved, s.kept_claim) {
                (Some(_), ..) => "not explored",
                (None, true, true, _) => "proved safe",
                (None, true, false, true) => "safe where explored",
                (None, true, false, false) => "BROKE ITS CLAIM",
                (None, false, ..) => "unsafe, as it says",
            };
            let cells: Vec<String> = s.searches.iter().map(cell).collect();
            out += &format!(
                "{:<20}{:<8}{:>22}{:>22}  {result}\n",
                s.strategy,
                if s.claims_safe { "safe" } else { "unsafe" },
                cells.first().map_or("-", String::as_str),
                cells.get(1).map_or("-", String::as_str),
            );
            if let Some(why) = &s.not_explored {
                out += &wrap::words("  ", why, wrap::WIDTH, "    ");
                out += "\n";
            }
            if let Some(c) = s
                .searches
                .iter()
                .filter_map(|x| x.shortest.as_ref())
                .min_by_key(|c| c.steps)
            {
                out += &super::check::under_row(
                    &format!("shortest counterexample, {} steps: {}", c.steps, c.problem),
                    &c.rerun,
                );
            }
        }
        out += if self.pass {
            "every strategy that claims to be safe was safe in every schedule\n"
        } else {
            "A STRATEGY THAT CLAIMS TO BE SAFE BROKE ITS CLAIM (see above)\n"
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(f: &str) -> Touch {
        Touch::Files(vec![f.into()])
    }

    #[test]
    fn swaps_of_commuting_steps_have_one_normal_form() {
        let a = vec![(1, file("a")), (0, file("b")), (0, file("a"))];
        let b = vec![(0, file("b")), (1, file("a")), (0, file("a"))];
        assert_eq!(normal_form(&a), normal_form(&b));
        // Steps on one file do not commute: the order stays.
        let c = vec![(1, file("a")), (0, file("a"))];
        let d = vec![(0, file("a")), (1, file("a"))];
        assert_ne!(normal_form(&c), normal_form(&d));
        // Nor does a step whose effect is unknown.
        let e = vec![(1, Touch::Unknown), (0, file("b"))];
        let f = vec![(0, file("b")), (1, Touch::Unknown)];
        assert_ne!(normal_form(&e), normal_form(&f));
        // A buyer's own steps keep their order.
        let g = vec![(0, file("a")), (0, file("b"))];
        assert_eq!(normal_form(&g), g);
    }
}
