//! Buyers that die, a parent interrupted, a stuck run, planted links.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Run, Work, alive, assert_consistent, children_of, count_of, u, wait_for_children,
    wait_until_gone,
};

/// Shared-memory objects a run of process `pid` left in /dev/shm.
fn shm_left_by(pid: u32) -> Vec<String> {
    let prefix = format!("booking-{pid}-");
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Temporary files left beside a stock file.
fn temp_files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

fn killed_run(work: &Work, lock: &str, at: &str) -> (Value, Run, u64) {
    let stock = work.stock(
        &format!("{lock}-{at}.json"),
        "{\"count\": 25, \"note\": \"kept\"}",
    );
    let run = work.booking(&[
        "--buyers",
        "30",
        "--lock",
        lock,
        "--stock",
        stock.to_str().unwrap(),
        "--kill",
        "4",
        "--kill-at",
        at,
        "--delay",
        "0..1ms",
        "--seed",
        "11",
        "--json",
    ]);
    let r = run.json();
    let count = count_of(&stock);
    assert_consistent(&r, count, run.pid);
    assert!(
        temp_files_in(work.dir.path()).is_empty(),
        "temporary files left{}",
        run.context()
    );
    assert!(
        shm_left_by(run.pid).is_empty(),
        "shared memory left{}",
        run.context()
    );
    let name = format!("{lock}-{at}.json");
    let side: Vec<String> = std::fs::read_dir(work.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&name) && *n != name)
        .collect();
    assert!(
        side.is_empty(),
        "lock files left: {side:?}{}",
        run.context()
    );
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&stock).unwrap()).unwrap();
    assert_eq!(after["note"], "kept");
    (r, run, count)
}

/// Every strategy that claims to be safe (from the registry) stays safe
/// whichever point its victims die at: the kernel drops a dead holder's
/// flock; the run repairs a dead holder's semaphore or `excl` lock file.
/// The verdict's range check covers purchases that reached the file
/// unreported.
#[test]
fn safe_strategies_survive_killed_buyers_at_every_point() {
    let work = Work::new();
    let safe: Vec<&str> = crate::support::serverless()
        .filter(|s| s.safe)
        .map(|s| s.name)
        .collect();
    assert!(safe.len() >= 3, "file, sem, excl at least: {safe:?}");
    for lock in safe {
        for at in ["hold", "read", "write", "commit"] {
            let (r, run, count) = killed_run(&work, lock, at);
            let (sold, ind) = (u(&r, "sold"), u(&r, "indeterminate"));
            assert_eq!(
                r["safe"],
                true,
                "{lock} at {at}: {}{}",
                r["summary"],
                run.context()
            );
            assert!(
                (1..=4).contains(&ind),
                "{lock} at {at}: {ind} indeterminate{}",
                run.context()
            );
            let in_file = 25 - count;
            assert!(
                sold <= in_file && in_file <= sold + ind,
                "{lock} at {at}: range{}",
                run.context()
            );
            // Everyone else bought: 30 buyers, at most 4 dead, 25 tickets.
            assert_eq!(
                in_file,
                25,
                "{lock} at {at}: tickets left unsold{}",
                run.context()
            );
            match (lock, at) {
                (_, "hold" | "read") => assert_eq!(ind, 4),
                (_, "commit") => assert!(in_file > sold, "commit victims' sales reach the file"),
                _ => {}
            }
            let repair = match lock {
                "sem" => Some("died holding the semaphore; repaired"),
                "excl" => Some("died holding the lock file; removed it"),
                // Not repaired by us: recovered by the next locker.
                "robust" => Some("died holding it (EOWNERDEAD)"),
                _ => None,
            };
            if let (Some(repair), "hold") = (repair, at) {
                let events = r["events"].as_array().unwrap();
                let repaired = events
                    .iter()
                    .filter(|e| e.as_str().unwrap().ends_with(repair))
                    .count();
                if lock == "robust" {
                    // Recovered by the next locker: a victim that was the
                    // last to lock is recovered by nobody.
                    assert!(repaired >= 1, "no recovery reported{}", run.context());
                } else {
                    assert_eq!(
                        repaired,
                        4,
                        "each dead holder repaired once{}",
                        run.context()
                    );
                }
            }
        }
    }
    work.assert_clean();
}

#[test]
fn none_with_killed_buyers_still_tells_the_truth() {
    let work = Work::new();
    for at in ["hold", "write", "commit"] {
        killed_run(&work, "none", at);
    }
}

/// Starts `booking args` and waits until it has `n` children (its buyers),
/// returning the child process (the caller waits for it) and their pids.
fn start_with_buyers(work: &Work, args: &[&str], n: usize) -> (std::process::Child, Vec<u32>) {
    let mut child = work.command(args).spawn().unwrap();
    match wait_for_children(child.id(), n, Duration::from_secs(20)) {
        Ok(pids) => (child, pids),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("booking never started {n} buyers");
        }
    }
}

