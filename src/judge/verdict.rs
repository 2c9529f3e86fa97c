//! The checker: a pure function from (tickets, final stock, outcomes) to a
//! verdict. It trusts nothing but those three inputs, so its numbers can be
//! checked against the stock file and the outcome records by anyone.
//!
//! A verdict is one of three:
//! * **SAFE** — proven for this run: every buyer reported without error,
//!   no anomaly, no two critical sections overlapped.
//! * **UNSAFE** — an anomaly is proven (each is robust to buyers whose
//!   fate is unknown: they can only add sales to the file).
//! * **FAILED** — no anomaly, but the run did not complete as designed: a
//!   buyer failed (an error, a panic, a crash) or hung (the watchdog stopped
//!   it), or a message that was not a buyer's genuine record was rejected.
//!   Nothing is proven; the run never passes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::outcome::Outcome;

/// What a run did to the stock, and whether that was safe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `safe`, `unsafe` or `failed` (see the module doc).
    pub status: Status,
    /// Buyers told they got a ticket.
    pub sold: u64,
    /// Buyers that reported without error and found no ticket left.
    pub turned_away: u64,
    /// The final `count` in the stock file.
    pub remaining: u64,
    /// Tickets sold beyond the stock: `max(0, sold - tickets)`.
    pub oversold: u64,
    /// Ticket numbers handed to more than one buyer.
    pub double_booked: u64,
    /// Purchases the file forgot: `max(0, sold - (tickets - remaining))`.
    /// Lost updates leave the stock too *high*, which the final count alone
    /// cannot tell from unsold tickets.
    pub lost_updates: u64,
    /// Buyers that reported an error, panicked, or died without reporting
    /// (other than `--kill` victims).
    pub failed: u64,
    /// Buyers the watchdog stopped: they made no progress for `--timeout`.
    pub hung: u64,
    /// `--kill` victims that died as planned: their purchase may or may not
    /// have reached the file.
    pub indeterminate: u64,
    /// Buyers turned away (they read a count of 0) although the file still
    /// held tickets at the end. Under mutual exclusion the count only goes
    /// down, so once a buyer reads 0 it stays 0: this proves the count went
    /// back up — a stale value written over a newer one.
    pub turned_away_early: u64,
    /// Messages the parent rejected as outcome records: garbled, sent by a
    /// process other than the buyer they name, a second record for one
    /// buyer, or times outside the run. Never from an honest buyer.
    pub rejected: u64,
    /// Buyers whose critical section (acquired to released) overlapped
    /// another buyer's. `released_ns` is read before the release and
    /// `acquired_ns` after the acquire, on a clock all processes share, so
    /// under mutual exclusion no two sections can overlap: an overlap is
    /// proof that the lock let two buyers in at once.
    pub overlapping: u64,
    /// Sales the file shows that no buyer can account for:
    /// `max(0, (tickets - remaining) - sold - failed - hung - indeterminate)`.
    pub unaccounted: u64,
    /// `status == safe`.
    pub safe: bool,
    /// The first failed buyer's error, and the first hung buyer's, for the
    /// summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The three verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Proven safe for this run.
    #[default]
    Safe,
    /// An anomaly is proven.
    Unsafe,
    /// The run did not complete as designed.
    Failed,
}

/// How many buyers were sold each ticket number, by number. (A failed
/// buyer's record never counts.)
pub fn ticket_holders(outcomes: &[Option<Outcome>]) -> BTreeMap<u64, u64> {
    let mut holders = BTreeMap::new();
    for o in outcomes.iter().flatten().filter(|o| o.is_clean()) {
        if let Some(t) = o.ticket.filter(|_| o.got_ticket) {
            *holders.entry(t).or_default() += 1;
        }
    }
    holders
}

