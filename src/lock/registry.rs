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
use super::strategies::{ALL, FILES};

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
    fn the_order_is_none_then_safe_then_wrong_then_hidden() {
        let all = all();
        assert_eq!(all[0].name, "none");
        let rank = |s: &Strategy| (s.hidden, s.name != "none", !s.safe);
        assert!(all.windows(2).all(|w| rank(w[0]) <= rank(w[1])));
        assert_eq!(all.len(), ALL.len());
    }
}
