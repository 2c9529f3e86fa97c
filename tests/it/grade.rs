//! `booking grade` through the binary: a full score for a correct lock, a
//! failing one with the reason for a wrong one (whatever it claims), and
//! Gradescope's results.json and JUnit XML that parse with their fields.

use serde_json::Value;

use crate::support::{Run, Work};

/// Checks a results.json against Gradescope's fields; returns it.
fn results(path: &std::path::Path) -> Value {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("results.json is JSON");
    assert!(
        r["score"].is_number() && r["execution_time"].is_number(),
        "{r}"
    );
    assert!(r["output"].is_string(), "{r}");
    let tests = r["tests"].as_array().expect("tests[]");
    let mut sum = 0.0;
    let mut max = 0.0;
    for t in tests {
        assert!(t["name"].is_string() && t["output"].is_string(), "{t}");
        assert_eq!(t["visibility"], "visible");
        let status = t["status"].as_str().unwrap();
        assert!(["passed", "failed"].contains(&status), "{t}");
        let (s, m) = (
            t["score"].as_f64().unwrap(),
            t["max_score"].as_f64().unwrap(),
        );
        assert_eq!(s, if status == "passed" { m } else { 0.0 }, "{t}");
        sum += s;
        max += m;
    }
    assert_eq!(max, 100.0);
    assert_eq!(r["score"].as_f64().unwrap(), sum);
    r
}

/// The JUnit file: one test case per graded item, a failure per failed one.
fn junit(path: &std::path::Path, tests: usize) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("JUnit XML parses");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, tests);
    doc.descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count()
}

#[test]
fn a_correct_lock_gets_full_marks_and_a_wrong_one_the_reason() {
    let work = Work::new();
    let (r, j) = (work.path("results.json"), work.path("junit.xml"));
    let grade = |lock: &str| {
        work.booking(&[
            "grade",
            "--lock",
            lock,
            "--cases",
            "3",
            "--seed",
            "2",
            "--results",
            r.to_str().unwrap(),
            "--junit",
            j.to_str().unwrap(),
        ])
    };
    let run = grade("sysv");
    run.expect_code(0);
    let g = results(&r);
    assert_eq!(g["score"], 100.0, "{}", run.context());
    assert_eq!(junit(&j, g["tests"].as_array().unwrap().len()), 0);
    // A zoo strategy claims nothing, and is graded for safety all the same.
    let run = grade("sem-two");
    run.expect_code(3);
    let g = results(&r);
    assert!(g["score"].as_f64().unwrap() < 100.0, "{}", run.context());
    let failed: Vec<&Value> = g["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "failed")
        .collect();
    // Two buyers inside at once: both safety items fail, proven unsafe;
    // every failed item says why (UNSAFE or FAILED) and how to re-run it.
    let unsafe_items = failed
        .iter()
        .filter(|t| t["output"].as_str().unwrap().starts_with("UNSAFE"))
        .count();
    assert!(unsafe_items >= 2, "{g}");
    for t in &failed {
        let out = t["output"].as_str().unwrap();
        let why = out.starts_with("UNSAFE") || out.starts_with("FAILED");
        assert!(why && out.contains("re-run: booking"), "{t}");
    }
    assert_eq!(
        junit(&j, g["tests"].as_array().unwrap().len()),
        failed.len()
    );
    assert!(
        run.stdout().contains("graded for safety all the same"),
        "{}",
        run.context()
    );
    work.assert_clean();
}

#[test]
fn a_hanging_strategy_is_graded_not_waited_for() {
    let work = Work::new();
    let run = work.booking(&[
        "grade",
        "--lock",
        "never-unlocks",
        "--cases",
        "2",
        "--seed",
        "3",
        "--timeout",
        "1s",
        "--lab",
        "0",
        "--json",
    ]);
    run.expect_code(3);
    let g: Value = serde_json::from_slice(&run.out.stdout).unwrap();
    let hung = g["tests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["output"].as_str().unwrap().contains("hung"));
    assert!(hung, "{g}");
    // An unwritable results file is refused before anything runs.
    let run = work.booking(&[
        "grade",
        "--lock",
        "file",
        "--results",
        "/nonexistent/dir/r.json",
    ]);
    run.expect_code(2);
    assert!(run.stderr().contains("--results"), "{}", run.context());
    work.assert_clean();
}

/// `--exit-zero`: a grade below full marks that finished exits 0, and
/// still says its score; without it the same grade exits 3.
#[test]
fn exit_zero_keeps_the_score_and_drops_the_failing_exit_code() {
    let work = Work::new();
    let args = [
        "grade", "--lock", "none", "--cases", "1", "--lab", "0", "--seed", "1", "--json",
    ];
    let run = work.booking(&args);
    run.expect_code(3);
    let run = work.booking(&[&args[..], &["--exit-zero"]].concat());
    run.expect_code(0);
    let score = run.report()["score"].as_f64().unwrap();
    assert!(score < 100.0, "{}", run.context());
    work.assert_clean();
}

/// scripts/grade-file.sh on a file that does not compile: exit 1, and
/// results.json and JUnit all the same, 0 points, one failed test holding
/// the compiler's error; the copy of the project is not left in the temp
/// directory. (The script builds into target/grade: the first time, the
/// dependencies are built there in release, which takes minutes; after
/// that this fails in seconds: ignored by a plain `cargo test`, run by
/// CI with `--include-ignored`, like the handout's.)
#[test]
#[ignore = "the first run builds the dependencies in release into target/grade (minutes on two cores): CI runs it (cargo test -- --include-ignored)"]
fn a_file_that_does_not_build_still_gets_its_results() {
    let work = Work::new();
    let tmp = work.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let student = work.path("student_typo.rs");
    std::fs::write(
        &student,
        "use crate::lock::api::Strategy;\npub const TYPO: Strategy = no_such_thing;\n",
    )
    .unwrap();
    let (r, j) = (work.path("results.json"), work.path("junit.xml"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/grade-file.sh");
    let mut cmd = std::process::Command::new(script);
    cmd.arg(&student)
        .arg("--results")
        .arg(&r)
        .arg(format!("--junit={}", j.display()))
        .env("TMPDIR", &tmp);
    let mut run = Run::of(cmd, &[]);
    run.line = format!("TMPDIR={} {script} {}", tmp.display(), student.display());
    run.expect_code(1);
    let g = results(&r);
    assert_eq!(g["score"], 0.0, "{g}");
    let out = g["tests"][0]["output"].as_str().unwrap();
    assert!(
        out.starts_with("error") && out.contains("no_such_thing"),
        "{g}{}",
        run.context()
    );
    assert!(out.lines().count() <= 40, "{g}");
    assert_eq!(junit(&j, 1), 1);
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}{}", run.context());
}
