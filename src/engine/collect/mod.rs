//! The parent's collection of a run: outcome records, reaping, repairs
//! after a death, the watchdog, and what became of every buyer.
//!
//! Every buyer ends up in exactly one of these, decided here:
//! * its own **record** (clean, or with the error it reported or the panic
//!   it caught), checked to come from that buyer's process (the kernel
//!   names the sender, see [`crate::sys::channel`]); a message that is not a
//!   buyer's genuine first record is *rejected*, and a run with a rejected
//!   record is never SAFE;
//! * **indeterminate** (`None`): a `--kill` victim that died of `SIGKILL`
//!   as planned;
//! * **failed**: died without a record any other way (a crash, a signal
//!   from outside, an exit without reporting): a record with `error`;
//! * **hung**: still running when the watchdog fired (no buyer finished
//!   for `--timeout`), then killed: a record with `hung` and where it was.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::buyer::Stage;
use super::config::RunConfig;
use crate::error::{Error, Result};
use crate::judge::verdict::count;
use crate::lock::Shared;
use crate::model::outcome::{Outcome, monotonic_ns};
use crate::sys::Ending;
use crate::sys::channel::{Received, Receiver};
use crate::sys::{self, SharedCells};

mod buyers;
mod contained;
mod fate;

pub use buyers::Buyers;
pub use fate::Collected;
use fate::Note;

/// The parent's view of a running booking.
pub struct Collector<'a> {
    cfg: &'a RunConfig,
    shared: &'a dyn Shared,
    buyers: Buyers<'a>,
    /// Each buyer's stage, for the watchdog to say where it was stuck.
    stages: SharedCells,
    /// The `--kill` victims, by process: their `SIGKILL` is no failure.
    victims: Vec<bool>,
    outcomes: Vec<Option<Outcome>>,
    /// What is known of a buyer's end beyond its record.
    notes: Vec<Option<Note>>,
    events: Vec<String>,
    /// Messages that were not a buyer's genuine first record.
    rejected: u64,
    /// Buyers whose record was taken and who may not be reaped yet: they
    /// are about to exit, and are reaped by pid.
    reported: Vec<usize>,
    /// `CLOCK_MONOTONIC` when the start barrier opened: no section of this
    /// run can start earlier.
    opened_ns: u64,
    /// The buffer `take_waiting` receives into.
    buf: Vec<u8>,
    /// How far each buyer is known to have come (see [`Collector::moved_on`]).
    milestones: Vec<u8>,
}

/// How often the collection loop reaps and looks at the watchdog, however
/// busy the channel.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// The longest message taken as a record (a record is a few hundred bytes;
/// its error text is capped).
const MAX_RECORD: usize = 8192;

impl<'a> Collector<'a> {
    /// The collection of the run `cfg` describes, whose strategy's state is
    /// `shared`, of the forked `buyers` (each telling its stage in
    /// `stages`; `victims` are the `--kill` victims), once the start
    /// barrier opened at `opened_ns` (`CLOCK_MONOTONIC`).
    pub fn new(
        cfg: &'a RunConfig,
        shared: &'a dyn Shared,
        buyers: Buyers<'a>,
        stages: SharedCells,
        victims: Vec<bool>,
        opened_ns: u64,
    ) -> Self {
        let n = cfg.buyers as usize;
        Collector {
            cfg,
            shared,
            buyers,
            stages,
            victims,
            outcomes: vec![None; n],
            notes: vec![None; n],
            events: Vec::new(),
            rejected: 0,
            reported: Vec::new(),
            opened_ns,
            buf: vec![0u8; MAX_RECORD],
            milestones: vec![0; n],
        }
    }

