//! The PostgreSQL store: the stock and the sales in a schema of their own,
//! `booking_<pid>_<n>`, made by the parent for the run and dropped at its
//! end, on a server the user names (`--store postgres://...`).
//!
//! ```sql
//! CREATE TABLE stock (id INTEGER PRIMARY KEY CHECK (id = 1), count BIGINT NOT NULL,
//!                     version BIGINT NOT NULL DEFAULT 0);
//! CREATE TABLE sales (buyer INTEGER NOT NULL, ticket BIGINT NOT NULL);
//! ```
//!
//! **Each buyer connects after the fork**; a connection never crosses a
//! `fork`. The parent stays single-threaded: the sync client runs its
//! protocol on a current-thread runtime, and a host name is resolved here,
//! with the C library, before connecting (the client would resolve it on a
//! thread of its own).
//!
//! Who releases a dead buyer's locks: the server, which sees the
//! connection close, rolls its transaction back and releases its row and
//! advisory locks. No repair of ours.

use std::io::{self, Write as _};
use std::net::ToSocketAddrs;

use postgres::types::Type;
use postgres::{Client, Config, GenericClient, NoTls, Transaction};

use crate::lock::api::{Lock, Order, Setup, Shared, Sold};

fn to_io(e: postgres::Error) -> io::Error {
    io::Error::other(super::chain(&e))
}

/// Where a run's stock lives on a server: the connection settings (host
/// names resolved) and the run's schema (plain data of the strategy API).
pub use crate::lock::api::PgPlace as Place;

/// The settings of `url`, each host name resolved to an address here (so
/// that connecting starts no thread).
///
/// # Errors
/// A URL that does not parse, or a host that does not resolve.
pub fn config(url: &str) -> Result<Config, String> {
    let shown = crate::model::secret::redact(url);
    let mut config: Config = url.parse().map_err(|e| format!("{shown}: {e}"))?;
    if config.get_hostaddrs().is_empty() {
        let ports = config.get_ports().to_vec();
        let port = ports.first().copied().unwrap_or(5432);
        let mut addrs = Vec::new();
        for host in config.get_hosts() {
            if let postgres::config::Host::Tcp(name) = host {
                let ip = (name.as_str(), port)
                    .to_socket_addrs()
                    .map_err(|e| format!("{shown}: resolving {name}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("{shown}: {name} has no address"))?
                    .ip();
                addrs.push(ip);
            }
        }
        if addrs.len() == config.get_hosts().len() {
            for ip in addrs {
                config.hostaddr(ip);
            }
        }
    }
    Ok(config)
}

/// Whether a PostgreSQL server (or a pooler that speaks its protocol)
/// answers at `config`'s first host that does: an `SSLRequest`, which
/// either answers with one byte (`N` or `S`) at once. `url` is the value of
/// `flag` (`--store`, `--pooler`), for the message (its password hidden).
///
/// # Errors
/// One clear line when no host answers within
/// [`crate::store::PROBE_WITHIN`];
/// [`crate::error::Error::Interrupted`] on a stop signal.
pub fn probe(config: &Config, flag: &str, url: &str) -> crate::error::Result<()> {
    use crate::sys::probe::Endpoint;
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let ports = config.get_ports();
    let mut last = None;
    for (i, host) in config.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let at = match host {
            postgres::config::Host::Unix(dir) => {
                Endpoint::Unix(dir.join(format!(".s.PGSQL.{port}")))
            }
            postgres::config::Host::Tcp(name) => match config.get_hostaddrs().get(i) {
                Some(ip) => Endpoint::Tcp((*ip, port).into()),
                None => match (name.as_str(), port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                {
                    Some(addr) => Endpoint::Tcp(addr),
                    None => continue,
                },
            },
        };
        match crate::sys::probe::answer(&at, &SSL_REQUEST, crate::store::PROBE_WITHIN) {
            Ok(_) => return Ok(()),
            Err(silence) => last = Some((at, silence)),
        }
    }
    match last {
        None => Ok(()),
        Some((at, silence)) => Err(crate::store::silence(
            flag,
            url,
            &at,
            silence,
            "a PostgreSQL server",
        )),
    }
}

/// A connection to `place` for the run itself, straight to the server.
///
/// # Errors
/// When the server cannot be reached.
pub fn connect(place: &Place) -> io::Result<Client> {
    place.config.connect(NoTls).map_err(to_io)
}

/// A run's tables, named with their schema, and the host that buys in
/// them: what a buyer's statements name.
#[derive(Clone, Debug)]
pub struct Tables {
    /// `<schema>.stock`.
    pub stock: String,
    /// `<schema>.sales`.
    pub sales: String,
    /// This host's name in a shared run; empty for a run of its own.
    pub host: String,
}

/// A buyer's connection (through the pooler when the run has one) and its
/// run's tables: what a PostgreSQL strategy's purchase works on.
///
/// **Nothing here lives in the session**, so that a pooler in transaction
/// mode (PgBouncer), which lends each transaction whichever server
/// connection is free, can carry it: every table is named with its schema
/// (no `SET search_path`), and every statement goes unnamed with its
/// parameters' types (`query_typed`: no prepared statement left on a
/// server connection that the next client would collide with). A lock a
/// purchase takes is the transaction's (`FOR UPDATE`,
/// `pg_advisory_xact_lock`), released at its end.
pub struct Db {
    /// The connection.
    pub client: Client,
    /// Its run's tables.
    pub tables: Tables,
    /// The longest pause between tries that the watchdog still takes for
    /// a live buyer (half of `--timeout`).
    pub patience: std::time::Duration,
}

impl Db {
    /// A transaction on the connection, at `level` (the server's default,
    /// READ COMMITTED, for `None`).
    ///
    /// # Errors
    /// The server's.
    pub fn transaction(
        &mut self,
        level: Option<postgres::IsolationLevel>,
    ) -> Result<Tx<'_>, postgres::Error> {
        let mut b = self.client.build_transaction();
        if let Some(level) = level {
            b = b.isolation_level(level);
        }
        Ok(Tx {
            tx: b.start()?,
            tables: &self.tables,
        })
    }
}

/// A transaction of a buyer's, and its run's tables.
pub struct Tx<'a> {
    /// The transaction: committed by [`Tx::commit`], rolled back when
    /// dropped.
    pub tx: Transaction<'a>,
    /// Its run's tables.
    pub tables: &'a Tables,
}

