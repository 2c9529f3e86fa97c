//! The driver of a stepped run: it gives the turns, waits for quiescence
//! after each, tells blocked buyers from paused ones, and asks a
//! [`Chooser`] who moves next. It collects the buyers' records through the
//! collector; the policy never sees a process.

use std::time::{Duration, Instant};

use super::calls;
use super::{Chooser, Explored, Ready, Refusal, Schedule, Touch, Turn};
use crate::engine::buyer::Point;
use crate::engine::collect::Collector;
use crate::error::{Error, Result, list_ids};
use crate::sys::channel::Receiver;
use crate::sys::seccomp::{Errno, Listener, Notice};
use crate::sys::{self, Turns};
use nix::unistd::Pid;

/// How long a buyer given a turn may sleep without reaching its next point
/// before it counts as blocked (and only if it sleeps in a call that waits
/// for another, see [`blocked`]). A step that is not blocked takes tens of
/// microseconds.
const SETTLE: Duration = Duration::from_millis(3);

/// After a release, where system calls are not pause points, how long to
/// wait for a blocked buyer to wake and reach its next point before the
/// next step: longer than the longest sleep of a lock that polls on a
/// machine that is not crowded (`excl` backs off up to 10 ms between tries:
/// see `lock::backoff`), so a poller that the release lets in is seen
/// taking the lock at this step, not at a later one. (Where calls are
/// pause points, sleeps are answered at once: see `Calls`.)
const WAKE: Duration = Duration::from_millis(12);

/// How often quiescence is looked at.
const LOOK: Duration = Duration::from_micros(100);

/// How long a buyer given a turn may run on a processor without reaching
/// its next point or blocking before the driver preempts it (`SIGSTOP`):
/// a waiter that spins (a test-and-set loop, with or without
/// `sched_yield`) waits for another buyer that only a step can move. A
/// step's own work takes microseconds of processor time. Counted in the
/// buyer's own processor time (`/proc/PID/schedstat`), not the clock's, so
/// a loaded machine preempts no sooner.
pub const QUANTUM: Duration = Duration::from_millis(10);

/// What the driver knows of a buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Given a turn at `since`, not yet at its next point; `at` is the slot
    /// value it left, `cpu` its processor time then (ns), if known.
    Running {
        since: Instant,
        at: u32,
        cpu: Option<u64>,
    },
    /// Stopped by the driver after running a [`QUANTUM`] without reaching
    /// a point (spinning); `at` is its last point. Ready: a turn resumes
    /// it.
    Preempted { at: u32 },
    /// At a point, waiting for its turn.
    Paused { at: u32 },
    /// Stopped at one of its strategy's system calls (the notice is in
    /// [`Calls::pending`]), waiting for its turn; `at` is its last point.
    AtCall { at: u32 },
    /// Asleep in the lock; `at` is its last point.
    Blocked { at: u32 },
    /// Reaped.
    Done,
}

/// The buyers' system calls as pause points (see [`crate::sys::seccomp`]):
/// the parent's copy of each buyer's listener, the call each is stopped
/// at, and the trace line whose call's result is still to be read.
struct Calls {
    /// Whether the run's buyers stop at their calls at all.
    on: bool,
    listeners: Vec<Option<Listener>>,
    pending: Vec<Option<Notice>>,
    /// Whether the buyer's next call in a section runs without a pause:
    /// the first after a purchase point, which already stopped it just
    /// before (so a strategy whose `lock` is one call, `flock`, takes one
    /// step for it, as it did before calls were points).
    fresh: Vec<bool>,
    /// The trace line of the call each buyer was last let make, until its
    /// result is read.
    open: Vec<Option<usize>>,
    /// Whether that call blocked: its result then goes on the line that
    /// says the buyer woke, kept here meanwhile.
    blocked: Vec<bool>,
    returned: Vec<Option<String>>,
    /// The name of the call each buyer was last let make.
    calling: Vec<String>,
    /// Per buyer, the calls it was given turns at since its last point: a
    /// long streak is a waiter going round a loop of calls (a spinlock
    /// that calls `getpid` as it spins), which counts as spinning.
    streak: Vec<usize>,
    /// What the call run without a pause (the first after a point)
    /// touched, for an exploring run.
    fresh_touch: Vec<Option<Touch>>,
    /// Whether the buyer was woken (seen runnable after blocking) and has
    /// not yet reached its next pause.
    woken: Vec<bool>,
    /// Per buyer, the times it blocked on its way to the lock (in `lock`
    /// or a transaction): its wakeups, where calls are pause points.
    blocks: Vec<u64>,
    /// Why the buyers do not stop at their calls, said once.
    off: Option<String>,
}