/// Judges a run that started with `tickets`, ended with `remaining` in the
/// stock file, and produced `outcomes` (one per buyer; `None` for a `--kill`
/// victim that never reported; a record with `error` or `hung` for a
/// buyer that failed or hung), while the parent rejected `rejected`
/// messages that were not genuine records.
pub fn judge(tickets: u64, remaining: u64, outcomes: &[Option<Outcome>], rejected: u64) -> Verdict {
    let mut v = Verdict {
        remaining,
        rejected,
        ..Verdict::default()
    };
    let mut first_failed = None;
    let mut first_hung = None;
    for o in outcomes {
        match o {
            None => v.indeterminate += 1,
            Some(o) if o.hung => {
                v.hung += 1;
                first_hung = first_hung.or(o.error.as_ref().map(|e| format!("buyer {} {e}", o.id)));
            }
            Some(o) if o.error.is_some() => {
                v.failed += 1;
                first_failed =
                    first_failed.or(o.error.as_ref().map(|e| format!("buyer {}: {e}", o.id)));
            }
            Some(o) if o.got_ticket => v.sold += 1,
            Some(_) => v.turned_away += 1,
        }
    }
    let unknown = i128::from(v.indeterminate + v.failed + v.hung);
    let in_file = i128::from(tickets) - i128::from(remaining);
    let sold = i128::from(v.sold);
    v.lost_updates = (sold - in_file).max(0) as u64;
    v.unaccounted = (in_file - sold - unknown).max(0) as u64;
    v.oversold = v.sold.saturating_sub(tickets);
    v.double_booked = ticket_holders(outcomes)
        .values()
        .filter(|&&n| n > 1)
        .count() as u64;
    v.overlapping = overlapping(outcomes).iter().filter(|&&o| o).count() as u64;
    v.turned_away_early = if remaining > 0 { v.turned_away } else { 0 };
    v.first_error = first_failed.or(first_hung);
    if v.first_error.is_none() && rejected > 0 {
        v.first_error = Some(format!(
            "{} rejected (see the events)",
            count(rejected, "outcome record was", "outcome records were")
        ));
    }
    let anomaly = v.oversold
        + v.double_booked
        + v.lost_updates
        + v.unaccounted
        + v.overlapping
        + v.turned_away_early
        > 0;
    v.status = if anomaly {
        Status::Unsafe
    } else if v.failed + v.hung + v.rejected > 0 {
        Status::Failed
    } else {
        Status::Safe
    };
    v.safe = v.status == Status::Safe;
    v
}

/// For each buyer, whether its critical section overlapped another's.
/// Sections are `[acquired_ns, released_ns)`; buyers without a clean record
/// have none. O(n log n): sorted by start, a section overlaps an earlier one
/// iff it starts before the latest end so far, and a later one iff it ends
/// after the next start.
pub fn overlapping(outcomes: &[Option<Outcome>]) -> Vec<bool> {
    let mut sections: Vec<(u64, u64, usize)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Some(o) if o.is_clean() && o.released_ns > o.acquired_ns => {
                Some((o.acquired_ns, o.released_ns, i))
            }
            _ => None,
        })
        .collect();
    sections.sort_unstable();
    let mut flags = vec![false; outcomes.len()];
    let mut latest_end = 0u64;
    for (k, &(start, end, i)) in sections.iter().enumerate() {
        let before = k > 0 && start < latest_end;
        let after = sections.get(k + 1).is_some_and(|&(next, _, _)| next < end);
        flags[i] = before || after;
        latest_end = latest_end.max(end);
    }
    flags
}

