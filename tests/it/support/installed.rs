//! Where the servers some tests start are installed. The build script
//! includes this file too: where a server is missing it ignores the tests
//! that need it (the `no_postgres`, `no_pgbouncer` and `no_redis` cfgs), and the tests find
//! the server the same way when they start it.

use std::path::PathBuf;

/// The directories on `PATH`, in order.
fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// The directory that holds `initdb` and `pg_ctl`: one on `PATH`, or
/// Debian's `/usr/lib/postgresql/N/bin` (where its packages put them,
/// off `PATH`).
pub fn postgres_bin() -> Option<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    path_dirs()
        .into_iter()
        .chain(debian)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// `redis-server` on `PATH`.
pub fn redis_server() -> Option<PathBuf> {
    path_dirs()
        .into_iter()
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// `pgbouncer`: on `PATH`, or in `/usr/sbin` (where Debian's package puts
/// it, off a user's `PATH`).
pub fn pgbouncer() -> Option<PathBuf> {
    path_dirs()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
}
