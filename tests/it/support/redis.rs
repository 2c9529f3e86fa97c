//! A throwaway `redis-server` on a free loopback port, in a temporary
//! directory, killed at the end. With no Redis installed, a test that
//! needs one says it was skipped and why.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::skipped;

/// A running throwaway Redis.
pub struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl Redis {
    /// Starts one, or says why it cannot and returns `None`.
    pub fn start(test: &str) -> Option<Redis> {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file());
        let Some(bin) = found else {
            return skipped(test, "no redis-server on PATH (.ci/run installs it)");
        };
        let dir = tempfile::Builder::new()
            .prefix("booking-redis-")
            .tempdir()
            .ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let r = Redis {
            child,
            _dir: dir,
            url: format!("redis://127.0.0.1:{port}"),
        };
        // Ready when it answers PING (it binds within milliseconds).
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.keys().is_none() {
            if Instant::now() > deadline {
                return skipped(test, "redis-server did not answer within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(r)
    }

    /// The keys on the server (`None`: it does not answer yet).
    pub fn keys(&self) -> Option<Vec<String>> {
        let mut c = redis::Client::open(self.url.as_str())
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("KEYS").arg("*").query(&mut c).ok()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
