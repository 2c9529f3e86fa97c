//! Each scenario of `check` and `grade` as a plain run of its own.
//!
//! The judge (`check`, `grade`) never runs a strategy's code. For each
//! scenario it starts `booking` again (`/proc/self/exe`, under the name it
//! was itself started as) with exactly the arguments of the scenario's
//! re-run line — the command a user types — and its own environment, so a strategy sees a plain run: its parent's
//! command line, its stock, its siblings are those of
//! `booking --buyers … --lock …`. The run sends its records back on a
//! socket (see [`crate::sys::judged`]); its printed report goes to
//! `/dev/null`. The judge then judges those records and the stock count
//! itself ([`crate::judge::verdict::judge`]), never trusting a verdict it
//! did not reach.
//!
//! A run that crashes, exits early, prints a report of its own or hangs is
//! no threat to the judge: no record comes back (a failed scenario, with
//! the run's exit status and the end of its standard error), or the
//! judge's own limit ends it (`SIGTERM`, then `SIGKILL`), and every
//! process it left is swept. A stop signal ends the judge within
//! [`crate::sys::judged::STOP_GRACE`] of the run's own end.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::rerun_args;
use crate::engine::step::Schedule;
use crate::engine::{RunConfig, RunOutput};
use crate::error::{Error, Result};
use crate::judge::verdict::judge;
use crate::model::outcome::Outcome;
use crate::model::stock::Stock;
use crate::sys::{self, Containment, judged};

/// What a judged run sends back.
#[derive(Serialize, Deserialize)]
enum Wire {
    /// The run ran.
    Ran(Ran),
    /// The run could not be made: bad input (exit 2) or a failure.
    Refused { input: bool, message: String },
}

/// A run's records, and what the judge needs to judge them.
#[derive(Serialize, Deserialize)]
struct Ran {
    tickets: u64,
    outcomes: Vec<Option<Outcome>>,
    final_stock: String,
    rejected: u64,
    wall_ns: u64,
    spawn_ns: u64,
    events: Vec<String>,
    steps: Option<Vec<u32>>,
    trace: Vec<String>,
    #[serde(default)]
    explored: Vec<crate::engine::step::Explored>,
    #[serde(default)]
    shared_memory: bool,
}

/// The run's side, after the run: sends its result to the judge that
/// started it, if one did (else nothing). An error is the judge's
/// finding, sent too; an interrupt is not sent (the judge was stopped
/// as well, or stopped this run itself).
pub fn report_to_judge(result: &Result<RunOutput>) {
    if !judged::is_judged() {
        return;
    }
    let wire = match result {
        Ok(out) => Wire::Ran(Ran {
            tickets: out.tickets,
            outcomes: out.outcomes.clone(),
            final_stock: out.final_stock.to_text(),
            rejected: out.verdict.rejected,
            wall_ns: out.wall.as_nanos() as u64,
            spawn_ns: out.spawn.as_nanos() as u64,
            events: out.events.clone(),
            steps: out.schedule.as_ref().map(|s| s.steps.clone()),
            trace: out
                .schedule
                .as_ref()
                .map(|s| s.trace.clone())
                .unwrap_or_default(),
            explored: out
                .schedule
                .as_ref()
                .map(|s| s.explored.clone())
                .unwrap_or_default(),
            shared_memory: out.schedule.as_ref().is_some_and(|s| s.shared_memory),
        }),
        Err(Error::Interrupted(..)) => return,
        Err(e) => Wire::Refused {
            input: matches!(e, Error::Input(_)),
            message: e.to_string(),
        },
    };
    let text = serde_json::to_vec(&wire).expect("a run's result always serialises");
    // A judge that is gone has nobody to tell.
    let _ = judged::report(&text);
}

/// How long past its own budget a judged run may take before the judge
/// ends it, if it has made no progress for its watchdog and as long
/// again: the strategy's `prepare` and clean-up each have
/// [`crate::engine::run::PARENT_CODE_LIMIT`], and the run's sweep.
pub const SLACK: Duration = Duration::from_secs(25);

