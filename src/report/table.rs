//! The comparison as a table of display cells, shared by the text and
//! Markdown exporters.

use super::comparison::{Comparison, Row, Spread};
use super::fmt_us;
use crate::judge::verdict::count;

/// Column headers.
pub const HEADERS: [&str; COLUMNS] = [
    "strategy",
    "safe runs",
    "oversold",
    "double-booked",
    "lost updates",
    "wall time",
    "throughput",
    "lock wait p50 / p99",
    "wakeups",
    "vs none",
    "vs safe",
];

/// Number of columns.
pub const COLUMNS: usize = 11;

/// What the cells mean, printed under the table.
pub const LEGEND: &str = "oversold, double-booked, lost updates: mean / max over the runs · \
wall time: median (min–max) · throughput: tickets sold per second, median · \
wakeups: voluntary context switches per buyer while acquiring the lock, mean · \
vs none: median wall time relative to none's · \
vs safe: median wall time relative to the fastest strategy that was safe in every run";

fn spread(s: Spread) -> String {
    format!("{:.1} / {}", s.mean, s.max)
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}×"))
}

/// `safe/runs`, and the runs that failed or hung, if any.
fn safe_runs(r: &Row) -> String {
    let mut s = format!("{}/{}", r.safe_runs, r.runs);
    if r.failed_runs > 0 {
        s += &format!(" ({} failed)", r.failed_runs);
    }
    if r.hung_runs > 0 {
        s += &format!(" ({} hung)", r.hung_runs);
    }
    s
}

/// The cells of one row.
pub fn cells(r: &Row) -> [String; COLUMNS] {
    let us = |x: Option<u64>| x.map_or("-".to_string(), fmt_us);
    [
        r.strategy.clone(),
        safe_runs(r),
        spread(r.oversold),
        spread(r.double_booked),
        spread(r.lost_updates),
        format!(
            "{} ms ({}–{})",
            ms(r.wall_ms.median),
            ms(r.wall_ms.min),
            ms(r.wall_ms.max)
        ),
        format!("{:.0}/s", r.purchases_per_s),
        format!("{} / {}", us(r.wait_p50_us), us(r.wait_p99_us)),
        r.wakeups_per_buyer
            .map_or("-".to_string(), |w| format!("{w:.1}")),
        ratio(r.vs_none),
        ratio(r.vs_fastest_safe),
    ]
}

/// Every row's cells.
pub fn rows(c: &Comparison) -> Vec<[String; COLUMNS]> {
    c.rows.iter().map(cells).collect()
}

/// The line above the table.
pub fn title(c: &Comparison) -> String {
    super::wrap::words(
        "",
        &format!(
            "booking compare: {}, {}, delay {}, seed {}; {} each after a warm-up",
            count(u64::from(c.buyers), "buyer", "buyers"),
            count(c.tickets, "ticket", "tickets"),
            c.delay,
            c.seed,
            count(c.repeat as u64, "run", "runs")
        ),
        super::wrap::WIDTH,
        "  ",
    )
}
