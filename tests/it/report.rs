//! `booking check` and `booking compare` through the binary.

use serde_json::Value;

use crate::support::{Work, strategies, u};

/// The detector works: the harness finds `none` overselling (other
/// strategies that claim nothing, like the lab's `flock-stock`, fail only
/// under some timings, so only `none` is held to a find). `check` draws
/// scenarios with up to 3 ms of delay; without a lock nearly all of them
/// race. Failing to find one oversell in 12 scenarios would mean the harness
/// cannot see the bug it exists to catch.
#[test]
fn check_catches_none_and_clears_the_safe_strategies() {
    let work = Work::new();
    let run = work.booking(&[
        "check", "--cases", "12", "--seed", "7", "--lab", "0", "--json",
    ]);
    run.expect_code(0);
    let r: Value = serde_json::from_slice(&run.out.stdout).unwrap();
    let rows = r["strategies"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        strategies().len(),
        "every registered strategy is checked"
    );
    for (row, (name, safe)) in rows.iter().zip(strategies()) {
        assert_eq!(row["strategy"], name.as_str());
        // Twelve free-running scenarios, twelve stepped ones, two paused.
        assert_eq!(u(row, "scenarios"), 26);
        if safe {
            assert_eq!(u(row, "unsafe_scenarios"), 0, "{name}{}", run.context());
            assert_eq!(row["kept_claim"], true, "{name}{}", run.context());
            assert!(row["smallest_problem"].is_null());
        } else if name == "none" {
            assert!(
                u(row, "unsafe_scenarios") > 0,
                "the detector found nothing{}",
                run.context()
            );
            assert!(
                u(row, "worst_oversold") > 0,
                "no oversell found{}",
                run.context()
            );
            let rerun = row["smallest_problem"]["rerun"].as_str().unwrap();
            assert!(
                rerun.contains("--seed") && rerun.contains("--lock none"),
                "{rerun}"
            );
            // The re-run command reproduces an unsafe run as written. It
            // repeats the inputs, not the scheduling, so allow a few tries.
            let args: Vec<&str> = rerun.split_whitespace().skip(1).chain(["--json"]).collect();
            let reproduced = (0..5).any(|_| work.booking(&args).json()["safe"] == false);
            assert!(
                reproduced,
                "5 re-runs of the smallest scenario were safe: {rerun}"
            );
        }
    }
    work.assert_clean();
}

#[test]
fn check_json_is_quiet_and_lock_selects() {
    let work = Work::new();
    let run = work.booking(&[
        "check", "--lock", "sem", "--cases", "2", "--lab", "0", "--json",
    ]);
    let r = run.json();
    assert_eq!(r["strategies"].as_array().unwrap().len(), 1);
    assert!(run.stderr().is_empty(), "{}", run.context());
}

#[test]
fn compare_measures_every_strategy_and_writes_each_format() {
    let work = Work::new();
    let base = [
        "compare",
        "--buyers",
        "20",
        "--tickets",
        "10",
        "--delay",
        "0..500us",
        "--repeat",
        "2",
        "--seed",
        "3",
    ];
    let json = work.path("cmp.json");
    let run = work.booking(&[&base[..], &["--out", json.to_str().unwrap()]].concat());
    run.expect_code(0);
    assert!(
        run.stdout().contains("vs safe"),
        "the table is still shown{}",
        run.context()
    );
    let widest = run.stdout().lines().map(|l| l.chars().count()).max();
    assert!(
        widest <= Some(100),
        "the tables fit in 100 columns{}",
        run.context()
    );
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = c["rows"].as_array().unwrap();
    assert_eq!(rows.len(), strategies().len());
    for (row, (name, safe)) in rows.iter().zip(strategies()) {
        assert_eq!(row["strategy"], name.as_str());
        assert_eq!(u(row, "runs"), 2);
        let wall = &row["wall_ms"];
        let (lo, mid, hi) = (
            wall["min"].as_f64().unwrap(),
            wall["median"].as_f64().unwrap(),
            wall["max"].as_f64().unwrap(),
        );
        assert!(0.0 < lo && lo <= mid && mid <= hi, "{row}");
        if safe {
            assert_eq!(u(row, "safe_runs"), 2, "{row}");
            assert_eq!(row["oversold"]["max"], 0);
        }
        if name == "none" {
            assert_eq!(row["vs_none"].as_f64(), Some(1.0));
        }
    }
    for (flag, check) in [
        (
            "csv",
            Box::new(|s: &str| {
                s.lines().count() == 1 + strategies().len() && s.starts_with("strategy,")
            }) as Box<dyn Fn(&str) -> bool>,
        ),
        ("markdown", Box::new(|s: &str| s.contains("| --- |"))),
    ] {
        let run = work.booking(&[&base[..], &["--format", flag]].concat());
        run.expect_code(0);
        assert!(check(&run.stdout()), "--format {flag}{}", run.context());
    }
    work.assert_clean();
}