impl Calls {
    fn new(n: usize, on: bool) -> Self {
        Calls {
            on,
            listeners: (0..n).map(|_| None).collect(),
            pending: vec![None; n],
            fresh: vec![false; n],
            open: vec![None; n],
            blocked: vec![false; n],
            returned: vec![None; n],
            calling: vec![String::new(); n],
            woken: vec![false; n],
            fresh_touch: vec![None; n],
            streak: vec![0; n],
            blocks: vec![0; n],
            off: None,
        }
    }

    /// From now on the buyers pause at their points only; the trace says
    /// why, once.
    fn turn_off(&mut self, why: String, schedule: &mut Schedule) {
        schedule.trace.push(format!(
            "   system calls are not pause points in this run ({why})"
        ));
        self.off = Some(why);
    }

    /// Takes every call stopped now. A call of the buyer's own code (no
    /// section), of another process or thread it made, or the first
    /// after a point runs at once; any other stops the buyer there.
    /// Returns, per buyer, whether any call of its was taken.
    fn take(&mut self, c: &Collector, turns: &Turns, schedule: &mut Schedule) -> Result<Vec<bool>> {
        let n = self.pending.len();
        let mut heard = vec![false; n];
        if !self.on {
            return Ok(heard);
        }
        // One poll over every listener says whose calls wait.
        let waiting = self.waiting();
        #[allow(clippy::needless_range_loop)] // `i` indexes five vectors
        for i in 0..n {
            if c.has_ended(i) {
                continue;
            }
            let pid = c.pid(i);
            if self.listeners[i].is_none() {
                match turns.listener(i) {
                    0 => continue,
                    l if l < 0 => {
                        if self.off.is_none() {
                            let e = nix::errno::Errno::from_raw(-l);
                            self.turn_off(
                                format!("buyer {i} could not install its filter: {e}"),
                                schedule,
                            );
                        }
                        continue;
                    }
                    l => {
                        let listener = Listener::take(pid, l)
                            .map_err(|e| Error::failed("taking a buyer's seccomp listener", e))?;
                        self.listeners[i] = Some(listener);
                    }
                }
            } else if !waiting[i] {
                continue;
            }
            while self.pending[i].is_none() {
                let Some(listener) = &self.listeners[i] else {
                    break;
                };
                let Some(notice) = listener
                    .next()
                    .map_err(|e| Error::failed("reading a buyer's stopped call", e))?
                else {
                    break;
                };
                heard[i] = true;
                if let Some(line) = self.open[i].take() {
                    let result = calls::result(Errno::read(pid));
                    if std::mem::take(&mut self.blocked[i]) {
                        self.returned[i] =
                            result.map(|r| format!("{} returned {r}", self.calling[i]));
                    } else if let Some(r) = result {
                        schedule.trace[line].push_str(&format!(" = {r}"));
                    }
                }
                let section = turns.section(i);
                if notice.pid != pid || section == 0 {
                    listener
                        .proceed(notice.id)
                        .map_err(|e| Error::failed("letting a buyer's call run", e))?;
                } else if std::mem::take(&mut self.fresh[i]) {
                    self.fresh_touch[i] = Some(calls::touch(&notice, pid));
                    let line = schedule.trace.len() - 1;
                    let call = calls::describe(&notice, pid);
                    schedule.trace[line].push_str(&format!(": {call}"));
                    self.let_go(i, pid, &notice, line)?;
                } else {
                    self.pending[i] = Some(notice);
                }
            }
        }
        Ok(heard)
    }

