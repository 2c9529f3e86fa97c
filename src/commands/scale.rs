//! `booking bench --scale`: the price of a lock at scale. For each buyer
//! count and each safe strategy, the time per buyer of a whole run beside
//! a **kernel-only** benchmark of the same lock — N processes released by
//! one barrier, each opens the lock, locks, unlocks and exits; no stock,
//! no records, no collector — so a reader sees which part of the growth
//! is the kernel's and which is `booking`'s. And the wakeups per buyer:
//! how often a waiter slept on its way to the lock.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::measure::{cores, measured, med, safe_run, say};
use crate::cli::BenchArgs;
use crate::error::{Error, Result};
use crate::lock::{self, Setup, Strategy};
use crate::model::stock::{self, Stock};
use crate::sys;
use crate::sys::{Children, Ending, Role, SingleThreaded, SpawnError};

/// The counts measured when none are given.
const COUNTS: [u32; 4] = [150, 1_000, 10_000, 100_000];

/// From this many buyers on, at most 3 runs per figure: one run of 10,000
/// takes seconds.
const BIG: u32 = 10_000;

/// Prints the scale table.
///
/// # Errors
/// A strategy named with `--lock` without its server, a measurement
/// that fails, or an interrupt.
pub fn scale(args: &BenchArgs, dir: &Path) -> Result<i32> {
    let counts = if args.buyers.is_empty() {
        COUNTS.to_vec()
    } else {
        args.buyers.clone()
    };
    // A safe strategy whose server was not given is left out, with a line
    // that names it and the flag it needs; naming one with --lock is refused.
    let safe = if args.lock.is_empty() {
        super::available(true, &args.servers)
    } else {
        super::chosen_with_servers(&args.lock, &args.servers)?
    };
    say(
        "\nthe price of a lock at scale: µs per buyer (medians), --delay 0, 100 tickets\n  \
         run: a whole booking run, and its part after the start barrier (the race and the \
         reaping)\n  kernel: the same lock alone, forked the same way: N processes open it, \
         wait at one barrier, lock, hold it as long as the run's buyers did (busy), unlock, \
         exit\n  race ratio: run after the barrier / \
         kernel after the barrier · wakeups: sleeps per buyer on the way to the lock",
    )?;
    for n in counts {
        if let Some(why) = cannot_start(n) {
            say(&format!("\n{n} buyers: skipped ({why})"))?;
            continue;
        }
        let repeat = if n >= BIG {
            args.repeat.min(3)
        } else {
            args.repeat
        } as usize;
        say(&format!(
            "\n{n} buyers ({repeat} runs each)\n  {:<14}{:>9}{:>9}{:>9}{:>9}{:>8}{:>9}",
            "lock", "run", "race", "kernel", "race", "ratio", "wakeups"
        ))?;
        for &s in &safe {
            let mut cfg = measured(s, n);
            args.servers.apply(&mut cfg);
            let mut runs = Vec::new();
            let mut races = Vec::new();
            let mut kernel = Vec::new();
            let mut kernel_races = Vec::new();
            let mut wakeups = Vec::new();
            let mut failure = None;
            let mut hold = Duration::ZERO;
            for _ in 0..repeat {
                match safe_run(&cfg) {
                    Ok(out) => {
                        runs.push(out.wall.as_secs_f64());
                        races.push((out.wall.saturating_sub(out.spawn)).as_secs_f64());
                        wakeups.extend(crate::report::wakeups_per_buyer(&out.outcomes));
                        hold = mean_hold(&out.outcomes);
                    }
                    // A finding, not the end of the bench: say it, go on.
                    Err(Error::Failed(why)) => failure = Some(why),
                    Err(e) => return Err(e),
                }
                // A database's lock, or a lease from a lock server, is not
                // one kernel call: no kernel-only benchmark of it.
                if s.store == lock::Store::File && !s.lock_server {
                    let (total, race) = kernel_only(s, n, dir, hold)?;
                    kernel.push(total.as_secs_f64());
                    kernel_races.push(race.as_secs_f64());
                }
            }
            let per = |v: &[f64]| med(v) * 1e6 / f64::from(n);
            if let Some(why) = failure {
                say(&format!(
                    "  {:<14}{:>9}{:>9}{:>9.1}{:>9.1}   {why}",
                    s.name,
                    "-",
                    "-",
                    per(&kernel),
                    per(&kernel_races)
                ))?;
                continue;
            }
            if kernel.is_empty() {
                say(&format!(
                    "  {:<14}{:>9.1}{:>9.1}{:>9}{:>9}{:>8}{:>9.2}",
                    s.name,
                    per(&runs),
                    per(&races),
                    "-",
                    "-",
                    "-",
                    med(&wakeups)
                ))?;
                continue;
            }
            say(&format!(
                "  {:<14}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>7.1}×{:>9.2}",
                s.name,
                per(&runs),
                per(&races),
                per(&kernel),
                per(&kernel_races),
                med(&races) / med(&kernel_races).max(1e-9),
                med(&wakeups)
            ))?;
        }
    }
    Ok(0)
}