#[test]
fn compare_refuses_an_unwritable_out_before_running() {
    let work = Work::new();
    let out = work.path("no/such/dir/cmp.json");
    let run = work.booking(&["compare", "--out", out.to_str().unwrap()]);
    run.expect_code(2);
    assert!(run.stderr().contains("cmp.json"), "{}", run.context());
}

/// `compare --out chart.svg`: a bar per strategy, coloured by what its
/// runs proved (a strategy safe in every run is green, class `safe`).
#[test]
fn compare_draws_a_chart() {
    let work = Work::new();
    let chart = work.path("chart.svg");
    let run = work.booking(&[
        "compare",
        "--lock",
        "none,file,sem",
        "--buyers",
        "10",
        "--tickets",
        "5",
        "--delay",
        "0..300us",
        "--repeat",
        "1",
        "--seed",
        "3",
        "--out",
        chart.to_str().unwrap(),
    ]);
    run.expect_code(0);
    let text = std::fs::read_to_string(&chart).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("an SVG document");
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .collect();
    let names: Vec<&str> = bars
        .iter()
        .filter_map(|b| b.attribute("data-strategy"))
        .collect();
    assert_eq!(names, ["none", "file", "sem"]);
    for b in &bars[1..] {
        let rect = b
            .children()
            .find(|n| n.has_tag_name("rect"))
            .expect("a bar");
        assert_eq!(rect.attribute("class"), Some("safe"), "{text}");
    }
    work.assert_clean();
}

/// Every line a command prints fits 100 columns: tables, verdicts, the
/// smallest problem, footnotes, and re-run lines, which wrap with a shell's
/// ` \` so that they still paste as one command.
#[test]
fn the_output_fits_100_columns() {
    let work = Work::new();
    let commands: [&[&str]; 7] = [
        &["check", "--exhaustive", "--lock", "check-then-create,file"],
        &[
            "--buyers",
            "2",
            "--tickets",
            "2",
            "--lock",
            "check-then-create",
            "--schedule",
            "0,1,0,1,1,0,1,0,1,0,1,0",
        ],
        &[
            "check",
            "--lock",
            "none,sem-two,unless-150-buyers",
            "--cases",
            "2",
            "--lab",
            "0",
            "--seed",
            "1",
        ],
        &[
            "grade", "--lock", "sem-two", "--cases", "1", "--lab", "0", "--seed", "1",
        ],
        &[
            "--buyers",
            "150",
            "--lock",
            "none",
            "--arrival",
            "0..3ms/3",
            "--seed",
            "2",
        ],
        &[
            "--buyers",
            "5",
            "--tickets",
            "2",
            "--lock",
            "none",
            "--step-seed",
            "3",
            "--pct",
            "2",
        ],
        &[
            "compare",
            "--buyers",
            "6",
            "--repeat",
            "1",
            "--lock",
            "none,file",
        ],
    ];
    for args in commands {
        let run = work.booking(args);
        // It ran (check and grade exit 3 for what they caught).
        assert!(
            matches!(run.code(), Some(0 | 3)) && run.stdout().lines().count() > 3,
            "{}",
            run.context()
        );
        for line in run.stdout().lines() {
            assert!(
                line.chars().count() <= 100,
                "{} columns: {line}{}",
                line.chars().count(),
                run.context()
            );
        }
    }
    work.assert_clean();
}