    /// Per buyer, whether a stopped call waits on its listener now (one
    /// `poll` over them all; a buyer without a listener: no).
    fn waiting(&self) -> Vec<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let held: Vec<usize> = (0..self.listeners.len())
            .filter(|&i| self.listeners[i].is_some() && self.pending[i].is_none())
            .collect();
        let mut fds: Vec<PollFd> = held
            .iter()
            .filter_map(|&i| self.listeners[i].as_ref())
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        let mut out = vec![false; self.listeners.len()];
        if fds.is_empty() || poll(&mut fds, PollTimeout::ZERO).is_err() {
            // Without the poll's answer, every listener is read.
            held.iter().for_each(|&i| out[i] = true);
            return out;
        }
        for (k, &i) in held.iter().enumerate() {
            out[i] = fds[k].revents().is_some_and(|r| !r.is_empty());
        }
        out
    }

    /// The trace line of buyer `i` waking, with the result of the call it
    /// blocked in where known.
    fn woke_line(&mut self, i: usize, pid: Pid) -> String {
        // Seen at its next point before any call of its own: the call it
        // blocked in has returned, and its result is in its errno still.
        if self.returned[i].is_none() && self.open[i].is_some() && self.blocked[i] {
            self.open[i] = None;
            self.blocked[i] = false;
            self.returned[i] = calls::result(Errno::read(pid))
                .map(|r| format!("{} returned {r}", self.calling[i]));
        }
        match self.returned[i].take() {
            Some(r) => format!("   buyer {i} woke: {r}"),
            None => format!("   buyer {i} woke with the lock"),
        }
    }

    /// Lets buyer `i`'s stopped call `notice` go on (a sleep is skipped,
    /// returning 0), its result to be added to trace line `line`.
    fn let_go(&mut self, i: usize, pid: Pid, notice: &Notice, line: usize) -> Result<()> {
        let listener = self.listeners[i]
            .as_ref()
            .expect("a stopped call has its listener");
        if Errno::clear(pid) {
            self.open[i] = Some(line);
        }
        self.calling[i] = calls::name(notice.nr);
        if calls::kind(notice.nr) == calls::Kind::Sleep {
            listener.pretend(notice.id)
        } else {
            listener.proceed(notice.id)
        }
        .map_err(|e| Error::failed("letting a buyer's call run", e))
    }
}

