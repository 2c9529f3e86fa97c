//! The checker: a pure function from (tickets, final stock, outcomes) to a
//! verdict. It trusts nothing but those three inputs, so its numbers can be
//! checked against the stock file and the outcome records by anyone.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::outcome::Outcome;

/// What a run did to the stock, and whether that was safe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Buyers told they got a ticket.
    pub sold: u64,
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
    /// Buyers that never reported (killed, or failed): their purchase may or
    /// may not have reached the file.
    pub indeterminate: u64,
    /// Buyers whose critical section (acquired to released) overlapped
    /// another buyer's: what a lock exists to prevent. Informative: a run
    /// can overlap and still come out right by luck, so it is not part of
    /// `safe`.
    pub overlapping: u64,
    /// Sales the file shows that no buyer can account for:
    /// `max(0, (tickets - remaining) - sold - indeterminate)`.
    pub unaccounted: u64,
    /// No oversell, no double booking, no lost update, nothing unaccounted:
    /// `sold <= tickets - remaining <= sold + indeterminate`.
    pub safe: bool,
}

/// How many buyers were sold each ticket number, by number. (A failed
/// buyer's record never carries a ticket.)
pub fn ticket_holders(outcomes: &[Option<Outcome>]) -> BTreeMap<u64, u64> {
    let mut holders = BTreeMap::new();
    for t in outcomes.iter().flatten().filter_map(|o| o.ticket) {
        *holders.entry(t).or_default() += 1;
    }
    holders
}

/// Judges a run that started with `tickets`, ended with `remaining` in the
/// stock file, and produced `outcomes` (one per buyer; `None` for a buyer
/// that never reported, or a record with an `error`).
pub fn judge(tickets: u64, remaining: u64, outcomes: &[Option<Outcome>]) -> Verdict {
    let mut sold = 0u64;
    let mut indeterminate = 0u64;
    for o in outcomes {
        match o {
            Some(o) if o.error.is_none() => sold += u64::from(o.got_ticket),
            _ => indeterminate += 1,
        }
    }
    let in_file = i128::from(tickets) - i128::from(remaining);
    let sold_i = i128::from(sold);
    let lost_updates = (sold_i - in_file).max(0) as u64;
    let unaccounted = (in_file - sold_i - i128::from(indeterminate)).max(0) as u64;
    let oversold = sold.saturating_sub(tickets);
    let double_booked = ticket_holders(outcomes)
        .values()
        .filter(|&&n| n > 1)
        .count() as u64;
    Verdict {
        sold,
        remaining,
        oversold,
        double_booked,
        lost_updates,
        indeterminate,
        overlapping: overlapping(outcomes).iter().filter(|&&o| o).count() as u64,
        unaccounted,
        safe: oversold == 0 && double_booked == 0 && lost_updates == 0 && unaccounted == 0,
    }
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
            Some(o) if o.error.is_none() && o.released_ns > o.acquired_ns => {
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

impl Verdict {
    /// One line: `SAFE`, or `UNSAFE: ` and every anomaly with its count.
    pub fn summary(&self) -> String {
        if self.safe {
            return "SAFE".into();
        }
        let parts: Vec<String> = [
            (self.oversold, "tickets oversold"),
            (self.double_booked, "double-booked"),
            (self.lost_updates, "lost updates"),
            (self.unaccounted, "sales unaccounted for"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        format!("UNSAFE: {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
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
        let v = judge(3, 0, &h);
        assert_eq!(
            v,
            Verdict {
                sold: 3,
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
        let v = judge(2, 1, &h);
        assert_eq!(v.sold, 4);
        assert_eq!(v.oversold, 2);
        assert_eq!(v.double_booked, 1);
        assert_eq!(v.lost_updates, 3);
        assert!(!v.safe);
        assert_eq!(
            v.summary(),
            "UNSAFE: 2 tickets oversold, 1 double-booked, 3 lost updates"
        );
    }

    #[test]
    fn lost_update_without_oversell() {
        // 10 tickets, 2 buyers read 10, both wrote 9: no oversell, but one
        // purchase vanished from the file and ticket 10 went twice.
        let v = judge(10, 9, &[buyer(0, Some(10)), buyer(1, Some(10))]);
        assert_eq!((v.oversold, v.double_booked, v.lost_updates), (0, 1, 1));
        assert!(!v.safe);
    }

    #[test]
    fn double_booking_alone_is_unsafe() {
        // Counts agree, yet ticket 5 went to two buyers.
        let v = judge(5, 3, &[buyer(0, Some(5)), buyer(1, Some(5))]);
        assert_eq!((v.lost_updates, v.double_booked), (0, 1));
        assert!(!v.safe);
    }

    #[test]
    fn a_silent_buyer_widens_the_range() {
        // Buyer 2 was killed: it may have written (remaining 0) or not (1).
        let h = [buyer(0, Some(3)), buyer(1, Some(2)), None];
        for remaining in [0, 1] {
            let v = judge(3, remaining, &h);
            assert!(v.safe, "remaining {remaining}: {v:?}");
            assert_eq!(v.indeterminate, 1);
        }
        // But the file cannot show fewer sales than were reported...
        assert_eq!(judge(3, 2, &h).lost_updates, 1);
        // ...nor more than reported plus silent.
        let v = judge(5, 0, &h);
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
            judge(3, 3, &[section(0, 0, 5), section(1, 1, 2)]).overlapping,
            2
        );
    }

    #[test]
    fn a_failed_buyer_counts_as_indeterminate() {
        let mut failed = buyer(1, None);
        failed.as_mut().unwrap().error = Some("disk full".into());
        let v = judge(1, 1, &[buyer(0, None), failed]);
        assert_eq!((v.sold, v.indeterminate), (0, 1));
        assert!(v.safe);
    }
}
