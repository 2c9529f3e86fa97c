//! The parent's side of a run: fork the buyers, open the start barrier,
//! collect outcome records, reap, repair the lock of a dead holder, stop
//! what hangs, and say what became of every buyer.
//!
//! Every buyer ends up in exactly one of these, decided here:
//! * its own **record** (clean, or with the error it reported or the panic
//!   it caught), checked to come from that buyer's pid;
//! * **indeterminate** (`None`): a `--kill` victim that died of `SIGKILL`
//!   as planned;
//! * **failed**: died without a record any other way (a crash, a signal
//!   from outside, an exit without reporting): a record with `error`;
//! * **hung**: still running when the watchdog fired (no buyer finished
//!   for `--timeout`), then killed: a record with `hung` and where it was.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::{getpid, pipe2};

use super::buyer::{self, Pipes, Plan, Stage};
use super::config::RunConfig;
use super::delay::fmt_duration;
use super::fork::{Children, Ending, SingleThreaded};
use super::outcome::Outcome;
use super::sys::{self, SharedCells};
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::judge::verdict::count;
use crate::lock::Shared;

/// What the parent learnt of every buyer.
pub struct Collected {
    /// One entry per buyer, by id (see the module doc).
    pub outcomes: Vec<Option<Outcome>>,
    /// Deaths, repairs, the watchdog, one line each.
    pub events: Vec<String>,
}

/// Forks the buyers, runs them, and collects what became of each. Every
/// buyer has been reaped when this returns, on every path: [`Children`]
/// kills and reaps what is left when dropped.
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
) -> Result<Collected> {
    let (barrier_r, barrier_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let (outcome_r, outcome_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::failed("pipe", e))?;
    let mut ends = Ends {
        barrier_r: Some(barrier_r),
        barrier_w: Some(barrier_w),
        outcome_r: Some(outcome_r),
        outcome_w: Some(outcome_w),
    };
    let stages = SharedCells::new(cfg.buyers as usize).map_err(|e| Error::failed("mmap", e))?;
    let victims = cfg.faults.victims(cfg.buyers, cfg.seed);
    let mut buyers = Buyers {
        children: Children::new(proof).map_err(|e| Error::failed("resetting SIGCHLD", e))?,
        stock: &ws.stock,
    };
    let parent = getpid();
    // Nothing buffered may be copied into the children.
    crate::commands::output::flush();
    for id in 0..cfg.buyers {
        if let Some(sig) = sys::stop_signal() {
            return Err(Error::interrupted(
                sig,
                format!(
                    "while starting buyers ({id} of {} started); all stopped, nothing sold",
                    cfg.buyers
                ),
            ));
        }
        let plan = Plan {
            id,
            stock: &ws.stock,
            mode: ws.mode,
            delay: cfg.delay.for_buyer(cfg.seed, id),
            arrival: cfg.arrival.draw(cfg.seed, super::seed::stream::ARRIVAL, id),
            protects: cfg.strategy.protects,
            kill_at: victims[id as usize].then_some(cfg.faults.kill_at),
            stages: &stages,
        };
        let spawned = buyers.children.spawn(|| {
            // In the child, on its own copy of `ends`: keep only its ends of
            // the pipes (a buyer holding the barrier's write end would never
            // see end-of-file if the parent died).
            drop(ends.barrier_w.take());
            drop(ends.outcome_r.take());
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
            buyer::life(parent, shared, pipes, plan)
        });
        if let Err(e) = spawned {
            return Err(Error::Input(format!(
                "--buyers {}: the system refused to start buyer {} ({e}; see `ulimit -u`); the {id} started were stopped and nothing was sold",
                cfg.buyers,
                id + 1
            )));
        }
    }
    // The parent keeps the barrier's write end and the outcomes' read end.
    drop(ends.outcome_w.take());
    drop(ends.barrier_r.take());
    let outcome_r = ends.outcome_r.take().expect("taken only here");
    open_barrier(
        ends.barrier_w.take().expect("taken only here"),
        cfg.buyers as usize,
    )?;
    let mut s = Supervisor {
        cfg,
        shared,
        buyers,
        stages,
        victims,
        outcomes: vec![None; cfg.buyers as usize],
        notes: vec![None; cfg.buyers as usize],
        events: Vec::new(),
    };
    s.collect(outcome_r)?;
    Ok(s.finish())
}

/// The buyer processes, and the stock file whose temporary files they may
/// leave. Dropped on every path out of [`supervise`]: kills and reaps what
/// is left, then removes the temporary file of every buyer that did not
/// exit cleanly (one killed mid-write leaves one).
struct Buyers<'a> {
    children: Children,
    stock: &'a std::path::Path,
}

impl Drop for Buyers<'_> {
    fn drop(&mut self) {
        self.children.kill_and_reap_all();
        for i in 0..self.children.len() {
            if self.children.ending(i) != Some(Ending::Exited(0)) {
                let pid = self.children.pid(i).as_raw();
                let _ = std::fs::remove_file(super::stock::temp_path(self.stock, pid));
            }
        }
    }
}

