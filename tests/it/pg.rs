//! The PostgreSQL strategies against a real server: a throwaway cluster
//! on a free loopback port, made by `initdb` in a temporary directory (as
//! the `postgres` user when the tests run as root: `initdb` refuses root),
//! started with `pg_ctl`, stopped and removed at the end. With no
//! PostgreSQL installed, each test says it was skipped and why.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Work, assert_consistent, u, wait_for_children};

/// A running throwaway PostgreSQL cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    user: Option<nix::unistd::User>,
    /// `postgres://booking@127.0.0.1:PORT/postgres`.
    pub url: String,
}

/// Where `initdb` and `pg_ctl` are: on `PATH`, or Debian's
/// `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    on_path
        .chain(debian)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

impl Cluster {
    /// Starts one, or says why it cannot and returns `None`.
    pub fn start(test: &str) -> Option<Cluster> {
        let skip = |why: String| crate::util::skipped(test, &why);
        let Some(bin) = bin_dir() else {
            return skip("no PostgreSQL (initdb and pg_ctl not found; .ci/run installs it)".into());
        };
        let user = if nix::unistd::geteuid().is_root() {
            match nix::unistd::User::from_name("postgres") {
                Ok(Some(u)) => Some(u),
                _ => return skip("running as root and no `postgres` user for initdb".into()),
            }
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("booking-pg-")
            .tempdir()
            .ok()?;
        if let Some(u) = &user {
            nix::unistd::chown(dir.path(), Some(u.uid), Some(u.gid)).ok()?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let c = Cluster {
            bin,
            dir,
            user,
            url: format!("postgres://booking@127.0.0.1:{port}/postgres"),
        };
        let data = c.dir.path().join("data");
        let ok = c.run(
            "initdb",
            &[
                "-D",
                data.to_str()?,
                "-U",
                "booking",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        if !ok {
            return skip("initdb failed".into());
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            c.dir.path().display()
        );
        let log = c.dir.path().join("log");
        let ok = c.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str()?,
                "-l",
                log.to_str()?,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        if !ok {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return skip(format!("pg_ctl start failed: {log}"));
        }
        Some(c)
    }

    fn run(&self, tool: &str, args: &[&str]) -> bool {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(u) = &self.user {
            cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        }
        cmd.status().is_ok_and(|s| s.success())
    }

    /// The run schemas left on the server.
    pub fn schemas(&self) -> Vec<String> {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.query(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'booking_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let data: &Path = &data;
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// Every safe PostgreSQL strategy sells exactly the stock under a race,
/// with every buyer reporting; the run's schema is gone afterwards.
#[test]
fn the_safe_pg_strategies_sell_exactly_the_stock() {
    let Some(pg) = Cluster::start("the_safe_pg_strategies_sell_exactly_the_stock") else {
        return;
    };
    let work = Work::new();
    for lock in [
        "pg-atomic",
        "pg-for-update",
        "pg-optimistic",
        "pg-serializable",
        "pg-advisory",
    ] {
        let run = work.booking(&[
            "--buyers",
            "20",
            "--tickets",
            "8",
            "--lock",
            lock,
            "--store",
            &pg.url,
            "--delay",
            "1ms..3ms",
            "--json",
        ]);
        let r = run.json();
        assert_consistent(&r, u(&r, "remaining"), run.pid);
        assert_eq!(
            (u(&r, "sold"), r["status"].as_str()),
            (8, Some("safe")),
            "{lock}: {r}"
        );
        assert!(r["rerun"].as_str().unwrap().contains("--store"), "{r}");
    }
    assert_eq!(pg.schemas(), Vec::<String>::new(), "a run left its schema");
    work.assert_clean();
}

/// Two statements under READ COMMITTED, all 20 buyers reading before the
/// first writes (50 ms between read and write): lost updates. Tried up to
/// three times, for a machine too loaded to start 20 processes in 50 ms.
#[test]
fn pg_none_loses_updates_when_the_race_is_certain() {
    let Some(pg) = Cluster::start("pg_none_loses_updates_when_the_race_is_certain") else {
        return;
    };
    let work = Work::new();
    assert!(
        crate::sql::loses_updates_in_a_certain_race(&work, "pg-none", &["--store", &pg.url]),
        "no lost update in 3 runs of a certain race"
    );
}

/// SERIALIZABLE without the retry: all 20 buyers read before the first
/// commits (50 ms between read and write), so the server aborts the
/// others' transactions with SQLSTATE 40001. The data stay right (no
/// ticket sold twice, the count agrees), but buyers failed: the run is
/// FAILED and exits 1, never SAFE. Tried up to three times, for a machine
/// too loaded to start 20 processes in 50 ms.
#[test]
fn serializable_without_a_retry_fails_buyers_but_sells_no_ticket_twice() {
    let Some(pg) = Cluster::start("serializable_without_a_retry_fails_buyers") else {
        return;
    };
    let work = Work::new();
    let failed = (0..3).any(|seed| {
        let seed = seed.to_string();
        let run = work.booking(&[
            "--buyers",
            "20",
            "--tickets",
            "5",
            "--lock",
            "pg-serializable-once",
            "--store",
            &pg.url,
            "--delay",
            "50ms..60ms",
            "--seed",
            &seed,
            "--json",
        ]);
        let r: serde_json::Value = serde_json::from_slice(&run.out.stdout)
            .unwrap_or_else(|e| panic!("not JSON: {e}{}", run.context()));
        assert_consistent(&r, u(&r, "remaining"), run.pid);
        assert_eq!(u(&r, "double_booked"), 0, "{r}");
        assert_ne!(r["status"], "safe", "{r}");
        let failed = u(&r, "failed");
        if failed > 0 {
            assert_eq!(run.code(), Some(1), "{r}");
            assert_eq!(r["status"], "failed", "{r}");
            assert!(
                r.to_string().contains("40001") || r.to_string().contains("serializ"),
                "{r}"
            );
        }
        failed > 0
    });
    assert!(failed, "no buyer failed in 3 runs of a certain conflict");
    assert_eq!(pg.schemas(), Vec::<String>::new(), "a run left its schema");
    work.assert_clean();
}

/// A `booking` killed with `SIGKILL` cannot drop its schema; the next run
/// on the server finds its alive lock free and drops it, and leaves a live
/// run's schema alone.
#[test]
fn a_killed_runs_schema_is_swept_by_the_next_run() {
    let Some(pg) = Cluster::start("a_killed_runs_schema_is_swept_by_the_next_run") else {
        return;
    };
    let work = Work::new();
    let start = |delay: &str| {
        work.command(&[
            "--buyers",
            "3",
            "--lock",
            "pg-atomic",
            "--store",
            &pg.url,
            "--delay",
            delay,
        ])
        .spawn()
        .unwrap()
    };
    // Waits until `booking` has started its 3 buyers (its schema exists).
    let started = |c: &std::process::Child| {
        let within = std::time::Duration::from_secs(20);
        wait_for_children(c.id(), 3, within).expect("no buyers started");
    };
    let mut doomed = start("20s");
    started(&doomed);
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let left = pg.schemas();
    assert_eq!(left.len(), 1, "the killed run's schema: {left:?}");
    let mut live = start("3s");
    started(&live);
    assert_eq!(
        pg.schemas().len(),
        1,
        "the killed one swept, the live one made"
    );
    assert!(!pg.schemas().contains(&left[0]), "{:?}", pg.schemas());
    // A third run sweeps nothing that is alive.
    work.booking(&["--buyers", "2", "--lock", "pg-atomic", "--store", &pg.url])
        .expect_code(0);
    assert_eq!(pg.schemas().len(), 1, "the live run's schema stays");
    assert!(live.wait().unwrap().success());
    assert_eq!(pg.schemas(), Vec::<String>::new());
    work.assert_clean();
}

/// A PostgreSQL strategy without a server is refused, exit 2, one line;
/// `compare` without one leaves the pg-* strategies out and says so.
#[test]
fn a_pg_strategy_without_a_server_is_refused() {
    let work = Work::new();
    let run = work.booking(&["--buyers", "3", "--lock", "pg-atomic"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("--store postgres://"),
        "{}",
        run.context()
    );
    let run = work.booking(&["--buyers", "3", "--lock", "file", "--store", "mysql://x"]);
    run.expect_code(2);
    work.assert_clean();
}

/// Three `booking` processes on one machine act as three hosts of one run:
/// they meet at the database's barrier, each judges its own buyers, and
/// `booking verdict` judges the whole run from the database: its sold is
/// the sum of the hosts', its remaining the database's count. A host
/// killed mid-run leaves its buyers failed: the run is never SAFE.
#[test]
fn three_hosts_share_one_run_and_one_verdict() {
    let Some(pg) = Cluster::start("three_hosts_share_one_run_and_one_verdict") else {
        return;
    };
    let work = Work::new();
    let host = |name: &str, run: &str, hosts: &str, delay: &str| {
        work.command(&[
            "--buyers",
            "10",
            "--tickets",
            "25",
            "--lock",
            "pg-atomic",
            "--store",
            &pg.url,
            "--run",
            run,
            "--hosts",
            hosts,
            "--host-name",
            name,
            "--delay",
            delay,
            "--json",
        ])
        .spawn()
        .unwrap()
    };
    let children: Vec<_> = ["h1", "h2", "h3"]
        .iter()
        .map(|n| host(n, "lab", "3", "0..2ms"))
        .collect();
    let mut sold = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["status"], "safe", "{r}");
        sold += u(&r, "sold");
    }
    let v = work
        .booking(&["verdict", "--store", &pg.url, "--run", "lab", "--json"])
        .json();
    assert_eq!(u(&v, "sold"), sold, "{v}");
    assert_eq!(sold, 25, "30 buyers for 25 tickets: {v}");
    assert_eq!(u(&v, "remaining"), 0, "{v}");
    assert_eq!(v["status"], "safe", "{v}");

    // Two hosts; one is killed while its buyers wait out a long delay.
    let steady = host("a", "cut", "2", "0..2ms");
    let mut doomed = host("b", "cut", "2", "20s");
    wait_for_children(doomed.id(), 10, std::time::Duration::from_secs(20))
        .expect("host b never started its buyers");
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    assert!(steady.wait_with_output().unwrap().status.success());
    let run = work.booking(&["verdict", "--store", &pg.url, "--run", "cut", "--json"]);
    run.expect_code(1);
    let v: serde_json::Value = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(u(&v, "failed"), 10, "host b's buyers: {v}");
    // The next run sweeps the killed host's run directory.
    work.booking(&["--buyers", "1", "--delay", "0"])
        .expect_code(0);
    work.assert_clean();
}
