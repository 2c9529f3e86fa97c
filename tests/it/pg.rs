//! The PostgreSQL strategies against a real server: a throwaway cluster
//! ([`Cluster`]) for each test. Where PostgreSQL is not installed, the
//! tests that need it are ignored, and say why (under CI they fail).

use std::time::{Duration, Instant};

use crate::support::pg::{Cluster, Pooler};
use crate::support::{
    Live, Run, Work, assert_consistent, u, wait_for_children, wait_for_wchan, wait_until_gone,
};

/// The PostgreSQL strategies that claim to be safe.
const SAFE_PG: [&str; 5] = [
    "pg-atomic",
    "pg-for-update",
    "pg-optimistic",
    "pg-serializable",
    "pg-advisory",
];

/// Every safe PostgreSQL strategy sells exactly the stock under a race,
/// with every buyer reporting; the run's schema is gone afterwards.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn the_safe_pg_strategies_sell_exactly_the_stock() {
    let pg = Cluster::start();
    let work = Work::new();
    for lock in SAFE_PG {
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
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn pg_none_loses_updates_when_the_race_is_certain() {
    let pg = Cluster::start();
    let work = Work::new();
    assert!(
        crate::support::race::loses_updates_in_a_certain_race(
            &work,
            "pg-none",
            &["--store", &pg.url]
        ),
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
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn serializable_without_a_retry_fails_buyers_but_sells_no_ticket_twice() {
    let pg = Cluster::start();
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
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_killed_runs_schema_is_swept_by_the_next_run() {
    let pg = Cluster::start();
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
        wait_for_children(c.id(), 3, Duration::from_secs(20)).expect("no buyers started")
    };
    let mut doomed = start("20s");
    let buyers = started(&doomed);
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    // The killed run's buyers share its session (they inherited its
    // socket) and die with it (PR_SET_PDEATHSIG), but not at once; the
    // server then ends the session and frees its alive lock. Only then is
    // the run dead to the next one's sweep.
    if let Err(running) = wait_until_gone(&buyers, Duration::from_secs(10)) {
        panic!("the killed run's buyers outlived it: {running:?}");
    }
    if let Err(held) = pg.wait_until_no_advisory_lock(Duration::from_secs(10)) {
        panic!("{held} advisory locks still held 10 s after the killed run's buyers died");
    }
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
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn three_hosts_share_one_run_and_one_verdict() {
    let pg = Cluster::start();
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
    wait_for_children(doomed.id(), 10, Duration::from_secs(20))
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

/// A password in `--store` is never printed — not in a run's summary, its
/// JSON, its re-run line, nor an error — and the re-run line, which shows
/// it as `***`, runs as printed once `PGPASSWORD` holds it (and says so
/// when it does not). The throwaway cluster trusts its user, so any
/// password connects.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_password_is_never_printed() {
    let pg = Cluster::start();
    let work = Work::new();
    let secret = "hunter2-in-the-url";
    let url = pg.url.replace("booking@", &format!("booking:{secret}@"));
    let args = |store: &str, json: bool| {
        let mut a = vec![
            "--buyers".to_string(),
            "3".into(),
            "--tickets".into(),
            "2".into(),
            "--lock".into(),
            "pg-atomic".into(),
            "--store".into(),
            store.to_string(),
        ];
        if json {
            a.push("--json".into());
        }
        a
    };
    let run = |a: &[String], password: Option<&str>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut cmd = work.command(&a);
        match password {
            Some(p) => cmd.env("PGPASSWORD", p),
            None => cmd.env_remove("PGPASSWORD"),
        };
        Run::of(cmd, &a)
    };
    let silent = |r: &Run| {
        assert!(
            !r.stdout().contains(secret) && !r.stderr().contains(secret),
            "the password was printed{}",
            r.context()
        );
    };
    for json in [false, true] {
        let r = run(&args(&url, json), None);
        r.expect_code(0);
        silent(&r);
        assert!(r.stdout().contains("booking:***@"), "{}", r.context());
    }
    // An error names the server, not the password.
    let refused = format!("postgres://booking:{secret}@127.0.0.1:1/postgres");
    let r = run(&args(&refused, false), None);
    assert_ne!(r.code(), Some(0), "{}", r.context());
    silent(&r);
    // The printed form runs with PGPASSWORD, and is refused without.
    let hidden = url.replace(secret, "***");
    run(&args(&hidden, false), Some(secret)).expect_code(0);
    let r = run(&args(&hidden, false), None);
    r.expect_code(2);
    assert!(r.stderr().contains("PGPASSWORD"), "{}", r.context());
    work.assert_clean();
}

/// A shared run's barrier: a host that waits says who has joined, and
/// leaves the run when stopped there (its name no longer counts); once all
/// the hosts have joined, a late one is refused instead of joining a run
/// that has started.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_shared_runs_barrier_reports_refuses_late_hosts_and_lets_a_stopped_host_leave() {
    let pg = Cluster::start();
    let work = Work::new();
    let args = |name: &str, run: &str| -> Vec<String> {
        [
            "--buyers",
            "3",
            "--tickets",
            "4",
            "--lock",
            "pg-atomic",
            "--store",
            &pg.url,
            "--run",
            run,
            "--hosts",
            "2",
            "--host-name",
            name,
            "--delay",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let joined = |run: &str| -> i64 {
        let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
        c.query_one(
            &format!("SELECT count(*) FROM booking_run_{run}.hosts"),
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(0)
    };
    // One host waits alone, says so, and leaves when stopped.
    let a = args("alone", "stop");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let live = Live::spawn(work.command(&a), &a);
    let deadline = Instant::now() + Duration::from_secs(20);
    while joined("stop") < 1 {
        assert!(Instant::now() < deadline, "the host never joined");
        std::thread::sleep(Duration::from_millis(20));
    }
    // In the barrier's loop (it says who has joined before its first
    // 10 ms sleep between looks), then stopped.
    assert!(
        wait_for_wchan(live.pid(), "nanosleep", Duration::from_secs(20)),
        "the host never waited at the barrier"
    );
    live.signal(nix::sys::signal::Signal::SIGINT);
    let (run, _) = live.finish_within(Duration::from_secs(10));
    assert_ne!(run.code(), Some(0), "{}", run.context());
    assert!(
        run.stderr()
            .contains("run stop: 1 of 2 hosts joined (alone)"),
        "{}",
        run.context()
    );
    assert_eq!(joined("stop"), 0, "a stopped host stays registered");
    // Two hosts run; a third is refused.
    let (h1, h2) = (args("h1", "full"), args("h2", "full"));
    let spawn = |a: &[String]| {
        work.command(&a.iter().map(String::as_str).collect::<Vec<_>>())
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (spawn(&h1), spawn(&h2));
    for c in [c1, c2] {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let late = args("late", "full");
    let late: Vec<&str> = late.iter().map(String::as_str).collect();
    let run = work.booking(&late);
    assert_ne!(run.code(), Some(0), "{}", run.context());
    assert!(
        run.stderr().contains("a late host cannot join"),
        "{}",
        run.context()
    );
    assert_eq!(joined("full"), 2);
    // The run recorded its strategy: a host with another is refused,
    // naming both.
    let mut other = args("other", "full");
    other[5] = "pg-for-update".into();
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    let run = work.booking(&other);
    assert_ne!(run.code(), Some(0), "{}", run.context());
    assert!(
        run.stderr()
            .contains("started with --lock pg-atomic, and this host has --lock pg-for-update"),
        "{}",
        run.context()
    );
    assert_eq!(joined("full"), 2);
    work.booking(&["--buyers", "1", "--delay", "0"])
        .expect_code(0);
    work.assert_clean();
}

/// `verdict`'s report `v` accounts for every sale the server committed:
/// between the sales reported and those plus the buyers cut off or
/// killed; never UNSAFE.
fn accounts_for_every_committed_sale(v: &serde_json::Value, committed: u64) {
    let (sold, cut) = (
        u(v, "sold"),
        u(v, "failed") + u(v, "hung") + u(v, "indeterminate"),
    );
    assert!(
        sold <= committed && committed <= sold + cut,
        "sold {sold}, cut off {cut}, committed {committed}: {v}"
    );
    assert_ne!(v["status"], "unsafe", "{v}");
}

/// One host of shared run `run` on `pg`: 12 buyers of `pg-atomic`, 30
/// tickets, delays long enough that a stop of the server falls mid-run.
fn one_host_run(pg: &Cluster, work: &Work, run: &str) -> std::process::Command {
    work.command(&[
        "--buyers",
        "12",
        "--tickets",
        "30",
        "--lock",
        "pg-atomic",
        "--store",
        &pg.url,
        "--run",
        run,
        "--hosts",
        "1",
        "--host-name",
        "h",
        "--delay",
        "200ms..400ms",
        "--arrival",
        "0..2s",
        "--json",
    ])
}

/// A server stopped mid-run (`pg_ctl stop -m fast`) and started again
/// loses no record: the host's buyers are cut off, its final read and its
/// report find the server down, and the host keeps trying until the server
/// is back, so it finishes, and `verdict` accounts for every committed
/// sale — between the sales reported and those plus the buyers cut off.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_server_down_at_the_end_of_a_run_loses_no_record() {
    let pg = Cluster::start();
    let work = Work::new();
    let host = one_host_run(&pg, &work, "rs").spawn().unwrap();
    let sales = || pg.sales("rs");
    pg.wait_for_a_sale("rs");
    pg.stop();
    // Every buyer gone (cut off, or failing to connect), and the host
    // asleep between two tries of its final read: the server is down there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !crate::support::children_of(host.id()).is_empty() {
        assert!(Instant::now() < deadline, "the buyers outlived the server");
        std::thread::yield_now();
    }
    assert!(
        wait_for_wchan(host.id(), "nanosleep", Duration::from_secs(20)),
        "the host never waited to try again"
    );
    pg.start_again();
    let out = host.wait_with_output().unwrap();
    let host_err = String::from_utf8_lossy(&out.stderr).into_owned();
    let run = work.booking(&["verdict", "--store", &pg.url, "--run", "rs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}{}\nhost: {host_err}", run.context()));
    assert_eq!(v["hosts"][0]["finished"], true, "{v}\nhost: {host_err}");
    accounts_for_every_committed_sale(&v, sales() as u64);
    work.assert_clean();
}

/// `pg_ctl restart -m fast` in the middle of a run of three hosts: buyers
/// are cut off (some between their commit and its answer), the hosts keep
/// trying their final read and report until the server is back, and
/// `verdict` matches every committed sale to its buyer: each one reported,
/// or named as committed but unreported with why; none reported and not
/// committed. Then the ledger is tampered with: a sale deleted from the
/// database, or one added that a buyer never made, makes the run UNSAFE.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_restart_in_a_three_host_run_loses_no_committed_sale() {
    let pg = Cluster::start();
    let work = Work::new();
    // h1's 4 buyers come first and are killed after their commits; h2's
    // and h3's come from 2 s on, and the restart cuts them off.
    let host = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--tickets",
            "30",
            "--lock",
            "pg-for-update",
            "--store",
            &pg.url,
            "--run",
            "rr",
            "--hosts",
            "3",
            "--host-name",
            name,
            "--delay",
            "100ms..200ms",
            "--json",
        ];
        args.extend_from_slice(extra);
        work.command(&args).spawn().unwrap()
    };
    let hosts = [
        host(
            "h1",
            &["--buyers", "4", "--kill", "4", "--kill-at", "commit"],
        ),
        host("h2", &["--buyers", "12", "--arrival", "2s..5s"]),
        host("h3", &["--buyers", "12", "--arrival", "2s..5s"]),
    ];
    pg.wait_for_sales("rr", 6);
    pg.stop();
    pg.start_again();
    for h in hosts {
        let out = h.wait_with_output().unwrap();
        assert!(
            !out.stdout.is_empty(),
            "a host reported nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let verdict = || {
        let run = work.booking(&["verdict", "--store", &pg.url, "--run", "rr", "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}{}", run.context()));
        v
    };
    let v = verdict();
    let committed = pg.sales("rr") as u64;
    for h in 0..3 {
        assert_eq!(v["hosts"][h]["finished"], true, "{v}");
    }
    assert!(u(&v, "failed") > 0, "the restart cut no buyer off: {v}");
    accounts_for_every_committed_sale(&v, committed);
    let l = &v["ledger"];
    let unreported = l["committed_unreported"].as_array().unwrap();
    assert_eq!(u(l, "committed"), committed, "{v}");
    assert_eq!(u(l, "reported"), u(&v, "sold"), "{v}");
    assert_eq!(u(l, "reported") + unreported.len() as u64, committed, "{v}");
    assert_eq!(l["reported_uncommitted"], serde_json::json!([]), "{v}");
    let killed = unreported
        .iter()
        .filter(|w| {
            let w = w.as_str().unwrap();
            w.starts_with("h1 buyer ") && w.ends_with(": killed before it reported")
        })
        .count();
    assert_eq!(killed, 4, "h1's victims, each named: {v}");
    assert!(
        unreported.iter().all(|w| {
            let w = w.as_str().unwrap();
            w.contains(": it failed: ") || w.ends_with(": killed before it reported")
        }),
        "a committed sale went unreported, its buyer neither killed nor failed: {v}"
    );
    // Row lock and sale in one transaction: the count agrees with the rows.
    assert_eq!(30 - u(&v, "remaining"), committed, "{v}");

    // A reported sale (none the ledger names as unreported) deleted.
    let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let rows = c
        .query("SELECT host, buyer, ticket FROM booking_run_rr.sales", &[])
        .unwrap();
    let (host, buyer, ticket): (String, i32, i64) = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .find(|(h, b, t): &(String, i32, i64)| {
            let named = format!("{h} buyer {b}, ticket {t}:");
            !unreported
                .iter()
                .any(|w| w.as_str().unwrap().starts_with(&named))
        })
        .expect("a reported sale");
    c.execute(
        "DELETE FROM booking_run_rr.sales WHERE host = $1 AND buyer = $2 AND ticket = $3",
        &[&host, &buyer, &ticket],
    )
    .unwrap();
    let v = verdict();
    assert_eq!(v["status"], "unsafe", "{v}");
    let summary = v["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 sale reported but never committed")
            && summary.contains(&format!("{host} buyer {buyer}, ticket {ticket}")),
        "{v}"
    );
    // Put back, and a sale added that no buyer of the run made.
    let add = "INSERT INTO booking_run_rr.sales (host, buyer, ticket) VALUES ($1, $2, $3)";
    c.execute(add, &[&host, &buyer, &ticket]).unwrap();
    assert_ne!(verdict()["status"], "unsafe");
    c.execute(add, &[&"h9", &0i32, &1i64]).unwrap();
    let v = verdict();
    assert_eq!(v["status"], "unsafe", "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("first: h9 buyer 0, ticket 1: no such host in the run"),
        "{v}"
    );
    work.assert_clean();
}

/// A statement of the run's own that the server never finishes — here a
/// host's join, which waits for a lock another session holds for good —
/// ends with the server's "statement timeout" after `--timeout` (at least
/// 5 s), in one line: the host does not wait for ever.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_statement_that_never_ends_gives_up_after_the_timeout() {
    let pg = Cluster::start();
    let work = Work::new();
    let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    // The lock a host takes to join run `stuck`, held by this session.
    c.execute(
        "SELECT pg_advisory_lock(hashtext('booking run booking_run_stuck'))",
        &[],
    )
    .unwrap();
    let started = Instant::now();
    let run = work.booking(&[
        "--buyers",
        "2",
        "--lock",
        "pg-atomic",
        "--store",
        &pg.url,
        "--run",
        "stuck",
        "--hosts",
        "1",
        "--host-name",
        "h",
        "--timeout",
        "1s",
    ]);
    let took = started.elapsed();
    run.expect_code(1);
    let err = run.stderr();
    assert_eq!(err.trim_end().lines().count(), 1, "{}", run.context());
    assert!(
        err.contains("joining run stuck") && err.contains("statement timeout"),
        "{}",
        run.context()
    );
    // `--timeout`, but at least the floor of 5 s, and the start.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    drop(c);
    work.assert_clean();
}

/// A server that goes down at the end of a run and stays down longer than
/// the host keeps trying (15 s) costs no record: the host keeps them on
/// its own disk and says where, `verdict` without them counts the host as
/// not finished (FAILED, never SAFE), and `verdict --records FILE`
/// accounts for every committed sale. A file of another run is refused.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
#[cfg_attr(
    not(no_postgres),
    ignore = "waits out the host's 15 s of tries (`make slow-tests` and CI run it)"
)]
fn a_server_that_stays_down_leaves_the_records_on_the_hosts_disk() {
    let pg = Cluster::start();
    let work = Work::new();
    let dir = work.path("");
    let host = one_host_run(&pg, &work, "rk")
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let sales = || pg.sales("rk");
    pg.wait_for_a_sale("rk");
    pg.stop();
    let out = host.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = dir.join("booking-run-rk-h.json");
    assert!(kept.exists(), "no records kept: {said}");
    assert!(said.contains("booking-run-rk-h.json"), "{said}");
    pg.start_again();
    let without = work.booking(&["verdict", "--store", &pg.url, "--run", "rk", "--json"]);
    let v = without.expect_code(1).report();
    assert_eq!(v["hosts"][0]["finished"], false, "{v}");
    assert_eq!(v["status"], "failed", "{v}");
    let kept_arg = kept.to_str().unwrap();
    let with = work.booking(&[
        "verdict",
        "--store",
        &pg.url,
        "--run",
        "rk",
        "--records",
        kept_arg,
        "--json",
    ]);
    // Exit 1: the buyers the stop cut off failed, as in any run.
    let v = with.expect_code(1).report();
    assert_eq!(v["hosts"][0]["finished"], true, "{v}\nhost: {said}");
    assert_eq!(v["hosts"][0]["kept_in"], kept_arg, "{v}");
    accounts_for_every_committed_sale(&v, sales() as u64);
    // Another run's records are refused, in one line naming the file.
    let other = work.path("other.json");
    std::fs::write(
        &other,
        std::fs::read_to_string(&kept)
            .unwrap()
            .replace("\"rk\"", "\"rj\""),
    )
    .unwrap();
    let refused = work.booking(&[
        "verdict",
        "--store",
        &pg.url,
        "--run",
        "rk",
        "--records",
        other.to_str().unwrap(),
    ]);
    refused.expect_code(2);
    assert!(
        refused
            .stderr()
            .contains("other.json: the records of run rj, not rk"),
        "{}",
        refused.context()
    );
    work.assert_clean();
}

