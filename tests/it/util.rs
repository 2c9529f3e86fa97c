//! The work-directory helper and the consistency checks shared by tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A private directory for one test: stock files, and the run directory
/// (`XDG_RUNTIME_DIR` points into it, so a test can see what a run left).
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        Work {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory fresh runs make their private directory in.
    pub fn runtime_dir(&self) -> PathBuf {
        let p = self.path("runtime");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes a stock file and returns its path.
    pub fn stock(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `booking args...` with the run directory inside this work dir,
    /// stdout and stderr captured, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_booking"));
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs `booking args...` with the run directory inside this work dir.
    pub fn booking(&self, args: &[&str]) -> Run {
        Run::of(self.command(args), args)
    }

    /// Runs `booking args...` in this work dir, with `input` on stdin.
    pub fn booking_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        let mut cmd = self.command(args);
        cmd.current_dir(self.dir.path());
        Run::with_input(cmd, args, input)
    }

    /// Fails if a run left anything in the run-directory parent.
    pub fn assert_clean(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "a run left behind: {left:?}");
    }

    /// Names left in the run-directory parent after runs.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// A finished command, with everything a failing test should print.
pub struct Run {
    pub line: String,
    pub pid: u32,
    pub out: Output,
}

impl Run {
    /// Runs `cmd` (stdout and stderr piped, stdin empty) to the end.
    pub fn of(cmd: Command, args: &[&str]) -> Self {
        Run::with_input(cmd, args, b"")
    }

    /// Runs `cmd` to the end with `input` on its stdin.
    pub fn with_input(mut cmd: Command, args: &[&str], input: &[u8]) -> Self {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("booking starts");
        // A command that does not read its input may have exited already.
        let _ = child.stdin.take().expect("stdin is piped").write_all(input);
        let pid = child.id();
        let out = child.wait_with_output().expect("booking ends");
        Run {
            line: format!("booking {}", args.join(" ")),
            pid,
            out,
        }
    }

    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// The command, its exit status and its output, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "\n$ {}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.line,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit code{}",
            self.context()
        );
        self
    }

    /// The `--json` report of a successful run.
    pub fn json(&self) -> Value {
        self.expect_code(0);
        serde_json::from_slice(&self.out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}{}", self.context()))
    }
}

/// `field` of every buyer that reported, in id order.
pub fn column(report: &Value, field: &str) -> Vec<u64> {
    report["buyers_detail"]
        .as_array()
        .expect("buyers_detail")
        .iter()
        .filter(|b| !b.is_null())
        .map(|b| u(b, field))
        .collect()
}

pub fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("field {field} is not a whole number in {v}"))
}

