//! What the integration tests share, each in a file named for what it
//! holds: a private work directory and a finished command ([`work`]), the
//! check that a report adds up ([`verdict`]), `/proc` helpers ([`proc`]),
//! a `booking` bounded by a deadline ([`live`]), throwaway servers
//! ([`pg`], [`redis`]), and the race both SQL stores teach with
//! ([`race`]). Feature modules import from here, never from each other.

pub mod live;
pub mod pg;
pub mod proc;
pub mod race;
pub mod redis;
pub mod verdict;
pub mod work;

pub use live::Live;
pub use proc::{
    alive, children_of, stopped_children, wait_for_children, wait_for_wchan, wait_until_gone,
};
pub use verdict::{assert_consistent, column, count_of, u};
pub use work::{Run, Work};

/// Names of the strategies the binary lists that need no server, with
/// whether each claims to be safe (read from the registry).
pub fn strategies() -> Vec<(String, bool)> {
    serverless().map(|s| (s.name.to_string(), s.safe)).collect()
}

/// The listed strategies that need no server: what `check` and `compare`
/// run by default without `--store` and `--lock-server` (the pg-* and
/// redis-* ones are tested against throwaway servers, in `pg.rs`,
/// `redis.rs` and the property harness).
pub fn serverless() -> impl Iterator<Item = &'static booking::lock::Strategy> {
    booking::lock::listed().filter(|s| s.store != booking::lock::Store::Postgres && !s.lock_server)
}

/// Says, past the test harness's capture (straight to standard error, so
/// it shows in the log), that `test` was skipped and why; returns `None`
/// for the caller to return. A test that needs a missing server never
/// passes silently.
pub fn skipped<T>(test: &str, why: &str) -> Option<T> {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "test {test}: SKIPPED: {why}");
    None
}