    /// Whether any buyer has moved on since the last look: taken the lock
    /// for the first time, or finished (its stage, in shared memory). This
    /// is progress the watchdog counts even when this process has not read
    /// a record: with thousands of buyers runnable at once (a lock that
    /// polls, at 20,000 buyers on 2 cores), this process can be kept from
    /// the processors for seconds while the buyers sell, and their records
    /// wait unread. Only forward moves count, once each, so a buyer that
    /// takes the lock again and again without finishing (a livelock) is no
    /// progress.
    fn moved_on(&mut self) -> bool {
        let mut moved = false;
        for (i, seen) in self.milestones.iter_mut().enumerate() {
            let now = match Stage::from_cell(self.stages.get(i)) {
                Stage::Holding => 1,
                Stage::Done => 2,
                _ => 0,
            };
            if now > *seen {
                *seen = now;
                moved = true;
            }
        }
        moved
    }

    /// How many buyers the run has.
    pub fn buyers(&self) -> usize {
        self.outcomes.len()
    }

    /// How long a run may go without progress (`--timeout`).
    pub fn timeout(&self) -> Duration {
        self.cfg.timeout
    }

    /// The pid of buyer process `i`.
    pub fn pid(&self, i: usize) -> Pid {
        self.buyers.pid(i)
    }

    /// Whether buyer process `i` has been reaped.
    /// The stock file the buyers buy from.
    pub fn stock(&self) -> &std::path::Path {
        self.buyers.stock()
    }

    /// Where the run's own shared memory (the buyers' stages) is mapped.
    pub fn stages_addr(&self) -> usize {
        self.stages.addr()
    }

    pub fn has_ended(&self, i: usize) -> bool {
        self.buyers.ending(i).is_some()
    }

    /// Takes the messages already waiting in `channel`, which does not
    /// block (see [`Receiver::set_nonblocking`]), for at most `LOOK_EVERY`:
    /// a stream that never stops (a strategy's own processes flooding the
    /// channel) must not keep the caller from its other work.
    pub fn take_waiting(&mut self, channel: &Receiver) {
        self.take_waiting_until(channel, Instant::now() + LOOK_EVERY);
    }

    /// Takes the messages waiting in `channel` until none is left (returns
    /// `true`) or `deadline` passes (`false`).
    fn take_waiting_until(&mut self, channel: &Receiver, deadline: Instant) -> bool {
        let mut buf = std::mem::take(&mut self.buf);
        let mut emptied = false;
        while Instant::now() < deadline {
            match channel.recv(&mut buf) {
                Ok(Received::Message {
                    len,
                    sender,
                    truncated,
                }) => {
                    self.take(&buf[..len], sender, truncated);
                }
                _ => {
                    emptied = true;
                    break;
                }
            }
        }
        self.buf = buf;
        emptied
    }
}

