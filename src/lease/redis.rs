//! The Redis side of a lease: grant, release, who holds it.
//!
//! A grant is one script, run atomically by Redis:
//!
//! ```lua
//! if redis.call('SET', lock, token, 'NX', 'PX', lease) then   -- free? take it
//!   local fence = redis.call('INCR', counter)                 -- the fencing token
//!   redis.call('PEXPIRE', counter, COUNTER_TTL)
//!   return fence
//! end
//! return -redis.call('PTTL', lock)                            -- held: for how long
//! ```
//!
//! The release deletes the key only while it still holds the buyer's
//! token — a plain `DEL` after the lease expired would delete the *next*
//! holder's lock — and then pushes one element on a wake-up list.
//!
//! Waiting: Redis keeps no queue of waiters for a key. A buyer that finds
//! the lock taken blocks in `BLPOP` on the wake-up list for at most what
//! is left of the holder's lease: a release wakes one waiter (Redis
//! serves a blocked client as soon as the push is done; the list is
//! trimmed to one element, so releases with nobody waiting leave at most
//! one stale wake-up), and a lease that expires (its holder paused or
//! dead) ends the wait by a timeout the client keeps itself
//! ([`Connection::wait`]). The woken buyer asks again; it may
//! lose to a buyer that asked meanwhile, and waits again. (Asking again
//! every 20 µs to 1 ms instead, as SQLite's busy handler does, made 150
//! buyers send about 150,000 requests a second: Redis, on one core,
//! became the bottleneck and the holders waited for it — 2.2–2.8 s for 150
//! buyers, against about 0.4 s for a `flock`.)
//!
//! Who releases a dead buyer's lease: nobody. Redis does not know the
//! buyer died; the key expires when its lease is up, and the others wait
//! until then.
//!
//! The connection is made in the buyer after the fork (a socket shared
//! by two processes would mix their replies); the client is the `redis`
//! crate's synchronous one, which starts no thread.

use std::io;
use std::net::ToSocketAddrs;
use std::time::Duration;

use redis::Script;

use super::Server;

/// How long the fencing counter and the wake-up list live after their
/// last use, should the run never delete them (a `booking` killed with
/// `SIGKILL`).
pub const COUNTER_TTL: Duration = Duration::from_secs(3600);

/// How long a waiter waits past the holder's lease before it asks again
/// (Redis expires a key within a millisecond of its time).
const WAKE_SLACK: Duration = Duration::from_millis(1);

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const GRANT: &str = "
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return fence
end
return -redis.call('PTTL', KEYS[1])";

const RELEASE: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('RPUSH', KEYS[2], 1)
  redis.call('LTRIM', KEYS[2], 0, 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0";

fn to_io(e: redis::RedisError) -> io::Error {
    io::Error::other(e.to_string())
}

/// A lease granted to one buyer.
#[derive(Debug)]
pub struct Grant {
    /// The value of the lock key while this grant holds it.
    pub token: String,
    /// The fencing token: greater than every earlier grant's.
    pub fence: i64,
}

/// One buyer's connection to the lock server.
pub struct Connection {
    conn: redis::Connection,
    server: Server,
    grant: Script,
    release: Script,
    grants: u64,
}

/// Whether a Redis server answers at `url`: a `PING`, which it answers at
/// once (`+PONG`, or `-NOAUTH` when it wants a password: an answer all the
/// same). A refusal that is not about the password (`-DENIED`, protected
/// mode) is the error, with Redis's own reason.
///
/// # Errors
/// One clear line when the server does not answer within
/// [`crate::store::PROBE_WITHIN`] or refuses;
/// [`crate::error::Error::Interrupted`] on a stop signal.
pub fn probe(url: &str) -> crate::error::Result<()> {
    use crate::sys::probe::{Endpoint, answer};
    let shown = crate::model::secret::redact(url);
    let rest = url.trim_start_matches("redis://");
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.trim_matches(['[', ']']), p.parse().unwrap_or(6379))
        }
        _ => (hostport.trim_matches(['[', ']']), 6379),
    };
    let Some(addr) = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return Err(crate::error::Error::Input(format!(
            "--lock-server {shown}: {host} does not resolve"
        )));
    };
    let at = Endpoint::Tcp(addr);
    match answer(&at, b"PING\r\n", crate::store::PROBE_WITHIN) {
        Ok(line) if line.starts_with('-') && !line.starts_with("-NOAUTH") => {
            Err(crate::error::Error::Failed(format!(
                "--lock-server {shown}: the server at {at} refused: {}",
                line.trim_start_matches('-')
            )))
        }
        Ok(_) => Ok(()),
        Err(silence) => Err(crate::store::silence(
            "--lock-server",
            url,
            &at,
            silence,
            "a Redis server",
        )),
    }
}