#[test]
fn an_interrupted_run_stops_everything_and_exits_130() {
    let work = Work::new();
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    for (sig, lock) in [(SIGINT, "file"), (SIGTERM, "sem"), (SIGINT, "none")] {
        let stock = work.stock("interrupted.json", "{\"count\": 40}");
        let args = [
            "--buyers",
            "40",
            "--lock",
            lock,
            "--stock",
            stock.to_str().unwrap(),
            "--delay",
            "100ms..200ms",
        ];
        let (child, buyers) = start_with_buyers(&work, &args, 40);
        let pid = child.id();
        let sent = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(128 + sig as i32),
            "{sig} under {lock}: {stderr}"
        );
        assert!(took < Duration::from_secs(3), "{sig} took {took:?}");
        assert!(
            stderr.contains("interrupted") && stderr.trim_end().lines().count() == 1,
            "{stderr}"
        );
        let alive: Vec<u32> = buyers.into_iter().filter(|&p| alive(p)).collect();
        assert!(alive.is_empty(), "buyers outlived the run: {alive:?}");
        assert!(shm_left_by(pid).is_empty());
        assert!(temp_files_in(work.dir.path()).is_empty());
        assert!(!work.path("interrupted.json.lock").exists());
        count_of(&stock); // still valid JSON with a count
    }
    work.assert_clean();
}

/// A dead semaphore holder left unrepaired blocks every other buyer: the
/// watchdog stops them, the report says who was stuck on what and counts
/// them as hung, and the run exits 1. Two
/// victims make it certain: the first of them to get the lock dies holding
/// it while the other still waits (one victim could be the last buyer).
#[test]
fn the_watchdog_ends_a_stuck_run() {
    let work = Work::new();
    let args = [
        "--buyers",
        "12",
        "--lock",
        "sem",
        "--kill",
        "2",
        "--no-repair",
        "--timeout",
        "1s",
        "--delay",
        "0",
        "--seed",
        "3",
        "--json",
    ];
    let (child, buyers) = start_with_buyers(&work, &args, 12);
    // While it runs: its run directory exists and is private.
    use std::os::unix::fs::PermissionsExt;
    let dirs: Vec<_> = std::fs::read_dir(work.runtime_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(dirs.len(), 1, "one run directory");
    assert!(
        dirs[0]
            .file_name()
            .to_string_lossy()
            .starts_with("booking-")
    );
    assert_eq!(
        dirs[0].metadata().unwrap().permissions().mode() & 0o777,
        0o700
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("did not complete"), "{stderr}");
    // The report is still printed, with what is known.
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report after the watchdog: {e}"));
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["safe"], false);
    let hung = u(&r, "hung");
    assert!(hung >= 1, "{r}");
    assert_eq!(
        u(&r, "sold") + u(&r, "turned_away") + hung + u(&r, "indeterminate"),
        12
    );
    let events = r["events"].to_string();
    for needle in [
        "watchdog",
        "waiting for the lock",
        // Where they are in the kernel: a semaphore's waiters sleep on
        // its futex.
        "asleep in futex",
        "semaphore value 0",
        "died holding the semaphore; not repaired",
    ] {
        assert!(events.contains(needle), "no {needle:?} in: {events}");
    }
    let alive: Vec<u32> = buyers.into_iter().filter(|&p| alive(p)).collect();
    assert!(alive.is_empty(), "stuck buyers outlived the run: {alive:?}");
    work.assert_clean();
}

#[test]
fn a_link_planted_as_the_lock_file_is_not_followed() {
    let work = Work::new();
    let victim = work.stock("victim.txt", "precious");
    let stock = work.stock("stock.json", "{\"count\": 5}");
    std::os::unix::fs::symlink(&victim, work.path("stock.json.lock")).unwrap();
    let run = work.booking(&[
        "--buyers",
        "3",
        "--lock",
        "file",
        "--stock",
        stock.to_str().unwrap(),
    ]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("stock.json.lock"),
        "{}",
        run.context()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(&stock).unwrap(), "{\"count\": 5}");
}

#[test]
fn more_buyers_than_the_process_limit_are_refused_before_starting() {
    let work = Work::new();
    let stock = work.stock("s.json", "{\"count\": 5}");
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        "ulimit -u 64 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_booking"),
    ])
    .args(["--buyers", "500", "--stock", stock.to_str().unwrap()]);
    let run = Run::of(cmd, &["--buyers 500 (ulimit -u 64)"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("--buyers 500") && run.stderr().contains("ulimit -u"),
        "{}",
        run.context()
    );
    assert_eq!(std::fs::read_to_string(&stock).unwrap(), "{\"count\": 5}");
}