/// Runs the buyers step by step, `chooser` choosing who moves at each,
/// collecting their records through `c`, and returns the schedule
/// followed.
///
/// # Errors
/// What the chooser refuses (see [`refused`]); [`Error::Interrupted`] on
/// a stop signal.
pub(super) fn drive(
    c: &mut Collector,
    channel: Receiver,
    turns: &Turns,
    chooser: &mut dyn Chooser,
    exploring: bool,
) -> Result<Schedule> {
    channel
        .set_nonblocking()
        .map_err(|e| Error::failed("the outcome channel", e))?;
    let n = c.buyers();
    let now = Instant::now();
    let mut states = vec![
        State::Running {
            since: now,
            at: 0,
            cpu: None,
        };
        n
    ];
    let mut calls = Calls::new(n, turns.calls());
    let mut schedule = Schedule::default();
    if !turns.calls()
        && let Err(why) = crate::sys::seccomp::usable()
    {
        calls.turn_off(why, &mut schedule);
    }
    let mut run = Quiet {
        c: &mut *c,
        channel: &channel,
        turns,
        calls: &mut calls,
    };
    run.quiesce(&mut states, None, &mut schedule)?;
    // Every buyer waits to start; started one at a time, in id order, each
    // runs to its first pause before the next starts (see `Point::Start`).
    for i in 0..n {
        if let State::Paused { at } = states[i]
            && Point::from_value(at) == Some(Point::Start)
        {
            run.turns
                .go(i)
                .map_err(|e| Error::failed("starting a buyer", e))?;
            states[i] = State::Running {
                since: Instant::now(),
                at,
                cpu: None,
            };
            run.quiesce(&mut states, None, &mut schedule)?;
        }
    }
    // An exploring run: the run's own shared memory, and the stock, by path.
    let own_memory = [turns.addr(), run.c.stages_addr()];
    let stock = calls::canonical(run.c.stock());
    // The run's directory, which differs between runs: paths in it are
    // recorded relative to it, so that runs compare.
    let workdir = std::path::Path::new(&stock)
        .parent()
        .map(|d| format!("{}/", d.display()))
        .unwrap_or_default();
    if exploring {
        schedule.shared_memory = (0..n).any(|i| strategy_memory(run.c, i, &own_memory));
    }
    // The watchdog of a stepped run: steps that never finish a buyer (a
    // strategy that pauses at its own points for ever) are no progress.
    let mut last_finish = Instant::now();
    let mut finished = 0;
    let mut steps_at_finish = 0;
    loop {
        let done = states.iter().filter(|s| **s == State::Done).count();
        if done > finished {
            finished = done;
            last_finish = Instant::now();
            steps_at_finish = schedule.steps.len();
        } else if last_finish.elapsed() > run.c.timeout()
            && schedule.steps.len() - steps_at_finish >= WATCHDOG_STEPS
        {
            schedule.trace.push(format!(
                "watchdog: no buyer finished for {} and {WATCHDOG_STEPS} steps",
                crate::engine::delay::fmt_duration(run.c.timeout())
            ));
            run.c.watchdog(None);
            break;
        }
        let ready: Vec<Ready> = states
            .iter()
            .enumerate()
            .filter_map(|(i, st)| ready(i, *st, run.calls, run.turns))
            .collect();
        if ready.is_empty() {
            if states.iter().all(|s| *s == State::Done) {
                break;
            }
            // Everyone left is blocked. A release may still be waking
            // one (a loaded machine is slow to run it): wait for that
            // as long as the watchdog would.
            let before = states.to_vec();
            let patience = Some(run.c.timeout());
            run.quiesce(&mut states, patience, &mut schedule)?;
            if states[..] != before[..] {
                continue;
            }
            // Nobody moved for --timeout: a deadlock, which no step can
            // end. The watchdog's way: stop them, count them as hung.
            schedule
                .trace
                .push("deadlock: every buyer left is blocked".into());
            run.c.watchdog(None);
            break;
        }
        let k = schedule.steps.len();
        let turn = Turn {
            step: k + 1,
            ready: &ready,
            blocked: states.iter().any(|s| matches!(s, State::Blocked { .. })),
        };
        let b = chooser
            .choose(&turn)
            .map_err(|r| refused(r, k, &ready, &states))?;
        if exploring {
            let options = turn
                .options()
                .into_iter()
                .map(|o| {
                    let t = pending_touch(o as usize, &states, run.calls, run.c, &stock);
                    (o, in_run(t, &workdir))
                })
                .collect();
            schedule.explored.push(Explored {
                options,
                touch: Touch::Unknown,
            });
        }
        debug_assert!(
            ready.iter().any(|r| r.id == b),
            "a chooser picks a ready buyer"
        );
        let i = b as usize;
        schedule.steps.push(b);
        let pid = run.c.pid(i);
        let mut release = false;
        // What this step touches, for an exploring run: its call's files,
        // or (a point's step) those of the first call it makes, if any.
        let mut touched = pending_touch(i, &states, run.calls, run.c, &stock);
        let at = match states[i] {
            State::Preempted { at } => {
                let point = Point::from_value(at).map_or("?", Point::name);
                schedule
                    .trace
                    .push(format!("{}: buyer {b} spins on (in {point})", k + 1));
                sys::resume(pid).map_err(|e| Error::failed("resuming a spinning buyer", e))?;
                at
            }
            State::AtCall { at } => {
                let notice = run.calls.pending[i].take().expect("stopped at a call");
                run.calls.streak[i] += 1;
                let call = calls::describe(&notice, pid);
                schedule.trace.push(format!("{}: buyer {b} {call}", k + 1));
                let line = schedule.trace.len() - 1;
                run.calls.let_go(i, pid, &notice, line)?;
                // A call in `unlock` may be the release.
                release = run.turns.section(i) == UNLOCK;
                at
            }
            State::Paused { at } => {
                let point = Point::from_value(at).map_or("?", Point::name);
                schedule.trace.push(format!("{}: buyer {b} {point}", k + 1));
                run.calls.fresh[i] = true;
                run.calls.streak[i] = 0;
                run.turns
                    .go(i)
                    .map_err(|e| Error::failed("giving a buyer its turn", e))?;
                release = matches!(Point::from_value(at), Some(Point::Unlock | Point::Inside));
                at
            }
            _ => unreachable!("runnable buyers are paused or preempted"),
        };
        states[i] = State::Running {
            since: Instant::now(),
            at,
            cpu: sys::proc::cpu_ns(pid),
        };
        // Where calls are pause points, a release's wakeups are seen in
        // `/proc` (the kernel wakes a waiter inside the releasing call):
        // no time to wait.
        let wake = (release && !run.calls.on).then_some(WAKE);
        run.quiesce(&mut states, wake, &mut schedule)?;
        if exploring {
            if touched == Touch::Unknown
                && matches!(
                    Point::from_value(at),
                    Some(Point::Lock | Point::Unlock | Point::Inside)
                )
            {
                // A point's step into the strategy: what its first call (run
                // without a pause) touched, or nothing but its own memory.
                touched = run.calls.fresh_touch[i].take().unwrap_or(Touch::Nothing);
            }
            run.calls.fresh_touch[i] = None;
            if let Some(e) = schedule.explored.last_mut() {
                e.touch = in_run(touched, &workdir);
            }
            if states[i] != State::Done && strategy_memory(run.c, i, &own_memory) {
                schedule.shared_memory = true;
            }
        }
    }
    let taken = schedule.steps.len();
    chooser
        .finish(taken)
        .map_err(|r| refused(r, taken, &[], &states))?;
    c.drain(channel);
    if calls.on && calls.off.is_none() {
        for (i, &blocks) in calls.blocks.iter().enumerate() {
            c.set_wakeups(i, blocks);
        }
    }
    Ok(schedule)
}