impl Tx<'_> {
    /// Commits it.
    ///
    /// # Errors
    /// The server's (a serialization failure, say).
    pub fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }
}

/// A buyer's connection to `place`: through the pooler when the run has
/// one.
///
/// # Errors
/// When the server (or the pooler) cannot be reached.
pub fn connect_buyer(place: &Place) -> io::Result<Db> {
    let s = &place.schema;
    Ok(Db {
        client: place.buyers.connect(NoTls).map_err(to_io)?,
        tables: Tables {
            stock: format!("{s}.stock"),
            sales: format!("{s}.sales"),
            host: place.host.clone(),
        },
        patience: place.patience,
    })
}

/// The class of the advisory locks that mark a run's schema as alive (the
/// two-key form; `pg-advisory` uses the one-key form, another space).
const ALIVE: i32 = 0x626b;

/// Makes the run's schema at `place` with `count` tickets, after sweeping
/// the schemas of dead runs. Returns the session that keeps the schema
/// alive: it holds the advisory lock `(ALIVE, hashtext(schema))` from
/// before the schema exists until it is closed — by [`drop_schema`], or by
/// the server when this process dies (the socket closes with the last
/// process that has it: `booking`, or a buyer it forked, which dies with
/// it). The next run's [`sweep`] drops a schema whose lock it can take.
///
/// # Errors
/// When the server refuses.
pub fn create(place: &Place, count: u64) -> io::Result<Client> {
    let mut c = place.config.connect(NoTls).map_err(to_io)?;
    sweep(&mut c)?;
    c.execute(
        "SELECT pg_advisory_lock($1, hashtext($2))",
        &[&ALIVE, &place.schema],
    )
    .map_err(to_io)?;
    let count = i64::try_from(count).map_err(io::Error::other)?;
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {s}.stock (id INTEGER PRIMARY KEY CHECK (id = 1), count BIGINT NOT NULL,
                                 version BIGINT NOT NULL DEFAULT 0);
         CREATE TABLE {s}.sales (host TEXT NOT NULL DEFAULT '', buyer INTEGER NOT NULL,
                                 ticket BIGINT NOT NULL);",
        s = place.schema
    ))
    .map_err(to_io)?;
    c.execute(
        &format!(
            "INSERT INTO {}.stock (id, count) VALUES (1, $1)",
            place.schema
        ),
        &[&count],
    )
    .map_err(to_io)?;
    Ok(c)
}