/// A run killed with SIGKILL cannot remove its run directory; the next run
/// removes it — and only what a run provably made and provably abandoned:
/// the exact name shape, the marker file, and the marker's lock free. A
/// directory of the user's that looks alike, and a live run's, stay.
#[test]
fn the_next_run_sweeps_up_after_a_killed_one_and_nothing_else() {
    use fs2::FileExt;
    let work = Work::new();
    let args = ["--buyers", "3", "--lock", "file", "--delay", "20s"];
    let (mut child, buyers) = start_with_buyers(&work, &args, 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let dead: Vec<_> = work.leftovers();
    assert_eq!(dead.len(), 1, "the killed run's directory stays: {dead:?}");
    // A look-alike of the user's, exactly the shape, with no marker.
    let photos = work.runtime_dir().join("booking-2025-photos");
    std::fs::create_dir(&photos).unwrap();
    std::fs::write(photos.join("beach.jpg"), "precious").unwrap();
    let trip = work.runtime_dir().join("booking-2025-trip-photos");
    std::fs::create_dir(&trip).unwrap();
    // A live run's: marker present and locked (by this test process).
    let live = work.runtime_dir().join("booking-1-abcdef");
    std::fs::create_dir(&live).unwrap();
    let marker = std::fs::File::create(live.join(".booking-run")).unwrap();
    marker.lock_exclusive().unwrap();
    // Buyers die with their parent (PR_SET_PDEATHSIG).
    if let Err(running) = wait_until_gone(&buyers, Duration::from_secs(10)) {
        panic!("buyers outlived booking: {running:?}");
    }
    work.booking(&["--buyers", "3", "--delay", "0"])
        .expect_code(0);
    assert!(
        !work.runtime_dir().join(&dead[0]).exists(),
        "the dead run's directory is still there"
    );
    assert_eq!(
        std::fs::read_to_string(photos.join("beach.jpg")).unwrap(),
        "precious"
    );
    assert!(trip.exists() && live.exists());
    drop(marker);
    for d in [photos, trip, live] {
        std::fs::remove_dir_all(d).unwrap();
    }
    work.assert_clean();
}

/// Whether the System V semaphore set `id` exists (`/proc/sysvipc/sem`).
fn sysv_set_exists(id: u64) -> bool {
    std::fs::read_to_string("/proc/sysvipc/sem")
        .unwrap()
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
}

/// A System V set outlives the process that made it. `booking` killed with
/// SIGKILL leaves its `sysv` set and the set's lease file; the next run
/// removes both. A lease that a live run holds locked stays.
#[test]
fn the_next_run_removes_a_killed_runs_system_v_set() {
    use fs2::FileExt;
    let work = Work::new();
    let args = ["--buyers", "3", "--lock", "sysv", "--delay", "20s"];
    let (mut child, buyers) = start_with_buyers(&work, &args, 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let lease = work
        .leftovers()
        .into_iter()
        .find(|n| n.starts_with("booking-sysv-"))
        .expect("the killed run's lease file stays");
    let id: u64 = lease["booking-sysv-".len()..].parse().unwrap();
    assert!(sysv_set_exists(id), "the killed run's set {id} stays");
    // A live run's lease: locked (by this test process).
    let live = work.runtime_dir().join("booking-sysv-999999999");
    let held = std::fs::File::create(&live).unwrap();
    held.lock_exclusive().unwrap();
    if let Err(running) = wait_until_gone(&buyers, Duration::from_secs(10)) {
        panic!("buyers outlived booking: {running:?}");
    }
    work.booking(&["--buyers", "3", "--delay", "0"])
        .expect_code(0);
    assert!(!sysv_set_exists(id), "set {id} was not removed");
    assert!(
        !work.runtime_dir().join(&lease).exists(),
        "the lease file was not removed"
    );
    assert!(live.exists(), "a live run's lease was removed");
    drop(held);
    std::fs::remove_file(live).unwrap();
    work.assert_clean();
}

/// Whether process `pid` is blocked in `flock` (`/proc/PID/syscall`).
fn in_flock(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split_whitespace().next() == Some(&nix::libc::SYS_flock.to_string()))
}

/// Buyers forked by spawners are adopted by `booking` and die with it:
/// `booking` killed with SIGKILL once the race is on (one buyer holds the
/// lock for 20 s, the others wait in `flock`) leaves no buyer behind.
#[test]
fn buyers_forked_by_spawners_die_with_booking() {
    let work = Work::new();
    let args = [
        "--buyers",
        "6",
        "--lock",
        "file",
        "--delay",
        "20s",
        "--spawners",
        "3",
    ];
    let (mut child, _) = start_with_buyers(&work, &args, 6);
    let deadline = Instant::now() + Duration::from_secs(20);
    let buyers = loop {
        let pids = children_of(child.id());
        // Six children, five of them waiting for the lock: the barrier
        // is open, so every spawner is gone and every buyer adopted.
        if pids.len() == 6 && pids.iter().filter(|&&p| in_flock(p)).count() == 5 {
            break pids;
        }
        assert!(
            Instant::now() < deadline,
            "the race never started: {pids:?}"
        );
        std::thread::yield_now();
    };
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(running) = wait_until_gone(&buyers, Duration::from_secs(10)) {
        panic!("buyers outlived booking: {running:?}");
    }
    // The next run sweeps the killed run's directory.
    work.booking(&["--buyers", "1", "--delay", "0"])
        .expect_code(0);
    work.assert_clean();
}