/// How many calls in a row, since its last point, make a buyer count as
/// spinning (see `Calls::streak`): more than a lock's own calls (`excl`
/// makes 2 a try; a pure test-and-set, none).
const SPIN_STREAK: usize = 8;

/// The section numbers of `lock`, `unlock` and `transact` (see
/// `engine::buyer::Section`).
const LOCK: u32 = 1;
const UNLOCK: u32 = 2;
const TRANSACT: u32 = 3;

/// What buyer `i`'s next step would touch, as far as known before it
/// runs: a stopped call's files; the stock, for the purchase's read and
/// write; anything, for a step into the strategy from a point (its code
/// before its first call is not seen).
fn pending_touch(i: usize, states: &[State], calls: &Calls, c: &Collector, stock: &str) -> Touch {
    match states[i] {
        State::AtCall { .. } => calls.pending[i]
            .as_ref()
            .map_or(Touch::Unknown, |n| calls::touch(n, c.pid(i))),
        State::Paused { at }
            if matches!(Point::from_value(at), Some(Point::Read | Point::Write)) =>
        {
            Touch::Files(vec![stock.to_string()])
        }
        _ => Touch::Unknown,
    }
}

/// `touch` with the files in the run's directory `dir` named relative to
/// it (`./stock.json`).
fn in_run(touch: Touch, dir: &str) -> Touch {
    match touch {
        Touch::Files(files) if !dir.is_empty() => Touch::Files(
            files
                .into_iter()
                .map(|f| match f.strip_prefix(dir) {
                    Some(rest) => format!("./{rest}"),
                    None => f,
                })
                .collect(),
        ),
        other => other,
    }
}