/// Drops the schemas of single-host runs whose `booking` died without
/// dropping them (killed with `SIGKILL`): those whose alive lock is free.
/// A shared run's schema (`booking_run_NAME`) is kept for `verdict`.
///
/// # Errors
/// When the server refuses.
pub fn sweep(c: &mut Client) -> io::Result<Vec<String>> {
    let names: Vec<String> = c
        .query(
            "SELECT nspname::text FROM pg_namespace
              WHERE nspname LIKE 'booking\\_%' AND nspname NOT LIKE 'booking\\_run\\_%'",
            &[],
        )
        .map_err(to_io)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut swept = Vec::new();
    for name in names {
        let free: bool = c
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&ALIVE, &name],
            )
            .map_err(to_io)?
            .get(0);
        if free {
            // Best effort: a schema that cannot be dropped now (its tables
            // locked by a session that lingers) is the next run's to sweep,
            // not a reason to refuse this one.
            let dropped = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            c.execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&ALIVE, &name],
            )
            .map_err(to_io)?;
            if dropped.is_ok() {
                swept.push(name);
            }
        }
    }
    Ok(swept)
}

/// The count at `place`.
///
/// # Errors
/// When it cannot be read, or is negative.
pub fn count(place: &Place) -> io::Result<u64> {
    let mut c = connect(place)?;
    let n: i64 = c
        .query_one(
            &format!("SELECT count FROM {}.stock WHERE id = 1", place.schema),
            &[],
        )
        .map_err(to_io)?
        .get(0);
    u64::try_from(n).map_err(|_| io::Error::other(format!("the stock count is {n}")))
}

/// Drops the run's schema (its tables with it) on `alive`, the session
/// [`create`] returned, and closes it (which releases the alive lock).
///
/// # Errors
/// When the server refuses.
pub fn drop_schema(place: &Place, mut alive: Client) -> io::Result<()> {
    alive
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", place.schema))
        .map_err(to_io)
}

/// A purchase on a connection: what a PostgreSQL strategy's file defines.
pub type Purchase = fn(&mut Db, &mut Order<'_>) -> Result<Sold, postgres::Error>;

struct Server {
    place: Place,
    purchase: Purchase,
}

/// The [`Shared`] state of a PostgreSQL strategy whose purchase is
/// `purchase`.
///
/// # Errors
/// When the run has no PostgreSQL store.
pub fn shared(setup: &Setup, purchase: Purchase) -> crate::error::Result<Box<dyn Shared>> {
    match &setup.database {
        Some(super::Database::Postgres(place)) => Ok(Box::new(Server {
            place: (**place).clone(),
            purchase,
        })),
        _ => Err(crate::error::Error::Input(
            "a PostgreSQL strategy needs a server: --store postgres://HOST:PORT/DATABASE".into(),
        )),
    }
}

impl Shared for Server {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        Ok(Box::new(super::Connection {
            conn: connect_buyer(&self.place)?,
            purchase: self.purchase,
        }))
    }
}

fn read_count(c: &mut impl GenericClient, t: &Tables, lock: &str) -> Result<i64, postgres::Error> {
    let sql = format!("SELECT count FROM {} WHERE id = 1 {lock}", t.stock);
    Ok(c.query_typed_one(&sql, &[])?.get(0))
}

fn write_count(c: &mut impl GenericClient, t: &Tables, count: i64) -> Result<(), postgres::Error> {
    let sql = format!("UPDATE {} SET count = $1 WHERE id = 1", t.stock);
    c.execute_typed(&sql, &[(&count, Type::INT8)]).map(drop)
}

fn record_sale(
    c: &mut impl GenericClient,
    t: &Tables,
    buyer: u32,
    ticket: i64,
) -> Result<(), postgres::Error> {
    let sql = format!(
        "INSERT INTO {} (host, buyer, ticket) VALUES ($1, $2, $3)",
        t.sales
    );
    let buyer = buyer as i32;
    c.execute_typed(
        &sql,
        &[
            (&t.host, Type::TEXT),
            (&buyer, Type::INT4),
            (&ticket, Type::INT8),
        ],
    )
    .map(drop)
}

