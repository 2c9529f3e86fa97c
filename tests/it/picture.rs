//! The timelines as a reader sees them: each picture the binary draws is
//! rendered to a PNG (resvg), and checked for what makes it readable at
//! 150 buyers — lanes tall enough to see and hover, labels that do not run
//! into each other, an axis on round values, a panel headed by what it
//! ran — and that the render paints each lane in its legend's colour.
//!
//! Text is checked in the SVG, not in the pixels. The renderer is built
//! without text, and a machine may have no fonts at all: usvg then drops
//! each text it cannot lay out, without a word, and a check of rendered
//! text would pass on a picture with none. So each text's box is estimated
//! from its position, anchor and font size (every text carries its size as
//! an attribute), at a wide sans-serif's width per character, and the
//! texts are counted, so that none goes missing unseen.

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg;

use crate::support::Work;
use crate::support::race::RACE;

/// A character's width, in ems: wider than DejaVu Sans's or Arial's
/// average, so an estimated box holds the real one.
const EM: f64 = 0.62;
/// The same in bold.
const EM_BOLD: f64 = 0.7;
/// The thinnest lane a reader can tell and hover.
const MIN_LANE: f64 = 4.0;

/// The legend's colours, by class: what each lane rect must be painted.
fn colour(class: &str) -> Option<[u8; 3]> {
    let has = |c: &str| class.split_whitespace().any(|x| x == c);
    if has("overlap") || has("double") {
        Some([0xd6, 0x27, 0x28]) // red
    } else if has("empty") {
        Some([0x9d, 0xb4, 0xd3]) // pale blue
    } else if has("hold") {
        Some([0x4a, 0x7a, 0xb5]) // blue
    } else if has("wait") {
        Some([0xd9, 0xd9, 0xd9]) // grey
    } else {
        None
    }
}

fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|x| x == class))
}

fn num(node: &roxmltree::Node<'_, '_>, attr: &str) -> f64 {
    node.attribute(attr)
        .unwrap_or_else(|| panic!("<{}> has no {attr}", node.tag_name().name()))
        .trim_end_matches("px")
        .parse()
        .unwrap_or_else(|e| panic!("{attr}: {e}"))
}

/// Where the node's own coordinates start on the page: the sum of its
/// ancestors' `translate(x,y)` (the only transform the pictures use).
fn offset(node: &roxmltree::Node<'_, '_>) -> (f64, f64) {
    let mut at = (0.0, 0.0);
    for a in node.ancestors() {
        if let Some(t) = a.attribute("transform") {
            let inner = t
                .strip_prefix("translate(")
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unexpected transform {t}"));
            let v: Vec<f64> = inner
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            at.0 += v[0];
            at.1 += v.get(1).copied().unwrap_or(0.0);
        }
    }
    at
}

/// A text as laid out on the page.
#[derive(Debug)]
struct Label {
    content: String,
    size: f64,
    /// left, top, right, bottom
    bx: [f64; 4],
}

fn label(node: &roxmltree::Node<'_, '_>) -> Label {
    let content = node.text().unwrap_or_default().trim().to_string();
    let size = node
        .attribute("font-size")
        .unwrap_or_else(|| panic!("text {content:?} carries no font-size"))
        .parse::<f64>()
        .unwrap();
    let bold = ["name", "head", "double"]
        .iter()
        .any(|c| has_class(node, c));
    let w = content.chars().count() as f64 * size * if bold { EM_BOLD } else { EM };
    let (dx, dy) = offset(node);
    let (x, y) = (num(node, "x") + dx, num(node, "y") + dy);
    let left = match node.attribute("text-anchor") {
        Some("end") => x - w,
        Some("middle") => x - w / 2.0,
        _ => x,
    };
    // Ascent and descent of a sans-serif, about 3:1 of the font size.
    Label {
        content,
        size,
        bx: [left, y - 0.75 * size, left + w, y + 0.25 * size],
    }
}

/// Whether `v` is 1, 2 or 5 × 10^k.
fn round(v: f64) -> bool {
    let m = v / 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().any(|r| (m - r).abs() < 1e-6)
}

/// What a picture must show, panel by panel: the strategy and the number
/// of buyers.
struct Want<'a> {
    panels: &'a [&'a str],
    buyers: usize,
}

