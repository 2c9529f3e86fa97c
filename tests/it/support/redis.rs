//! A throwaway `redis-server` on a free loopback port, in a temporary
//! directory, killed at the end. A test that needs one is ignored where
//! Redis is not installed (`no_redis`, set by the build script), and fails,
//! saying why, where it cannot have one all the same (under CI).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::installed::redis_server;
use super::proc::POLL;

/// A running throwaway Redis.
pub struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

/// Fails the test that needs Redis, saying why it cannot have it.
#[track_caller]
fn unavailable(why: &str) -> ! {
    super::unavailable("Redis", why)
}

impl Redis {
    /// Starts one, or fails the test saying why it cannot.
    #[track_caller]
    pub fn start() -> Redis {
        let Some(bin) = redis_server() else {
            unavailable("no redis-server on PATH (install Redis; .ci/run does)")
        };
        let dir = tempfile::Builder::new()
            .prefix("booking-redis-")
            .tempdir()
            .expect("a temp dir for redis-server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| unavailable(&format!("{} does not start: {e}", bin.display())));
        let r = Redis {
            child,
            _dir: dir,
            url: format!("redis://127.0.0.1:{port}"),
        };
        // Ready when it answers PING (it binds within milliseconds).
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.keys().is_none() {
            if Instant::now() > deadline {
                unavailable("redis-server did not answer within 10 s");
            }
            std::thread::sleep(POLL);
        }
        r
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