/// Whether buyer `i` maps writable shared memory that is not the run's
/// own (`own`): a strategy's words, semaphore or mutex, which code between
/// two calls may touch unseen. Not known counts as yes.
fn strategy_memory(c: &Collector, i: usize, own: &[usize]) -> bool {
    if c.has_ended(i) {
        return false;
    }
    sys::proc::shared_writable(c.pid(i)).is_none_or(|maps| maps.iter().any(|m| !own.contains(m)))
}

/// Buyer `i` as the chooser sees it, if it can move.
fn ready(i: usize, st: State, calls: &Calls, turns: &Turns) -> Option<Ready> {
    let id = i as u32;
    match st {
        State::Paused { at } => Some(Ready {
            id,
            at: Point::from_value(at),
            spinning: false,
        }),
        State::Preempted { at } => Some(Ready {
            id,
            at: Point::from_value(at),
            spinning: true,
        }),
        State::AtCall { .. } => {
            let notice = calls.pending[i].as_ref()?;
            Some(Ready {
                id,
                // Going on inside the lock (or a transaction) may block
                // there; inside `unlock` it is a release.
                at: Some(if turns.section(i) == UNLOCK {
                    Point::Unlock
                } else {
                    Point::Inside
                }),
                spinning: calls::kind(notice.nr) != calls::Kind::Other
                    || calls.streak[i] >= SPIN_STREAK,
            })
        }
        _ => None,
    }
}

/// What quiescence is waited for with: the run's collector, channel and
/// turns, and its calls.
struct Quiet<'r, 'a> {
    c: &'r mut Collector<'a>,
    channel: &'r Receiver,
    turns: &'r Turns,
    calls: &'r mut Calls,
}

