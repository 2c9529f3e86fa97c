//! The registry: every strategy, found by the build script.
//!
//! **A strategy is one file in `src/lock/strategies/`**, defining
//! `pub const STRATEGY: Strategy`. The build script (`build.rs`) lists every
//! `src/lock/strategies/*.rs`, so the file is the whole registration: the
//! CLI's `--lock` values and help, `check`, `compare`, the reports and the
//! property tests all iterate over [`all`]. Two strategies with one name
//! fail the build (see [`names_unique`]).

use std::sync::LazyLock;

use super::api::Strategy;
use super::strategies::{ALL, FILES, GATED, Gated};
use crate::error::{Error, Result};

/// Whether no two strategies in `all` share a name. `const`, so the build
/// fails on a duplicate (a copied template whose name was not changed).
pub const fn names_unique(all: &[&Strategy]) -> bool {
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() {
            if str_eq(all[i].name, all[j].name) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(
    names_unique(ALL),
    "two strategies in src/lock/strategies/ share a --lock name: give each STRATEGY its own name"
);

/// Every strategy, in the order the reports list them: `none` first, then
/// those that claim to be safe, then the deliberately wrong ones, each
/// group by name; hidden ones last.
pub fn all() -> &'static [&'static Strategy] {
    static SORTED: LazyLock<Vec<&'static Strategy>> = LazyLock::new(|| {
        let mut v = ALL.to_vec();
        v.sort_by_key(|s| (s.hidden, s.name != "none", !s.safe, s.name));
        v
    });
    &SORTED
}

/// The strategies listed by default (not hidden).
pub fn listed() -> impl Iterator<Item = &'static Strategy> {
    all().iter().copied().filter(|s| !s.hidden)
}

/// The strategies defined in `src/lock/strategies/<stem>.rs`.
pub fn in_file(stem: &str) -> Vec<&'static Strategy> {
    FILES
        .iter()
        .filter(|(f, _)| *f == stem)
        .map(|(_, s)| *s)
        .collect()
}

/// Looks a strategy up by its `--lock` name.
pub fn find(name: &str) -> Option<&'static Strategy> {
    all().iter().copied().find(|s| s.name == name)
}

/// The strategy `--lock name` asks for: [`find`], or, for a strategy this
/// build left out ([`not_built`]), the one line that names the feature it
/// needs.
///
/// # Errors
/// [`Error::Input`] for a strategy not built, or no such strategy (which
/// clap, offering only the registry's names, never passes on).
pub fn named(name: &str) -> Result<&'static Strategy> {
    if let Some(s) = find(name) {
        return Ok(s);
    }
    match GATED.iter().find(|g| g.name == name) {
        Some(g) => Err(crate::features::missing(
            &format!("--lock {name}"),
            g.feature,
        )),
        None => Err(Error::Input(format!("--lock {name}: no such strategy"))),
    }
}

/// The strategies of files this build left out, for want of the feature
/// that builds them: listed all the same, in `--help` and in the line
/// `check`, `compare` and `bench` print of what they leave out, so that a
/// student of a lean build sees they exist and what building them takes.
/// By name; none in a build with every feature.
pub fn not_built() -> impl Iterator<Item = &'static Gated> {
    GATED.iter().filter(|g| !crate::features::built(g.feature))
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_name_is_detected() {
        assert!(names_unique(ALL));
        let file = find("file").unwrap();
        assert!(!names_unique(&[file, find("sem").unwrap(), file]));
    }

    #[test]
    #[cfg(all(feature = "postgres", feature = "redis"))]
    fn every_gated_strategy_is_listed_as_its_source_writes_it() {
        // What a lean build lists is read from the source by the build
        // script; here, where every file is built, it is held to the
        // entries themselves.
        let gated_files: Vec<&str> = GATED.iter().map(|g| g.file).collect();
        let from_gated_files: Vec<&str> = FILES
            .iter()
            .filter(|(f, _)| gated_files.contains(f))
            .map(|(_, s)| s.name)
            .collect();
        assert_eq!(
            GATED.iter().map(|g| g.name).collect::<Vec<_>>(),
            from_gated_files
        );
        for g in GATED {
            let s = find(g.name).unwrap();
            assert_eq!((g.about, g.safe), (s.about, s.safe), "{}", g.name);
            // A lean build lists them all: one hidden would be offered.
            assert!(!s.hidden, "{} is hidden and built with a feature", g.name);
            assert!(in_file(g.file).iter().any(|t| t.name == g.name));
        }
        assert!(GATED.iter().any(|g| g.name == "pg-serializable-once"));
        assert!(GATED.iter().any(|g| g.feature == "redis"));
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn a_built_strategy_is_named_and_an_unknown_one_refused() {
        assert_eq!(named("pg-atomic").unwrap().name, "pg-atomic");
        assert_eq!(not_built().count(), 0);
        let e = named("pg-nothing").unwrap_err();
        assert_eq!(e.to_string(), "--lock pg-nothing: no such strategy");
    }

    #[test]
    fn the_order_is_none_then_safe_then_wrong_then_hidden() {
        let all = all();
        assert_eq!(all[0].name, "none");
        let rank = |s: &Strategy| (s.hidden, s.name != "none", !s.safe);
        assert!(all.windows(2).all(|w| rank(w[0]) <= rank(w[1])));
        assert_eq!(all.len(), ALL.len());
    }
}