impl Collector<'_> {
    /// Receives outcome records until every buyer has closed its end of
    /// the channel, and reaps every buyer; the watchdog stops a run that
    /// makes no progress (no record accepted, no buyer reaped).
    pub fn collect(&mut self, channel: Receiver) -> Result<()> {
        let mut open = Some(channel);
        let mut buf = vec![0u8; MAX_RECORD];
        let mut last_progress = Instant::now();
        let mut last_look = Instant::now();
        let mut last_record = Instant::now();
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
            let Some(ch) = &open else {
                // Every buyer closed the channel: they are exiting. Reap
                // them by pid (O(1) each), without blocking, so the watchdog
                // and a stop signal still work if one never exits.
                if self.reap_by_pid()? {
                    last_progress = Instant::now();
                }
                if self.buyers.all_reaped() {
                    return Ok(());
                }
                if last_progress.elapsed() > self.cfg.timeout {
                    self.watchdog(None);
                    return Ok(());
                }
                pause(Duration::from_millis(1));
                continue;
            };
            let mut fds = [PollFd::new(ch.as_fd(), PollFlags::POLLIN)];
            let ready = match poll(&mut fds, PollTimeout::from(20u16)) {
                Err(Errno::EINTR) => false,
                Err(e) => return Err(Error::failed("poll", e)),
                Ok(n) => n > 0,
            };
            // Every 20 ms at least, whatever arrives (a stream of messages
            // must not starve these): reap, since a dead semaphore holder
            // must be found and repaired or the others would wait for ever;
            // see whether every buyer is gone; the watchdog.
            if !ready || last_look.elapsed() >= LOOK_EVERY {
                last_look = Instant::now();
                if self.reap_ended(last_record.elapsed() >= LOOK_EVERY)? | self.moved_on() {
                    last_progress = Instant::now();
                }
                if self.buyers.all_reaped() {
                    // Every buyer is gone, yet the channel is open: some
                    // other process (a strategy's own child) holds it.
                    // Nothing a buyer sent can still come.
                    self.drain(open.take().expect("open here"));
                    return Ok(());
                }
                if last_progress.elapsed() > self.cfg.timeout {
                    self.watchdog(open.take());
                    return Ok(());
                }
            }
            if ready {
                match ch.recv(&mut buf) {
                    Ok(Received::Closed) => open = None,
                    Ok(Received::Nothing) => {}
                    Ok(Received::Message {
                        len,
                        sender,
                        truncated,
                    }) => {
                        if self.take(&buf[..len], sender, truncated) {
                            last_progress = Instant::now();
                            last_record = last_progress;
                        }
                    }
                    Err(e) => return Err(Error::failed("receiving outcomes", e)),
                }
            }
        }
    }

    /// Takes one message as buyer's record if it is one: it parses, names
    /// a buyer, was sent by that buyer's process (the kernel's word), is the
    /// first for that buyer, and its times lie within the run. Anything
    /// else is *rejected*: counted (a run with a rejected record is never
    /// SAFE) and told in the events. Returns whether it was taken.
    fn take(&mut self, bytes: &[u8], sender: Option<Pid>, truncated: bool) -> bool {
        let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let parsed = if truncated {
            Err(format!("longer than {MAX_RECORD} bytes"))
        } else {
            Outcome::from_line(line).map_err(|e| e.to_string())
        };
        let from = sender.map_or("an unknown process".into(), |p| format!("pid {p}"));
        let mut o = match parsed {
            Ok(o) => o,
            Err(e) => return self.reject(format!("a garbled outcome record from {from} ({e})")),
        };
        let id = o.id as usize;
        if id >= self.outcomes.len() {
            return self.reject(format!(
                "an outcome record from {from} for buyer {}, who does not exist",
                o.id
            ));
        }
        let pid = self.buyers.pid(self.cfg.host(id));
        if sender != Some(pid) || o.pid != pid {
            return self.reject(format!(
                "an outcome record for buyer {id} (pid {pid}) came from {from}: not that buyer"
            ));
        }
        if self.outcomes[id].is_some() {
            return self.reject(format!("buyer {id} sent a second outcome record"));
        }
        let now = monotonic_ns();
        let section = o.acquired_ns > 0 || o.released_ns > 0;
        if section
            && (o.acquired_ns < self.opened_ns
                || o.released_ns > now
                || o.released_ns < o.acquired_ns)
        {
            return self.reject(format!(
                "buyer {id}'s record has times outside the run (acquired {}, released {}, run from {} to {now} ns)",
                o.acquired_ns, o.released_ns, self.opened_ns
            ));
        }
        o.hung = false;
        if let Some(note) = &o.note {
            self.events.push(format!("buyer {id} (pid {pid}): {note}"));
        }
        self.outcomes[id] = Some(o);
        // A judge that started this run hears of the progress.
        crate::sys::judged::progress();
        // A buyer process that reported exits next: reap it by pid. (A
        // pool worker goes on to its next buyer.)
        if self.cfg.pool.is_none() {
            self.reported.push(id);
        }
        true
    }

    fn reject(&mut self, why: String) -> bool {
        self.rejected += 1;
        if self.rejected <= 10 {
            self.events.push(format!("rejected: {why}"));
        }
        false
    }

    /// Reaps the buyers that have ended. Returns whether any.
    ///
    /// Those that reported, by pid: `waitpid(pid)` finds its child at
    /// once, where `waitpid(-1)` walks the list of every child (about
    /// 1.5 ms at 10,000 children) — every 20 ms of a run that lasts O(N),
    /// so O(N²) in all: at 10,000 buyers a quarter of the parent's time
    /// was the kernel's `wait_consider_task`. Then, when `stalled` (no
    /// record came for `LOOK_EVERY`), one `waitpid(-1, WNOHANG)` sweep
    /// finds the buyers that died without reporting. A dead lock holder
    /// stalls the run, so it is still found, and repaired, within
    /// `LOOK_EVERY`; other silent deaths are found when they stall the run
    /// or at the end.
    pub fn reap_ended(&mut self, stalled: bool) -> Result<bool> {
        let mut any = false;
        let mut reported = std::mem::take(&mut self.reported);
        let mut failed = None;
        reported.retain(|&i| {
            if failed.is_some() {
                return true;
            }
            match self.buyers.reap_if_ended(i) {
                Ok(Some(e)) => {
                    failed = self.ended(i, e).err();
                    any = true;
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    failed = Some(Error::failed("waitpid", e));
                    true
                }
            }
        });
        self.reported = reported;
        if let Some(e) = failed {
            return Err(e);
        }
        if !stalled {
            return Ok(any);
        }
        let ended = self
            .buyers
            .reap_ended()
            .map_err(|e| Error::failed("waitpid", e))?;
        any |= !ended.is_empty();
        for (i, e) in ended {
            self.ended(i, e)?;
        }
        Ok(any)
    }

    /// Reaps, by pid and without blocking, the buyers that have ended.
    fn reap_by_pid(&mut self) -> Result<bool> {
        let live: Vec<usize> = self.buyers.live().collect();
        let mut any = false;
        for i in live {
            if let Some(e) = self
                .buyers
                .reap_if_ended(i)
                .map_err(|e| Error::failed("waitpid", e))?
            {
                self.ended(i, e)?;
                any = true;
            }
        }
        Ok(any)
    }

    /// `buyer i`, or `worker i` of a pool: process `i` in the events.
    fn who(&self, i: usize) -> String {
        match self.cfg.pool {
            Some(_) => format!("worker {i}"),
            None => format!("buyer {i}"),
        }
    }

    /// Records how process `i` ended; tells the strategy if it died by a
    /// signal, so it can repair a lock it held.
    fn ended(&mut self, i: usize, ending: Ending) -> Result<()> {
        let pid = self.buyers.pid(i);
        let who = self.who(i);
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
                let repair = contained::buyer_died(self.shared, pid).map_err(|e| match e {
                    Error::Failed(e) => {
                        Error::failed(format_args!("repairing after {who} died"), e)
                    }
                    other => other,
                })?;
                let what = if planned {
                    format!("was killed at {} (--kill)", self.cfg.faults.kill_at)
                } else {
                    format!("{ending}")
                };
                self.events.push(match repair {
                    Some(r) => format!("{who} (pid {pid}) {what}; it {r}"),
                    None => format!("{who} (pid {pid}) {what}"),
                });
            }
        }
        Ok(())
    }

    /// Every buyer is dead: takes what is already in the channel (records
    /// sent before dying), without waiting for an end-of-file that a
    /// process other than a buyer could withhold.
    ///
    /// Such processes (a strategy's own, left behind) are killed first:
    /// then nothing more can arrive, and what is queued is finite (the
    /// socket's buffer). The taking is bounded by `--timeout` all the same,
    /// and a channel still not empty then is told in the events.
    /// Sets buyer `i`'s wakeups to what a stepped run saw: the times it
    /// blocked on its way to the lock. Its own count would also hold the
    /// sleeps in which it waited for the scheduler at each system call.
    pub fn set_wakeups(&mut self, i: usize, wakeups: u64) {
        if let Some(Some(out)) = self.outcomes.get_mut(i) {
            out.wakeups = wakeups;
        }
    }

    pub fn drain(&mut self, channel: Receiver) {
        self.buyers.kill_strays();
        if channel.set_nonblocking().is_err() {
            return;
        }
        if !self.take_waiting_until(&channel, Instant::now() + self.cfg.timeout) {
            self.events.push(format!(
                "the outcome channel was still not empty after {} of draining; the rest was dropped",
                crate::engine::delay::fmt_duration(self.cfg.timeout)
            ));
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
