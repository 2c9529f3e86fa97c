//! The comparison as CSV: one row per strategy, raw numbers (milliseconds,
//! microseconds, ratios), empty where a value does not exist.

use serde::Serialize;

use super::comparison::{Comparison, Row};

#[derive(Serialize)]
struct Flat<'a> {
    strategy: &'a str,
    claims_safe: bool,
    buyers: u32,
    tickets: u64,
    delay: &'a str,
    seed: u64,
    runs: usize,
    safe_runs: usize,
    failed_runs: usize,
    hung_runs: usize,
    oversold_mean: f64,
    oversold_max: u64,
    double_booked_mean: f64,
    double_booked_max: u64,
    lost_updates_mean: f64,
    lost_updates_max: u64,
    wall_ms_median: f64,
    wall_ms_min: f64,
    wall_ms_max: f64,
    purchases_per_s: f64,
    wait_p50_us: Option<u64>,
    wait_p99_us: Option<u64>,
    wakeups_per_buyer: Option<f64>,
    vs_none: Option<f64>,
    vs_fastest_safe: Option<f64>,
}

fn flat<'a>(c: &'a Comparison, r: &'a Row) -> Flat<'a> {
    Flat {
        strategy: &r.strategy,
        claims_safe: r.claims_safe,
        buyers: c.buyers,
        tickets: c.tickets,
        delay: &c.delay,
        seed: c.seed,
        runs: r.runs,
        safe_runs: r.safe_runs,
        failed_runs: r.failed_runs,
        hung_runs: r.hung_runs,
        oversold_mean: r.oversold.mean,
        oversold_max: r.oversold.max,
        double_booked_mean: r.double_booked.mean,
        double_booked_max: r.double_booked.max,
        lost_updates_mean: r.lost_updates.mean,
        lost_updates_max: r.lost_updates.max,
        wall_ms_median: r.wall_ms.median,
        wall_ms_min: r.wall_ms.min,
        wall_ms_max: r.wall_ms.max,
        purchases_per_s: r.purchases_per_s,
        wait_p50_us: r.wait_p50_us,
        wait_p99_us: r.wait_p99_us,
        wakeups_per_buyer: r.wakeups_per_buyer,
        vs_none: r.vs_none,
        vs_fastest_safe: r.vs_fastest_safe,
    }
}

/// Renders `c` as CSV with a header line.
pub fn render(c: &Comparison) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &c.rows {
        w.serialize(flat(c, r))
            .expect("writing CSV to memory cannot fail");
    }
    String::from_utf8(w.into_inner().expect("flushing to memory cannot fail"))
        .expect("CSV of UTF-8 is UTF-8")
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "csv",
    extensions: &["csv"],
    about: "one CSV row per strategy, raw numbers",
    render,
};
