//! `--timeline` and `--quiz` through the binary.

use std::collections::HashMap;

use serde_json::Value;

use crate::support::race::RACE;
use crate::support::{Work, u};

/// Buyers whose ticket number went to someone else too.
fn double_booked_buyers(r: &Value) -> usize {
    let tickets: Vec<u64> = r["buyers_detail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["ticket"].as_u64())
        .collect();
    let mut n: HashMap<u64, usize> = HashMap::new();
    for t in &tickets {
        *n.entry(*t).or_default() += 1;
    }
    tickets.iter().filter(|t| n[t] > 1).count()
}

fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|x| x == class))
}

/// The SVG is a valid document with one lane per buyer, and it marks
/// exactly the overlaps and double bookings the verdict found.
#[test]
fn the_svg_timeline_marks_what_the_verdict_found() {
    let work = Work::new();
    for (lock, delay) in [
        ("none", "2ms..6ms"),
        ("file", "0..1ms"),
        ("none", "0..300us"),
    ] {
        let svg = work.path(&format!("{lock}.svg"));
        let run = work.booking(&[
            "--buyers",
            "24",
            "--tickets",
            "15",
            "--lock",
            lock,
            "--delay",
            delay,
            "--seed",
            "5",
            "--timeline",
            svg.to_str().unwrap(),
            "--json",
        ]);
        let r = run.json();
        let text = std::fs::read_to_string(&svg).unwrap();
        let doc =
            roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{lock}: not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let lanes: Vec<_> = doc.descendants().filter(|n| has_class(n, "lane")).collect();
        assert_eq!(lanes.len(), 24, "{lock}: one lane per buyer");
        let mut ids: Vec<u64> = lanes
            .iter()
            .map(|l| l.attribute("data-buyer").unwrap().parse().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..24).collect::<Vec<u64>>());
        let overlaps = doc
            .descendants()
            .filter(|n| has_class(n, "overlap"))
            .count() as u64;
        assert_eq!(overlaps, u(&r, "overlapping"), "{lock}: overlap marks");
        let doubles = doc.descendants().filter(|n| has_class(n, "double")).count();
        assert_eq!(
            doubles,
            double_booked_buyers(&r),
            "{lock}: double-booking marks"
        );
        if lock == "file" {
            assert_eq!(overlaps, 0, "a working lock never overlaps");
        }
    }
}

#[test]
fn the_text_timeline_has_a_row_per_buyer_and_marks_overlaps() {
    let work = Work::new();
    let run = work.booking(&[
        "--buyers",
        "12",
        "--tickets",
        "5",
        "--lock",
        "none",
        "--delay",
        "3ms",
        "--seed",
        "1",
        "--timeline",
        "-",
    ]);
    run.expect_code(0);
    let out = run.stdout();
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("buyer ")).collect();
    assert_eq!(rows.len(), 12, "{}", run.context());
    let marked = rows.iter().filter(|r| r.contains('▓')).count();
    // Re-run as JSON with the same seed is a different race; check the
    // marks against this run's own rows instead: a row is marked iff it
    // shares some column of holding with another row.
    let spans: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| {
            let bar: Vec<char> = r.split('|').nth(1).unwrap().chars().collect();
            let first = bar.iter().position(|&c| c == '▓' || c == '█').unwrap();
            let last = bar.iter().rposition(|&c| c == '▓' || c == '█').unwrap();
            (first, last)
        })
        .collect();
    assert!(
        marked > 0,
        "12 buyers with a fixed 3 ms delay all overlap{}",
        run.context()
    );
    for (i, r) in rows.iter().enumerate() {
        if r.contains('▓') {
            let (a, b) = spans[i];
            let shares = spans
                .iter()
                .enumerate()
                .any(|(j, &(c, d))| j != i && a <= d && c <= b);
            assert!(shares, "row marked without a neighbour: {r}");
        }
    }
}

#[test]
fn timeline_errors_are_caught_before_the_run() {
    let work = Work::new();
    let run = work.booking(&["--timeline", "-", "--json"]);
    run.expect_code(2);
    assert!(run.stderr().contains("--timeline"), "{}", run.context());
    let run = work.booking(&["--timeline", work.path("t.png").to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("t.png") && run.stderr().contains(".svg"),
        "{}",
        run.context()
    );
    assert!(!work.path("t.png").exists());
}

#[test]
fn the_quiz_reveals_whether_the_prediction_was_right() {
    let work = Work::new();
    let base = [
        "--buyers",
        "20",
        "--tickets",
        "8",
        "--lock",
        "sem",
        "--delay",
        "0",
    ];
    let right = work.booking(&[&base[..], &["--predict", "8"]].concat());
    right.expect_code(0);
    assert!(
        right.stdout().contains("Your prediction: 8. Right!"),
        "{}",
        right.context()
    );
    let wrong = work.booking(&[&base[..], &["--predict", "20"]].concat());
    assert!(
        wrong.stdout().contains("Not quite: the answer is 8."),
        "{}",
        wrong.context()
    );
    // Asked on standard input when no --predict is given.
    let quiz = work.booking_with_input(&[&base[..], &["--quiz"]].concat(), b"eight\n8\n");
    let out = quiz.out;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("How many were told they got a ticket?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a whole number, please") && stdout.contains("Right!"),
        "{stdout}"
    );
    // The verdict is not shown before the prediction.
    let asked = stdout.find("How many").unwrap();
    assert!(stdout.find("verdict:").unwrap() > asked, "{stdout}");
}