impl Quiet<'_, '_> {
    /// Waits until every buyer is paused, blocked or done. With `wake`
    /// (after a release, or when only blocked buyers are left), also
    /// gives a blocked buyer that long to take the lock and reach its
    /// next point.
    fn quiesce(
        &mut self,
        states: &mut [State],
        wake: Option<Duration>,
        schedule: &mut Schedule,
    ) -> Result<()> {
        let start = Instant::now();
        let mut woke = false;
        loop {
            if let Some(sig) = sys::stop_signal() {
                return Err(Error::interrupted(sig, "mid-run, stepping".into()));
            }
            self.c.take_waiting(self.channel);
            self.c.reap_ended(true)?;
            // Who sleeps in a call, looked at before the calls are taken:
            // a buyer seen asleep and with no call stopped after is asleep
            // in a call that waits (a stopped call is queued before its
            // caller sleeps).
            let asleep: Vec<bool> = states
                .iter()
                .enumerate()
                .map(|(i, st)| match st {
                    State::Running { .. } | State::Blocked { .. } if !self.c.has_ended(i) => {
                        blocked(self.c.pid(i))
                    }
                    _ => false,
                })
                .collect();
            let heard = self.calls.take(self.c, self.turns, schedule)?;
            let calls_on = self.calls.on && self.calls.off.is_none();
            for (i, st) in states.iter_mut().enumerate() {
                if *st == State::Done {
                    continue;
                }
                if self.c.has_ended(i) {
                    woke |= matches!(st, State::Blocked { .. });
                    *st = State::Done;
                    continue;
                }
                let now_at = self.turns.at(i);
                let pid = self.c.pid(i);
                let stopped_at_call = self.calls.pending[i].is_some();
                match *st {
                    State::Running { since, at, cpu } => {
                        if now_at != at || stopped_at_call {
                            *st = if now_at != at {
                                State::Paused { at: now_at }
                            } else {
                                State::AtCall { at }
                            };
                            if std::mem::take(&mut self.calls.woken[i]) {
                                schedule.trace.push(self.calls.woke_line(i, pid));
                            }
                        } else if asleep[i]
                            && !heard[i]
                            && if calls_on {
                                // Outside its strategy's calls a buyer
                                // sleeps only in the run's own waits.
                                self.turns.section(i) != 0
                            } else {
                                since.elapsed() > SETTLE
                            }
                        {
                            *st = State::Blocked { at };
                            if let Some(line) = self.calls.open[i] {
                                schedule.trace[line].push_str(" … blocks");
                                self.calls.blocked[i] = true;
                            }
                            if matches!(self.turns.section(i), LOCK | TRANSACT) {
                                self.calls.blocks[i] += 1;
                            }
                            schedule
                                .trace
                                .push(format!("   buyer {i} blocked in the lock"));
                        } else if at != 0 && spun(pid, cpu) {
                            *st = preempt(i, pid, at, self.turns, schedule)?;
                        } else if since.elapsed() > self.c.timeout() * BUSY_TIMEOUTS
                            || (cpu.is_none() && since.elapsed() > self.c.timeout())
                        {
                            // Busy for ever without reaching a point (at
                            // once where its processor time cannot be
                            // read).
                            *st = State::Blocked { at };
                        }
                    }
                    State::Blocked { at } if now_at != at || stopped_at_call => {
                        *st = if now_at != at {
                            State::Paused { at: now_at }
                        } else {
                            State::AtCall { at }
                        };
                        woke = true;
                        schedule.trace.push(self.calls.woke_line(i, pid));
                    }
                    State::Blocked { at } if calls_on && (!asleep[i] || heard[i]) => {
                        // Woken by a release (the kernel made it
                        // runnable inside the releasing call), or seen
                        // making a call of the run's own after it: it runs
                        // to its next pause, which is waited for.
                        self.calls.woken[i] = true;
                        woke = true;
                        *st = State::Running {
                            since: Instant::now(),
                            at,
                            cpu: sys::proc::cpu_ns(pid),
                        };
                    }
                    _ => {}
                }
            }
            let mut running = states.iter().any(|s| matches!(s, State::Running { .. }));
            if !running && calls_on {
                // Looked at again now that every other buyer is seen
                // stopped: a release woke its waiter before the releasing
                // buyer stopped at its next call, so a waiter asleep when
                // first looked at may be awake now.
                for (i, st) in states.iter_mut().enumerate() {
                    if let State::Blocked { at } = *st {
                        let pid = self.c.pid(i);
                        if !self.c.has_ended(i) && !blocked(pid) {
                            self.calls.woken[i] = true;
                            woke = true;
                            running = true;
                            *st = State::Running {
                                since: Instant::now(),
                                at,
                                cpu: sys::proc::cpu_ns(pid),
                            };
                        }
                    }
                }
            }
            let blocked = states.iter().any(|s| matches!(s, State::Blocked { .. }));
            let waiting_for_wake = wake.is_some_and(|w| blocked && !woke && start.elapsed() < w);
            if !running && !waiting_for_wake {
                return Ok(());
            }
            self.look();
        }
    }

    /// Waits [`LOOK`], or less when a buyer's call stops meanwhile.
    fn look(&self) {
        use nix::poll::{PollFd, PollFlags, ppoll};
        use nix::sys::time::TimeSpec;
        let mut fds: Vec<PollFd> = self
            .calls
            .listeners
            .iter()
            .zip(&self.calls.pending)
            .filter(|(_, p)| p.is_none())
            .filter_map(|(l, _)| l.as_ref())
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(LOOK);
        } else {
            // An error (EINTR from a stop signal) only ends the wait early.
            let _ = ppoll(&mut fds, Some(TimeSpec::from_duration(LOOK)), None);
        }
    }
}

/// Whether a buyer given a turn when its processor time was `since` has
/// run a [`QUANTUM`] on a processor since.
fn spun(pid: nix::unistd::Pid, since: Option<u64>) -> bool {
    let (Some(since), Some(now)) = (since, sys::proc::cpu_ns(pid)) else {
        return false;
    };
    now.saturating_sub(since) >= QUANTUM.as_nanos() as u64
}

