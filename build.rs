//! Lists the strategies: every `src/lock/strategies/*.rs` except `mod.rs` is a
//! strategy module, and every `pub const NAME: Strategy` in it (a line that
//! starts so) is a strategy. The generated file is included by
//! `src/lock/strategies/mod.rs`, so adding a strategy is adding one file.
//!
//! A file that begins `#![cfg(feature = "F")]` is built with feature `F`
//! only ([`gate`]): its entries are listed under the same `cfg`, and, in
//! every build, in `GATED` with their name, help and claim read from the
//! source, so that a build without `F` still lists them and can say what
//! building them takes.
//!
//! It also ignores the tests whose server is not installed
//! ([`ignore_tests_without_servers`]).

use std::fmt::Write as _;
use std::path::Path;

// Where the servers some tests start are installed (the tests use it too).
#[path = "tests/it/support/installed.rs"]
mod installed;

fn main() {
    ignore_tests_without_servers();
    // Read when the script runs, not when it was compiled: cargo may reuse
    // a compiled build script for another copy of the project (a graded
    // student's, say), whose folder is the one to list.
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&root).join("src/lock/strategies");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("src/lock/strategies exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?;
            (stem != "mod").then(|| stem.to_string())
        })
        .collect();
    files.sort();
    // (file stem, const name, the feature its file needs) of every strategy.
    let mut entries: Vec<(String, String, Option<String>)> = Vec::new();
    let mut gated = String::new();
    for f in &files {
        assert!(
            f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "src/lock/strategies/{f}.rs: a strategy file's name must be a Rust identifier (letters, digits, _)"
        );
        let text = std::fs::read_to_string(dir.join(format!("{f}.rs"))).unwrap();
        let consts: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pub const ")?.split_once(": Strategy ="))
            .map(|(name, _)| name.trim().to_string())
            .collect();
        assert!(
            !consts.is_empty(),
            "src/lock/strategies/{f}.rs defines no `pub const STRATEGY: Strategy = ...`"
        );
        let feature = gate(&text);
        if let Some(feature) = &feature {
            for entry in text.split("\npub const ").skip(1) {
                let (name, about, safe) = literals(entry).unwrap_or_else(|| {
                    panic!(
                        "src/lock/strategies/{f}.rs: an entry of a file built with feature {feature} \
                         begins with its name and help as string literals, then its claim (true or false)"
                    )
                });
                writeln!(
                    gated,
                    "    Gated {{ feature: {feature:?}, file: {f:?}, name: {name}, about: {about}, safe: {safe} }},"
                )
                .unwrap();
            }
        }
        entries.extend(consts.into_iter().map(|c| (f.clone(), c, feature.clone())));
    }
    let mut out = String::new();
    for f in &files {
        // Absolute: a path in an included file is read from OUT_DIR.
        let path = dir.join(format!("{f}.rs"));
        writeln!(
            out,
            "#[path = {:?}]\npub mod {f};",
            path.display().to_string()
        )
        .unwrap();
    }
    let when = |feature: &Option<String>| match feature {
        Some(feature) => format!("#[cfg(feature = {feature:?})] "),
        None => String::new(),
    };
    out += "/// Every strategy of every file built, in file-name order.\npub const ALL: &[&Strategy] = &[\n";
    for (f, c, feature) in &entries {
        writeln!(out, "    {}&{f}::{c},", when(feature)).unwrap();
    }
    out += "];\n/// Every strategy built with the file (its stem) that defines it.\npub const FILES: &[(&str, &Strategy)] = &[\n";
    for (f, c, feature) in &entries {
        writeln!(out, "    {}({f:?}, &{f}::{c}),", when(feature)).unwrap();
    }
    out += "];\n/// Every strategy of a file built with a feature only, built or not.\npub const GATED: &[Gated] = &[\n";
    out += &gated;
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("strategies.rs");
    std::fs::write(dest, out).unwrap();
}

/// The feature a strategy file is built with, from its inner attribute
/// `#![cfg(feature = "F")]` (a line of its own); `None` for a file always
/// built.
fn gate(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("#![cfg(feature = \"")?.strip_suffix("\")]"))
        .map(str::to_string)
}

/// The name and help (string literals, as written, quotes included) and
/// the claim (`true` or `false`) that begin an entry's text: every
/// constructor of `Strategy` takes them first, in this order.
fn literals(entry: &str) -> Option<(String, String, bool)> {
    let mut rest = entry;
    let mut strings = Vec::new();
    while strings.len() < 2 {
        let start = rest.find('"')?;
        let mut end = start + 1;
        let bytes = rest.as_bytes();
        while bytes.get(end)? != &b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        strings.push(rest[start..=end].to_string());
        rest = &rest[end + 1..];
    }
    let safe = rest
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| *w == "true" || *w == "false")?
        == "true";
    let about = strings.pop()?;
    Some((strings.pop()?, about, safe))
}

/// Builds the tests that need a server that is not installed as ignored
/// (`#[cfg_attr(no_postgres, ignore = "...")]`): `cargo test` counts them
/// ignored, with the reason, instead of passing them. Under CI (`CI` set,
/// as CI services set it, and not `false` or `0`) they are built to run,
/// and fail saying what is missing: CI runs every test or fails. Cargo
/// watches `CI` and `PATH`, not the disk: after installing a server,
/// `touch build.rs` to look again.
fn ignore_tests_without_servers() {
    println!("cargo::rustc-check-cfg=cfg(no_postgres)");
    println!("cargo::rustc-check-cfg=cfg(no_redis)");
    println!("cargo::rustc-check-cfg=cfg(no_pgbouncer)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "false" | "0"));
    if ci {
        return;
    }
    if installed::postgres_bin().is_none() {
        println!("cargo::rustc-cfg=no_postgres");
    }
    if installed::postgres_bin().is_none() || installed::pgbouncer().is_none() {
        println!("cargo::rustc-cfg=no_pgbouncer");
    }
    if installed::redis_server().is_none() {
        println!("cargo::rustc-cfg=no_redis");
    }
}
