//! The comparison as a picture (SVG): one bar per strategy, the median
//! wall time with its min–max whisker, coloured by what the runs proved —
//! green when every run was safe, red when one was unsafe, amber when one
//! failed or hung — and the anomalies written beside it. The cost of a lock
//! and what it buys, readable without the table.

use svg::Document;
use svg::node::element::{Group, Line, Rectangle, Style, Text, Title};

use super::comparison::{Comparison, Row};
use super::table;

const WIDTH: f64 = 900.0;
const LABEL: f64 = 150.0;
const BARS: f64 = 430.0;
const LANE: f64 = 26.0;
const TOP: f64 = 50.0;

/// The verdict class of a row: `safe`, `unsafe` or `failed`.
fn class(r: &Row) -> &'static str {
    if r.safe_runs == r.runs && r.runs > 0 {
        "safe"
    } else if r.safe_runs + r.failed_runs + r.hung_runs < r.runs {
        "unsafe"
    } else {
        "failed"
    }
}

/// What the runs proved, one short line.
fn what(r: &Row) -> String {
    let mut parts = vec![format!("{:.0} ms", r.wall_ms.median)];
    match class(r) {
        "safe" => parts.push(format!("safe in {}/{}", r.safe_runs, r.runs)),
        _ => {
            parts.push(format!("safe in {}/{}", r.safe_runs, r.runs));
            if r.oversold.max > 0 {
                parts.push(format!("oversold {:.1}", r.oversold.mean));
            }
            if r.lost_updates.max > 0 {
                parts.push(format!("lost {:.1}", r.lost_updates.mean));
            }
            if r.failed_runs + r.hung_runs > 0 {
                parts.push(format!("{} failed, {} hung", r.failed_runs, r.hung_runs));
            }
        }
    }
    parts.join(" · ")
}

/// Renders `c` as an SVG bar chart.
pub fn render(c: &Comparison) -> String {
    let longest = c
        .rows
        .iter()
        .map(|r| r.wall_ms.max)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let x = |ms: f64| LABEL + ms / longest * BARS;
    let height = TOP + c.rows.len() as f64 * LANE + 40.0;
    let mut doc = Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("width", WIDTH)
        .set("height", height)
        .set("viewBox", (0, 0, WIDTH, height))
        .add(Style::new(
            "text { font: 12px sans-serif } .title { font-weight: bold } \
             .safe { fill: #3a9d5d } .unsafe { fill: #d9534f } .failed { fill: #e0a030 } \
             .whisker { stroke: #333 }",
        ))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(
            Text::new(table::title(c))
                .set("class", "title")
                .set("x", 10)
                .set("y", 20),
        );
    for (i, r) in c.rows.iter().enumerate() {
        let y = TOP + i as f64 * LANE;
        let mid = y + LANE * 0.4;
        let g = Group::new()
            .set("class", "bar")
            .set("data-strategy", r.strategy.as_str())
            .add(Title::new(format!(
                "{}: median {:.1} ms ({:.1}–{:.1}); {}",
                r.strategy,
                r.wall_ms.median,
                r.wall_ms.min,
                r.wall_ms.max,
                what(r)
            )))
            .add(
                Text::new(r.strategy.as_str())
                    .set("x", 10)
                    .set("y", mid + 4.0),
            )
            .add(
                Rectangle::new()
                    .set("class", class(r))
                    .set("x", LABEL)
                    .set("y", y)
                    .set("width", (x(r.wall_ms.median) - LABEL).max(1.0))
                    .set("height", LANE * 0.8),
            )
            .add(
                Line::new()
                    .set("class", "whisker")
                    .set("x1", x(r.wall_ms.min))
                    .set("x2", x(r.wall_ms.max))
                    .set("y1", mid)
                    .set("y2", mid),
            )
            .add(
                Text::new(what(r))
                    .set("x", LABEL + BARS + 10.0)
                    .set("y", mid + 4.0),
            );
        doc = doc.add(g);
    }
    doc = doc.add(
        Text::new(
            "bar: median wall time, line: fastest to slowest run · green: safe in every run · red: unsafe in a run · amber: a run failed or hung",
        )
        .set("x", 10)
        .set("y", height - 15.0),
    );
    doc.to_string() + "\n"
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "svg",
    extensions: &["svg"],
    about: "a bar chart: median wall time per strategy, coloured by what the runs proved",
    render,
};