/// `booking runs` lists the shared runs kept on a server (name, strategy,
/// tickets left, hosts) and `--drop NAME` removes one, after which it is
/// gone from the list and from the server; dropping it again is refused.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn runs_lists_the_shared_runs_and_drops_one() {
    let pg = Cluster::start();
    let work = Work::new();
    for (run, lock) in [("first", "pg-atomic"), ("second", "pg-for-update")] {
        work.booking(&[
            "--buyers",
            "3",
            "--tickets",
            "5",
            "--lock",
            lock,
            "--store",
            &pg.url,
            "--run",
            run,
            "--hosts",
            "1",
            "--delay",
            "0",
        ])
        .expect_code(0);
    }
    let list = |work: &Work| {
        let r = work.booking(&["runs", "--store", &pg.url, "--json"]);
        r.expect_code(0);
        r.json()["runs"].as_array().unwrap().clone()
    };
    let runs = list(&work);
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first", "second"], "{runs:?}");
    assert_eq!(runs[1]["strategy"], "pg-for-update");
    assert_eq!((u(&runs[0], "tickets"), u(&runs[0], "remaining")), (5, 2));
    assert_eq!((u(&runs[0], "joined"), u(&runs[0], "finished")), (1, 1));
    let text = work.booking(&["runs", "--store", &pg.url]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("2 shared runs"),
        "{}",
        text.context()
    );
    assert!(
        text.stdout().lines().all(|l| l.chars().count() <= 100),
        "{}",
        text.context()
    );
    work.booking(&["runs", "--store", &pg.url, "--drop", "first"])
        .expect_code(0);
    let runs = list(&work);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["name"], "second");
    assert_eq!(
        schemas(&pg, "booking_run_first"),
        0,
        "the schema is still there"
    );
    let again = work.booking(&["runs", "--store", &pg.url, "--drop", "first"]);
    again.expect_code(2);
    assert!(
        again.stderr().contains("no such run"),
        "{}",
        again.context()
    );
    work.assert_clean();
}

