//! `booking bench` (`make bench`): what the safe strategies cost, against
//! baselines measured in the same invocation.
//!
//! * **serial floor**: spawning and reaping N processes the fastest way
//!   one process can (`fork`, child `_exit`s at once, parent reaps), plus
//!   the run's critical sections done one after the other in one process
//!   (load, decrement, atomic save on the same file system as a run: 100
//!   sales, N - 100 reads of zero). No run forked by one process can beat
//!   it.
//! * **parallel floor**: the same, with the N processes forked and reaped
//!   by one process per core at once: what the machine can do.
//! * **python**: the classic `multiprocessing` demo (`bench/classic_demo.py`),
//!   same N, same 100 tickets, no delay, its stock file beside ours.
//!
//! Every figure is the median of `--repeat` measurements after one warm-up.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::BenchArgs;
use crate::engine::workspace::run_dir_base;
use crate::engine::{Stepping, run};
use crate::error::{Error, Result};
use crate::judge::stats::median;
use crate::lock;
use crate::model::stock::{self, Stock};
use crate::sys::{Children, Ending, SingleThreaded};

use super::measure::{TICKETS, cores, measured, med, safe_run, say};

const PYTHON_DEMO: &str = include_str!("../../bench/classic_demo.py");

/// Runs the benchmark and prints its figures.
///
/// # Errors
/// When a measurement fails or is interrupted.
pub fn bench(args: &BenchArgs) -> Result<i32> {
    SingleThreaded::check().map_err(Error::Failed)?;
    let dir = tempfile::Builder::new()
        .prefix("booking-bench-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(run_dir_base())
        .map_err(|e| Error::failed("creating the bench directory", e))?;
    let repeat = args.repeat as usize;
    if args.scale {
        return super::scale::scale(args, dir.path());
    }
    say(&format!(
        "booking bench: {repeat} rounds after a warm-up round, each measuring everything once in turn \
(so a machine that speeds up or slows down affects all alike); medians; --delay 0, {TICKETS} tickets; files in {}",
        run_dir_base().display()
    ))?;
    let counts = if args.buyers.is_empty() {
        vec![150, 1000]
    } else {
        args.buyers.clone()
    };
    let cores = cores();
    // The pg-* strategies need a server (--store), the redis-* ones a
    // lock server (--lock-server): without it they are left out, by name.
    let safe = super::available(true, &args.servers);
    // Every safe strategy as booking runs it (spawners by default), then
    // file and sem forked by booking alone: what parallel spawning buys.
    let mut variants: Vec<(&'static lock::Strategy, Option<u32>)> =
        safe.iter().map(|&s| (s, None)).collect();
    variants.extend(
        safe.iter()
            .filter(|s| matches!(s.name, "file" | "sem"))
            .map(|&s| (s, Some(1))),
    );
    let mut verdicts = Vec::new();
    for &buyers in &counts {
        let mut probes: Vec<Probe<'_>> = vec![
            Box::new(move || spawn_and_reap(buyers)),
            Box::new(move || parallel_spawn_and_reap(buyers, cores)),
            Box::new(|| critical_sections(dir.path(), buyers)),
        ];
        for &(s, spawners) in &variants {
            let mut cfg = measured(s, buyers);
            cfg.spawners = spawners;
            args.servers.apply(&mut cfg);
            probes.push(Box::new(move || Ok(safe_run(&cfg)?.wall)));
        }
        let t = rounds(repeat, &mut probes)?;
        let (serial, parallel, crit) = (&t[0], &t[1], &t[2]);
        let floor: Vec<f64> = serial.iter().zip(crit).map(|(a, b)| a + b).collect();
        let pfloor: Vec<f64> = parallel.iter().zip(crit).map(|(a, b)| a + b).collect();
        let python = if args.no_python {
            None
        } else {
            python_demo(dir.path(), buyers, repeat)?
        };
        say(&format!("\n{buyers} buyers"))?;
        let row = |what: &str, v: &[f64]| say(&format!("  {what:<40}{:>9}", ms(med(v))));
        row(&format!("spawn + reap {buyers}, one process"), serial)?;
        row(
            &format!("spawn + reap {buyers}, {cores} processes at once"),
            parallel,
        )?;
        row(&format!("{buyers} critical sections"), crit)?;
        row("serial floor (one process + sections)", &floor)?;
        row("parallel floor (at once + sections)", &pfloor)?;
        match python {
            Some(p) => say(&format!("  {:<40}{:>9}", "python classic demo", ms(p)))?,
            None => say(&format!("  {:<40}{:>9}", "python classic demo", "skipped"))?,
        }
        for (&(s, spawners), wall) in variants.iter().zip(&t[3..]) {
            // The ratio of each round, then the median: robust to drift.
            let ratio = |base: &[f64]| {
                let r: Vec<f64> = wall.iter().zip(base).map(|(w, f)| w / f).collect();
                med(&r)
            };
            let name = match spawners {
                Some(k) => format!("booking --lock {} --spawners {k}", s.name),
                None => format!("booking --lock {}", s.name),
            };
            let mut line = format!(
                "  {name:<40}{:>9}   {:.0} purchases/s, {:.2}× serial floor, {:.2}× parallel floor",
                ms(med(wall)),
                TICKETS as f64 / med(wall).max(1e-9),
                ratio(&floor),
                ratio(&pfloor)
            );
            if let Some(p) = python {
                line += &format!(", {:.1}× faster than python", p / med(wall));
            }
            say(&line)?;
            if spawners.is_some() || !matches!(s.name, "file" | "sem") {
                continue;
            }
            if let Some(p) = python {
                let x = p / med(wall);
                verdicts.push(target(
                    format!("{} at {buyers} buyers ≥ 15× faster than python", s.name),
                    x >= 15.0,
                    format!("{x:.1}×"),
                ));
            }
            let x = ratio(&pfloor);
            verdicts.push(target(
                format!(
                    "{} at {buyers} buyers within 1.5× of the parallel floor",
                    s.name
                ),
                x <= 1.5,
                format!("{x:.2}×"),
            ));
        }
    }
    let worst_stepped = stepped(repeat)?;
    verdicts.push(target(
        "a stepped run of 40 buyers under 2 s".into(),
        worst_stepped < 2.0,
        ms(worst_stepped),
    ));
    say("\ntargets (measured in this run)")?;
    for v in verdicts {
        say(&v)?;
    }
    Ok(0)
}

/// One target's line: met or not, and the figure.
fn target(what: String, met: bool, figure: String) -> String {
    format!(
        "  {:<11}{what} ({figure})",
        if met { "met" } else { "NOT MET" }
    )
}

/// Stepped mode's cost: a seeded 40-buyer run per strategy, its wall time,
/// its steps, and the scheduler's time per step (medians of `repeat`
/// runs, each with its own schedule seed).
fn stepped(repeat: usize) -> Result<f64> {
    let mut worst: f64 = 0.0;
    say("\nstepped, 40 buyers, 100 tickets, a seeded schedule each run")?;
    for name in ["none", "file", "sem", "excl"] {
        let Some(s) = lock::find(name) else { continue };
        let mut walls = Vec::new();
        let mut per_step = Vec::new();
        let mut steps = Vec::new();
        for k in 0..repeat {
            let mut cfg = measured(s, 40);
            cfg.stepping = Some(Stepping::Seeded(k as u64 + 1));
            let out = run(&cfg)?;
            let n = out.schedule.as_ref().map_or(0, |x| x.steps.len()).max(1);
            walls.push(out.wall.as_secs_f64());
            per_step.push(out.wall.as_secs_f64() / n as f64);
            steps.push(n as f64);
        }
        worst = worst.max(med(&walls));
        say(&format!(
            "  booking --lock {:<6} --step-seed K  {:>9}   {:.0} steps, {:.0} µs per step",
            name,
            ms(med(&walls)),
            med(&steps),
            med(&per_step) * 1e6
        ))?;
    }
    // The mechanism's own floor, in this run: a child stopped at each of
    // its calls and answered at once, against the same calls unstopped.
    if crate::sys::seccomp::usable().is_ok() {
        const CALLS: u32 = 20_000;
        let stopped = crate::sys::seccomp::time_stops(CALLS)
            .map_err(|e| Error::Failed(format!("measuring a stop at a system call: {e}")))?
            .as_secs_f64()
            / f64::from(CALLS);
        let start = Instant::now();
        for _ in 0..CALLS {
            std::hint::black_box(nix::unistd::getuid());
        }
        let plain = start.elapsed().as_secs_f64() / f64::from(CALLS);
        say(&format!(
            "  a stop at a system call (seccomp notification, answered at once): {:.1} µs, {:.0}× \
             the call unstopped ({:.2} µs)",
            stopped * 1e6,
            stopped / plain.max(1e-9),
            plain * 1e6
        ))?;
    }
    Ok(worst)
}

/// One measurement, repeatable.
type Probe<'a> = Box<dyn FnMut() -> Result<Duration> + 'a>;

/// Runs every probe once (warm-up), then `repeat` rounds of every probe in
/// turn; returns each probe's timings in seconds.
fn rounds(repeat: usize, probes: &mut [Probe<'_>]) -> Result<Vec<Vec<f64>>> {
    for p in probes.iter_mut() {
        p()?;
    }
    let mut t = vec![Vec::with_capacity(repeat); probes.len()];
    for _ in 0..repeat {
        for (p, times) in probes.iter_mut().zip(&mut t) {
            times.push(p()?.as_secs_f64());
        }
    }
    Ok(t)
}

fn ms(secs: f64) -> String {
    format!("{:.1} ms", secs * 1e3)
}

/// Forks `n` children that exit at once, and reaps them all.
fn spawn_and_reap(n: u32) -> Result<Duration> {
    let proof = SingleThreaded::check().map_err(Error::Failed)?;
    let mut children = Children::new(proof).map_err(|e| Error::failed("SIGCHLD", e))?;
    let start = Instant::now();
    for _ in 0..n {
        children.spawn(|| 0).map_err(|e| Error::failed("fork", e))?;
    }
    for i in 0..children.len() {
        children.reap(i).map_err(|e| Error::failed("waitpid", e))?;
    }
    Ok(start.elapsed())
}

/// Forks `n` children that exit at once, from `k` processes at once, each
/// forking and reaping its share: the fastest way this machine can create
/// and reap `n` processes.
fn parallel_spawn_and_reap(n: u32, k: usize) -> Result<Duration> {
    let proof = SingleThreaded::check().map_err(Error::Failed)?;
    let mut spawners = Children::new(proof).map_err(|e| Error::failed("SIGCHLD", e))?;
    let k = (k as u32).clamp(1, n.max(1));
    let start = Instant::now();
    for j in 0..k {
        let share = n / k + u32::from(j < n % k);
        spawners
            .spawn(move || {
                // A spawner is a fork of a single-threaded process.
                let Ok(proof) = SingleThreaded::check() else {
                    return 1;
                };
                let Ok(mut c) = Children::new(proof) else {
                    return 1;
                };
                for _ in 0..share {
                    if c.spawn(|| 0).is_err() {
                        return 1;
                    }
                }
                for i in 0..c.len() {
                    if c.reap(i).is_err() {
                        return 1;
                    }
                }
                0
            })
            .map_err(|e| Error::failed("fork", e))?;
    }
    for i in 0..spawners.len() {
        let ended = spawners.reap(i).map_err(|e| Error::failed("waitpid", e))?;
        if ended != Ending::Exited(0) {
            return Err(Error::Failed(format!(
                "a spawner of the parallel floor {ended}"
            )));
        }
    }
    Ok(start.elapsed())
}

/// A run's critical sections, one after the other: `TICKETS` sales, then
/// reads that find nothing left.
fn critical_sections(dir: &Path, n: u32) -> Result<Duration> {
    let path = dir.join("floor.json");
    let io = |e: std::io::Error| Error::failed("critical-section floor", e);
    stock::save(&path, &Stock::new(TICKETS), 0o600).map_err(io)?;
    let start = Instant::now();
    for _ in 0..n {
        let mut s = stock::load(&path).map_err(Error::Failed)?;
        let count = s.count();
        if count > 0 {
            s.set_count(count - 1);
            stock::save(&path, &s, 0o600).map_err(io)?;
        }
    }
    Ok(start.elapsed())
}

/// The classic demo's own timing (process start to last join), or `None`
/// when `python3` is not installed.
fn python_demo(dir: &Path, buyers: u32, repeat: usize) -> Result<Option<f64>> {
    let script = dir.join("classic_demo.py");
    std::fs::write(&script, PYTHON_DEMO)
        .map_err(|e| Error::failed("writing the python demo", e))?;
    let stock = dir.join("python-stock.json");
    let once = || -> Result<Option<Duration>> {
        std::fs::write(&stock, format!("{{\"count\": {TICKETS}}}"))
            .map_err(|e| Error::failed("python stock", e))?;
        let out = match Command::new("python3")
            .arg(&script)
            .arg(&stock)
            .arg(buyers.to_string())
            .arg("0")
            .output()
        {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::failed("running python3", e)),
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let ms: f64 = text
            .split_whitespace()
            .next()
            .and_then(|t| t.parse().ok())
            .filter(|_| out.status.success())
            .ok_or_else(|| {
                Error::Failed(format!(
                    "the python demo failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            })?;
        Ok(Some(Duration::from_secs_f64(ms / 1e3)))
    };
    if once()?.is_none() {
        return Ok(None);
    }
    let mut secs = Vec::new();
    for _ in 0..repeat.min(3) {
        secs.extend(once()?.map(|d| d.as_secs_f64()));
    }
    Ok(median(&secs))
}