/// Renders `svg` to a PNG and checks it; returns every fault found (not
/// only the first), so one run tells all that is wrong with a picture.
fn faults(svg: &str, want: &Want<'_>) -> Vec<String> {
    let mut faults = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            faults.push(what);
        }
    };
    let doc = roxmltree::Document::parse(svg).expect("the SVG parses");
    let root = doc.root_element();
    let (w, h) = (num(&root, "width"), num(&root, "height"));

    // The render, through a PNG: its size is the picture's, in whole
    // pixels (a renderer rounds a fraction either way).
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("usvg parses it");
    let size = tree.size().to_int_size();
    let mut pixmap = Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, Transform::identity(), &mut pixmap.as_mut());
    let png = Pixmap::decode_png(&pixmap.encode_png().unwrap()).unwrap();
    check(
        w.fract() == 0.0 && h.fract() == 0.0 && (png.width(), png.height()) == (w as u32, h as u32),
        format!(
            "the PNG is {}x{}, the SVG says {w}x{h}",
            png.width(),
            png.height()
        ),
    );

    let panels: Vec<_> = doc.descendants().filter(|n| has_class(n, "run")).collect();
    check(
        panels.len() == want.panels.len(),
        format!("{} panels, want {}", panels.len(), want.panels.len()),
    );
    let mut labels = Vec::new();
    for (panel, strategy) in panels.iter().zip(want.panels) {
        let lanes: Vec<_> = panel.children().filter(|n| has_class(n, "lane")).collect();
        check(
            lanes.len() == want.buyers,
            format!("{strategy}: {} lanes, want {}", lanes.len(), want.buyers),
        );
        // Every lane rect tall enough, and painted in its colour where it
        // is wide enough for a whole pixel inside it.
        let mut tops = Vec::new();
        let mut painted = 0;
        for lane in &lanes {
            for r in lane.children().filter(|n| n.has_tag_name("rect")) {
                let (dx, dy) = offset(&r);
                let (x, y) = (num(&r, "x") + dx, num(&r, "y") + dy);
                let (rw, rh) = (num(&r, "width"), num(&r, "height"));
                check(
                    rh >= MIN_LANE,
                    format!("{strategy}: a lane rect {rh} px tall, under {MIN_LANE}"),
                );
                if has_class(&r, "wait") || has_class(&r, "hold") {
                    tops.push(y);
                }
                let want_rgb = colour(r.attribute("class").unwrap_or_default());
                if let (Some(rgb), true) = (want_rgb, rw >= 3.0 && rh >= 3.0) {
                    let (px, py) = ((x + rw / 2.0) as u32, (y + rh / 2.0) as u32);
                    let p = png.pixel(px, py).unwrap();
                    let got = [p.red(), p.green(), p.blue()];
                    check(
                        got.iter().zip(rgb).all(|(g, w)| g.abs_diff(w) <= 2),
                        format!("{strategy}: pixel ({px},{py}) is {got:?}, its lane's is {rgb:?}"),
                    );
                    painted += 1;
                }
            }
        }
        check(
            painted >= lanes.len() / 2,
            format!(
                "{strategy}: {painted} lane rects sampled of {} lanes",
                lanes.len()
            ),
        );
        tops.dedup();
        let pitch = match tops.as_slice() {
            [first, .., last] => (last - first) / (tops.len() - 1) as f64,
            _ => f64::INFINITY,
        };

        // The texts: the head, then each labelled lane's two, then the axis.
        let texts: Vec<_> = panel
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .collect();
        let first_lane = lanes.first().map(|l| l.range().start).unwrap_or(usize::MAX);
        let head: Vec<Label> = texts
            .iter()
            .filter(|t| t.range().start < first_lane)
            .map(label)
            .collect();
        let biggest = head.iter().map(|l| l.size).fold(0.0, f64::max);
        check(
            head.first()
                .is_some_and(|l| l.content == *strategy && l.size == biggest)
                && head.iter().filter(|l| l.size == biggest).count() == 1,
            format!(
                "{strategy}: the panel is not headed by its name in the largest type: {head:?}"
            ),
        );
        check(
            head.iter().skip(1).take(1).any(|l| {
                ["SAFE", "UNSAFE", "FAILED", "HUNG", "LUCKY"]
                    .iter()
                    .any(|v| l.content.starts_with(v))
            }),
            format!("{strategy}: the verdict is not under the name: {head:?}"),
        );
        check(
            head.len() >= 5,
            format!(
                "{strategy}: a head of {} lines, want name, verdict, re-run, legend",
                head.len()
            ),
        );
        let mut lane_labels = Vec::new();
        let mut labelled_rows = Vec::new();
        for (row, lane) in lanes.iter().enumerate() {
            let own: Vec<Label> = lane
                .children()
                .filter(|n| n.has_tag_name("text"))
                .map(|t| label(&t))
                .collect();
            if !own.is_empty() {
                labelled_rows.push(row);
            }
            check(
                own.is_empty() || own.len() == 2,
                format!(
                    "{strategy}: lane {row} has {} labels, want its buyer and ticket or none",
                    own.len()
                ),
            );
            lane_labels.extend(own);
        }
        let font = lane_labels.first().map_or(11.0, |l| l.size);
        // Where lanes are thinner than their labels, one in `every`.
        let every = (font / pitch - 1e-9).ceil().max(1.0) as usize;
        let want_labelled = lanes.len().div_ceil(every);
        check(
            labelled_rows.len() == want_labelled,
            format!(
                "{strategy}: {} lanes labelled; lanes {pitch:.1} px apart and {font} px labels \
                 make one in {every}: {want_labelled}",
                labelled_rows.len()
            ),
        );
        let ticks: Vec<Label> = texts
            .iter()
            .filter(|t| t.range().start > lanes.last().map_or(0, |l| l.range().end))
            .map(label)
            .collect();
        let values: Vec<f64> = ticks
            .iter()
            .filter_map(|t| t.content.strip_suffix(" ms")?.parse().ok())
            .collect();
        check(
            values.len() == ticks.len() && (4..=9).contains(&values.len()),
            format!(
                "{strategy}: axis labels {:?}",
                ticks.iter().map(|t| &t.content).collect::<Vec<_>>()
            ),
        );
        let step =
            values.get(1).copied().unwrap_or(f64::NAN) - values.first().copied().unwrap_or(0.0);
        check(
            values.first() == Some(&0.0)
                && round(step)
                && values
                    .iter()
                    .enumerate()
                    .all(|(i, v)| (v - i as f64 * step).abs() < step * 1e-6),
            format!("{strategy}: axis ticks not on round values: {values:?}"),
        );
        check(
            head.len() + lane_labels.len() + ticks.len() == texts.len(),
            format!("{strategy}: texts outside the head, the lanes and the axis"),
        );
        labels.extend(head);
        labels.extend(lane_labels);
        labels.extend(ticks);
    }

    // No two texts overlap, and each is inside the picture.
    labels.sort_by(|a, b| a.bx[1].total_cmp(&b.bx[1]));
    for (i, a) in labels.iter().enumerate() {
        let [l, t, r, b] = a.bx;
        check(
            l >= 0.0 && t >= 0.0 && r <= w && b <= h,
            format!("{:?} leaves the {w}x{h} picture: {:?}", a.content, a.bx),
        );
        for c in labels[i + 1..].iter().take_while(|c| c.bx[1] < b - 0.01) {
            let [l2, _, r2, _] = c.bx;
            check(
                r2 <= l + 0.01 || r <= l2 + 0.01,
                format!(
                    "{:?} {:?} overlaps {:?} {:?}",
                    a.content, a.bx, c.content, c.bx
                ),
            );
        }
    }
    faults
}

