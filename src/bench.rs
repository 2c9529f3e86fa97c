//! `booking bench` (`make bench`): what the safe strategies cost, against
//! baselines measured in the same invocation.
//!
//! * **floor**: spawning and reaping N processes the fastest way (`fork`,
//!   child `_exit`s at once, parent reaps), plus the run's critical sections
//!   done one after the other in one process (load, decrement, atomic save
//!   on the same file system as a run: 100 sales, N - 100 reads of zero).
//!   No run with a start barrier can beat it.
//! * **python**: the classic `multiprocessing` demo (`bench/classic_demo.py`),
//!   same N, same 100 tickets, no delay, its stock file beside ours.
//!
//! Every figure is the median of `--repeat` measurements after one warm-up.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;

use crate::cli::BenchArgs;
use crate::delay::Delay;
use crate::error::{Error, Result};
use crate::lock;
use crate::run::{RunConfig, StockSource, ensure_single_threaded, run, run_dir_base};
use crate::stats::median;
use crate::stock::{self, Stock};
use crate::sys::{self, Forked};

const TICKETS: u64 = 100;
const PYTHON_DEMO: &str = include_str!("../bench/classic_demo.py");

/// Runs the benchmark and prints its figures.
///
/// # Errors
/// When a measurement fails or is interrupted.
pub fn bench(args: &BenchArgs, stop: &AtomicBool) -> Result<i32> {
    ensure_single_threaded()?;
    let dir = tempfile::Builder::new()
        .prefix("booking-bench-")
        .tempdir_in(run_dir_base())
        .map_err(|e| Error::failed("creating the bench directory", e))?;
    let repeat = args.repeat as usize;
    println!(
        "booking bench: median of {repeat} runs after a warm-up; --delay 0, {TICKETS} tickets; files in {}",
        run_dir_base().display()
    );
    for buyers in [150u32, 1000] {
        let spawn = measure(repeat, || spawn_and_reap(buyers))?;
        let crit = measure(repeat, || critical_sections(dir.path(), buyers))?;
        let floor = spawn + crit;
        println!("\n{buyers} buyers");
        println!(
            "  {:<34}{:>9}",
            format!("spawn + reap {buyers} processes"),
            ms(spawn)
        );
        println!(
            "  {:<34}{:>9}",
            format!("{buyers} critical sections"),
            ms(crit)
        );
        println!("  {:<34}{:>9}", "floor (sum)", ms(floor));
        let python = if args.no_python {
            None
        } else {
            python_demo(dir.path(), buyers, repeat)?
        };
        match python {
            Some(p) => println!("  {:<34}{:>9}", "python classic demo", ms(p)),
            None => println!("  {:<34}{:>9}", "python classic demo", "skipped"),
        }
        for s in lock::STRATEGIES.iter().filter(|s| s.safe) {
            let cfg = RunConfig::new(
                s,
                buyers,
                StockSource::Fresh(TICKETS),
                Delay::fixed(Duration::ZERO),
                1,
            );
            let wall = measure(repeat, || {
                let out = run(&cfg, stop)?;
                if !out.verdict.safe {
                    return Err(Error::Failed(format!(
                        "{} was unsafe in the bench: {}",
                        s.name,
                        out.verdict.summary()
                    )));
                }
                Ok(out.wall)
            })?;
            let mut line = format!(
                "  {:<34}{:>9}   {:.2}× floor",
                format!("booking --lock {}", s.name),
                ms(wall),
                wall.as_secs_f64() / floor.as_secs_f64()
            );
            if let Some(p) = python {
                line += &format!(
                    ", {:.1}× faster than python",
                    p.as_secs_f64() / wall.as_secs_f64()
                );
            }
            println!("{line}");
        }
    }
    println!(
        "\ntargets: at 150 buyers within 2× of the floor and 15× faster than python; 1000 buyers under 250 ms"
    );
    Ok(0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The median of `repeat` measurements, after one warm-up.
fn measure(repeat: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    f()?;
    let mut secs = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        secs.push(f()?.as_secs_f64());
    }
    Ok(Duration::from_secs_f64(
        median(&secs).expect("repeat is at least 1"),
    ))
}

/// Forks `n` children that exit at once, and reaps them all.
fn spawn_and_reap(n: u32) -> Result<Duration> {
    let start = Instant::now();
    let mut pids = Vec::with_capacity(n as usize);
    for _ in 0..n {
        match sys::fork_single_threaded().map_err(|e| Error::failed("fork", e))? {
            Forked::Child => sys::exit_child(0),
            Forked::Parent(pid) => pids.push(pid),
        }
    }
    for pid in pids {
        waitpid(pid, None).map_err(|e| Error::failed("waitpid", e))?;
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
fn python_demo(dir: &Path, buyers: u32, repeat: usize) -> Result<Option<Duration>> {
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
    Ok(median(&secs).map(Duration::from_secs_f64))
}