/// The quiz never credits a lock with a safety it does not claim: a wrong
/// strategy's run that came out clean (one buyer cannot race) is called
/// lucky, not safe.
#[test]
fn the_quiz_never_praises_a_wrong_lock() {
    let work = Work::new();
    let run = work.booking(&[
        "--buyers",
        "1",
        "--tickets",
        "1",
        "--lock",
        "flock-stock",
        "--predict",
        "1",
    ]);
    run.expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("does not claim to be safe"),
        "{}",
        run.context()
    );
    assert!(!out.contains("one buyer at a time"), "{}", run.context());
    let run = work.booking(&[
        "--buyers",
        "1",
        "--tickets",
        "1",
        "--lock",
        "file",
        "--predict",
        "1",
    ]);
    assert!(
        run.stdout().contains("one buyer at a time"),
        "{}",
        run.context()
    );
    work.assert_clean();
}

/// A text timeline written to a file has a row for every buyer (the
/// terminal's is capped at 40), and the SVG's head carries the re-run line;
/// each run says where it wrote its timeline.
#[test]
fn a_timeline_file_has_every_buyer_and_the_run_in_it() {
    let work = Work::new();
    let (txt, svg) = (work.path("t.txt"), work.path("t.svg"));
    for path in [&txt, &svg] {
        let run = work.booking(&[
            "--buyers",
            "60",
            "--lock",
            "file",
            "--delay",
            "0",
            "--seed",
            "4",
            "--timeline",
            path.to_str().unwrap(),
        ]);
        run.expect_code(0);
        // It says where the picture went.
        assert!(
            run.stderr()
                .contains(&format!("timeline written to {}", path.display())),
            "{}",
            run.context()
        );
    }
    let text = std::fs::read_to_string(&txt).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("buyer")).count(),
        60,
        "{text}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("booking --buyers 60 --lock file --tickets 100 --delay 0 --seed 4"),
        "{svg}"
    );
    work.assert_clean();
}

