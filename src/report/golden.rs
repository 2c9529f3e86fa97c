//! Golden samples of the comparison in every format, from a fixed input.
//! Set `BOOKING_BLESS=1` to rewrite them after an intended change, then
//! read the diff.

use super::comparison::{Comparison, Row, Spread, Wall};

fn sample() -> Comparison {
    let row = |strategy: &str, safe_runs, over: (f64, u64), wall: (f64, f64, f64), p50, p99| Row {
        strategy: strategy.into(),
        claims_safe: strategy != "none",
        runs: 3,
        safe_runs,
        failed_runs: 0,
        hung_runs: 0,
        first_problem: None,
        oversold: Spread {
            mean: over.0,
            max: over.1,
        },
        double_booked: Spread {
            mean: over.0 / 10.0,
            max: over.1 / 10,
        },
        lost_updates: Spread {
            mean: over.0 * 2.0,
            max: over.1 * 2,
        },
        wall_ms: Wall {
            median: wall.0,
            min: wall.1,
            max: wall.2,
        },
        purchases_per_s: 100_000.0 / wall.0,
        wait_p50_us: p50,
        wait_p99_us: p99,
        wakeups_per_buyer: p99.map(|_| 1.0),
        vs_none: None,
        vs_fastest_safe: None,
    };
    let mut c = Comparison {
        buyers: 150,
        tickets: 100,
        delay: "1ms..5ms".into(),
        seed: 42,
        repeat: 3,
        rows: vec![
            row("none", 0, (49.5, 50), (61.25, 58.0, 70.5), Some(0), Some(3)),
            row(
                "file",
                3,
                (0.0, 0),
                (395.0, 380.5, 402.0),
                Some(251_000),
                Some(388_500),
            ),
            row(
                "sem",
                3,
                (0.0, 0),
                (401.5, 399.0, 450.0),
                Some(260_100),
                None,
            ),
        ],
    };
    c.set_ratios();
    c
}

fn golden(format: &str, file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let got = (super::exporter(format).unwrap().render)(&sample());
    if std::env::var_os("BOOKING_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{} differs from the golden sample",
        path.display()
    );
}

#[test]
fn text() {
    golden("text", "compare.txt");
}

#[test]
fn markdown() {
    golden("markdown", "compare.md");
}

#[test]
fn csv() {
    golden("csv", "compare.csv");
}

#[test]
fn svg() {
    golden("svg", "compare.svg");
}

#[test]
fn json() {
    golden("json", "compare.json");
}