/// Recomputes the verdict from the outcome records and the stock file's
/// final count, and checks that the report's numbers are exactly those. The
/// report never gets to make a number up.
pub fn assert_consistent(report: &Value, final_count: u64, parent_pid: u32) {
    let ctx = || serde_json::to_string_pretty(report).unwrap();
    let tickets = u(report, "tickets");
    let buyers = u(report, "buyers");
    let detail = report["buyers_detail"].as_array().expect("buyers_detail");
    assert_eq!(
        detail.len() as u64,
        buyers,
        "one record per buyer\n{}",
        ctx()
    );
    let strategy = booking::lock::find(report["strategy"].as_str().unwrap()).expect("a strategy");
    let mut sold = 0u64;
    let mut turned_away = 0u64;
    let mut indeterminate = 0u64;
    let mut failed = 0u64;
    let mut hung = 0u64;
    let mut per_ticket: HashMap<u64, u64> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    let mut workers: HashMap<u64, u64> = HashMap::new();
    for (i, b) in detail.iter().enumerate() {
        if b.is_null() {
            indeterminate += 1;
            continue;
        }
        if b["hung"] == true {
            hung += 1;
            continue;
        }
        if b.get("error").is_some() {
            failed += 1;
            continue;
        }
        assert_eq!(u(b, "id"), i as u64, "records are in id order");
        let pid = u(b, "pid");
        assert_ne!(
            pid,
            u64::from(parent_pid),
            "a buyer ran in the parent process"
        );
        // One process per buyer, or a pool worker per `id mod K`.
        match report["pool"].as_u64() {
            None => assert!(pids.insert(pid), "pid {pid} appears twice"),
            Some(k) => {
                let worker = workers.entry(i as u64 % k).or_insert(pid);
                assert_eq!(
                    *worker,
                    pid,
                    "buyer {i} was not served by worker {}",
                    i as u64 % k
                );
            }
        }
        assert!(u(b, "released_ns") >= u(b, "acquired_ns"));
        if b["got_ticket"].as_bool().unwrap() {
            sold += 1;
            let t = u(b, "ticket");
            assert!(
                (1..=tickets).contains(&t),
                "ticket {t} out of 1..={tickets}"
            );
            *per_ticket.entry(t).or_default() += 1;
            if strategy.protects == booking::lock::Protects::Purchase {
                assert!(
                    u(b, "hold_us") >= u(b, "delay_us"),
                    "a seller held the lock less than its delay"
                );
            }
        } else {
            turned_away += 1;
            assert!(b["ticket"].is_null());
        }
    }
    let in_file = tickets as i64 - final_count as i64;
    let expect = [
        ("sold", sold),
        ("remaining", final_count),
        ("oversold", sold.saturating_sub(tickets)),
        (
            "double_booked",
            per_ticket.values().filter(|&&n| n > 1).count() as u64,
        ),
        ("lost_updates", (sold as i64 - in_file).max(0) as u64),
        ("indeterminate", indeterminate),
        ("turned_away", turned_away),
        ("failed", failed),
        ("hung", hung),
        (
            "unaccounted",
            (in_file - (sold + failed + hung + indeterminate) as i64).max(0) as u64,
        ),
    ];
    for (field, want) in expect {
        assert_eq!(
            u(report, field),
            want,
            "{field} disagrees with the records\n{}",
            ctx()
        );
    }
    // Overlapping critical sections, pair by pair.
    let sections: Vec<(u64, u64)> = detail
        .iter()
        .filter(|b| !b.is_null() && b.get("error").is_none() && b["hung"] != true)
        .map(|b| (u(b, "acquired_ns"), u(b, "released_ns")))
        .collect();
    let overlapping = sections
        .iter()
        .enumerate()
        .filter(|&(i, &(s, e))| {
            sections
                .iter()
                .enumerate()
                .any(|(j, &(s2, e2))| i != j && s < e2 && s2 < e && s < e && s2 < e2)
        })
        .count() as u64;
    assert_eq!(
        u(report, "overlapping"),
        overlapping,
        "overlapping\n{}",
        ctx()
    );
    let most = per_ticket.values().copied().max();
    assert_eq!(
        report["most_sold_ticket"]["buyers"].as_u64(),
        most,
        "most_sold_ticket\n{}",
        ctx()
    );
    // Anomalies: oversold, double-booked, lost updates, unaccounted,
    // overlaps, buyers turned away while tickets remained.
    let early = if final_count > 0 { turned_away } else { 0 };
    assert_eq!(
        u(report, "turned_away_early"),
        early,
        "turned_away_early\n{}",
        ctx()
    );
    let anomaly =
        expect[2..5].iter().any(|(_, n)| *n > 0) || expect[9].1 > 0 || overlapping > 0 || early > 0;
    let status = if anomaly {
        "unsafe"
    } else if failed + hung + u(report, "rejected") > 0 {
        "failed"
    } else {
        "safe"
    };
    assert_eq!(report["status"], status, "status disagrees\n{}", ctx());
    assert_eq!(
        report["safe"].as_bool(),
        Some(status == "safe"),
        "safe disagrees\n{}",
        ctx()
    );
}

/// The `count` of a stock file.
pub fn count_of(path: &Path) -> u64 {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the stock file is valid JSON after the run");
    u(&v, "count")
}

/// Names of the strategies the binary lists that need no server, with
/// whether each claims to be safe (read from the registry).
pub fn strategies() -> Vec<(String, bool)> {
    serverless().map(|s| (s.name.to_string(), s.safe)).collect()
}

/// The listed strategies that need no server: what `check` and `compare`
/// run by default without `--store` and `--lock-server` (the pg-* and
/// redis-* ones are tested against throwaway servers, in `pg.rs`,
/// `redis.rs` and the property harness).
pub fn serverless() -> impl Iterator<Item = &'static booking::lock::Strategy> {
    booking::lock::listed().filter(|s| s.store != booking::lock::Store::Postgres && !s.lock_server)
}

/// Says, past the test harness's capture (straight to standard error, so
/// it shows in the log), that `test` was skipped and why; returns `None`
/// for the caller to return. A test that needs a missing server never
/// passes silently.
pub fn skipped<T>(test: &str, why: &str) -> Option<T> {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "test {test}: SKIPPED: {why}");
    None
}

/// The children of process `pid` now.
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Waits until process `pid` has at least `n` children (its buyers), for
/// at most `within`: their pids, or how many it had when time ran out.
pub fn wait_for_children(
    pid: u32,
    n: usize,
    within: std::time::Duration,
) -> Result<Vec<u32>, usize> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let pids = children_of(pid);
        if pids.len() >= n {
            return Ok(pids);
        }
        if std::time::Instant::now() > deadline {
            return Err(pids.len());
        }
        std::thread::yield_now();
    }
}
