//! Lists the strategies: every `src/lock/strategies/*.rs` except `mod.rs` is a
//! strategy module, and every `pub const NAME: Strategy` in it (a line that
//! starts so) is a strategy. The generated file is included by
//! `src/lock/strategies/mod.rs`, so adding a strategy is adding one file.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lock/strategies");
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
    // (file stem, const name) of every strategy.
    let mut entries: Vec<(String, String)> = Vec::new();
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
        entries.extend(consts.into_iter().map(|c| (f.clone(), c)));
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
    out +=
        "/// Every strategy of every file, in file-name order.\npub const ALL: &[&Strategy] = &[\n";
    for (f, c) in &entries {
        writeln!(out, "    &{f}::{c},").unwrap();
    }
    out += "];\n/// Every strategy with the file (its stem) that defines it.\npub const FILES: &[(&str, &Strategy)] = &[\n";
    for (f, c) in &entries {
        writeln!(out, "    ({f:?}, &{f}::{c}),").unwrap();
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("strategies.rs");
    std::fs::write(dest, out).unwrap();
}
