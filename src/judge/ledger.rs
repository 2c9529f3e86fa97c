//! The ledger of a shared run: every sale the database committed (a row
//! of its `sales` table: host, buyer, ticket, written in the purchase's
//! own transaction or statement) matched to what its buyer reported.
//!
//! The counts alone (sold against the final count) say how many sales
//! are unaccounted for; the ledger says which, and why:
//!
//! * **committed but unreported** — the database has the sale, its buyer
//!   did not say so: it was killed, failed after the commit (a server
//!   restart cuts the connection between the commit and its answer), or
//!   its host did not finish. Explained, and named. A buyer that reported
//!   *without error* that it got no ticket (or another one) contradicts
//!   the database: that is proof of a lie, and the run is UNSAFE.
//! * **reported but not committed** — a buyer said it got a ticket the
//!   database never recorded: a sale promised and not made. UNSAFE.

use serde::Serialize;

use crate::model::outcome::Outcome;

/// One row of a run's `sales` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sale {
    /// The host whose buyer made it (`--host-name`).
    pub host: String,
    /// The buyer, numbered within its host.
    pub buyer: u32,
    /// The ticket sold.
    pub ticket: u64,
}

/// How one host's buyers ended, by buyer number (`None`: no record, a
/// `--kill` victim).
pub struct HostOutcomes<'a> {
    /// The host's name.
    pub name: &'a str,
    /// Its buyers' records.
    pub outcomes: &'a [Option<Outcome>],
}

/// The sales matched to their buyers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Sales the database committed (rows of `sales`).
    pub committed: u64,
    /// Committed, and reported by their buyer with the same ticket.
    pub reported: u64,
    /// Committed sales their buyer did not report, each named with why
    /// ("h2 buyer 4, ticket 57: killed before it reported"), the
    /// contradicted among them.
    pub committed_unreported: Vec<String>,
    /// Sales a buyer reported that the database never committed, named.
    pub reported_uncommitted: Vec<String>,
    /// Of the committed but unreported, those that contradict the records,
    /// not an accident: the buyer reported, without error, no ticket or
    /// another one; or the run has no such host or buyer.
    pub contradicted: Vec<String>,
}

impl Ledger {
    /// A committed sale no buyer reported, that contradicts the records.
    fn contradict(&mut self, what: String) {
        self.contradicted.push(what.clone());
        self.committed_unreported.push(what);
    }

    /// Whether the ledger proves an anomaly: a sale reported and not
    /// committed, or a committed sale its buyer denied.
    pub fn proves_anomaly(&self) -> bool {
        !self.reported_uncommitted.is_empty() || !self.contradicted.is_empty()
    }
}

/// Why buyer `o` of a host did not report the sale of `ticket` that the
/// database has, and whether that contradicts its record.
fn unreported(o: Option<&Outcome>, ticket: u64) -> (String, bool) {
    match o {
        None => ("killed before it reported".into(), false),
        Some(o) if o.hung => ("stopped by the watchdog".into(), false),
        Some(Outcome { error: Some(e), .. }) => {
            let e: String = e.chars().take(80).collect();
            (format!("it failed: {e}"), false)
        }
        Some(Outcome {
            ticket: Some(t), ..
        }) if *t != ticket => (format!("it reported ticket {t}"), true),
        Some(_) => ("it reported that it got no ticket".into(), true),
    }
}