/// The two pipes of a run, each end taken by the side that keeps it.
struct Ends {
    barrier_r: Option<OwnedFd>,
    barrier_w: Option<OwnedFd>,
    outcome_r: Option<OwnedFd>,
    outcome_w: Option<OwnedFd>,
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

struct Supervisor<'a> {
    cfg: &'a RunConfig,
    shared: &'a dyn Shared,
    buyers: Buyers<'a>,
    stages: SharedCells,
    victims: Vec<bool>,
    outcomes: Vec<Option<Outcome>>,
    /// What is known of a buyer's end beyond its record.
    notes: Vec<Option<Note>>,
    events: Vec<String>,
}

#[derive(Clone, Debug)]
enum Note {
    /// A `--kill` victim died as planned.
    Killed,
    /// It ended without reporting, this way.
    Died(Ending),
    /// The watchdog stopped it at this stage.
    Hung(Stage),
}

impl Supervisor<'_> {
    /// Reads outcome records until every buyer has closed the pipe, and
    /// reaps every buyer; the watchdog stops a run that makes no progress.
    fn collect(&mut self, outcome_r: OwnedFd) -> Result<()> {
        let mut pipe = Some(File::from(outcome_r));
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut last_progress = Instant::now();
        loop {
            if let Some(sig) = sys::stop_signal() {
                let done = self.outcomes.iter().filter(|o| o.is_some()).count();
                return Err(Error::interrupted(
                    sig,
                    format!(
                        "mid-run ({done} of {} buyers had finished); all buyers stopped",
                        self.cfg.buyers
                    ),
                ));
            }
            let Some(p) = &mut pipe else {
                // Every buyer closed the pipe: they are exiting. Reap them by
                // pid (O(1) each), without blocking, so the watchdog and a
                // stop signal still work if one never exits.
                if self.reap_by_pid()? {
                    last_progress = Instant::now();
                }
                if self.buyers.children.all_reaped() {
                    return Ok(());
                }
                if last_progress.elapsed() > self.cfg.timeout {
                    self.watchdog(None);
                    return Ok(());
                }
                pause(Duration::from_millis(1));
                continue;
            };
            let mut fds = [PollFd::new(p.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(20u16)) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::failed("poll", e)),
                // Nothing for 20 ms: reap early, since a dead semaphore
                // holder must be found and repaired, or the others would
                // wait for ever.
                Ok(0) => {
                    if self.reap_ended()? {
                        last_progress = Instant::now();
                    }
                    if self.buyers.children.all_reaped() {
                        // Every buyer is gone, yet the pipe is open: some
                        // other process (a strategy's own child) holds it.
                        // Nothing a buyer wrote can still come.
                        let p = pipe.take().expect("the pipe is open here");
                        self.drain(p, &mut buf);
                        return Ok(());
                    }
                    if last_progress.elapsed() > self.cfg.timeout {
                        let p = pipe.take().expect("the pipe is open here");
                        self.watchdog(Some((p, &mut buf)));
                        return Ok(());
                    }
                }
                Ok(_) => match p.read(&mut chunk) {
                    Ok(0) => pipe = None,
                    Ok(k) => {
                        buf.extend_from_slice(&chunk[..k]);
                        if self.take_lines(&mut buf) {
                            last_progress = Instant::now();
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::failed("reading outcomes", e)),
                },
            }
        }
    }

    /// Moves every complete line of `buf` into the outcomes. Returns
    /// whether any. A record is taken only from the buyer it names (its
    /// pid must be that buyer's) and only once.
    fn take_lines(&mut self, buf: &mut Vec<u8>) -> bool {
        let mut start = 0;
        let mut any = false;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            any = true;
            let mut o = match Outcome::from_line(line) {
                Ok(o) => o,
                Err(e) => {
                    self.events
                        .push(format!("a garbled outcome record ({e}) was ignored"));
                    continue;
                }
            };
            let id = o.id as usize;
            let genuine = id < self.outcomes.len()
                && o.pid == self.buyers.children.pid(id).as_raw()
                && self.outcomes[id].is_none();
            if !genuine {
                self.events.push(format!(
                    "an outcome record claiming to be buyer {} (pid {}) was ignored: not that buyer's, or a second one",
                    o.id, o.pid
                ));
                continue;
            }
            o.hung = false;
            self.outcomes[id] = Some(o);
        }
        buf.drain(..start);
        any
    }

    /// Reaps the buyers that have ended (`waitpid(-1, WNOHANG)`). Returns
    /// whether any.
    fn reap_ended(&mut self) -> Result<bool> {
        let ended = self
            .buyers
            .children
            .reap_ended()
            .map_err(|e| Error::failed("waitpid", e))?;
        let any = !ended.is_empty();
        for (i, e) in ended {
            self.ended(i, e)?;
        }
        Ok(any)
    }

    /// Reaps, by pid and without blocking, the buyers that have ended.
    fn reap_by_pid(&mut self) -> Result<bool> {
        let live: Vec<usize> = self.buyers.children.live().collect();
        let mut any = false;
        for i in live {
            if let Some(e) = self
                .buyers
                .children
                .reap_if_ended(i)
                .map_err(|e| Error::failed("waitpid", e))?
            {
                self.ended(i, e)?;
                any = true;
            }
        }
        Ok(any)
    }

    /// Records how buyer `i` ended; tells the strategy if it died by a
    /// signal, so it can repair a lock the buyer held.
    fn ended(&mut self, i: usize, ending: Ending) -> Result<()> {
        let pid = self.buyers.children.pid(i);
        match ending {
            Ending::Exited(0) => {}
            Ending::Exited(_) => self.notes[i] = Some(Note::Died(ending)),
            Ending::Signaled(sig) => {
                let planned = sig == Signal::SIGKILL && self.victims[i];
                self.notes[i] = Some(if planned {
                    Note::Killed
                } else {
                    Note::Died(ending)
                });
                let repair = self.shared.buyer_died(pid).map_err(|e| {
                    Error::failed(format_args!("repairing after buyer {i} died"), e)
                })?;
                let what = if planned {
                    format!("was killed at {} (--kill)", self.cfg.faults.kill_at)
                } else {
                    format!("{ending}")
                };
                self.events.push(match repair {
                    Some(r) => format!("buyer {i} (pid {pid}) {what}; it {r}"),
                    None => format!("buyer {i} (pid {pid}) {what}"),
                });
            }
        }
        Ok(())
    }

    /// No buyer finished for `--timeout`: say who was stuck on what, kill
    /// them, and mark them hung. Records already in the pipe still count.
    fn watchdog(&mut self, pipe: Option<(File, &mut Vec<u8>)>) {
        let live: Vec<usize> = self.buyers.children.live().collect();
        let mut by_stage: Vec<(Stage, Vec<String>)> = Vec::new();
        for &i in &live {
            let stage = Stage::from_cell(self.stages.get(i));
            match by_stage.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, ids)) => ids.push(i.to_string()),
                None => by_stage.push((stage, vec![i.to_string()])),
            }
            self.notes[i] = Some(Note::Hung(stage));
        }
        let groups: Vec<String> = by_stage
            .iter()
            .map(|(stage, ids)| {
                format!(
                    "{} {} ({})",
                    ids.len(),
                    stage.doing(),
                    truncate_list(ids, 10)
                )
            })
            .collect();
        let mut msg = format!(
            "watchdog: no buyer finished for {} (--timeout); stopped {}: {}",
            fmt_duration(self.cfg.timeout),
            count(live.len() as u64, "stuck buyer", "stuck buyers"),
            groups.join("; ")
        );
        if let Some(lock) = self.shared.describe() {
            msg += &format!("; {lock}");
        }
        self.events.push(msg);
        // They die of the watchdog's SIGKILL: not a death to repair after.
        self.buyers.children.kill_and_reap_all();
        if let Some((p, buf)) = pipe {
            self.drain(p, buf);
        }
    }

    /// Every buyer is dead: takes what is already in the pipe (records
    /// written before dying), without waiting for an end-of-file that a
    /// process other than a buyer could withhold.
    fn drain(&mut self, pipe: File, buf: &mut Vec<u8>) {
        let _ = nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        let mut pipe = pipe;
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.take_lines(buf);
    }

    /// Every buyer's fate (see the module doc).
    fn finish(mut self) -> Collected {
        let mut outcomes = std::mem::take(&mut self.outcomes);
        for (i, slot) in outcomes.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let pid = self.buyers.children.pid(i).as_raw();
            let fail = |error: String, hung: bool| {
                Some(Outcome {
                    hung,
                    ..Outcome::failed(i as u32, pid, error)
                })
            };
            *slot = match &self.notes[i] {
                Some(Note::Killed) => None,
                Some(Note::Hung(stage)) => fail(format!("hung {}", stage.doing()), true),
                Some(Note::Died(e)) => fail(format!("{e} before reporting"), false),
                None => fail("exited without reporting".into(), false),
            };
        }
        Collected {
            outcomes,
            events: std::mem::take(&mut self.events),
        }
    }
}

/// Waits `d` (a `poll` on no descriptor: interrupted by a signal).
fn pause(d: Duration) {
    let _ = poll(
        &mut [] as &mut [PollFd<'_>],
        PollTimeout::try_from(d).unwrap_or(PollTimeout::ZERO),
    );
}

fn truncate_list(items: &[String], max: usize) -> String {
    let word = if items.len() == 1 { "buyer" } else { "buyers" };
    if items.len() <= max {
        format!("{word} {}", items.join(", "))
    } else {
        format!(
            "{word} {}, … ({} more)",
            items[..max].join(", "),
            items.len() - max
        )
    }
}