/// The purchase's statements on a connection (autocommit) and in a
/// transaction: the same three calls on either.
macro_rules! statements {
    ($t:ty, $client:ident, $tables:ident) => {
        impl super::Statements for $t {
            type Error = postgres::Error;
            fn read_count(&mut self, lock: &str) -> Result<i64, postgres::Error> {
                read_count(&mut self.$client, &self.$tables, lock)
            }
            fn write_count(&mut self, count: i64) -> Result<(), postgres::Error> {
                write_count(&mut self.$client, &self.$tables, count)
            }
            fn record_sale(&mut self, buyer: u32, ticket: i64) -> Result<(), postgres::Error> {
                record_sale(&mut self.$client, &self.$tables, buyer, ticket)
            }
        }
    };
}
statements!(Db, client, tables);
statements!(Tx<'_>, tx, tables);

/// The schema of the run several hosts share under `name`.
pub fn run_schema(name: &str) -> String {
    format!("booking_run_{name}")
}

/// Why a run refused a host.
enum Refused {
    /// Every one of its hosts has joined.
    Full(i32),
    /// It was started with this strategy.
    Strategy(String),
}

/// Connections a run holds besides its buyers': the run's own session
/// (its schema's advisory lock) and one for its reads of the count.
pub const OWN_CONNECTIONS: u32 = 2;

/// Whether the server of `config` has room for `buyers` more connections
/// (one per buyer; 0 when they go through a pooler) and the run's own: PostgreSQL refuses a connection past
/// `max_connections` (less `superuser_reserved_connections`) with "sorry,
/// too many clients already". `Err` says what to raise, and to how much.
///
/// # Errors
/// The server's, as text; or the shortfall, in words.
pub fn room_for(config: &Config, url: &str, buyers: u32) -> Result<(), String> {
    let mut c = config.connect(NoTls).map_err(|e| e.to_string())?;
    let row = c
        .query_one(
            "SELECT current_setting('max_connections')::int,
                    current_setting('superuser_reserved_connections')::int,
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int",
            &[],
        )
        .map_err(|e| e.to_string())?;
    let (max, reserved, used): (i32, i32, i32) = (row.get(0), row.get(1), row.get(2));
    // This connection closes before the run starts: not counted as used.
    let free = i64::from(max) - i64::from(reserved) - i64::from(used - 1).max(0);
    let needed = i64::from(buyers) + i64::from(OWN_CONNECTIONS);
    if needed <= free {
        return Ok(());
    }
    Err(format!(
        "the PostgreSQL server at {} takes {max} connections ({reserved} kept for superusers, {} in use: {free} free), and this run needs {needed} (one per buyer, and {OWN_CONNECTIONS} of its own): raise max_connections to at least {} in postgresql.conf and restart the server, or connect the buyers through a pooler (--pooler URL of a PgBouncer; make db starts one)",
        crate::model::secret::redact(url),
        used - 1,
        needed + i64::from(reserved) + i64::from(used - 1).max(0),
    ))
}

/// A host joining a shared run.
pub struct Joiner<'a> {
    /// Its name.
    pub host: &'a str,
    /// Its strategy.
    pub strategy: &'a str,
    /// Its buyers.
    pub buyers: u32,
}

