//! Lists the strategies: every `src/lock/*.rs` except `mod.rs` is a
//! strategy module, and every `pub const NAME: Strategy` in it (a line that
//! starts so) is a strategy. The generated file is included by
//! `src/lock/mod.rs`, so adding a strategy is adding one file.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lock");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("src/lock exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?;
            (stem != "mod").then(|| stem.to_string())
        })
        .collect();
    names.sort();
    let mut out = String::new();
    for n in &names {
        assert!(
            n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "src/lock/{n}.rs: a strategy file's name must be a Rust identifier (letters, digits, _)"
        );
        let path = dir.join(format!("{n}.rs"));
        writeln!(
            out,
            "#[path = {:?}]\npub mod {n};",
            path.display().to_string()
        )
        .unwrap();
    }
    out +=
        "/// Every strategy of every file, in file-name order.\npub const ALL: &[&Strategy] = &[\n";
    for n in &names {
        let text = std::fs::read_to_string(dir.join(format!("{n}.rs"))).unwrap();
        let consts: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pub const ")?.split_once(": Strategy ="))
            .map(|(name, _)| name.trim())
            .collect();
        assert!(
            !consts.is_empty(),
            "src/lock/{n}.rs defines no `pub const STRATEGY: Strategy = ...`"
        );
        for c in consts {
            writeln!(out, "    &{n}::{c},").unwrap();
        }
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("strategies.rs");
    std::fs::write(dest, out).unwrap();
}
