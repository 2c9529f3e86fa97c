//! The strategies: one file each, each defining `pub const STRATEGY:
//! Strategy` (or several such constants). The build script lists every
//! file of this folder but this one; the list is included here, as the
//! `pub mod` of each file and the constants [`ALL`] and [`FILES`], which
//! [`super::registry`] sorts and serves.
//!
//! A strategy file imports [`super::api`] and [`super::hooks`], the
//! platform floor ([`crate::sys`]) and, for a database or a lock server,
//! [`crate::store`] and [`crate::lease`]; nothing of the engine. Start from
//! `template.rs`.
//!
//! A file that only a cargo feature builds (the `pg-*` and `redis-*`
//! strategies: their clients are most of the crates a full build compiles)
//! says so in its first lines, `#![cfg(feature = "postgres")]`; the build
//! script lists it in [`GATED`] too, which every build has.

use super::api::Strategy;

/// A strategy of a file built with a feature only (see
/// [`crate::features`]), as its source writes it: what a build without
/// the feature lists and names instead of the strategy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gated {
    /// The feature that builds it.
    pub feature: &'static str,
    /// Its file's stem.
    pub file: &'static str,
    /// Its `--lock` name.
    pub name: &'static str,
    /// Its one line of help.
    pub about: &'static str,
    /// Whether it claims mutual exclusion.
    pub safe: bool,
}

include!(concat!(env!("OUT_DIR"), "/strategies.rs"));
