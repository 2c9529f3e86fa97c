//! The check that a report adds up: every number of the verdict recomputed
//! from the outcome records and the stock file.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

/// `field` of every buyer that reported, in id order.
pub fn column(report: &Value, field: &str) -> Vec<u64> {
    report["buyers_detail"]
        .as_array()
        .expect("buyers_detail")
        .iter()
        .filter(|b| !b.is_null())
        .map(|b| u(b, field))
        .collect()
}

/// The parts of a report a replay must repeat: verdict, each buyer's
/// ticket, the final count.
pub fn outcome(r: &Value) -> (String, Vec<Value>, u64) {
    let tickets = r["buyers_detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ticket"].clone())
        .collect();
    (r["summary"].to_string(), tickets, u(r, "remaining"))
}

pub fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("field {field} is not a whole number in {v}"))
}

/// Recomputes the verdict from the outcome records and the stock file's
/// final count, and checks that the report's numbers are exactly those. The
/// report never gets to make a number up.
pub fn assert_consistent(report: &Value, final_count: u64, parent_pid: u32) {
    let ctx = || serde_json::to_string_pretty(report).unwrap();
    let tickets = u(report, "tickets");
    let buyers = u(report, "buyers");
    let detail = report["buyers_detail"].as_array().expect("buyers_detail");
    assert_eq!(
        detail.len() as u64,
        buyers,
        "one record per buyer\n{}",
        ctx()
    );
    let strategy = booking::lock::find(report["strategy"].as_str().unwrap()).expect("a strategy");
    let mut sold = 0u64;
    let mut turned_away = 0u64;
    let mut indeterminate = 0u64;
    let mut failed = 0u64;
    let mut hung = 0u64;
    let mut per_ticket: HashMap<u64, u64> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    let mut workers: HashMap<u64, u64> = HashMap::new();
    for (i, b) in detail.iter().enumerate() {
        if b.is_null() {
            indeterminate += 1;
            continue;
        }
        if b["hung"] == true {
            hung += 1;
            continue;
        }
        if b.get("error").is_some() {
            failed += 1;
            continue;
        }
        assert_eq!(u(b, "id"), i as u64, "records are in id order");
        let pid = u(b, "pid");
        assert_ne!(
            pid,
            u64::from(parent_pid),
            "a buyer ran in the parent process"
        );
        // One process per buyer, or a pool worker per `id mod K`.
        match report["pool"].as_u64() {
            None => assert!(pids.insert(pid), "pid {pid} appears twice"),
            Some(k) => {
                let worker = workers.entry(i as u64 % k).or_insert(pid);
                assert_eq!(
                    *worker,
                    pid,
                    "buyer {i} was not served by worker {}",
                    i as u64 % k
                );
            }
        }
        assert!(u(b, "released_ns") >= u(b, "acquired_ns"));
        if b["got_ticket"].as_bool().unwrap() {
            sold += 1;
            let t = u(b, "ticket");
            assert!(
                (1..=tickets).contains(&t),
                "ticket {t} out of 1..={tickets}"
            );
            *per_ticket.entry(t).or_default() += 1;
            if strategy.protects == booking::lock::Protects::Purchase {
                assert!(
                    u(b, "hold_us") >= u(b, "delay_us"),
                    "a seller held the lock less than its delay"
                );
            }
        } else {
            turned_away += 1;
            assert!(b["ticket"].is_null());
        }
    }
    let in_file = tickets as i64 - final_count as i64;
    let expect = [
        ("sold", sold),
        ("remaining", final_count),
        ("oversold", sold.saturating_sub(tickets)),
        (
            "double_booked",
            per_ticket.values().filter(|&&n| n > 1).count() as u64,
        ),
        ("lost_updates", (sold as i64 - in_file).max(0) as u64),
        ("indeterminate", indeterminate),
        ("turned_away", turned_away),
        ("failed", failed),
        ("hung", hung),
        (
            "unaccounted",
            (in_file - (sold + failed + hung + indeterminate) as i64).max(0) as u64,
        ),
    ];
    for (field, want) in expect {
        assert_eq!(
            u(report, field),
            want,
            "{field} disagrees with the records\n{}",
            ctx()
        );
    }
    // Overlapping critical sections, pair by pair.
    let sections: Vec<(u64, u64)> = detail
        .iter()
        .filter(|b| !b.is_null() && b.get("error").is_none() && b["hung"] != true)
        .map(|b| (u(b, "acquired_ns"), u(b, "released_ns")))
        .collect();
    let overlapping = sections
        .iter()
        .enumerate()
        .filter(|&(i, &(s, e))| {
            sections
                .iter()
                .enumerate()
                .any(|(j, &(s2, e2))| i != j && s < e2 && s2 < e && s < e && s2 < e2)
        })
        .count() as u64;
    assert_eq!(
        u(report, "overlapping"),
        overlapping,
        "overlapping\n{}",
        ctx()
    );
    let most = per_ticket.values().copied().max();
    assert_eq!(
        report["most_sold_ticket"]["buyers"].as_u64(),
        most,
        "most_sold_ticket\n{}",
        ctx()
    );
    // Anomalies: oversold, double-booked, lost updates, unaccounted,
    // overlaps, buyers turned away while tickets remained.
    let early = if final_count > 0 { turned_away } else { 0 };
    assert_eq!(
        u(report, "turned_away_early"),
        early,
        "turned_away_early\n{}",
        ctx()
    );
    let anomaly =
        expect[2..5].iter().any(|(_, n)| *n > 0) || expect[9].1 > 0 || overlapping > 0 || early > 0;
    let status = if anomaly {
        "unsafe"
    } else if failed + hung + u(report, "rejected") > 0 {
        "failed"
    } else {
        "safe"
    };
    assert_eq!(report["status"], status, "status disagrees\n{}", ctx());
    assert_eq!(
        report["safe"].as_bool(),
        Some(status == "safe"),
        "safe disagrees\n{}",
        ctx()
    );
}

/// The `count` of a stock file.
pub fn count_of(path: &Path) -> u64 {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the stock file is valid JSON after the run");
    u(&v, "count")
}