fn connect(server: &Server) -> io::Result<redis::Connection> {
    redis::Client::open(server.url.as_str())
        .and_then(|c| c.get_connection_with_timeout(CONNECT_TIMEOUT))
        .map_err(to_io)
}

impl Connection {
    /// Connects to `server`.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn open(server: &Server) -> io::Result<Self> {
        Ok(Connection {
            conn: connect(server)?,
            server: server.clone(),
            grant: Script::new(GRANT),
            release: Script::new(RELEASE),
            grants: 0,
        })
    }

    /// Waits until the lock is free and takes it for one lease, for
    /// `buyer`: asks, and while it is held, waits for a release or for the
    /// holder's lease to run out (see the module doc).
    ///
    /// # Errors
    /// When the server fails.
    pub fn acquire(&mut self, buyer: u32) -> io::Result<Grant> {
        self.grants += 1;
        let token = format!("buyer {buyer}, grant {}", self.grants);
        let lease_ms = self.server.lease.as_millis().max(1) as u64;
        loop {
            let answer: i64 = self
                .grant
                .key(self.server.lock_key())
                .key(self.server.fence_key())
                .arg(&token)
                .arg(lease_ms)
                .arg(COUNTER_TTL.as_millis() as u64)
                .invoke(&mut self.conn)
                .map_err(to_io)?;
            if answer > 0 {
                return Ok(Grant {
                    token,
                    fence: answer,
                });
            }
            // -answer: the holder's lease left, in ms (below 1: the lock
            // was released meanwhile, or has no expiry: ask again).
            if answer <= -1 {
                self.wait(Duration::from_millis(answer.unsigned_abs()) + WAKE_SLACK)?;
            }
        }
    }

    /// Blocks until a release wakes this buyer or `left` has passed. The
    /// server checks `BLPOP` timeouts only `hz` times a second (10 by
    /// default: a 10 ms timeout returned after 90–110 ms here), so the
    /// client does not rely on it: its own read times out after `left`,
    /// and it reconnects (the server forgets the abandoned wait when the
    /// connection closes; a wake-up it was given meanwhile is lost, which
    /// costs another waiter at most its own timeout).
    fn wait(&mut self, left: Duration) -> io::Result<()> {
        self.conn
            .set_read_timeout(Some(left + WAKE_SLACK))
            .map_err(to_io)?;
        let woken: redis::RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
            .arg(self.server.wake_key())
            // In seconds; 0 would block for ever.
            .arg(format!("{:.3}", left.as_secs_f64().max(0.001)))
            .query(&mut self.conn);
        match woken {
            Ok(_) => self.conn.set_read_timeout(None).map_err(to_io),
            Err(e) if e.is_timeout() => {
                self.conn = connect(&self.server)?;
                Ok(())
            }
            Err(e) => Err(to_io(e)),
        }
    }

    /// Releases `grant`. Returns whether it still held the lock: `false`
    /// when its lease had expired (and the key is then left alone).
    ///
    /// # Errors
    /// When the server fails.
    pub fn release(&mut self, grant: &Grant) -> io::Result<bool> {
        let deleted: i64 = self
            .release
            .key(self.server.lock_key())
            .key(self.server.wake_key())
            .arg(&grant.token)
            .arg(COUNTER_TTL.as_millis() as u64)
            .invoke(&mut self.conn)
            .map_err(to_io)?;
        Ok(deleted == 1)
    }
}

/// The token that holds the lock now, if any (for the watchdog's report).
///
/// # Errors
/// When the server cannot be reached.
pub fn holder(server: &Server) -> io::Result<Option<String>> {
    let mut c = connect(server)?;
    redis::cmd("GET")
        .arg(server.lock_key())
        .query(&mut c)
        .map_err(to_io)
}

/// Deletes the run's keys (before the run: checks that the server
/// answers; after it: leaves nothing behind).
///
/// # Errors
/// When the server cannot be reached.
pub fn forget(server: &Server) -> io::Result<()> {
    let mut c = connect(server)?;
    redis::cmd("DEL")
        .arg(server.lock_key())
        .arg(server.fence_key())
        .arg(server.wake_key())
        .query::<i64>(&mut c)
        .map(drop)
        .map_err(to_io)
}
