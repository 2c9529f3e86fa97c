//! The parent's side of a run: fork the buyers, open the start barrier,
//! and hand over to the collector (`collect`), which collects, reaps and
//! judges each buyer's fate, or to the stepped driver (`step`), which
//! moves the buyers one step at a time and collects through the collector.
//! `Buyers` guarantees that no buyer outlives [`supervise`] and that their
//! temporary files go with them.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{getpid, pipe2};

use super::buyer::{self, Pipes, Plan};
use super::collect::{Buyers, Collected, Collector};
use super::config::RunConfig;
use super::delay::Delay;
use super::step::Schedule;
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::lock::Shared;
use crate::model::outcome::monotonic_ns;
use crate::sys::channel::{self, Receiver, Sender};
use crate::sys::{self, SharedCells, Turns};
use crate::sys::{Children, Role, SingleThreaded, SpawnError};

/// Forks the buyers, runs them, and collects what became of each, with the
/// schedule a stepped run followed. Every buyer has been reaped when this
/// returns, on every path: `Buyers` kills and reaps what is left when
/// dropped.
///
/// # Errors
/// [`Error::Input`] when the system refuses to start a buyer (nothing was
/// sold: they were all still at the barrier); [`Error::Failed`] on a
/// system error; [`Error::Interrupted`] on a stop signal.
pub fn supervise(
    cfg: &RunConfig,
    ws: &Workspace,
    shared: &dyn Shared,
    proof: SingleThreaded,
) -> Result<(Collected, Option<Schedule>)> {
    let (barrier_r, barrier_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let (outcome_r, outcome_w) =
        channel::channel().map_err(|e| Error::failed("the outcome channel", e))?;
    let mut ends = Ends {
        barrier_r: Some(barrier_r),
        barrier_w: Some(barrier_w),
        outcome_r: Some(outcome_r),
        outcome_w: Some(outcome_w),
    };
    let stages = SharedCells::new(cfg.buyers as usize).map_err(|e| Error::failed("mmap", e))?;
    let turns = match cfg.stepping {
        Some(_) => Some(
            Turns::new(cfg.buyers as usize, crate::sys::seccomp::usable().is_ok())
                .map_err(|e| Error::failed("turns", e))?,
        ),
        None => None,
    };
    // Stepped mode runs on virtual time: the schedule, not sleeps, orders
    // the buyers.
    let (delay, arrival) = match cfg.stepping {
        Some(_) => (Delay::ZERO, Delay::ZERO),
        None => (cfg.delay, cfg.arrival),
    };
    let victims = cfg.faults.victims(cfg.buyers, cfg.seed);
    let paused = cfg.faults.paused(cfg.buyers, cfg.seed);
    let mut buyers = Buyers::new(
        Children::new(proof).map_err(|e| Error::failed("resetting SIGCHLD", e))?,
        &ws.stock,
    );
    let parent = getpid();
    // Nothing buffered may be copied into the children.
    crate::sys::flush();
    let hosts = cfg.processes();
    let spawned = buyers.spawn_all(
        hosts,
        cfg.spawners(),
        || sys::stop_signal().is_some(),
        |role| {
            // In a spawner or a buyer, on its own copy of `ends`: neither
            // keeps the parent's ends (a child holding the barrier's write
            // end would never see end-of-file if the parent died).
            drop(ends.barrier_w.take());
            drop(ends.outcome_r.take());
            let Role::Child(host) = role else {
                return 0;
            };
            // Buyer `host`, or a pool worker's buyers host, host + K, ...
            let plans = (host..cfg.buyers as usize).step_by(hosts).map(|i| {
                let id = i as u32;
                Plan {
                    id,
                    stock: &ws.stock,
                    mode: ws.mode,
                    delay: delay.for_buyer(cfg.seed, id),
                    arrival: arrival.draw(cfg.seed, super::seed::stream::ARRIVAL, id),
                    protects: cfg.strategy.protects,
                    kill_at: victims[i].then_some(cfg.faults.kill_at),
                    pause: paused[i].then_some((cfg.faults.pause_at, cfg.faults.pause_for)),
                    stages: &stages,
                    turns: turns.as_ref(),
                }
            });
            let pipes = Pipes {
                barrier: ends
                    .barrier_r
                    .take()
                    .expect("the parent keeps it until all are forked"),
                outcomes: ends
                    .outcome_w
                    .take()
                    .expect("the parent keeps it until all are forked"),
            };
            buyer::life(parent, shared, pipes, plans)
        },
    );
    match spawned {
        Ok(()) => {}
        Err(SpawnError::Stopped { started }) => {
            let sig = sys::stop_signal().unwrap_or(nix::sys::signal::Signal::SIGINT);
            return Err(Error::interrupted(
                sig,
                format!(
                    "while starting buyers ({started} of {} started); all stopped, nothing sold",
                    cfg.buyers
                ),
            ));
        }
        Err(SpawnError::Refused { started, error }) => {
            return Err(Error::Input(format!(
                "--buyers {}: the system refused to start buyer {} ({error}; see `ulimit -u`); the {started} started were stopped and nothing was sold",
                cfg.buyers,
                started + 1
            )));
        }
    }
    // The parent keeps the barrier's write end and the outcomes' read end.
    drop(ends.outcome_w.take());
    drop(ends.barrier_r.take());
    let outcome_r = ends.outcome_r.take().expect("taken only here");
    let opened_ns = monotonic_ns();
    open_barrier(ends.barrier_w.take().expect("taken only here"), hosts)?;
    let mut s = Collector::new(cfg, shared, buyers, stages, victims, opened_ns);
    let schedule = match (&cfg.stepping, &turns) {
        (Some(stepping), Some(turns)) => Some(super::step::collect_stepped(
            &mut s, outcome_r, turns, stepping,
        )?),
        _ => {
            s.collect(outcome_r)?;
            None
        }
    };
    Ok((s.finish(), schedule))
}

/// The two pipes of a run, each end taken by the side that keeps it.
struct Ends {
    barrier_r: Option<OwnedFd>,
    barrier_w: Option<OwnedFd>,
    outcome_r: Option<Receiver>,
    outcome_w: Option<Sender>,
}

/// The start barrier: one byte per buyer wakes them all at once.
/// End-of-file without a byte means the parent died: a buyer then leaves
/// without buying.
fn open_barrier(w: OwnedFd, buyers: usize) -> Result<()> {
    let go = vec![1u8; buyers];
    let mut done = 0;
    while done < go.len() {
        match nix::unistd::write(&w, &go[done..]) {
            Ok(n) => done += n,
            Err(Errno::EINTR) => {
                if let Some(sig) = sys::stop_signal() {
                    return Err(Error::interrupted(
                        sig,
                        "while opening the start barrier; all buyers stopped".into(),
                    ));
                }
            }
            Err(e) => return Err(Error::failed("opening the start barrier", e)),
        }
    }
    Ok(())
}
