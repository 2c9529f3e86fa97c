//! The command line: usage errors, bad stock files, exit codes.

use crate::support::{Work, strategies};

#[test]
fn help_lists_every_registered_strategy() {
    let work = Work::new();
    let help = work.booking(&["--help"]);
    help.expect_code(0);
    for (name, _) in strategies() {
        assert!(
            help.stdout().contains(&name),
            "--help lacks {name}{}",
            help.context()
        );
    }
}

#[test]
fn bad_flags_exit_2_before_anything_runs() {
    let work = Work::new();
    let stock = work.stock("s.json", "{\"count\": 4}");
    let s = stock.to_str().unwrap();
    // A lean build refuses a server's flag itself, naming its feature
    // (lean.rs).
    let (pg, hosts) = if cfg!(feature = "postgres") {
        ("is for the pg-* strategies", "cannot span hosts")
    } else {
        ("needs the postgres feature", "needs the postgres feature")
    };
    let redis = if cfg!(feature = "redis") {
        "is for the redis-* strategies"
    } else {
        "needs the redis feature"
    };
    for (args, needle) in [
        (vec!["--buyers", "0"], "--buyers"),
        (vec!["--buyers", "-3"], "--buyers"),
        (vec!["--buyers", "many"], "--buyers"),
        (vec!["--lock", "spinlock"], "spinlock"),
        (vec!["--delay", "soon"], "--delay"),
        (vec!["--delay", "5ms..1ms"], "backwards"),
        (vec!["--tickets", "3", "--stock", s], "--stock"),
        // More victims than buyers, never silently fewer.
        (vec!["--buyers", "10", "--kill", "20"], "--kill 20"),
        (vec!["--buyers", "2", "--pause", "3"], "--pause 3"),
        // A server the strategy would not use, never silently ignored.
        (
            vec![
                "--lock",
                "sql-atomic",
                "--store",
                "postgres://x@127.0.0.1/db",
            ],
            pg,
        ),
        (
            vec!["--lock", "file", "--lock-server", "redis://127.0.0.1:1"],
            redis,
        ),
        (
            vec![
                "--lock",
                "sem",
                "--run",
                "r1",
                "--store",
                "postgres://x@127.0.0.1/db",
            ],
            hosts,
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--stock", s]);
        let all = if args.contains(&"--tickets") {
            args.clone()
        } else {
            all
        };
        let run = work.booking(&all);
        run.expect_code(2);
        assert!(
            run.stderr().contains(needle),
            "error does not name {needle}{}",
            run.context()
        );
        assert_eq!(
            std::fs::read_to_string(&stock).unwrap(),
            "{\"count\": 4}",
            "stock changed{}",
            run.context()
        );
    }
}

#[test]
fn broken_stock_files_exit_2_and_stay_byte_for_byte() {
    let work = Work::new();
    let cases = [
        ("empty.json", "", "empty"),
        ("torn.json", "{\"count\": 1", "not valid JSON"),
        ("array.json", "[100]", "array"),
        ("nocount.json", "{\"tickets\": 3}", "no \"count\""),
        ("negative.json", "{\"count\": -2}", "negative"),
        ("fraction.json", "{\"count\": 2.5}", "whole number"),
        ("string.json", "{\"count\": \"7\"}", "a string"),
        (
            "huge.json",
            "{\"count\": 99999999999999999999}",
            "whole number",
        ),
    ];
    for (name, text, reason) in cases {
        let stock = work.stock(name, text);
        let run = work.booking(&[
            "--buyers",
            "3",
            "--lock",
            "file",
            "--stock",
            stock.to_str().unwrap(),
        ]);
        run.expect_code(2);
        let err = run.stderr();
        assert!(
            err.contains(reason) && err.contains(name),
            "{name}: message lacks {reason:?} or the file{}",
            run.context()
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{name}: not one line{}",
            run.context()
        );
        assert_eq!(
            std::fs::read_to_string(&stock).unwrap(),
            text,
            "{name} changed"
        );
        assert!(
            !work.path(&format!("{name}.lock")).exists(),
            "{name}: lock file left"
        );
    }
    let missing = work.booking(&["--stock", work.path("nope.json").to_str().unwrap()]);
    missing.expect_code(2);
    assert!(
        missing.stderr().contains("nope.json: no such file"),
        "{}",
        missing.context()
    );
    let dir = work.booking(&["--stock", work.dir.path().to_str().unwrap()]);
    dir.expect_code(2);
    assert!(dir.stderr().contains("directory"), "{}", dir.context());
}

/// Permissions do not bind root, so this runs only for other users.
#[test]
fn unreadable_and_unwritable_stock_files_exit_2() {
    // /proc/self belongs to the process's effective user.
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        eprintln!("skipped: root reads and writes any file");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let work = Work::new();
    for (mode, reason) in [(0o200, "permission denied"), (0o444, "not writable")] {
        let stock = work.stock(&format!("m{mode:o}.json"), "{\"count\": 3}");
        std::fs::set_permissions(&stock, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = work.booking(&["--buyers", "2", "--stock", stock.to_str().unwrap()]);
        run.expect_code(2);
        assert!(run.stderr().contains(reason), "{}", run.context());
        std::fs::set_permissions(&stock, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&stock).unwrap(), "{\"count\": 3}");
    }
}

/// Shell completions come from the same command line, so they offer every
/// flag and every listed strategy.
#[test]
fn completions_offer_the_flags_and_the_strategies() {
    let work = Work::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = work.booking(&["completions", shell]);
        run.expect_code(0);
        let out = run.stdout();
        assert!(
            out.contains("--buyers") || out.contains("buyers"),
            "{shell}{}",
            run.context()
        );
        for (name, _) in strategies() {
            assert!(out.contains(&name), "{shell}: no {name}");
        }
    }
}
