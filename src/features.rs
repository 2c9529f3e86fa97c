//! The parts of `booking` a build may leave out: the cargo features
//! `postgres` (the `pg-*` strategies, `--store`, `booking runs` and
//! `booking verdict`) and `redis` (the `redis-*` strategies,
//! `--lock-server`). Both are on by default; a lab that needs only files
//! and semaphores builds with `--no-default-features` and compiles about
//! half the crates (PostgreSQL's client brings an async runtime with it).
//!
//! A lean build still *knows* what it left out: the left-out strategies are
//! listed (`--help`, `check`'s "left out" line) and asking for one, or for
//! a flag or command only a feature builds, is one line naming the feature
//! and how to build it, exit code 2 — never "no such strategy", which would
//! send a student looking for a typo.

use crate::error::{Error, Result};

/// The `postgres` feature: the PostgreSQL store.
pub const POSTGRES: &str = "postgres";

/// The `redis` feature: the Redis lock server.
pub const REDIS: &str = "redis";

/// Whether this build has `feature` (one of [`POSTGRES`], [`REDIS`]).
pub fn built(feature: &str) -> bool {
    (feature == POSTGRES && cfg!(feature = "postgres"))
        || (feature == REDIS && cfg!(feature = "redis"))
}

/// `Ok` when this build has `feature`; else the refusal of `what` (a flag,
/// a command, `--lock NAME`), which needs it.
///
/// # Errors
/// [`Error::Input`]: `--lock pg-atomic needs the postgres feature: build
/// with cargo build --release --features postgres`.
pub fn require(what: &str, feature: &str) -> Result<()> {
    if built(feature) {
        return Ok(());
    }
    Err(missing(what, feature))
}

/// The refusal of `what`, which needs `feature`, in a build without it.
pub fn missing(what: &str, feature: &str) -> Error {
    Error::Input(format!(
        "{what} needs the {feature} feature: build with cargo build --release --features {feature}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_feature_is_never_built() {
        assert!(!built("mysql"));
        let e = require("--lock my-sql", "mysql").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--lock my-sql needs the mysql feature: build with cargo build --release --features mysql"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn each_feature_answers_for_its_own_cfg() {
        // Under `cargo test` both are on; a lean build's refusals are
        // tested through its binary (tests/it/lean.rs).
        assert_eq!(
            require("--store", POSTGRES).is_ok(),
            cfg!(feature = "postgres")
        );
        assert_eq!(
            require("--lock-server", REDIS).is_ok(),
            cfg!(feature = "redis")
        );
    }
}
