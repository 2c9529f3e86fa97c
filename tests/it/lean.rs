//! The lean build, `cargo build --no-default-features`: without the
//! `postgres` and `redis` features it compiles about half the crates, books
//! as the full build does, still lists the strategies it left out, and
//! refuses each of them, and each flag or command only a feature builds,
//! with one line that names the feature, exit code 2.
//!
//! `cargo test` builds the default features, so the lean build is tested
//! through its own binary: [`the_lean_build_books_and_names_what_it_lacks`]
//! builds it (in `target/lean`, kept between test runs; a minute or more
//! on two cores the first time) and is ignored by a plain `cargo test`:
//! `make slow-tests` runs it, and CI (`cargo test -- --include-ignored`).
//! Its lints are CI's too (`cargo clippy --no-default-features`), and so
//! is the whole suite in the lean build (`cargo test
//! --no-default-features`, after the full one), where the tests that need
//! a feature are left out and every other runs against the lean binary.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Work, target_dir};

/// `cargo` as the test was built by (cargo sets `CARGO` for the tests it
/// runs), else the one on `PATH`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the lean `booking` (debug profile: it is checked for working,
/// not for speed) and returns its path.
fn build_lean() -> PathBuf {
    let target = target_dir().join("lean");
    let out = cargo()
        .args(["build", "--no-default-features", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the lean build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug/booking")
}

/// The distinct crates `cargo tree` lists for the build (`name version`),
/// its build scripts' dependencies and proc-macros included: everything it
/// compiles.
fn crates(lean: bool) -> usize {
    let mut cmd = cargo();
    cmd.args([
        "tree",
        "--locked",
        "--offline",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if lean {
        cmd.arg("--no-default-features");
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect();
    names.sort();
    names.dedup();
    names.len()
}

/// The target, kept: a lean build compiles at least 40% fewer
/// crates than the full one (the README gives the figures). A dependency
/// made unconditional again, or a new one the lab does not need, fails it.
#[test]
fn the_lean_build_compiles_at_least_40_percent_fewer_crates() {
    let (full, lean) = (crates(false), crates(true));
    assert!(
        lean * 10 <= full * 6,
        "the lean build compiles {lean} crates, the full one {full}: {}% fewer, not 40%",
        (full - lean) * 100 / full
    );
}

/// Each request the lean build cannot serve, and the feature it names.
const REFUSED: &[(&[&str], &str, &str)] = &[
    (&["--lock", "pg-atomic"], "--lock pg-atomic", "postgres"),
    (
        &["--lock", "redis-fenced", "--buyers", "3"],
        "--lock redis-fenced",
        "redis",
    ),
    (
        &["check", "--lock", "sem,pg-for-update"],
        "--lock pg-for-update",
        "postgres",
    ),
    (
        &[
            "--lock",
            "file",
            "--store",
            "postgres://u:sesame@127.0.0.1/db",
        ],
        "--store",
        "postgres",
    ),
    (
        &[
            "--lock",
            "file",
            "--lock-server",
            "redis://:sesame@127.0.0.1:1",
        ],
        "--lock-server",
        "redis",
    ),
    (
        &["runs", "--store", "postgres://127.0.0.1/db"],
        "the runs command",
        "postgres",
    ),
    (
        &["grade", "--file", "redis_lease"],
        "--file redis_lease",
        "redis",
    ),
    (
        &[
            "verdict",
            "--store",
            "postgres://127.0.0.1/db",
            "--run",
            "r1",
        ],
        "the verdict command",
        "postgres",
    ),
];

#[test]
#[ignore = "builds the project without its default features (a minute or more on two cores): `make slow-tests` runs it, and CI (cargo test -- --include-ignored)"]
fn the_lean_build_books_and_names_what_it_lacks() {
    let exe = build_lean();
    let work = Work::new();
    let booking = |args: &[&str]| crate::support::Run::of(work.command_of(&exe, args), args);

    let r = booking(&["--lock", "file", "--buyers", "20", "--seed", "1", "--json"]).json();
    assert_eq!(
        (&r["sold"], &r["remaining"]),
        (&20.into(), &80.into()),
        "{r}"
    );
    assert_eq!(r["safe"], true, "{r}");

    for (args, what, feature) in REFUSED {
        let run = booking(args);
        run.expect_code(2);
        assert_eq!(run.stdout(), "", "{}", run.context());
        assert_eq!(
            run.stderr(),
            format!(
                "booking: {what} needs the {feature} feature: build with cargo build --release --features {feature}\n"
            ),
            "{}",
            run.context()
        );
    }

    // Listed all the same, each with the feature that builds it.
    let help = booking(&["--help"]);
    help.expect_code(0);
    let help = help
        .stdout()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for (name, feature) in [
        ("pg-serializable-once", "postgres"),
        ("redis-lease", "redis"),
    ] {
        assert!(
            help.contains(&format!("{name}: [not built: needs the {feature} feature]")),
            "{name} is not listed as needing {feature}:\n{help}"
        );
    }

    // A command that runs every strategy leaves those out, by name, and
    // runs the rest: the safe ones here, so not the zoo's pg-none.
    let scale = booking(&["bench", "--scale", "--buyers", "3", "--repeat", "1"]);
    scale.expect_code(0);
    assert!(scale.stdout().contains("\n  sem "), "{}", scale.context());
    let err = scale.stderr().replace("\n  ", " ");
    for (name, feature) in [("pg-atomic", "postgres"), ("redis-fenced", "redis")] {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} is not named{}", scale.context()));
        assert!(
            line.starts_with("booking: left out ")
                && line.ends_with(&format!("(not built: --features {feature} builds them)")),
            "{}",
            scale.context()
        );
    }
    assert!(!err.contains("pg-none"), "{}", scale.context());
    work.assert_clean();
}
