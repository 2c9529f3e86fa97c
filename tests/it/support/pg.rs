//! A throwaway PostgreSQL cluster on a free loopback port, made by
//! `initdb` in a temporary directory (as the `postgres` user when the tests
//! run as root: `initdb` refuses root), started with `pg_ctl`, stopped and
//! removed at the end. A test that needs one is ignored where PostgreSQL
//! is not installed (`no_postgres`, set by the build script), and fails,
//! saying why, where it cannot have one all the same (under CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::installed::postgres_bin;
use super::proc::POLL;

/// A running throwaway PostgreSQL cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    user: Option<nix::unistd::User>,
    /// `postgres://booking@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// What `pg_ctl start` was given (`-o`), to start it again the same.
    options: String,
}

/// Fails the test that needs PostgreSQL, saying why it cannot have it.
#[track_caller]
fn unavailable(why: &str) -> ! {
    super::unavailable("PostgreSQL", why)
}

impl Cluster {
    /// Starts one (300 connections), or fails the test saying why it
    /// cannot.
    #[track_caller]
    pub fn start() -> Cluster {
        Cluster::start_with(300)
    }

    /// Starts one that takes `max_connections`, or fails the test saying
    /// why it cannot.
    #[track_caller]
    pub fn start_with(max_connections: u32) -> Cluster {
        let Some(bin) = postgres_bin() else {
            unavailable(
                "initdb and pg_ctl are neither on PATH nor in /usr/lib/postgresql/*/bin \
                 (install PostgreSQL; .ci/run does)",
            )
        };
        let user = if nix::unistd::geteuid().is_root() {
            match nix::unistd::User::from_name("postgres") {
                Ok(Some(u)) => Some(u),
                _ => unavailable("running as root, and no `postgres` user to run initdb as"),
            }
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("booking-pg-")
            .tempdir()
            .expect("a temp dir for the cluster");
        if let Some(u) = &user {
            nix::unistd::chown(dir.path(), Some(u.uid), Some(u.gid))
                .expect("the cluster's directory given to the postgres user");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let c = Cluster {
            bin,
            dir,
            user,
            url: format!("postgres://booking@127.0.0.1:{port}/postgres"),
            options: String::new(),
        };
        let data = c.dir.path().join("data");
        let data = data.to_str().expect("a UTF-8 temp path");
        let initdb = [
            "-D",
            data,
            "-U",
            "booking",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ];
        if let Err(why) = c.run("initdb", &initdb) {
            unavailable(&format!("initdb failed: {why}"));
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections={max_connections}",
            c.dir.path().display()
        );
        let mut c = c;
        c.options.clone_from(&options);
        let log = c.dir.path().join("log");
        let log = log.to_str().expect("a UTF-8 temp path");
        let start = ["-D", data, "-l", log, "-o", &options, "-w", "start"];
        if let Err(why) = c.run("pg_ctl", &start) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            unavailable(&format!("pg_ctl start failed: {why}\n{log}"));
        }
        c
    }

    /// Stops the server the way an operator does in a hurry (`pg_ctl stop
    /// -m fast`: every session is cut, open transactions roll back).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let data = data.to_str().expect("a UTF-8 temp path");
        if let Err(why) = self.run("pg_ctl", &["-D", data, "-m", "fast", "-w", "stop"]) {
            panic!("pg_ctl stop failed: {why}");
        }
    }