/// Joins host `me` to the shared run at `place`, creating the run on the
/// first join (its stock: `tickets`; it waits for `hosts`; its strategy:
/// `me`'s). Creation is serialised by an advisory lock, so hosts that
/// join at once make it once. Returns the run's tickets (the first host's
/// `--tickets`).
///
/// # Errors
/// The server's; a host name already in the run; a run whose hosts have
/// all joined; a run started with another strategy.
pub fn join(place: &Place, tickets: u64, hosts: u32, me: &Joiner<'_>) -> io::Result<u64> {
    let Joiner {
        host,
        strategy,
        buyers,
    } = *me;
    let mut c = place.config.connect(NoTls).map_err(to_io)?;
    let s = &place.schema;
    let tickets = i64::try_from(tickets).map_err(io::Error::other)?;
    let key = format!("booking run {s}");
    c.execute("SELECT pg_advisory_lock(hashtext($1))", &[&key])
        .map_err(to_io)?;
    let made = c.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.stock (id INTEGER PRIMARY KEY CHECK (id = 1),
             count BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 0);
         CREATE TABLE IF NOT EXISTS {s}.sales (host TEXT NOT NULL DEFAULT '',
             buyer INTEGER NOT NULL, ticket BIGINT NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}.meta (tickets BIGINT NOT NULL, hosts INTEGER NOT NULL);
         ALTER TABLE {s}.meta ADD COLUMN IF NOT EXISTS strategy TEXT NOT NULL DEFAULT '';
         CREATE TABLE IF NOT EXISTS {s}.hosts (name TEXT PRIMARY KEY, buyers INTEGER NOT NULL,
             finished BOOLEAN NOT NULL DEFAULT false);
         CREATE TABLE IF NOT EXISTS {s}.outcomes (host TEXT NOT NULL, buyer INTEGER NOT NULL,
             record TEXT NOT NULL);"
    ));
    let seeded = made.and_then(|()| {
        // A run made by an older booking has sales without their host. The
        // column is added only then: ALTER TABLE locks the table, even with
        // IF NOT EXISTS, and the run's buyers may be buying in it.
        let has_host: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_schema = $1 AND table_name = 'sales' AND column_name = 'host')",
                &[s],
            )?
            .get(0);
        if !has_host {
            c.batch_execute(&format!(
                "ALTER TABLE {s}.sales ADD COLUMN host TEXT NOT NULL DEFAULT ''"
            ))?;
        }
        c.execute(
            &format!("INSERT INTO {s}.stock (id, count) VALUES (1, $1) ON CONFLICT DO NOTHING"),
            &[&tickets],
        )?;
        c.execute(
            &format!(
                "INSERT INTO {s}.meta (tickets, hosts, strategy) SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM {s}.meta)"
            ),
            &[&tickets, &(hosts as i32), &strategy],
        )?;
        // Every host buys under the run's strategy: a host with another
        // would mix two locks in one race (a run made by an older booking
        // recorded none).
        let started: String =
            c.query_one(&format!("SELECT strategy FROM {s}.meta"), &[])?.get(0);
        if !started.is_empty() && started != strategy {
            return Ok(Err(Refused::Strategy(started)));
        }
        // A run whose hosts have all joined has started (or ended): a
        // late host would join a run it is not part of.
        let full = c.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.hosts) >= (SELECT hosts FROM {s}.meta), (SELECT hosts FROM {s}.meta)"
            ),
            &[],
        )?;
        if full.get::<_, bool>(0) {
            return Ok(Err(Refused::Full(full.get::<_, i32>(1))));
        }
        c.execute(
            &format!("INSERT INTO {s}.hosts (name, buyers) VALUES ($1, $2)"),
            &[&host, &(buyers as i32)],
        )?;
        c.query_one(&format!("SELECT tickets FROM {s}.meta"), &[])
            .map(Ok)
    });
    let _ = c.execute("SELECT pg_advisory_unlock(hashtext($1))", &[&key]);
    let row = seeded.map_err(|e| match e.code() {
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => io::Error::other(format!(
            "the host name {host} is taken in this run: give each host its own --host-name"
        )),
        _ => to_io(e),
    })?;
    let row = row.map_err(|refused| match refused {
        Refused::Full(hosts) => io::Error::other(format!(
            "all {hosts} of its hosts have joined already (it has started, or ended): a late host cannot join; start a new run with another --run name"
        )),
        Refused::Strategy(started) => io::Error::other(format!(
            "it was started with --lock {started}, and this host has --lock {strategy}: every host of a run uses the same strategy"
        )),
    })?;
    u64::try_from(row.get::<_, i64>(0)).map_err(io::Error::other)
}

/// How often a host waiting at a shared run's start barrier says who has
/// joined.
const BARRIER_NEWS: std::time::Duration = std::time::Duration::from_secs(5);