fn assert_readable(work: &Work, file: &str, want: &Want<'_>) {
    let svg = std::fs::read_to_string(work.path(file)).unwrap();
    let faults = faults(&svg, want);
    assert!(
        faults.is_empty(),
        "{file}: {} faults:\n{}",
        faults.len(),
        faults.join("\n")
    );
}

/// The three pictures the testers looked at: a 150-buyer run, a stepped
/// run, and `compare --timeline` of three strategies at 150 buyers (450
/// lanes on one picture).
#[test]
fn each_picture_renders_readable_at_150_buyers() {
    let work = Work::new();
    let at = |f: &str| work.path(f).to_str().unwrap().to_string();
    work.booking(&[
        "--buyers",
        "150",
        "--lock",
        "file",
        "--delay",
        "0..1ms",
        "--seed",
        "1",
        "--timeline",
        &at("file.svg"),
    ])
    .expect_code(0);
    assert_readable(
        &work,
        "file.svg",
        &Want {
            panels: &["file"],
            buyers: 150,
        },
    );

    // Four buyers read the count before any writes: tickets sold twice.
    let stepped = at("stepped.svg");
    work.booking(&[&RACE[..], &["--timeline", &stepped]].concat())
        .expect_code(0);
    assert_readable(
        &work,
        "stepped.svg",
        &Want {
            panels: &["none"],
            buyers: 4,
        },
    );

    work.booking(&[
        "compare",
        "--buyers",
        "150",
        "--lock",
        "none,file,sem-two",
        "--delay",
        "0..1ms",
        "--repeat",
        "1",
        "--seed",
        "1",
        "--quiet",
        "--timeline",
        &at("compare.svg"),
    ])
    .expect_code(0);
    assert_readable(
        &work,
        "compare.svg",
        &Want {
            panels: &["none", "file", "sem-two"],
            buyers: 150,
        },
    );
    work.assert_clean();
}
