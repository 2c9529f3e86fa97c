//! The PostgreSQL store as a run's workspace sees it: a schema of the
//! run's own, or a shared run's, behind the [`Backend`] every store
//! implements. Built with the `postgres` feature.
//!
//! Who removes what: a schema made for the run is dropped when its
//! backend is; a `booking` killed with `SIGKILL` cannot drop it, but the
//! session that marks it alive (an advisory lock named after it) dies with
//! its connection, and the next run's [`super::postgres::create`] sweeps
//! every schema whose lock is free. A shared run's schema
//! (`--run NAME`) stays, for `booking verdict`.

use std::io;
use std::time::Duration;

use super::{Backend, Database, postgres};
use crate::error::{Error, Result};
use crate::model::secret::redact;

/// A run's PostgreSQL schema, and the session that marks it alive (see
/// [`postgres::create`]); `None` for a shared run's, which stays.
struct PgSchema(postgres::Place, Option<::postgres::Client>);

impl Backend for PgSchema {
    fn database(&self) -> Database {
        Database::Postgres(Box::new(self.0.clone()))
    }

    fn count(&self) -> std::result::Result<u64, String> {
        again("reading the count", || postgres::count(&self.0))
            .map_err(|e| format!("the PostgreSQL stock: {e}"))
    }

    fn is_shared(&self) -> bool {
        // A run of its own holds the session that marks its schema alive.
        self.1.is_none()
    }

    fn report(&self, host: &str, records: &[Option<String>]) -> io::Result<()> {
        again("writing this host's records", || {
            postgres::report(&self.0, host, records)
        })
    }
}

/// How long the end of a run keeps trying a server that fails it: a
/// restart (`pg_ctl restart -m fast`) takes a few seconds, and a host's
/// records are worth waiting for — without them `verdict` cannot count its
/// sales.
pub const AGAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// `f`, tried again after a failure — every 100 ms, doubling to 2 s — for
/// up to [`AGAIN_WITHIN`], or until a stop signal; the last error names
/// `what` and how often it was tried.
fn again<T>(what: &str, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(_)
                if started.elapsed() + pause < AGAIN_WITHIN
                    && crate::sys::stop_signal().is_none() =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
                tries += 1;
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{what}: {e} (tried {tries} times over {} s)",
                        started.elapsed().as_secs()
                    ),
                ));
            }
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Only the parent drops it (buyers end with `_exit`).
        if let Some(alive) = self.1.take() {
            let _ = postgres::drop_schema(&self.0, alive);
        }
    }
}

/// A host's part in a shared run (`--run NAME --hosts N`).
pub struct Joining<'a> {
    /// This host's buyers.
    pub buyers: u32,
    /// The run's name.
    pub name: &'a str,
    /// How many hosts the run waits for.
    pub hosts: u32,
    /// This host's name.
    pub host: &'a str,
    /// This host's strategy: every host of a run must use the one the run
    /// was started with.
    pub strategy: &'a str,
    /// How long to wait for the others at the start barrier.
    pub wait: Duration,
}

/// The servers of a run's PostgreSQL store, and how long it waits for
/// them.
pub struct Servers<'a> {
    /// `--store`: the server.
    pub url: &'a str,
    /// `--pooler`: a connection pooler in front of it, for the buyers.
    pub pooler: Option<&'a str>,
    /// `--timeout`: how long any connection may take to be made, and any
    /// statement of the run's own to run (at least [`STATEMENT_FLOOR`]).
    pub timeout: Duration,
    /// The connections the buyers hold at once: one per buyer, or one per
    /// worker of a pool (`--pool K`).
    pub connections: u32,
    /// The flag that asked for them (`--buyers N`, `--pool K`), for the
    /// refusal.
    pub asked: String,
}

/// The shortest `statement_timeout` of the run's own sessions, whatever
/// `--timeout` says: joining a shared run waits for the hosts joining
/// before it, and a `--timeout` of a few milliseconds (the watchdog's)
/// must not fail a join.
pub const STATEMENT_FLOOR: Duration = Duration::from_secs(5);