/// The mean time a buyer of a run held the lock.
fn mean_hold(outcomes: &[Option<crate::model::outcome::Outcome>]) -> Duration {
    let holds: Vec<u64> = outcomes
        .iter()
        .flatten()
        .filter(|o| o.is_clean() && o.acquired_ns > 0)
        .map(|o| o.hold_us)
        .collect();
    let n = holds.len().max(1) as u64;
    Duration::from_micros(holds.iter().sum::<u64>() / n)
}

/// Why this machine cannot start `n` buyers at once, if it cannot: the
/// kernel's `pid_max` (every buyer needs a pid while all wait at the
/// barrier), or `ulimit -u`.
fn cannot_start(n: u32) -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    let running = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count() as u64
        })
        .unwrap_or(0);
    if let Some(max) = read("/proc/sys/kernel/pid_max")
        && u64::from(n) + running + 64 > max
    {
        return Some(format!(
            "/proc/sys/kernel/pid_max is {max} and {running} processes exist"
        ));
    }
    crate::engine::workspace::check_process_limit(n)
        .err()
        .map(|e| e.to_string())
}

/// The kernel-only benchmark of `strategy`'s lock: `n` processes (forked
/// as a run forks its buyers) open the lock, wait at one barrier, then
/// lock, hold it for `hold` (busy, as a purchase is: the run's mean hold),
/// unlock and exit. Returns the time from the first fork to the last reap,
/// and from the barrier to the last reap.
fn kernel_only(
    strategy: &'static Strategy,
    n: u32,
    dir: &Path,
    hold: Duration,
) -> Result<(Duration, Duration)> {
    let stock = dir.join("kernel-only.json");
    stock::save(&stock, &Stock::new(0), 0o600)
        .map_err(|e| Error::failed("the kernel-only stock", e))?;
    let setup = Setup {
        stock,
        repair: false,
        leases: crate::engine::workspace::run_dir_base(),
        database: None,
        lease: None,
    };
    let shared = (strategy.prepare)(&setup)?;
    let proof = SingleThreaded::check().map_err(Error::Failed)?;
    let (barrier_r, barrier_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let mut barrier_w = Some(barrier_w);
    let mut children = Children::new(proof).map_err(|e| Error::failed("SIGCHLD", e))?;
    let spawners = cores().min(n as usize / 64).max(1);
    let started = Instant::now();
    let spawned = children.spawn_all(
        n as usize,
        spawners,
        || sys::stop_signal().is_some(),
        |role| {
            drop(barrier_w.take());
            if role == Role::Spawner || sys::default_stop_signals().is_err() {
                return 0;
            }
            let Ok(mut l) = shared.open() else {
                return 1;
            };
            let mut byte = [0u8; 1];
            loop {
                match nix::unistd::read(&barrier_r, &mut byte) {
                    Ok(1) => break,
                    Err(Errno::EINTR) => continue,
                    _ => return 1,
                }
            }
            let Ok(guard) = lock::acquire(&mut *l) else {
                return 1;
            };
            let held = Instant::now();
            while held.elapsed() < hold {
                std::hint::spin_loop();
            }
            match guard.release() {
                Ok(()) => 0,
                Err(_) => 1,
            }
        },
    );
    if let Err(e) = spawned {
        return Err(match e {
            SpawnError::Stopped { .. } => Error::Failed("interrupted".into()),
            SpawnError::Refused { error, .. } => Error::failed("fork", error),
        });
    }
    let w = barrier_w.take().expect("the parent keeps it");
    let go = vec![1u8; n as usize];
    let opened = Instant::now();
    let mut done = 0;
    while done < go.len() {
        match nix::unistd::write(&w, &go[done..]) {
            Ok(k) => done += k,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::failed("the barrier", e)),
        }
    }
    for i in 0..children.len() {
        let ended = children.reap(i).map_err(|e| Error::failed("waitpid", e))?;
        if ended != Ending::Exited(0) {
            return Err(Error::Failed(format!(
                "a process of the kernel-only benchmark of {} {ended}",
                strategy.name
            )));
        }
    }
    Ok((started.elapsed(), opened.elapsed()))
}
