//! The parent's collection of a run: outcome records, reaping, repairs
//! after a death, the watchdog, and what became of every buyer.
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

use super::buyer::Stage;
use super::config::RunConfig;
use super::delay::fmt_duration;
use super::fork::Ending;
use super::outcome::Outcome;
use super::supervise::{Buyers, Collected};
use super::sys::{self, SharedCells};
use crate::error::{Error, Result};
use crate::judge::verdict::count;
use crate::lock::Shared;

/// The parent's view of a running booking.
pub(super) struct Collector<'a> {
    pub(super) cfg: &'a RunConfig,
    pub(super) shared: &'a dyn Shared,
    pub(super) buyers: Buyers<'a>,
    pub(super) stages: SharedCells,
    pub(super) victims: Vec<bool>,
    pub(super) outcomes: Vec<Option<Outcome>>,
    /// What is known of a buyer's end beyond its record.
    pub(super) notes: Vec<Option<Note>>,
    pub(super) events: Vec<String>,
}

#[derive(Clone, Debug)]
pub(super) enum Note {
    /// A `--kill` victim died as planned.
    Killed,
    /// It ended without reporting, this way.
    Died(Ending),
    /// The watchdog stopped it at this stage.
    Hung(Stage),
}

impl Collector<'_> {
    /// Reads outcome records until every buyer has closed the pipe, and
    /// reaps every buyer; the watchdog stops a run that makes no progress.
    pub(super) fn collect(&mut self, outcome_r: OwnedFd) -> Result<()> {
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
                        "mid-run ({done} of {} had finished); all buyers stopped",
                        count(u64::from(self.cfg.buyers), "buyer", "buyers")
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
                && o.pid == self.buyers.children.pid(id)
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
    pub(super) fn finish(mut self) -> Collected {
        let mut outcomes = std::mem::take(&mut self.outcomes);
        for (i, slot) in outcomes.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let pid = self.buyers.children.pid(i);
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
