//! What became of every buyer: the watchdog that stops a run making no
//! progress, and each buyer's fate when the collection ends (see the
//! module doc of `collect`).

use super::Collector;
use crate::engine::buyer::Stage;
use crate::engine::delay::fmt_duration;
use crate::judge::verdict::count;
use crate::model::outcome::Outcome;
use crate::sys::Ending;
use crate::sys::channel::Receiver;

/// What the parent learnt of every buyer.
pub struct Collected {
    /// One entry per buyer, by id (see the module doc of `collect`).
    pub outcomes: Vec<Option<Outcome>>,
    /// Deaths, repairs, the watchdog, rejected records, one line each.
    pub events: Vec<String>,
    /// Messages rejected as records (garbled, not from the buyer they
    /// name, a second one, times outside the run).
    pub rejected: u64,
    /// `CLOCK_MONOTONIC` when the start barrier opened.
    pub opened_ns: u64,
}

/// What is known of a buyer's end beyond its record.
#[derive(Clone, Debug)]
pub(super) enum Note {
    /// A `--kill` victim died as planned.
    Killed,
    /// It ended without reporting, this way.
    Died(Ending),
    /// The watchdog stopped it at this stage.
    Hung(Stage),
}

impl Collector<'_> {
    /// No buyer finished for `--timeout`: say who was stuck on what, kill
    /// them, and mark them hung. Records already sent still count.
    pub fn watchdog(&mut self, channel: Option<Receiver>) {
        let live: Vec<usize> = self.buyers.live().collect();
        // Grouped by stage, and by where each is in the kernel: the call
        // it sleeps in, or none (on a processor: spinning).
        // A stage, and the call a buyer sleeps in (`None`: on a processor).
        type Place = (Stage, Option<i64>);
        let mut by_stage: Vec<(Place, Vec<String>)> = Vec::new();
        for &i in &live {
            let id = self.current(i);
            let stage = Stage::from_cell(self.stages.get(id));
            let at = (stage, crate::sys::proc::call(self.buyers.pid(i)));
            match by_stage.iter_mut().find(|(s, _)| *s == at) {
                Some((_, ids)) => ids.push(id.to_string()),
                None => by_stage.push((at, vec![id.to_string()])),
            }
            self.notes[i] = Some(Note::Hung(stage));
        }
        let groups: Vec<String> = by_stage
            .iter()
            .map(|((stage, call), ids)| {
                let place = match call {
                    Some(n) => format!(", asleep in {}", crate::engine::step::call_name(*n)),
                    None => ", running".to_string(),
                };
                format!(
                    "{} {} ({}{place})",
                    ids.len(),
                    stage.doing(),
                    truncate_list(ids, 10)
                )
            })
            .collect();
        let mut msg = format!(
            "watchdog: no buyer finished for {} (--timeout); stopped {}: {}",
            fmt_duration(self.cfg.timeout),
            count(live.len() as u64, "stuck buyer", "stuck buyers"),
            groups.join("; ")
        );
        if let Some(lock) = super::contained::describe(self.shared) {
            msg += &format!("; {lock}");
        }
        self.events.push(msg);
        // They die of the watchdog's SIGKILL: not a death to repair after.
        self.buyers.kill_and_reap_all();
        if let Some(ch) = channel {
            self.drain(ch);
        }
    }

    /// The buyer process `i` is running now: buyer `i`, or the first of a
    /// pool worker's buyers without a record.
    fn current(&self, i: usize) -> usize {
        let hosts = self.cfg.processes();
        (i..self.outcomes.len())
            .step_by(hosts)
            .find(|&id| self.outcomes[id].is_none())
            .unwrap_or(i)
    }

    /// Every buyer's fate (see the module doc).
    pub fn finish(mut self) -> Collected {
        let mut outcomes = std::mem::take(&mut self.outcomes);
        for (i, slot) in outcomes.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            // Its process: the buyer's own, or its pool worker.
            let host = self.cfg.host(i);
            let pid = self.buyers.pid(host);
            let fail = |error: String, hung: bool| {
                Some(Outcome {
                    hung,
                    ..Outcome::failed(i as u32, pid, error)
                })
            };
            *slot = match &self.notes[host] {
                Some(Note::Killed) => None,
                Some(Note::Hung(stage)) => fail(format!("hung {}", stage.doing()), true),
                Some(Note::Died(e)) => fail(format!("{e} before reporting"), false),
                None => fail("exited without reporting".into(), false),
            };
        }
        if self.rejected > 10 {
            self.events
                .push(format!("rejected: {} more records", self.rejected - 10));
        }
        Collected {
            outcomes,
            events: std::mem::take(&mut self.events),
            rejected: self.rejected,
            opened_ns: self.opened_ns,
        }
    }
}

fn truncate_list(items: &[String], max: usize) -> String {
    let word = if items.len() == 1 { "buyer" } else { "buyers" };
    if items.len() <= max {
        format!("{word} {}", items.join(", "))
    } else {
        format!(
            "{word} {}, … ({} more)",
            items[..max].join(", "),
            items.len() - max
        )
    }
}
