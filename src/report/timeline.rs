//! The timeline of a run: one lane per buyer on the shared
//! `CLOCK_MONOTONIC` axis, showing when it waited for the lock and when it
//! held it, and what it got. Overlapping critical sections and
//! double-booked ticket numbers are marked, so a race can be *seen*.
//!
//! Two renderings: SVG (drawn with the `svg` crate) for a report or a
//! browser, and text for a quick look in the terminal. Lanes are ordered by
//! when each buyer got the lock, so under a working lock the sections form
//! a staircase, end to end; buyers that never reported come last.

use std::fmt::Write as _;

use svg::Document;
use svg::node::element::{Group, Line, Rectangle, Style, Text, Title};

use super::{RunReport, fmt_us};
use crate::judge::verdict::{count, overlapping, ticket_holders};
use crate::model::outcome::Outcome;

/// The most lanes an SVG timeline draws; more buyers get a note.
pub const MAX_SVG_LANES: usize = 300;
/// The most rows a text timeline prints on the terminal (a file gets
/// every buyer).
pub const MAX_TEXT_LANES: usize = 40;

/// One buyer's lane.
struct Lane<'a> {
    id: usize,
    outcome: Option<&'a Outcome>,
    overlap: bool,
    double: bool,
}

impl Lane<'_> {
    /// (asked, acquired, released) in ns, for a buyer with a clean record.
    fn times(&self) -> Option<(u64, u64, u64)> {
        let o = self
            .outcome
            .filter(|o| o.error.is_none() && o.acquired_ns > 0)?;
        Some((
            o.acquired_ns.saturating_sub(o.wait_us * 1000),
            o.acquired_ns,
            o.released_ns,
        ))
    }

    fn ticket(&self) -> String {
        match self.outcome {
            None => "never reported".into(),
            Some(o) if o.error.is_some() => "failed".into(),
            Some(o) => o.ticket.map_or("no ticket".into(), |t| format!("#{t}")),
        }
    }
}

/// In a stepped run, the step numbers (from 1) each buyer took, by buyer
/// id: read from the schedule, one buyer id per step.
fn steps_by_buyer(report: &RunReport) -> Vec<Vec<usize>> {
    let mut by = vec![Vec::new(); report.buyers as usize];
    if let Some(s) = &report.schedule {
        for (k, id) in s.split(',').enumerate() {
            if let Some(v) = id.parse::<usize>().ok().and_then(|i| by.get_mut(i)) {
                v.push(k + 1);
            }
        }
    }
    by
}