/// Matches `sales` to the buyers of `hosts`. A row of a host not among
/// them is committed but unreported.
pub fn reconcile(hosts: &[HostOutcomes<'_>], sales: &[Sale]) -> Ledger {
    let mut ledger = Ledger {
        committed: sales.len() as u64,
        ..Ledger::default()
    };
    // Each reported sale is matched to one row at most.
    let mut matched: Vec<Vec<bool>> = hosts
        .iter()
        .map(|h| vec![false; h.outcomes.len()])
        .collect();
    for s in sales {
        let name = format!("{} buyer {}, ticket {}", s.host, s.buyer, s.ticket);
        let Some(h) = hosts.iter().position(|h| h.name == s.host) else {
            ledger.contradict(format!("{name}: no such host in the run"));
            continue;
        };
        let b = s.buyer as usize;
        let Some(record) = hosts[h].outcomes.get(b) else {
            ledger.contradict(format!("{name}: no such buyer on its host"));
            continue;
        };
        let o = record.as_ref();
        let reports_it = o.is_some_and(|o| o.got_ticket && o.ticket == Some(s.ticket));
        if reports_it && !matched[h][b] {
            matched[h][b] = true;
            ledger.reported += 1;
            continue;
        }
        let (why, contradicts) = if reports_it {
            (
                "a second row for the one sale it reported".to_string(),
                true,
            )
        } else {
            unreported(o, s.ticket)
        };
        if contradicts {
            ledger.contradict(format!("{name}: {why}"));
        } else {
            ledger.committed_unreported.push(format!("{name}: {why}"));
        }
    }
    for (h, host) in hosts.iter().enumerate() {
        for (b, o) in host.outcomes.iter().enumerate() {
            if let Some(o) = o
                && o.got_ticket
                && !matched[h][b]
            {
                let ticket = o.ticket.map_or("?".into(), |t| t.to_string());
                ledger.reported_uncommitted.push(format!(
                    "{} buyer {b}, ticket {ticket}: no such sale in the database",
                    host.name
                ));
            }
        }
    }
    ledger
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    fn sold(id: u32, ticket: u64) -> Option<Outcome> {
        Some(Outcome {
            got_ticket: true,
            ticket: Some(ticket),
            ..Outcome::empty(id, Pid::from_raw(1))
        })
    }

    fn turned_away(id: u32) -> Option<Outcome> {
        Some(Outcome::empty(id, Pid::from_raw(1)))
    }

    fn sale(host: &str, buyer: u32, ticket: u64) -> Sale {
        Sale {
            host: host.into(),
            buyer,
            ticket,
        }
    }

    #[test]
    fn every_reported_sale_committed_is_clean() {
        let a = [sold(0, 3), turned_away(1), sold(2, 2)];
        let b = [sold(0, 1)];
        let hosts = [
            HostOutcomes {
                name: "a",
                outcomes: &a,
            },
            HostOutcomes {
                name: "b",
                outcomes: &b,
            },
        ];
        let l = reconcile(&hosts, &[sale("a", 0, 3), sale("b", 0, 1), sale("a", 2, 2)]);
        assert_eq!((l.committed, l.reported), (3, 3));
        assert!(l.committed_unreported.is_empty() && l.reported_uncommitted.is_empty());
        assert!(!l.proves_anomaly());
    }

    #[test]
    fn a_committed_sale_of_a_failed_or_killed_buyer_is_named_and_explained() {
        let a = [
            Some(Outcome::failed(
                0,
                Pid::from_raw(1),
                "connection closed".into(),
            )),
            None,
            sold(2, 5),
        ];
        let hosts = [HostOutcomes {
            name: "a",
            outcomes: &a,
        }];
        let l = reconcile(&hosts, &[sale("a", 0, 7), sale("a", 1, 6), sale("a", 2, 5)]);
        assert_eq!(l.reported, 1);
        assert_eq!(
            l.committed_unreported,
            [
                "a buyer 0, ticket 7: it failed: connection closed",
                "a buyer 1, ticket 6: killed before it reported"
            ]
        );
        assert!(!l.proves_anomaly(), "{l:?}");
    }

    #[test]
    fn a_sale_denied_or_never_made_is_an_anomaly() {
        let a = [turned_away(0), sold(1, 4), sold(2, 9)];
        let hosts = [HostOutcomes {
            name: "a",
            outcomes: &a,
        }];
        // Buyer 0 denies a sale the database has; buyer 1 reported ticket
        // 4, which the database never recorded; buyer 2 was recorded
        // twice.
        let l = reconcile(&hosts, &[sale("a", 0, 8), sale("a", 2, 9), sale("a", 2, 9)]);
        assert_eq!(
            l.contradicted,
            [
                "a buyer 0, ticket 8: it reported that it got no ticket",
                "a buyer 2, ticket 9: a second row for the one sale it reported"
            ]
        );
        assert_eq!(
            l.reported_uncommitted,
            ["a buyer 1, ticket 4: no such sale in the database"]
        );
        assert!(l.proves_anomaly());
    }
}