/// The stock in a schema on the PostgreSQL server at `url`: a schema of
/// the run's own, seeded with `*tickets`; or, for a host of a shared run,
/// the run's schema, joined (the first host makes it with its `*tickets`,
/// which every host then gets back) after waiting for the other hosts.
///
/// Connecting, the buyers' and the run's own, gives up after `timeout`
/// (`--timeout`: the TCP connection; the client has no limit of its own on
/// the startup that follows). Every statement of the run's own (making the
/// schema, joining and waiting at a shared run's barrier, the final count,
/// the report) is cancelled by the server after `timeout`, at least
/// [`STATEMENT_FLOOR`] (`statement_timeout`, a startup option of its
/// direct connections): a statement the server never finishes — waiting
/// on a lock someone holds for good — costs an error, retried where the
/// end of a run retries (see [`again`]), never a host that waits for ever.
/// A server that stops answering altogether (stopped with `SIGSTOP`, cut
/// off) cancels nothing: that wait is bounded only by TCP, and by Ctrl-C.
/// The buyers' statements have no limit: waiting for the lock is what they
/// do, and the watchdog judges it.
///
/// With a `pooler` (`--pooler`, PgBouncer in transaction mode in front of
/// the same server), the buyers connect through it and the run itself
/// (its schema, its shared run's barrier and records) straight to the
/// server: a buyer then costs the server no connection of its own, the
/// pooler queues buyers for its few, and the check of `max_connections`
/// counts only the run's own.
///
/// # Errors
/// [`Error::Input`] for a URL that does not parse or resolve;
/// [`Error::Failed`] when the server refuses.
pub fn postgres_at(
    servers: &Servers<'_>,
    shared: Option<Joining<'_>>,
    tickets: &mut u64,
) -> Result<Box<dyn Backend>> {
    let Servers {
        url,
        pooler,
        timeout,
        connections,
        ref asked,
    } = *servers;
    let mut config = postgres::config(url).map_err(|e| Error::Input(format!("--store {e}")))?;
    postgres::probe(&config, "--store", url)?;
    config.connect_timeout(timeout);
    let mut buyers_config = match pooler {
        Some(p) => {
            let c = postgres::config(p).map_err(|e| Error::Input(format!("--pooler {e}")))?;
            postgres::probe(&c, "--pooler", p)?;
            c
        }
        None => config.clone(),
    };
    buyers_config.connect_timeout(timeout);
    // After the buyers' copy: a pooler refuses startup options. Added to
    // the URL's own options (a hosted server may need some).
    let ms = timeout
        .max(STATEMENT_FLOOR)
        .as_millis()
        .min(i32::MAX as u128);
    let options = match config.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} -c statement_timeout={ms}"),
        _ => format!("-c statement_timeout={ms}"),
    };
    config.options(&options);
    // Refused before anything is made: a run the server cannot hold would
    // fail buyer after buyer with the server's "too many clients".
    let direct = if pooler.is_some() { 0 } else { connections };
    postgres::room_for(&config, url, direct).map_err(|e| Error::Input(format!("{asked}: {e}")))?;
    let Some(run) = shared else {
        let place = postgres::Place {
            config,
            buyers: buyers_config,
            host: String::new(),
            patience: timeout / 2,
            schema: format!(
                "booking_{}_{}",
                nix::unistd::getpid(),
                crate::lock::hooks::now_ns()
            ),
        };
        let alive = postgres::create(&place, *tickets).map_err(|e| {
            Error::failed(format_args!("the PostgreSQL stock at {}", redact(url)), e)
        })?;
        return Ok(Box::new(PgSchema(place, Some(alive))));
    };
    let place = postgres::Place {
        config,
        buyers: buyers_config,
        schema: postgres::run_schema(run.name),
        host: run.host.to_string(),
        patience: timeout / 2,
    };
    let me = postgres::Joiner {
        host: run.host,
        strategy: run.strategy,
        buyers: run.buyers,
    };
    *tickets = postgres::join(&place, *tickets, run.hosts, &me).map_err(|e| {
        Error::failed(
            format_args!("joining run {} at {}", run.name, redact(url)),
            e,
        )
    })?;
    postgres::wait_for_hosts(&place, run.host, run.wait)
        .map_err(|e| Error::failed(format_args!("run {}", run.name), e))?;
    Ok(Box::new(PgSchema(place, None)))
}