    /// Starts the stopped server again, as it was started, and waits until
    /// it accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let data = data.to_str().expect("a UTF-8 temp path");
        let log = self.dir.path().join("log");
        let log = log.to_str().expect("a UTF-8 temp path");
        let start = ["-D", data, "-l", log, "-o", &self.options, "-w", "start"];
        if let Err(why) = self.run("pg_ctl", &start) {
            panic!("pg_ctl start failed: {why}");
        }
    }

    /// Runs `tool` of the installation (as the `postgres` user when the
    /// tests run as root): `Err` with its exit status and error output.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(u) = &self.user {
            cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        }
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The sales committed in shared run `run` (0 while the server is
    /// down).
    pub fn sales(&self, run: &str) -> i64 {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .and_then(|mut c| {
                c.query_one(
                    &format!("SELECT count(*) FROM booking_run_{run}.sales"),
                    &[],
                )
            })
            .map(|r| r.get(0))
            .unwrap_or(0)
    }

    /// Waits until shared run `run` has committed a sale (20 s at most).
    pub fn wait_for_a_sale(&self, run: &str) {
        self.wait_for_sales(run, 1);
    }

    /// Waits until shared run `run` has committed `n` sales (20 s at most).
    pub fn wait_for_sales(&self, run: &str, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.sales(run) < n {
            assert!(Instant::now() < deadline, "{n} sales were never committed");
            std::thread::yield_now();
        }
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

    /// Waits until no session holds an advisory lock, for at most
    /// `within`: `Err` with how many are still held. A killed run's alive
    /// lock goes with its session, which ends once the last process that
    /// has its socket has died and the server has seen the socket close.
    pub fn wait_until_no_advisory_lock(&self, within: Duration) -> Result<(), i64> {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        let deadline = Instant::now() + within;
        loop {
            let held: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                    &[],
                )
                .unwrap()
                .get(0);
            if held == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(held);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A PgBouncer in transaction mode in front of a [`Cluster`], on a free
/// loopback port, lending at most `pool` server connections (the way a
/// site puts one in front of a server); stopped when dropped.
pub struct Pooler {
    child: std::process::Child,
    /// `postgres://booking@127.0.0.1:PORT/postgres`.
    pub url: String,
}

impl Pooler {
    /// Starts one in front of `pg`, or fails the test saying why it cannot.
    #[track_caller]
    pub fn start(pg: &Cluster, pool: u32) -> Pooler {
        use std::os::unix::process::CommandExt;
        let Some(bin) = super::installed::pgbouncer() else {
            super::unavailable(
                "PgBouncer",
                "pgbouncer is neither on PATH nor in /usr/sbin (install it; .ci/run does)",
            )
        };
        let server_port = pg.url.rsplit(':').next().and_then(|t| t.split('/').next());
        let server_port = server_port.expect("the cluster's URL has a port");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir = pg.dir.path();
        let users = dir.join("pgbouncer-users.txt");
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&users, "\"booking\" \"\"\n").expect("PgBouncer's user list written");
        // Waiting clients are the point: none is dropped for waiting
        // (query_wait_timeout 0), and each may hold its connection as long
        // as a test's buyers do.
        let config = format!(
            "[databases]\n* = host=127.0.0.1 port={server_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {}\npool_mode = transaction\n\
             max_client_conn = 10000\ndefault_pool_size = {pool}\nmax_db_connections = {pool}\n\
             query_wait_timeout = 0\nlogfile = {}\n",
            users.display(),
            dir.join("pgbouncer.log").display()
        );
        std::fs::write(&ini, config).expect("PgBouncer's configuration written");
        let mut cmd = Command::new(bin);
        cmd.arg(&ini)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // PgBouncer refuses to run as root.
        if let Some(u) = &pg.user {
            for f in [&users, &ini] {
                nix::unistd::chown(f, Some(u.uid), Some(u.gid)).expect("PgBouncer's files given");
            }
            cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            super::unavailable("PgBouncer", &format!("pgbouncer did not start: {e}"))
        });
        let p = Pooler {
            child,
            url: format!("postgres://booking@127.0.0.1:{port}/postgres"),
        };
        // Up once it answers a query.
        let deadline = Instant::now() + Duration::from_secs(20);
        while postgres::Client::connect(&p.url, postgres::NoTls)
            .and_then(|mut c| c.simple_query("SELECT 1"))
            .is_err()
        {
            let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "PgBouncer never answered:\n{log}"
            );
            std::thread::sleep(POLL);
        }
        p
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let data: &Path = &data;
        let _ = self.run(
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
