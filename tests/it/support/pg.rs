//! A throwaway PostgreSQL cluster on a free loopback port, made by
//! `initdb` in a temporary directory (as the `postgres` user when the tests
//! run as root: `initdb` refuses root), started with `pg_ctl`, stopped and
//! removed at the end. With no PostgreSQL installed, a test that needs one
//! says it was skipped and why.

use std::path::{Path, PathBuf};
use std::process::Command;

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
        let skip = |why: String| super::skipped(test, &why);
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