/// A run the server cannot hold (one connection per buyer, past
/// `max_connections`, 300 on the test cluster) is refused before it
/// starts, in one line that says what to raise and to how much; nothing
/// is made on the server.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "PostgreSQL is not installed (no initdb found): install it, then touch build.rs"
)]
fn a_run_past_max_connections_is_refused_with_the_number_to_raise() {
    let pg = Cluster::start();
    let work = Work::new();
    let err = refused_for_room(&work, &pg, 1000);
    assert!(err.contains("takes 300 connections"), "{err}");
    assert!(
        err.contains("raise max_connections to at least 10"),
        "{err}"
    );
    assert_eq!(schemas(&pg, "booking%"), 0, "a refused run made a schema");
    // What fits runs.
    work.booking(&[
        "--buyers",
        "50",
        "--lock",
        "pg-atomic",
        "--store",
        &pg.url,
        "--delay",
        "0",
    ])
    .expect_code(0);
    work.assert_clean();
}

/// A server that takes 25 connections, and a PgBouncer in front of it
/// lending 12: three hosts of 60 buyers each (180 buyers, seven times what
/// the server takes) of every safe PostgreSQL strategy sell exactly the
/// stock through the pooler, and the same host without it is refused
/// before the start, with the number to raise and the pooler named.
#[test]
#[cfg_attr(
    no_pgbouncer,
    ignore = "PgBouncer is not installed (no pgbouncer found): install it, then touch build.rs"
)]
fn a_pooler_carries_more_buyers_than_the_server_takes() {
    let pg = Cluster::start_with(25);
    let pooler = Pooler::start(&pg, 12);
    // PgBouncer trusts its user, so any password connects: this one must
    // never be printed.
    let pooler_url = pooler.url.replace("booking@", "booking:sesame@");
    let work = Work::new();
    for lock in SAFE_PG {
        let run = format!("pooled_{}", lock.replace('-', "_"));
        let hosts: Vec<_> = ["h1", "h2", "h3"]
            .iter()
            .map(|name| {
                work.command(&[
                    "--buyers",
                    "60",
                    "--tickets",
                    "20",
                    "--lock",
                    lock,
                    "--store",
                    &pg.url,
                    "--pooler",
                    &pooler_url,
                    "--run",
                    &run,
                    "--hosts",
                    "3",
                    "--host-name",
                    name,
                    "--delay",
                    "0..2ms",
                    "--json",
                ])
                .spawn()
                .unwrap()
            })
            .collect();
        for h in hosts {
            let out = h.wait_with_output().unwrap();
            let r: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|_| panic!("{lock}: {}", String::from_utf8_lossy(&out.stderr)));
            assert_eq!(r["status"], "safe", "{lock}: {r}");
            assert!(
                r["rerun"]
                    .as_str()
                    .unwrap()
                    .contains("--pooler 'postgres://booking:***@"),
                "{r}"
            );
            for text in [&out.stdout, &out.stderr] {
                assert!(!String::from_utf8_lossy(text).contains("sesame"), "{r}");
            }
        }
        let v = work
            .booking(&["verdict", "--store", &pg.url, "--run", &run, "--json"])
            .json();
        assert_eq!(
            (u(&v, "sold"), u(&v, "remaining"), v["status"].as_str()),
            (20, 0, Some("safe")),
            "{lock}: {v}"
        );
    }
    // Without the pooler, the server has no room for 60 buyers.
    let err = refused_for_room(&work, &pg, 60);
    assert!(err.contains("takes 25 connections"), "{err}");
    assert!(err.contains("--pooler"), "{err}");
    work.assert_clean();
}

/// The one line of a run of `buyers` of `pg-atomic` on `pg` without a
/// pooler, refused (exit 2) for want of connections.
fn refused_for_room(work: &Work, pg: &Cluster, buyers: u32) -> String {
    let n = buyers.to_string();
    let run = work.booking(&[
        "--buyers",
        &n,
        "--lock",
        "pg-atomic",
        "--store",
        &pg.url,
        "--delay",
        "0",
    ]);
    run.expect_code(2);
    let err = run.stderr();
    assert_eq!(err.trim_end().lines().count(), 1, "{}", run.context());
    err
}

/// How many schemas on `pg` have a name `LIKE` the pattern.
fn schemas(pg: &Cluster, like: &str) -> i64 {
    let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    c.query_one(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1",
        &[&like],
    )
    .unwrap()
    .get(0)
}
