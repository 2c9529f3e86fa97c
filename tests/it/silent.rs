//! A server that accepts connections and never answers — a wrong port that
//! reaches another service, a stopped server whose kernel still queues
//! connections — given as `--store` or as `--lock-server`: the run ends
//! with one clear line in a few seconds (the parent probes the server
//! before trusting it), and Ctrl-C ends the wait at once. The password in
//! the URL appears nowhere.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::{Live, Work};

/// A listener that never accepts: the kernel completes connections into
/// its backlog, and nothing ever reads or writes.
fn silent() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn server_args(port: u16) -> [(&'static str, [String; 4]); 2] {
    [
        (
            "a PostgreSQL server",
            [
                "--lock".into(),
                "pg-atomic".into(),
                "--store".into(),
                format!("postgres://booking:sesame@127.0.0.1:{port}/postgres"),
            ],
        ),
        (
            "a Redis server",
            [
                "--lock".into(),
                "redis-fenced".into(),
                "--lock-server".into(),
                format!("redis://:sesame@127.0.0.1:{port}"),
            ],
        ),
    ]
}

#[test]
fn a_silent_server_is_one_clear_line_within_seconds() {
    let work = Work::new();
    let (_listener, port) = silent();
    for (what, server) in server_args(port) {
        let mut args = vec!["--buyers", "3"];
        args.extend(server.iter().map(String::as_str));
        let started = Instant::now();
        let run = work.booking(&args);
        let took = started.elapsed();
        run.expect_code(1);
        let err = run.stderr();
        assert!(
            err.contains(&format!("no answer from 127.0.0.1:{port}"))
                && err.contains(&format!("is it {what}?")),
            "{}",
            run.context()
        );
        assert_eq!(err.trim().lines().count(), 1, "{}", run.context());
        assert!(!err.contains("sesame") && !run.stdout().contains("sesame"));
        // The probe's 5 s, and the start of a process.
        assert!(took < Duration::from_secs(9), "took {took:?}");
    }
    work.assert_clean();
}

#[test]
fn ctrl_c_while_a_silent_server_is_probed_ends_the_run_at_once() {
    let work = Work::new();
    let (listener, port) = silent();
    for (_, server) in server_args(port) {
        let mut args = vec!["--buyers", "3"];
        args.extend(server.iter().map(String::as_str));
        let live = Live::spawn(work.command(&args), &args);
        // Connected: booking now waits for the answer.
        let (_conn, _) = listener.accept().expect("booking connects");
        live.interrupt_within_a_second("to answer");
    }
    work.assert_clean();
}
