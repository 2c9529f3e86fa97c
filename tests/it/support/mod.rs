//! What the integration tests share, each in a file named for what it
//! holds: a private work directory and a finished command ([`work`]), the
//! check that a report adds up ([`verdict`]), `/proc` helpers ([`proc`]),
//! a `booking` bounded by a deadline ([`live`]), throwaway servers
//! ([`pg`], [`redis`]) and where they are installed ([`installed`]), and
//! the race both SQL stores teach with ([`race`]). Feature modules import
//! from here, never from each other.

pub mod installed;
pub mod live;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod proc;
pub mod race;
#[cfg(feature = "redis")]
pub mod redis;
pub mod verdict;
pub mod work;

pub use live::Live;
pub use proc::{
    alive, children_of, stopped_children, wait_for_children, wait_for_wchan, wait_until_gone,
};
pub use verdict::{assert_consistent, column, count_of, outcome, u};
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

/// `target/` of the build that made the tests' `booking`: where a test
/// that builds the project again keeps a build directory of its own
/// (`target/handout`, `target/lean`), between test runs.
pub fn target_dir() -> std::path::PathBuf {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_booking"));
    exe.ancestors()
        .nth(2)
        .expect("target/<profile>/booking")
        .into()
}

/// Fails a test that needs `server` and cannot have it, saying `why`. A
/// test whose server is not installed is built ignored (the `no_postgres`
/// and `no_redis` cfgs of the build script), so this is reached under CI,
/// where it is built to run, with `--ignored`, or where the server is
/// installed but does not start: never a silent pass.
#[track_caller]
pub fn unavailable(server: &str, why: &str) -> ! {
    panic!("this test needs {server}, and cannot have it: {why}")
}
