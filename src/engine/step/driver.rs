//! The driver of a stepped run: it gives the turns, waits for quiescence
//! after each, tells blocked buyers from paused ones, and asks a
//! [`Chooser`] who moves next. It collects the buyers' records through the
//! collector; the policy never sees a process.

use std::time::{Duration, Instant};

use super::{Chooser, Ready, Refusal, Schedule, Turn};
use crate::engine::buyer::Point;
use crate::engine::collect::Collector;
use crate::error::{Error, Result, list_ids};
use crate::sys::channel::Receiver;
use crate::sys::{self, Turns};

/// How long a buyer given a turn may sleep without reaching its next point
/// before it counts as blocked (and only if it sleeps in a call that waits
/// for another, see [`blocked`]). A step that is not blocked takes tens of
/// microseconds.
const SETTLE: Duration = Duration::from_millis(3);

/// After a release, how long to wait for a blocked buyer to wake and reach
/// its next point before the next step: longer than the longest sleep of a
/// lock that polls (`excl` backs off up to 10 ms between tries, SQLite's
/// busy handler too), so a poller that the release lets in is seen taking
/// the lock at this step, not at a later one.
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
    /// Asleep in the lock; `at` is its last point.
    Blocked { at: u32 },
    /// Reaped.
    Done,
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
    let mut schedule = Schedule::default();
    quiesce(c, &channel, turns, &mut states, None, &mut schedule)?;
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
        } else if last_finish.elapsed() > c.timeout()
            && schedule.steps.len() - steps_at_finish >= WATCHDOG_STEPS
        {
            schedule.trace.push(format!(
                "watchdog: no buyer finished for {} and {WATCHDOG_STEPS} steps",
                crate::engine::delay::fmt_duration(c.timeout())
            ));
            c.watchdog(None);
            break;
        }
        let ready: Vec<Ready> = states
            .iter()
            .enumerate()
            .filter_map(|(i, st)| match *st {
                State::Paused { at } => Some(Ready {
                    id: i as u32,
                    at: Point::from_value(at),
                    spinning: false,
                }),
                State::Preempted { at } => Some(Ready {
                    id: i as u32,
                    at: Point::from_value(at),
                    spinning: true,
                }),
                _ => None,
            })
            .collect();
        if ready.is_empty() {
            if states.iter().all(|s| *s == State::Done) {
                break;
            }
            // Everyone left is blocked. A release may still be waking
            // one (a loaded machine is slow to run it): wait for that
            // as long as the watchdog would.
            let before = states.to_vec();
            let patience = Some(c.timeout());
            quiesce(c, &channel, turns, &mut states, patience, &mut schedule)?;
            if states[..] != before[..] {
                continue;
            }
            // Nobody moved for --timeout: a deadlock, which no step can
            // end. The watchdog's way: stop them, count them as hung.
            schedule
                .trace
                .push("deadlock: every buyer left is blocked".into());
            c.watchdog(None);
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
        debug_assert!(
            ready.iter().any(|r| r.id == b),
            "a chooser picks a ready buyer"
        );
        let i = b as usize;
        let (at, spinning) = match states[i] {
            State::Paused { at } => (at, false),
            State::Preempted { at } => (at, true),
            _ => unreachable!("runnable buyers are paused or preempted"),
        };
        let point = Point::from_value(at).map_or("?", Point::name);
        schedule.steps.push(b);
        let pid = c.pid(i);
        if spinning {
            schedule
                .trace
                .push(format!("{}: buyer {b} spins on (in {point})", k + 1));
            sys::resume(pid).map_err(|e| Error::failed("resuming a spinning buyer", e))?;
        } else {
            schedule.trace.push(format!("{}: buyer {b} {point}", k + 1));
            turns
                .go(i)
                .map_err(|e| Error::failed("giving a buyer its turn", e))?;
        }
        states[i] = State::Running {
            since: Instant::now(),
            at,
            cpu: sys::proc::cpu_ns(pid),
        };
        let release =
            !spinning && matches!(Point::from_value(at), Some(Point::Unlock | Point::Inside));
        let wake = release.then_some(WAKE);
        quiesce(c, &channel, turns, &mut states, wake, &mut schedule)?;
    }
    let taken = schedule.steps.len();
    chooser
        .finish(taken)
        .map_err(|r| refused(r, taken, &[], &states))?;
    c.drain(channel);
    Ok(schedule)
}

/// Waits until every buyer is paused, blocked or done. With `wake`
/// (after a release, or when only blocked buyers are left), also gives
/// a blocked buyer that long to take the lock and reach its next point.
fn quiesce(
    c: &mut Collector,
    channel: &Receiver,
    turns: &Turns,
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
        c.take_waiting(channel);
        c.reap_ended(true)?;
        for (i, st) in states.iter_mut().enumerate() {
            if *st == State::Done {
                continue;
            }
            if c.has_ended(i) {
                woke |= matches!(st, State::Blocked { .. });
                *st = State::Done;
                continue;
            }
            let now_at = turns.at(i);
            let pid = c.pid(i);
            match *st {
                State::Running { since, at, cpu } => {
                    if now_at != at {
                        *st = State::Paused { at: now_at };
                    } else if since.elapsed() > SETTLE && blocked(pid) {
                        *st = State::Blocked { at };
                        schedule
                            .trace
                            .push(format!("   buyer {i} blocked in the lock"));
                    } else if at != 0 && spun(pid, cpu) {
                        *st = preempt(i, pid, at, turns, schedule)?;
                    } else if since.elapsed() > c.timeout() * BUSY_TIMEOUTS
                        || (cpu.is_none() && since.elapsed() > c.timeout())
                    {
                        // Busy for ever without reaching a point (at once
                        // where its processor time cannot be read).
                        *st = State::Blocked { at };
                    }
                }
                State::Blocked { at } if now_at != at => {
                    *st = State::Paused { at: now_at };
                    woke = true;
                    schedule
                        .trace
                        .push(format!("   buyer {i} woke with the lock"));
                }
                _ => {}
            }
        }
        let running = states.iter().any(|s| matches!(s, State::Running { .. }));
        let blocked = states.iter().any(|s| matches!(s, State::Blocked { .. }));
        let waiting_for_wake = wake.is_some_and(|w| blocked && !woke && start.elapsed() < w);
        if !running && !waiting_for_wake {
            return Ok(());
        }
        std::thread::sleep(LOOK);
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
        Some(State::Preempted { .. }) => "preempted while spinning",
    }
}