/// The start barrier of a shared run: waits (polling every 10 ms, up to
/// `timeout`) until the run's hosts have all joined, saying on standard
/// error who has, at once and then every [`BARRIER_NEWS`]. A host that gives up (the
/// timeout, or a stop signal) leaves the run: its name is removed, so it
/// does not count as joined for ever.
///
/// # Errors
/// The server's, or the hosts that did not come.
pub fn wait_for_hosts(place: &Place, host: &str, timeout: std::time::Duration) -> io::Result<()> {
    let mut c = place.config.connect(NoTls).map_err(to_io)?;
    let waited = barrier(&mut c, place, timeout);
    if waited.is_err() {
        let s = &place.schema;
        let _ = c.execute(&format!("DELETE FROM {s}.hosts WHERE name = $1"), &[&host]);
    }
    waited
}

fn barrier(c: &mut Client, place: &Place, timeout: std::time::Duration) -> io::Result<()> {
    let s = &place.schema;
    let started = std::time::Instant::now();
    // The first word at once, then every BARRIER_NEWS.
    let mut told: Option<std::time::Instant> = None;
    loop {
        let row = c
            .query_one(
                &format!("SELECT (SELECT count(*) FROM {s}.hosts), (SELECT hosts FROM {s}.meta)"),
                &[],
            )
            .map_err(to_io)?;
        let (joined, wanted): (i64, i32) = (row.get(0), row.get(1));
        if joined >= i64::from(wanted) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(io::Error::other(format!(
                "only {joined} of {wanted} hosts joined within {} s",
                timeout.as_secs()
            )));
        }
        if told.is_none_or(|t| t.elapsed() >= BARRIER_NEWS) {
            told = Some(std::time::Instant::now());
            let names: Vec<String> = c
                .query(&format!("SELECT name FROM {s}.hosts ORDER BY name"), &[])
                .map_err(to_io)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let run = s.strip_prefix("booking_run_").unwrap_or(s);
            // A closed standard error is no reason to fail the run.
            let _ = writeln!(
                io::stderr(),
                "booking: run {run}: {joined} of {wanted} hosts joined ({}); waiting up to {} s more",
                names.join(", "),
                timeout.saturating_sub(started.elapsed()).as_secs()
            );
        }
        if let Some(sig) = crate::sys::stop_signal() {
            return Err(io::Error::other(format!("stopped by {sig}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Writes host `host`'s outcome records, by buyer id (one JSON line each,
/// as the buyers sent them; `null` for a `--kill` victim), and marks the
/// host finished, in one transaction: a host that dies before has written
/// nothing and is not finished, and one that writes again (its first
/// commit's answer lost) replaces what it wrote.
///
/// # Errors
/// The server's.
pub fn report(place: &Place, host: &str, records: &[Option<String>]) -> io::Result<()> {
    let mut c = place.config.connect(NoTls).map_err(to_io)?;
    let s = &place.schema;
    let mut tx = c.transaction().map_err(to_io)?;
    // A retry after a commit whose answer was lost (a restart) must not
    // write the records twice.
    tx.execute(
        &format!("DELETE FROM {s}.outcomes WHERE host = $1"),
        &[&host],
    )
    .map_err(to_io)?;
    for (id, r) in records.iter().enumerate() {
        let text = r.clone().unwrap_or_else(|| "null".into());
        tx.execute(
            &format!("INSERT INTO {s}.outcomes (host, buyer, record) VALUES ($1, $2, $3)"),
            &[&host, &(id as i32), &text],
        )
        .map_err(to_io)?;
    }
    tx.execute(
        &format!("UPDATE {s}.hosts SET finished = true WHERE name = $1"),
        &[&host],
    )
    .map_err(to_io)?;
    tx.commit().map_err(to_io)
}

/// What the database knows of a shared run.
pub struct RunRecords {
    /// The run's tickets.
    pub tickets: u64,
    /// The hosts it waited for.
    pub hosts_wanted: u32,
    /// The count now.
    pub remaining: u64,
    /// Every host that joined: name, buyers, finished, and (finished) its
    /// records, in order.
    pub hosts: Vec<(String, u32, bool, Vec<String>)>,
    /// The rows of its `sales` table; `None` for a run made by an older
    /// booking, whose rows do not name their host (none of them does).
    pub sales: Option<Vec<crate::judge::ledger::Sale>>,
}

/// Reads a shared run back.
///
/// # Errors
/// The server's (a run that does not exist among them).
pub fn read_run(place: &Place) -> io::Result<RunRecords> {
    let mut c = place.config.connect(NoTls).map_err(to_io)?;
    let s = &place.schema;
    let meta = c
        .query_one(
            &format!("SELECT m.tickets, m.hosts, st.count FROM {s}.meta m, {s}.stock st"),
            &[],
        )
        .map_err(to_io)?;
    let mut hosts = Vec::new();
    for row in c
        .query(
            &format!("SELECT name, buyers, finished FROM {s}.hosts ORDER BY name"),
            &[],
        )
        .map_err(to_io)?
    {
        let name: String = row.get(0);
        let records = c
            .query(
                &format!("SELECT record FROM {s}.outcomes WHERE host = $1 ORDER BY buyer"),
                &[&name],
            )
            .map_err(to_io)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        hosts.push((name, row.get::<_, i32>(1) as u32, row.get(2), records));
    }
    let mut sales = Vec::new();
    for row in c
        .query(
            &format!("SELECT COALESCE(to_jsonb(x) ->> 'host', ''), buyer, ticket FROM {s}.sales x"),
            &[],
        )
        .map_err(to_io)?
    {
        sales.push(crate::judge::ledger::Sale {
            host: row.get(0),
            buyer: u32::try_from(row.get::<_, i32>(1)).map_err(io::Error::other)?,
            ticket: u64::try_from(row.get::<_, i64>(2)).map_err(io::Error::other)?,
        });
    }
    // A run made by an older booking names no host on its sales: no
    // ledger. In a run of this one, a row without a host is one no host
    // made (the ledger says so).
    let older = !sales.is_empty() && sales.iter().all(|s| s.host.is_empty());
    Ok(RunRecords {
        sales: (!older).then_some(sales),
        tickets: u64::try_from(meta.get::<_, i64>(0)).map_err(io::Error::other)?,
        hosts_wanted: meta.get::<_, i32>(1) as u32,
        remaining: u64::try_from(meta.get::<_, i64>(2)).map_err(io::Error::other)?,
        hosts,
    })
}

/// One shared run kept on a server, as `booking runs` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// Its name (`--run`).
    pub name: String,
    /// Its strategy (empty for a run made by an older booking).
    pub strategy: String,
    /// Its tickets, and those left.
    pub tickets: u64,
    pub remaining: u64,
    /// Hosts it waits for, joined, and finished.
    pub hosts: u32,
    pub joined: u32,
    pub finished: u32,
}

/// The shared runs kept on the server of `config`, by name; a schema that
/// is not a readable run (half made) is listed with zeros.
///
/// # Errors
/// The server's.
pub fn list_runs(config: &postgres::Config) -> io::Result<Vec<RunSummary>> {
    let mut c = config.connect(NoTls).map_err(to_io)?;
    let names: Vec<String> = c
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'booking\\_run\\_%' ORDER BY nspname",
            &[],
        )
        .map_err(to_io)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut runs = Vec::new();
    for s in names {
        let name = s.trim_start_matches("booking_run_").to_string();
        let row = c.query_one(
            &format!(
                "SELECT m.tickets, st.count, m.hosts,
                        (SELECT count(*) FROM {s}.hosts), (SELECT count(*) FROM {s}.hosts WHERE finished),
                        COALESCE((SELECT to_jsonb(m) ->> 'strategy'), '')
                 FROM {s}.meta m, {s}.stock st"
            ),
            &[],
        );
        let summary = match row {
            Ok(r) => RunSummary {
                name,
                strategy: r.get(5),
                tickets: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                remaining: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                hosts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                joined: u32::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                finished: u32::try_from(r.get::<_, i64>(4)).unwrap_or(0),
            },
            Err(_) => RunSummary {
                name,
                strategy: String::new(),
                tickets: 0,
                remaining: 0,
                hosts: 0,
                joined: 0,
                finished: 0,
            },
        };
        runs.push(summary);
    }
    Ok(runs)
}

/// Drops the shared run `name` (its schema and everything in it). Returns
/// whether there was one.
///
/// # Errors
/// The server's.
pub fn drop_run(config: &postgres::Config, name: &str) -> io::Result<bool> {
    let mut c = config.connect(NoTls).map_err(to_io)?;
    let s = run_schema(name);
    let there: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&s],
        )
        .map_err(to_io)?
        .get(0);
    if there {
        c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
            .map_err(to_io)?;
    }
    Ok(there)
}
