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

use super::api::Strategy;

include!(concat!(env!("OUT_DIR"), "/strategies.rs"));
