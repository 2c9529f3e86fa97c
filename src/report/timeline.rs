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

use super::{RunReport, fmt_us, ticks, wrap};
use crate::judge::verdict::{count, overlapping, ticket_holders};
use crate::model::outcome::Outcome;

/// The most lanes an SVG timeline panel draws (about 5,100 pixels of
/// picture); more buyers get a note.
pub const MAX_SVG_LANES: usize = 1000;
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

/// Colours by class; the legend in each panel's head says what they mean.
/// Font sizes are not here: each text carries its own as an attribute,
/// because the layout is computed from them (a label goes only where its
/// font fits), and so a reader of the file can check that without a CSS
/// engine.
const CSS: &str = "
text { font-family: sans-serif; fill: #222 }
.name, .head { font-weight: bold }
.wait { fill: #d9d9d9 }
.hold { fill: #4a7ab5 }
.hold.overlap { fill: #d62728 }
.hold.empty { fill: #9db4d3 }
.ticket.double { fill: #d62728; font-weight: bold }
.axis { stroke: #888; stroke-width: 1 }
";

const WIDTH: f64 = 1000.0;
/// The font of lane labels, the legend and the axis, in pixels.
const FONT: f64 = 11.0;
/// The strategy's name, heading each panel.
const NAME_FONT: f64 = 18.0;
/// The verdict, under the name.
const VERDICT_FONT: f64 = 13.0;
/// The thinnest lane drawn: thinner, its colour cannot be told from its
/// neighbours' nor hovered for its tooltip.
const MIN_LANE: f64 = 4.0;
/// The height the lanes of a picture share before they are thinned.
const LANES_PX: f64 = 900.0;

/// How a picture's lanes are laid out, the same in every panel.
///
/// Lanes shrink to keep 150 buyers on about 1,000 pixels (6 pixels a lane
/// and its gap), but never below [`MIN_LANE`]. Past that the picture grows
/// taller instead: 1,000 buyers take about 5,100 pixels, scrolled in a
/// browser. Whoever draws 1,000 buyers wants to see each of them, and the
/// lane that raced may be any one; a 1-pixel smear shows none. Labels
/// (buyer ids, ticket numbers) need [`FONT`] pixels of height: where lanes
/// are thinner, only one lane in `every` is labelled, and a thinned lane's
/// tooltip still names its buyer and ticket (a ticket sold twice keeps a
/// red mark in the ticket column).
struct Layout {
    /// From the top of one lane to the top of the next.
    pitch: f64,
    /// A lane's height (the rest of the pitch is the gap below it).
    lane: f64,
    /// One lane in `every` carries its labels.
    every: usize,
}

impl Layout {
    fn new(lanes: usize) -> Self {
        let pitch = (LANES_PX / lanes.max(1) as f64).clamp(MIN_LANE + 1.0, 14.0);
        let gap = (pitch * 0.2).clamp(1.0, 3.0);
        Layout {
            pitch,
            lane: pitch - gap,
            every: (FONT / pitch).ceil() as usize,
        }
    }
}

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
    let shown_total: usize = all.iter().map(|(l, ..)| l.len().min(MAX_SVG_LANES)).sum();
    let layout = Layout::new(shown_total);
    let mut panels = Vec::new();
    let mut height = 0.0;
    for (report, (lanes, t0, _)) in reports.iter().zip(&all) {
        let (g, h) = panel(report, lanes, *t0, span, &layout);
        panels.push(g.set("transform", format!("translate(0,{height})")));
        height += h;
    }
    // Whole pixels: a PNG of the picture is exactly its size.
    let height = height.ceil();
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

/// A text at (`x`, `y`) (its baseline), `size` pixels high.
fn label(content: &str, x: f64, y: f64, size: f64) -> Text {
    // Hundredths of a pixel: finer is noise in the file.
    let px = |v: f64| (v * 100.0).round() / 100.0;
    Text::new(content)
        .set("x", px(x))
        .set("y", px(y))
        .set("font-size", size)
}

/// A panel's head, a line each, and the height it takes: the strategy's
/// name, large, so a panel of `compare --timeline` is found by what it
/// ran; the verdict, what it proved; the re-run line, everything that made
/// the run (seed, delays, a stepped run's schedule); the legend. Lines are
/// wrapped to stay inside the picture.
fn head(report: &RunReport, shown: usize, total: usize, every: usize) -> (Vec<Text>, f64) {
    let holding = if report.strategy == "none" {
        "blue: in the critical section (no lock: nobody waits)"
    } else {
        "grey: waiting for the lock · blue: holding it"
    };
    let legend = format!(
        "{holding} · pale blue: found no ticket (turned away) · red: in it while another buyer is too ({})",
        count(report.verdict.overlapping, "buyer", "buyers"),
    );
    let tickets = if every > 1 {
        format!(
            "red #n (or a red bar): a ticket sold more than once · one lane in {every} is labelled; \
             hover over a lane for its buyer and ticket"
        )
    } else {
        "red #n: a ticket sold more than once".to_string()
    };
    let legend2 = [tickets]
        .into_iter()
        .chain(note(shown, total))
        .collect::<Vec<_>>()
        .join(" · ");
    // Columns that fit the width at each size (100 of 13-pixel bold, 140
    // of 11-pixel), with room to spare for a wide sans-serif.
    let lines = [
        (report.strategy.clone(), NAME_FONT, Some("name")),
        (
            wrap::words("", &report.summary, 100, "  "),
            VERDICT_FONT,
            Some("head"),
        ),
        (wrap::command("", &report.rerun, 140, "  "), FONT, None),
        (wrap::words("", &legend, 140, "  "), FONT, None),
        (wrap::words("", &legend2, 140, "  "), FONT, None),
    ];
    let mut texts = Vec::new();
    let mut y = 4.0;
    for (content, size, class) in lines {
        for line in content.lines() {
            y += size * 1.3;
            let t = label(line, 10.0, y, size);
            texts.push(match class {
                Some(c) => t.set("class", c),
                None => t,
            });
        }
    }
    (texts, y + 12.0)
}

/// One run's panel: its head, lanes and time axis, `span` ns wide from
/// `t0`. Returns the panel and its height.
fn panel(
    report: &RunReport,
    lanes: &[Lane<'_>],
    t0: u64,
    span: u64,
    layout: &Layout,
) -> (Group, f64) {
    let shown = lanes.len().min(MAX_SVG_LANES);
    let (left, right) = (90.0, 110.0);
    let plot = WIDTH - left - right;
    let x = |t: u64| left + (t.saturating_sub(t0)) as f64 / span as f64 * plot;
    let mut doc = Group::new().set("class", "run");
    let (head, top) = head(report, shown, lanes.len(), layout.every);
    for t in head {
        doc = doc.add(t);
    }
    let lane_h = layout.lane;
    let steps = steps_by_buyer(report);
    let calls = trace_by_buyer(report);
    for (row, lane) in lanes.iter().take(shown).enumerate() {
        let y = top + row as f64 * layout.pitch;
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
        let class = if lane.double {
            "ticket double"
        } else {
            "ticket"
        };
        if row % layout.every == 0 {
            // Centred on the lane: digits stand about 0.36 em above the
            // baseline's middle.
            let baseline = y + lane_h / 2.0 + 0.36 * FONT;
            g = g.add(
                label(&format!("buyer {}", lane.id), left - 6.0, baseline, FONT)
                    .set("text-anchor", "end"),
            );
            g = g.add(
                label(&lane.ticket(), WIDTH - right + 6.0, baseline, FONT).set("class", class),
            );
        } else if lane.double {
            // Beside where its number would be, not under a neighbour's.
            g = g.add(rect(class, WIDTH - right + 1.0, y, 3.0, lane_h));
        }
        doc = doc.add(g);
    }
    let axis_y = top + shown as f64 * layout.pitch + 6.0;
    doc = doc.add(
        Line::new()
            .set("class", "axis")
            .set("x1", left)
            .set("x2", WIDTH - right)
            .set("y1", axis_y)
            .set("y2", axis_y),
    );
    let span_ms = span as f64 / 1e6;
    let step = ticks::step(span_ms, 8);
    for t in ticks::ticks(span_ms, step) {
        let tx = left + t / span_ms * plot;
        doc = doc.add(
            Line::new()
                .set("class", "axis")
                .set("x1", tx)
                .set("x2", tx)
                .set("y1", axis_y)
                .set("y2", axis_y + 4.0),
        );
        doc = doc.add(
            label(&ticks::label(t, step, "ms"), tx, axis_y + 17.0, FONT)
                .set("text-anchor", "middle"),
        );
    }
    (doc, axis_y + 34.0)
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