/// `n thing` or `n things`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Verdict {
    /// One line: `SAFE`, `UNSAFE: ` and every anomaly with its count, or
    /// `FAILED: ` and who failed or hung, with the first error.
    pub fn summary(&self) -> String {
        let anomalies: Vec<String> = [
            (self.oversold, "ticket oversold", "tickets oversold"),
            (
                self.double_booked,
                "ticket double-booked",
                "tickets double-booked",
            ),
            (self.lost_updates, "lost update", "lost updates"),
            (
                self.unaccounted,
                "sale unaccounted for",
                "sales unaccounted for",
            ),
            (
                self.overlapping,
                "buyer in an overlapping critical section",
                "buyers in overlapping critical sections",
            ),
            (
                self.turned_away_early,
                "buyer turned away while tickets remained",
                "buyers turned away while tickets remained",
            ),
        ]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, one, many)| count(n, one, many))
        .collect();
        let mut failures = Vec::new();
        if self.failed > 0 {
            failures.push(format!("{} failed", count(self.failed, "buyer", "buyers")));
        }
        if self.hung > 0 {
            failures.push(format!(
                "{} hung (stopped by the watchdog)",
                count(self.hung, "buyer", "buyers")
            ));
        }
        if self.rejected > 0 {
            failures.push(format!(
                "{} rejected",
                count(self.rejected, "outcome record", "outcome records")
            ));
        }
        let failures = failures.join(", ");
        let first = self
            .first_error
            .as_deref()
            .map(|e| format!(" — first: {e}"))
            .unwrap_or_default();
        match self.status {
            Status::Safe => "SAFE".into(),
            Status::Unsafe if failures.is_empty() => format!("UNSAFE: {}", anomalies.join(", ")),
            Status::Unsafe => format!("UNSAFE: {}; also {failures}{first}", anomalies.join(", ")),
            Status::Failed => format!("FAILED: {failures}{first}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::unistd::Pid;

    use super::*;

    fn buyer(id: u32, ticket: Option<u64>) -> Option<Outcome> {
        Some(Outcome::sold(id, ticket))
    }

    #[test]
    fn clean_run_is_safe() {
        // 3 tickets, 5 buyers: tickets 3, 2, 1 sold, two turned away.
        let h = [
            buyer(0, Some(3)),
            buyer(1, Some(2)),
            buyer(2, None),
            buyer(3, Some(1)),
            buyer(4, None),
        ];
        let v = judge(3, 0, &h, 0);
        assert_eq!(
            v,
            Verdict {
                sold: 3,
                turned_away: 2,
                remaining: 0,
                safe: true,
                ..Verdict::default()
            }
        );
        assert_eq!(v.summary(), "SAFE");
    }

    #[test]
    fn everyone_read_the_same_count() {
        // 2 tickets; 4 buyers all read 2 and wrote 1: the classic race.
        let h: Vec<_> = (0..4).map(|i| buyer(i, Some(2))).collect();
        let v = judge(2, 1, &h, 0);
        assert_eq!(v.sold, 4);
        assert_eq!(v.oversold, 2);
        assert_eq!(v.double_booked, 1);
        assert_eq!(v.lost_updates, 3);
        assert!(!v.safe);
        assert_eq!(
            v.summary(),
            "UNSAFE: 2 tickets oversold, 1 ticket double-booked, 3 lost updates"
        );
    }

    #[test]
    fn lost_update_without_oversell() {
        // 10 tickets, 2 buyers read 10, both wrote 9: no oversell, but one
        // purchase vanished from the file and ticket 10 went twice.
        let v = judge(10, 9, &[buyer(0, Some(10)), buyer(1, Some(10))], 0);
        assert_eq!((v.oversold, v.double_booked, v.lost_updates), (0, 1, 1));
        assert!(!v.safe);
    }

    #[test]
    fn double_booking_alone_is_unsafe() {
        // Counts agree, yet ticket 5 went to two buyers.
        let v = judge(5, 3, &[buyer(0, Some(5)), buyer(1, Some(5))], 0);
        assert_eq!((v.lost_updates, v.double_booked), (0, 1));
        assert!(!v.safe);
    }

    #[test]
    fn a_silent_buyer_widens_the_range() {
        // Buyer 2 was killed: it may have written (remaining 0) or not (1).
        let h = [buyer(0, Some(3)), buyer(1, Some(2)), None];
        for remaining in [0, 1] {
            let v = judge(3, remaining, &h, 0);
            assert!(v.safe, "remaining {remaining}: {v:?}");
            assert_eq!(v.indeterminate, 1);
        }
        // But the file cannot show fewer sales than were reported...
        assert_eq!(judge(3, 2, &h, 0).lost_updates, 1);
        // ...nor more than reported plus silent.
        let v = judge(5, 0, &h, 0);
        assert_eq!(v.unaccounted, 2);
        assert!(!v.safe);
    }

    fn section(id: u32, from: u64, to: u64) -> Option<Outcome> {
        let mut o = Outcome::sold(id, None);
        o.acquired_ns = from;
        o.released_ns = to;
        Some(o)
    }

    #[test]
    fn overlapping_sections_are_flagged_both_ways() {
        // 0: [10,20) 1: [20,30) touch only; 2: [25,40) overlaps 1;
        // 3: [50,100) contains 4: [60,70) and 5: [90,95); 6 has no record.
        let h = [
            section(0, 10, 20),
            section(1, 20, 30),
            section(2, 25, 40),
            section(3, 50, 100),
            section(4, 60, 70),
            section(5, 90, 95),
            None,
        ];
        assert_eq!(
            overlapping(&h),
            [false, true, true, true, true, true, false]
        );
        // A long early section overlapping a late one, with a short one between.
        let h = [section(0, 0, 100), section(1, 10, 20), section(2, 80, 90)];
        assert_eq!(overlapping(&h), [true, true, true]);
        let h = [section(0, 0, 10), section(1, 10, 20), section(2, 20, 30)];
        assert_eq!(overlapping(&h), [false, false, false]);
        assert_eq!(
            judge(3, 3, &[section(0, 0, 5), section(1, 1, 2)], 0).overlapping,
            2
        );
    }

    #[test]
    fn a_failed_buyer_is_failed_not_indeterminate_and_never_safe() {
        let mut failed = buyer(1, None);
        failed.as_mut().unwrap().error = Some("acquiring the lock: boom".into());
        let v = judge(1, 0, &[buyer(0, None), failed], 0);
        assert_eq!(
            (v.sold, v.turned_away, v.failed, v.indeterminate),
            (0, 1, 1, 0)
        );
        assert_eq!(v.status, Status::Failed);
        assert!(!v.safe);
        assert_eq!(
            v.summary(),
            "FAILED: 1 buyer failed — first: buyer 1: acquiring the lock: boom"
        );
        // Every buyer failed: nothing is proven, whatever the file says.
        let all: Vec<_> = (0..20)
            .map(|i| {
                Some(Outcome::failed(
                    i,
                    Pid::from_raw(1),
                    "acquiring the lock: boom".into(),
                ))
            })
            .collect();
        let v = judge(100, 100, &all, 0);
        assert_eq!((v.failed, v.status), (20, Status::Failed));
    }

    #[test]
    fn a_hung_buyer_is_never_safe_and_an_anomaly_still_shows() {
        let mut hung = Outcome::failed(1, Pid::from_raw(1), "hung waiting for the lock".into());
        hung.hung = true;
        let v = judge(2, 1, &[buyer(0, Some(2)), Some(hung.clone())], 0);
        assert_eq!((v.hung, v.status), (1, Status::Failed));
        assert!(v.summary().starts_with("FAILED: 1 buyer hung"));
        // An anomaly proven despite the unknown buyer is UNSAFE.
        let v = judge(2, 2, &[buyer(0, Some(2)), Some(hung)], 0);
        assert_eq!((v.lost_updates, v.status), (1, Status::Unsafe));
        assert!(
            v.summary().contains("; also 1 buyer hung"),
            "{}",
            v.summary()
        );
    }

    #[test]
    fn a_buyer_turned_away_while_tickets_remain_proves_a_stale_count() {
        // Buyer 1 read 0, yet the file ends with 1: the count went back up.
        let v = judge(2, 1, &[buyer(0, Some(2)), buyer(1, None)], 0);
        assert_eq!((v.turned_away_early, v.status), (1, Status::Unsafe));
        assert!(
            v.summary()
                .contains("1 buyer turned away while tickets remained")
        );
        // Turned away with the file at 0: fine.
        let v = judge(1, 0, &[buyer(0, Some(1)), buyer(1, None)], 0);
        assert_eq!((v.turned_away_early, v.status), (0, Status::Safe));
    }

    #[test]
    fn a_rejected_record_means_nothing_is_proven() {
        let v = judge(1, 0, &[buyer(0, Some(1))], 3);
        assert_eq!((v.rejected, v.status), (3, Status::Failed));
        assert_eq!(
            v.summary(),
            "FAILED: 3 outcome records rejected — first: 3 outcome records were rejected (see the events)"
        );
    }

    #[test]
    fn an_overlap_alone_is_unsafe() {
        // Counts agree, but the lock let two buyers in at once.
        let v = judge(3, 3, &[section(0, 0, 5), section(1, 1, 2)], 0);
        assert_eq!((v.overlapping, v.status), (2, Status::Unsafe));
    }
}