/// A stepped run's picture carries its steps: each buyer's lane, hovered,
/// lists the steps it took with the system call each made.
#[test]
fn a_stepped_timeline_shows_each_buyers_calls() {
    let work = Work::new();
    let svg = work.path("stepped.svg");
    work.booking(&[
        "--buyers",
        "3",
        "--tickets",
        "2",
        "--lock",
        "file",
        "--schedule",
        "0,1,0,0,0,1,1,1,2,2,2",
        "--timeline",
        svg.to_str().unwrap(),
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let tip = |buyer: &str| {
        doc.descendants()
            .find(|n| n.attribute("data-buyer") == Some(buyer))
            .and_then(|lane| lane.descendants().find(|n| n.has_tag_name("title")))
            .and_then(|t| t.text())
            .unwrap_or_default()
            .to_string()
    };
    // Buyer 1 asked for the lock at step 2, while buyer 0 held it.
    assert!(tip("1").contains("2: buyer 1 lock: flock("), "{}", tip("1"));
    assert!(tip("1").contains("LOCK_EX) … blocks"), "{}", tip("1"));
    assert!(
        tip("0").contains("5: buyer 0 unlock: flock("),
        "{}",
        tip("0")
    );
    assert!(!tip("0").contains("buyer 1"), "{}", tip("0"));
    work.assert_clean();
}

/// The quiz asks more than how many sold: the count left, the oversell,
/// the ticket sold most, whether the run was safe — on a stepped run the
/// answers are the same on every machine. A malformed answer is refused.
#[test]
fn the_quiz_asks_about_remaining_oversold_ticket_and_safety() {
    let work = Work::new();
    // All four read 2 and write 1: 4 sold, 1 left, 2 oversold, ticket #2.
    let race = RACE;
    for (what, answer, wrong) in [
        ("remaining", "1", "0"),
        ("oversold", "2", "0"),
        ("ticket", "2", "1"),
        ("safe", "no", "yes"),
    ] {
        let right = work.booking(&[&race[..], &["--quiz", what, "--predict", answer]].concat());
        right.expect_code(0);
        assert!(
            right.stdout().contains("Right!"),
            "{what}{}",
            right.context()
        );
        let miss = work.booking(&[&race[..], &["--quiz", what, "--predict", wrong]].concat());
        assert!(
            miss.stdout()
                .contains(&format!("Not quite: the answer is {answer}.")),
            "{what}{}",
            miss.context()
        );
    }
    let run = work.booking(&[&race[..], &["--quiz", "safe", "--predict", "maybe"]].concat());
    run.expect_code(2);
    assert!(run.stderr().contains("yes or no"), "{}", run.context());
    work.assert_clean();
}

/// The reveal explains the question asked, with the run's own numbers (read
/// from the `--json` report of the same schedule): `remaining` the lost
/// updates that left the count too high, `ticket` the number several
/// buyers got, `sold` and `oversold` the oversell, `safe` what made the
/// run unsafe. `--quiz ticket` takes `#2`, as the report prints it.
#[test]
fn the_quiz_reveal_explains_the_question_asked() {
    let work = Work::new();
    let race = RACE;
    let r = work.booking(&[&race[..], &["--json"]].concat()).json();
    let n = |k: &str| u(&r, k);
    assert!(n("lost_updates") > 0 && n("oversold") > 0, "{r}");
    let worst = &r["most_sold_ticket"];
    let oversell = format!(
        "{} buyers were told they got a ticket, {} more than the 2 tickets that exist",
        n("sold"),
        n("oversold")
    );
    let lost = format!(
        "shows {} of the 2 tickets left: it kept {} and forgot {} — lost updates",
        n("remaining"),
        match 2 - n("remaining") {
            1 => "1 sale".to_string(),
            k => format!("{k} sales"),
        },
        n("lost_updates")
    );
    let double = format!(
        "Ticket #{} went to {} buyers",
        worst["ticket"], worst["buyers"]
    );
    let reveal = |what: &str, guess: &str| {
        let run = work.booking(&[&race[..], &["--quiz", what, "--predict", guess]].concat());
        run.expect_code(0);
        // A stepped run has no delays, and its opening line says so.
        assert!(
            run.stdout()
                .starts_with("Quiz: 4 buyer processes, lock none, stepped (no delays)."),
            "{}",
            run.context()
        );
        run.stdout()
            .lines()
            .find(|l| l.starts_with("Your prediction:"))
            .unwrap_or_else(|| panic!("no reveal{}", run.context()))
            .to_string()
    };
    for (what, guess, says, not) in [
        ("sold", "2", &oversell, &lost),
        ("oversold", "0", &oversell, &lost),
        ("safe", "yes", &oversell, &lost),
        ("remaining", "0", &lost, &oversell),
        ("ticket", "1", &double, &oversell),
    ] {
        let line = reveal(what, guess);
        assert!(line.contains("Not quite"), "{what}: {line}");
        assert!(
            line.contains(says.as_str()),
            "{what}: {line}\nwants: {says}"
        );
        assert!(!line.contains(not.as_str()), "{what}: {line}");
    }
    let line = reveal("ticket", &format!("#{}", worst["ticket"]));
    assert!(
        line.contains("Right!") && line.contains("double booking"),
        "{line}"
    );
    work.assert_clean();
}

/// `compare --timeline`: one panel per strategy, one lane per buyer in
/// each, on one time scale — the unlocked run, one delay long, takes a
/// small part of the width that the locked run (every delay in turn)
/// fills. A file that is not .svg is refused before anything runs.
#[test]
fn compare_draws_its_runs_on_one_time_scale() {
    let work = Work::new();
    let svg = work.path("both.svg");
    work.booking(&[
        "compare",
        "--buyers",
        "12",
        "--tickets",
        "12",
        "--lock",
        "none,file",
        "--delay",
        "5ms..6ms",
        "--repeat",
        "1",
        "--seed",
        "3",
        "--quiet",
        "--timeline",
        svg.to_str().unwrap(),
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG parses");
    let panels: Vec<_> = doc.descendants().filter(|n| has_class(n, "run")).collect();
    assert_eq!(panels.len(), 2, "one panel per strategy");
    // The right end of the latest critical section in each panel, and the
    // axis's last label.
    let mut ends = Vec::new();
    let mut last_labels = Vec::new();
    for (panel, lock) in panels.iter().zip(["none", "file"]) {
        let header: Vec<_> = panel.descendants().filter_map(|n| n.text()).collect();
        assert!(
            header
                .iter()
                .any(|t| t.contains(&format!("--lock {lock} "))),
            "the panel names its run: {header:?}"
        );
        let lanes = panel.descendants().filter(|n| has_class(n, "lane")).count();
        assert_eq!(lanes, 12, "{lock}: one lane per buyer");
        let end = panel
            .descendants()
            .filter(|n| has_class(n, "hold"))
            .map(|n| {
                let x: f64 = n.attribute("x").unwrap().parse().unwrap();
                let w: f64 = n.attribute("width").unwrap().parse().unwrap();
                x + w
            })
            .fold(0.0, f64::max);
        ends.push(end);
        last_labels.push(header.last().unwrap().to_string());
    }
    assert_eq!(last_labels[0], last_labels[1], "one time axis");
    // The plot runs from x = 90 to x = 890: the locked run fills it, the
    // unlocked one (12 × 5 ms against one 6 ms delay) ends well before.
    assert!(ends[1] > 850.0, "the locked run spans the axis: {ends:?}");
    assert!(
        ends[0] < 90.0 + 0.6 * 800.0,
        "the unlocked run is short: {ends:?}"
    );

    let bad = work.path("both.png");
    work.booking(&[
        "compare",
        "--buyers",
        "4",
        "--lock",
        "none",
        "--timeline",
        bad.to_str().unwrap(),
    ])
    .expect_code(2);
    assert!(!bad.exists());
}