/// A stepped run's trace, per buyer: the steps it took, each with the
/// system call it made (`3: buyer 1 flock(4, LOCK_EX) = ok`).
fn trace_by_buyer(report: &RunReport) -> Vec<Vec<&str>> {
    let mut by = vec![Vec::new(); report.buyers as usize];
    for line in &report.trace {
        let mover = line
            .split_once(": buyer ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|id| id.parse::<usize>().ok());
        if let Some(v) = mover.and_then(|i| by.get_mut(i)) {
            v.push(line.as_str());
        }
    }
    by
}

fn join(steps: &[usize]) -> String {
    let s: Vec<String> = steps.iter().map(usize::to_string).collect();
    s.join(",")
}

/// The lanes of a report, ordered by acquisition, and the time span.
fn lanes(report: &RunReport) -> (Vec<Lane<'_>>, u64, u64) {
    let detail = &report.buyers_detail;
    let over = overlapping(detail);
    let holders = ticket_holders(detail);
    let mut lanes: Vec<Lane<'_>> = detail
        .iter()
        .enumerate()
        .map(|(id, o)| Lane {
            id,
            outcome: o.as_ref(),
            overlap: over[id],
            double: o
                .as_ref()
                .and_then(|o| o.ticket)
                .is_some_and(|t| holders[&t] > 1),
        })
        .collect();
    lanes.sort_by_key(|l| (l.times().map_or(u64::MAX, |t| t.1), l.id));
    let t0 = lanes
        .iter()
        .filter_map(|l| l.times())
        .map(|t| t.0)
        .min()
        .unwrap_or(0);
    let t1 = lanes
        .iter()
        .filter_map(|l| l.times())
        .map(|t| t.2)
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    (lanes, t0, t1)
}

fn note(shown: usize, total: usize) -> Option<String> {
    (shown < total).then(|| format!("showing {shown} of {total} buyers: the first to get the lock"))
}

const CSS: &str = "
text { font: 11px sans-serif; fill: #222 }
.head { font-size: 13px; font-weight: bold }
.wait { fill: #d9d9d9 }
.hold { fill: #4a7ab5 }
.hold.overlap { fill: #d62728 }
.hold.empty { fill: #9db4d3 }
.ticket.double { fill: #d62728; font-weight: bold }
.axis { stroke: #888; stroke-width: 1 }
";

/// The timeline as an SVG document.
pub fn svg(report: &RunReport) -> String {
    svg_on_one_scale(&[report])
}

/// Several runs' timelines stacked in one SVG document, on one time scale:
/// a millimetre of the picture is the same time in every panel, so the
/// cost of a lock is seen side by side (`compare --timeline`). Each panel
/// starts at its own run's first request for the lock.
pub fn svg_on_one_scale(reports: &[&RunReport]) -> String {
    let all: Vec<_> = reports.iter().map(|r| lanes(r)).collect();
    let span = all.iter().map(|(_, t0, t1)| t1 - t0).max().unwrap_or(1);
    // Lanes shrink so that the picture stays about 1,000 pixels tall
    // (150 buyers fit), down to 4 pixels.
    let shown_total: usize = all.iter().map(|(l, ..)| l.len().min(MAX_SVG_LANES)).sum();
    let pitch = (900.0 / shown_total.max(1) as f64).clamp(4.0, 14.0);
    let mut panels = Vec::new();
    let mut height = 0.0;
    for (report, (lanes, t0, _)) in reports.iter().zip(&all) {
        let (g, h) = panel(report, lanes, *t0, span, pitch);
        panels.push(g.set("transform", format!("translate(0,{height})")));
        height += h;
    }
    let mut doc = Document::new()
        .set("viewBox", (0, 0, WIDTH, height))
        .set("width", WIDTH)
        .set("height", height)
        .add(Style::new(CSS))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        );
    for g in panels {
        doc = doc.add(g);
    }
    doc.to_string()
}

const WIDTH: f64 = 1000.0;

/// One run's panel: its header, lanes and time axis, `span` ns wide from
/// `t0`, lanes `pitch` pixels apart. Returns the panel and its height.
fn panel(report: &RunReport, lanes: &[Lane<'_>], t0: u64, span: u64, pitch: f64) -> (Group, f64) {
    let shown = lanes.len().min(MAX_SVG_LANES);
    // Below 9 pixels only every tenth buyer is named, and only tickets
    // sold twice are written.
    let (width, left, right, top) = (WIDTH, 90.0, 110.0, 80.0);
    let gap = (pitch * 0.2).min(3.0);
    let lane_h = pitch - gap;
    let roomy = lane_h >= 9.0;
    let plot = width - left - right;
    let x = |t: u64| left + (t.saturating_sub(t0)) as f64 / span as f64 * plot;
    let height = top + shown as f64 * (lane_h + gap) + 40.0;
    let mut doc = Group::new().set("class", "run");
    // Everything that made the run (the re-run line carries the seed, the
    // delays, a stepped run's schedule), and what it proved.
    // Line 1: the verdict; line 2: the run (seed, delays, schedule);
    // lines 3 and 4: the legend.
    doc = doc.add(
        Text::new(report.summary.as_str())
            .set("class", "head")
            .set("x", 10)
            .set("y", 18),
    );
    doc = doc.add(Text::new(report.rerun.as_str()).set("x", 10).set("y", 34));
    let holding = if report.strategy == "none" {
        "blue: in the critical section (no lock: nobody waits)"
    } else {
        "grey: waiting for the lock · blue: holding it"
    };
    let legend = format!(
        "{holding} · pale blue: found no ticket (turned away) · red: in it while another buyer is too ({})",
        count(report.verdict.overlapping, "buyer", "buyers"),
    );
    let legend2 = format!(
        "red #n: a ticket sold more than once{}",
        note(shown, lanes.len())
            .map(|n| format!(" · {n}"))
            .unwrap_or_default()
    );
    doc = doc.add(Text::new(legend).set("x", 10).set("y", 52));
    doc = doc.add(Text::new(legend2).set("x", 10).set("y", 66));
    let steps = steps_by_buyer(report);
    let calls = trace_by_buyer(report);
    for (row, lane) in lanes.iter().take(shown).enumerate() {
        let y = top + row as f64 * (lane_h + gap);
        let mut g = Group::new().set("class", "lane").set("data-buyer", lane.id);
        let mut tip = format!("buyer {}", lane.id);
        if let Some(o) = lane.outcome {
            let _ = write!(tip, " (pid {})", o.pid);
        }
        if let Some(s) = steps.get(lane.id).filter(|s| !s.is_empty()) {
            let _ = write!(tip, ", steps {}", join(s));
        }
        if let Some((asked, acquired, released)) = lane.times() {
            let _ = write!(
                tip,
                ": waited {}, held {}, {}",
                fmt_us((acquired - asked) / 1000),
                fmt_us((released - acquired) / 1000),
                lane.ticket()
            );
            // A stepped run: each of its steps, with the call it made.
            for line in calls.get(lane.id).into_iter().flatten() {
                let _ = write!(tip, "\n{line}");
            }
            g = g.add(rect("wait", x(asked), y, x(acquired) - x(asked), lane_h));
            let mut class = String::from("hold");
            if lane.overlap {
                class += " overlap";
            }
            if lane.outcome.is_some_and(|o| o.ticket.is_none()) {
                class += " empty";
            }
            g = g.add(rect(
                &class,
                x(acquired),
                y,
                (x(released) - x(acquired)).max(1.0),
                lane_h,
            ));
        } else {
            let _ = write!(tip, ": {}", lane.ticket());
        }
        g = g.add(Title::new(tip));
        if roomy || row % 10 == 0 {
            g = g.add(
                Text::new(format!("buyer {}", lane.id))
                    .set("x", left - 6.0)
                    .set("y", y + lane_h - 1.0)
                    .set("text-anchor", "end"),
            );
        }
        let class = if lane.double {
            "ticket double"
        } else {
            "ticket"
        };
        if roomy || lane.double {
            g = g.add(
                Text::new(lane.ticket())
                    .set("class", class)
                    .set("x", width - right + 6.0)
                    .set("y", y + lane_h - 1.0),
            );
        }
        doc = doc.add(g);
    }
    let axis_y = top + shown as f64 * (lane_h + gap) + 6.0;
    doc = doc.add(
        Line::new()
            .set("class", "axis")
            .set("x1", left)
            .set("x2", width - right)
            .set("y1", axis_y)
            .set("y2", axis_y),
    );
    let span_ms = span as f64 / 1e6;
    for k in 0..=5 {
        let frac = f64::from(k) / 5.0;
        doc = doc.add(
            Text::new(format!("{:.1} ms", span_ms * frac))
                .set("x", left + frac * plot)
                .set("y", axis_y + 16.0)
                .set("text-anchor", "middle"),
        );
    }
    (doc, height)
}

fn rect(class: &str, x: f64, y: f64, w: f64, h: f64) -> Rectangle {
    Rectangle::new()
        .set("class", class)
        .set("x", x)
        .set("y", y)
        .set("width", w.max(0.0))
        .set("height", h)
}

/// The timeline as text, `width` characters of time axis per row:
/// `·` waiting, `█` holding, `▓` holding while another buyer holds too.
/// A ticket sold more than once is followed by `!`.
pub fn text(report: &RunReport, width: usize, max_lanes: Option<usize>) -> String {
    let (lanes, t0, t1) = lanes(report);
    let shown = lanes.len().min(max_lanes.unwrap_or(usize::MAX));
    let col = |t: u64| {
        ((t.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * (width - 1) as f64).round() as usize
    };
    let mut out = format!(
        "timeline: lock {}, {}, 0 to {:.1} ms  (· waiting  █ holding  ▓ holding while another does  ! ticket sold twice)\n",
        report.strategy,
        count(u64::from(report.buyers), "buyer", "buyers"),
        (t1 - t0) as f64 / 1e6
    );
    let steps = steps_by_buyer(report);
    for lane in lanes.iter().take(shown) {
        let mut row = vec![' '; width];
        if let Some((asked, acquired, released)) = lane.times() {
            let (a, b, c) = (col(asked), col(acquired), col(released));
            row[a..b].fill('·');
            row[b..=c.max(b)].fill(if lane.overlap { '▓' } else { '█' });
        }
        let mark = if lane.double { " !" } else { "" };
        let stepped = steps
            .get(lane.id)
            .filter(|s| !s.is_empty())
            .map(|s| format!("  steps {}", join(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "buyer {:>4} |{}| {}{}{}",
            lane.id,
            row.iter().collect::<String>(),
            lane.ticket(),
            mark,
            stepped
        );
    }
    if let Some(s) = &report.schedule {
        let _ = writeln!(out, "schedule (buyer per step): {s}");
    }
    if let Some(n) = note(shown, lanes.len()) {
        let _ = writeln!(out, "({n})");
    }
    out
}