/// The steps a stepped run may take without a buyer finishing before its
/// watchdog may call it hung (besides `--timeout` of the clock): a step's
/// time is the machine's — a spinning buyer's step is a quantum of its
/// own processor time, which a loaded machine gives slowly — so the clock
/// alone would call a slow machine's run hung. A purchase is four steps
/// and a few spins; hundreds of steps without one finishing is a strategy
/// that goes round in circles (a spin on a lock no one will release, a
/// point it pauses at for ever).
pub const WATCHDOG_STEPS: usize = 200;

/// How many watchdog timeouts a buyer may run, on the clock, without
/// reaching a point, blocking, or spinning a quantum (asleep outside any
/// call, say, or starved of a processor) before the driver stops waiting
/// for it and counts it as blocked.
const BUSY_TIMEOUTS: u32 = 10;

/// How long a `SIGSTOP` may take to show in `/proc` before the driver
/// gives up on it (the buyer then simply runs on).
const STOP_SHOWS: Duration = Duration::from_secs(1);

/// Preempts buyer `i` (`pid`), which has spun a [`QUANTUM`] since its
/// point `at`: stops it and waits until it is stopped. Had it reached its
/// next point meanwhile, it is continued and paused there instead.
fn preempt(
    i: usize,
    pid: nix::unistd::Pid,
    at: u32,
    turns: &Turns,
    schedule: &mut Schedule,
) -> Result<State> {
    sys::stop(pid).map_err(|e| Error::failed("preempting a spinning buyer", e))?;
    let asked = Instant::now();
    while sys::proc::stopped(pid) == Some(false) && asked.elapsed() < STOP_SHOWS {
        std::thread::yield_now();
    }
    let now_at = turns.at(i);
    if now_at != at {
        // It reached its point just before the stop: it waits there.
        sys::resume(pid).map_err(|e| Error::failed("resuming a buyer", e))?;
        return Ok(State::Paused { at: now_at });
    }
    schedule.trace.push(format!(
        "   buyer {i} preempted: it ran {} without reaching a point (spinning)",
        crate::engine::delay::fmt_duration(QUANTUM)
    ));
    Ok(State::Preempted { at })
}

/// Whether a buyer that has not reached its next point waits for
/// another: asleep interruptibly inside a system call (a lock's futex,
/// `flock`, `semop`, a pipe, a polling lock's sleep — see [`sys::proc`]),
/// not merely slow (asleep in a page fault or on the disk of a loaded
/// machine). Where `/proc` cannot name the call, a sleeping buyer counts
/// as blocked.
fn blocked(pid: nix::unistd::Pid) -> bool {
    sys::proc::waiting(pid).unwrap_or_else(|| sys::proc::asleep(pid).unwrap_or(false))
}

/// The user's error for what a chooser refused after `taken` steps, with
/// `ready` the buyers who could move.
fn refused(refusal: Refusal, taken: usize, ready: &[Ready], states: &[State]) -> Error {
    let ready: Vec<u32> = ready.iter().map(|r| r.id).collect();
    match refusal {
        Refusal::Ended => Error::Input(format!(
            "--schedule: too short, it ends after step {taken} while buyers {} can still move",
            list_ids(&ready)
        )),
        Refusal::NotReady { buyer } => Error::Diverged {
            step: taken + 1,
            buyer,
            state: describe(states.get(buyer as usize).copied()),
            runnable: ready,
        },
        Refusal::Unfinished { planned } => Error::Input(format!(
            "--schedule: too long, the run ended after {taken} steps and the schedule has {planned}"
        )),
    }
}

fn describe(state: Option<State>) -> &'static str {
    match state {
        None => "not a buyer of this run",
        Some(State::Blocked { .. }) => "blocked in the lock",
        Some(State::Done) => "finished",
        Some(State::Running { .. }) => "still moving",
        Some(State::Paused { .. }) => "paused",
        Some(State::AtCall { .. }) => "stopped at a system call",
        Some(State::Preempted { .. }) => "preempted while spinning",
    }
}
