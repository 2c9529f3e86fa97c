//! What `/proc` says about processes: a process's children, whether one
//! still runs, where one sleeps in the kernel, which children are stopped.
//! Every wait is bounded by a deadline: a hang fails the test instead of
//! hanging the suite.

use std::time::{Duration, Instant};

/// How often a deadline loop looks again. Polling, not synchronisation:
/// looking a little late is harmless.
pub const POLL: Duration = Duration::from_millis(2);

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
pub fn wait_for_children(pid: u32, n: usize, within: Duration) -> Result<Vec<u32>, usize> {
    let deadline = Instant::now() + within;
    loop {
        let pids = children_of(pid);
        if pids.len() >= n {
            return Ok(pids);
        }
        if Instant::now() > deadline {
            return Err(pids.len());
        }
        std::thread::yield_now();
    }
}

/// Whether process `pid` is running (a zombie is not: it has closed its
/// files and holds nothing but its exit status).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Waits until none of `pids` is running, for at most `within`: `Err` with
/// those still running when time ran out. Buyers die with their parent
/// (`PR_SET_PDEATHSIG`), but not at the same instant: a test that kills
/// `booking` waits here before it looks at what the run left.
pub fn wait_until_gone(pids: &[u32], within: Duration) -> Result<(), Vec<u32>> {
    let deadline = Instant::now() + within;
    loop {
        let running: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if running.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(running);
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until process `pid` sleeps in a kernel function whose name
/// contains `wchan` (`/proc/PID/wchan`), for at most `within`. Returns
/// whether it did.
pub fn wait_for_wchan(pid: u32, wchan: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let path = format!("/proc/{pid}/wchan");
    while Instant::now() < deadline {
        if std::fs::read_to_string(&path).is_ok_and(|w| w.contains(wchan)) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    false
}

/// How many children of `parent` are stopped (state `T` in `/proc`).
pub fn stopped_children(parent: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces; split after ')'.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let mut f = rest.split_whitespace();
            let state = f.next();
            let ppid = f.next().and_then(|p| p.parse::<u32>().ok());
            state == Some("T") && ppid == Some(parent)
        })
        .count()
}