/// The judge's side: runs `cfg` as a plain `booking` run in a process of
/// its own (see the module doc) and judges what it sends back. A run that
/// goes on making progress (a buyer reports) is never cut off, however
/// slow; one that has run `budget` + [`SLACK`] and made none for its
/// watchdog + [`SLACK`] is ended. (The run's own watchdog ends a run whose
/// buyers make no progress; the judge's ends a run whose own process does
/// not end: a strategy's clean-up that hangs, say.)
///
/// # Errors
/// [`Error::Interrupted`] when a stop signal arrived; [`Error::Input`] or
/// [`Error::Failed`] when the run could not be made, ended without a
/// result, or ran past its limit.
pub fn run_apart(cfg: &RunConfig, budget: Duration) -> Result<RunOutput> {
    // Whatever the run leaves behind is adopted by this process and
    // swept when the scenario ends.
    let containment =
        Containment::begin().map_err(|e| Error::failed("PR_SET_CHILD_SUBREAPER", e))?;
    let child = judged::spawn_self(&rerun_args(cfg))
        .map_err(|e| Error::failed("starting a scenario's run", e))?;
    let limit = budget + SLACK;
    let quiet = cfg.timeout + SLACK;
    let finished = child.wait(limit, quiet, || sys::stop_signal().is_some());
    let swept = containment.end();
    let finished = finished.map_err(|e| Error::failed("waiting for a scenario's run", e))?;
    if let Some(sig) = sys::stop_signal() {
        return Err(Error::interrupted(sig, "during a scenario's run".into()));
    }
    let stderr_tail = || {
        let last = finished
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        if last.is_empty() {
            String::new()
        } else {
            format!("; its last words: {last}")
        }
    };
    if finished.timed_out {
        return Err(Error::Failed(format!(
            "the run did not end: past {} (its budget and {} for the strategy's own code), no buyer had reported for {}, so it was killed{}",
            crate::engine::delay::fmt_duration(limit),
            crate::engine::delay::fmt_duration(SLACK),
            crate::engine::delay::fmt_duration(quiet),
            stderr_tail()
        )));
    }
    let wire: Wire = match serde_json::from_slice(&finished.report) {
        Ok(w) => w,
        Err(_) => {
            let how = match (finished.status.code(), finished.report.is_empty()) {
                (Some(code), true) => format!("exited with status {code} without a result"),
                (None, true) => format!("was killed ({}) without a result", finished.status),
                (_, false) => "sent a result that is not booking's".to_string(),
            };
            return Err(Error::Failed(format!("the run {how}{}", stderr_tail())));
        }
    };
    let ran = match wire {
        Wire::Ran(ran) => ran,
        Wire::Refused {
            input: true,
            message,
        } => return Err(Error::Input(message)),
        Wire::Refused { message, .. } => return Err(Error::Failed(message)),
    };
    let final_stock = Stock::parse(&ran.final_stock)
        .map_err(|e| Error::Failed(format!("the run's final stock: {e}")))?;
    let verdict = judge(
        ran.tickets,
        final_stock.count(),
        &ran.outcomes,
        ran.rejected,
    );
    let mut events = ran.events;
    if swept.killed > 0 {
        events.push(format!(
            "killed {} the run left behind",
            crate::judge::verdict::count(swept.killed as u64, "process", "processes")
        ));
    }
    Ok(RunOutput {
        tickets: ran.tickets,
        outcomes: ran.outcomes,
        final_stock,
        verdict,
        wall: Duration::from_nanos(ran.wall_ns),
        spawn: Duration::from_nanos(ran.spawn_ns),
        events,
        schedule: ran.steps.map(|steps| Schedule {
            steps,
            trace: ran.trace,
            explored: ran.explored,
            shared_memory: ran.shared_memory,
        }),
    })
}
