//! Stepped mode: the parent is the scheduler, and a run follows the
//! interleaving it chooses — real processes, real `flock`, real
//! semaphores.
//!
//! Each buyer pauses at four points of its purchase ([`Point`]: before
//! asking for the lock, reading the stock, writing it, releasing), says
//! where in its shared-memory slot, and waits on its own process-shared
//! semaphore ([`Turns`]) for its turn. A **step** gives one paused buyer
//! its turn; it then runs to its next point, or finishes, or **blocks** in
//! the lock because another buyer holds it. After every step the parent
//! waits for quiescence: every buyer paused, finished, or blocked. A buyer
//! that does not reach its next point within a settle time while sleeping
//! in the kernel is blocked; when a release wakes it, it reaches its next
//! point and is paused again — the trace says who woke. Time is virtual:
//! delays and arrivals are not slept.
//!
//! The schedule is the list of buyer ids, one per step. A run with an
//! explicit schedule repeats exactly: the same tickets to the same buyers,
//! the same final stock. Where the kernel chooses among several blocked
//! waiters, a replay may see another winner take the lock; the schedule
//! then names a buyer that is not runnable, and the run is refused as
//! diverged (and retried by the caller) rather than reported wrongly.

use std::time::{Duration, Instant};

use super::buyer::Point;
use super::channel::Receiver;
use super::collect::Collector;
use super::config::{Stepping, schedule_text};
use super::seed;
use super::sys::{self, Turns};
use crate::error::{Error, Result};

/// How long a buyer given a turn may sleep without reaching its next point
/// before it counts as blocked. A step that is not blocked takes tens of
/// microseconds; a strategy that polls (`excl`) sleeps at most 500 µs
/// between tries.
const SETTLE: Duration = Duration::from_millis(3);

/// After a release, how long to wait for a blocked buyer to wake and reach
/// its next point before the next step.
const WAKE: Duration = Duration::from_millis(5);

/// How often quiescence is looked at.
const LOOK: Duration = Duration::from_micros(100);

/// The schedule a stepped run followed, and what happened at each step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The buyer ids, one per step: `--schedule` replays it.
    pub steps: Vec<u32>,
    /// One line per step: who moved, and who blocked or woke.
    pub trace: Vec<String>,
}

impl Schedule {
    /// The schedule as `--schedule` takes it.
    pub fn text(&self) -> String {
        schedule_text(&self.steps)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Given a turn at `since`, not yet at its next point; `at` is the slot
    /// value it left.
    Running { since: Instant, at: u32 },
    /// At a point, waiting for its turn.
    Paused { at: u32 },
    /// Asleep in the lock; `at` is its last point.
    Blocked { at: u32 },
    /// Reaped.
    Done,
}

/// Runs the buyers step by step as `stepping` says, collecting their
/// records through `c`, and returns the schedule followed.
///
/// # Errors
/// [`Error::Input`] when an explicit schedule names a buyer that is not
/// runnable at its step, is too short, or too long (for a schedule that
/// `booking` recorded: the kernel woke another waiter, the run
/// diverged); [`Error::Interrupted`] on a stop signal.
pub(super) fn collect_stepped(
    c: &mut Collector,
    channel: Receiver,
    turns: &Turns,
    stepping: &Stepping,
) -> Result<Schedule> {
    channel
        .set_nonblocking()
        .map_err(|e| Error::failed("the outcome channel", e))?;
    let n = c.buyers();
    let now = Instant::now();
    let mut states = vec![State::Running { since: now, at: 0 }; n];
    let mut rng = match stepping {
        Stepping::Seeded(s) | Stepping::Pct { seed: s, .. } => {
            Some(seed::rng(*s, seed::stream::SCHEDULE))
        }
        Stepping::Schedule(_) => None,
    };
    let mut pct = match (stepping, &mut rng) {
        (Stepping::Pct { depth, .. }, Some(r)) => Some(Pct::new(r, n, *depth)),
        _ => None,
    };
    let mut schedule = Schedule::default();
    quiesce(c, &channel, turns, &mut states, None, &mut schedule)?;
    // The watchdog of a stepped run: steps that never finish a buyer (a
    // strategy that pauses at its own points for ever) are no progress.
    let mut last_finish = Instant::now();
    let mut finished = 0;
    loop {
        let done = states.iter().filter(|s| **s == State::Done).count();
        if done > finished {
            finished = done;
            last_finish = Instant::now();
        } else if last_finish.elapsed() > c.timeout() {
            schedule.trace.push(format!(
                "watchdog: no buyer finished for {} of steps",
                super::delay::fmt_duration(c.timeout())
            ));
            c.watchdog(None);
            break;
        }
        let runnable: Vec<u32> = (0..n as u32)
            .filter(|&i| matches!(states[i as usize], State::Paused { .. }))
            .collect();
        if runnable.is_empty() {
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
        let b = match (stepping, &mut rng) {
            (Stepping::Schedule(list), _) => {
                let Some(&b) = list.get(k) else {
                    return Err(Error::Input(format!(
                        "--schedule: too short, it ends after step {k} while buyers {} can still move",
                        list_ids(&runnable)
                    )));
                };
                if !runnable.contains(&b) {
                    return Err(Error::Input(format!(
                        "--schedule: step {} names buyer {b}, who is {} (runnable: {}); a schedule recorded by booking that fails here diverged: the kernel woke another waiter",
                        k + 1,
                        describe(states.get(b as usize).copied()),
                        list_ids(&runnable)
                    )));
                }
                b
            }
            (Stepping::Seeded(_), Some(r)) => {
                let choices = one_waiter_at_most(&runnable, &states);
                choices[seed::between(r, 0, choices.len() as u64 - 1) as usize]
            }
            (Stepping::Pct { .. }, _) => {
                let choices = one_waiter_at_most(&runnable, &states);
                pct.as_mut()
                    .expect("a PCT schedule has its priorities")
                    .choose(&choices, k + 1)
            }
            (Stepping::Seeded(_), None) => unreachable!("a seeded schedule has its generator"),
        };
        let i = b as usize;
        let State::Paused { at } = states[i] else {
            unreachable!("runnable buyers are paused")
        };
        let point = Point::from_value(at).map_or("?", Point::name);
        schedule.steps.push(b);
        schedule.trace.push(format!("{}: buyer {b} {point}", k + 1));
        turns
            .go(i)
            .map_err(|e| Error::failed("giving a buyer its turn", e))?;
        states[i] = State::Running {
            since: Instant::now(),
            at,
        };
        let release = matches!(Point::from_value(at), Some(Point::Unlock | Point::Inside));
        let wake = release.then_some(WAKE);
        quiesce(c, &channel, turns, &mut states, wake, &mut schedule)?;
    }
    if let Stepping::Schedule(list) = stepping
        && list.len() > schedule.steps.len()
    {
        return Err(Error::Input(format!(
            "--schedule: too long, the run ended after {} steps and the schedule has {}",
            schedule.steps.len(),
            list.len()
        )));
    }
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
            match *st {
                State::Running { since, at } => {
                    if now_at != at {
                        *st = State::Paused { at: now_at };
                    } else if since.elapsed() > SETTLE && asleep(c.pid(i)) {
                        *st = State::Blocked { at };
                        schedule
                            .trace
                            .push(format!("   buyer {i} blocked in the lock"));
                    } else if since.elapsed() > c.timeout() {
                        // Busy for ever without reaching a point.
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

/// Whether process `pid` is asleep in the kernel (state `S` or `D` in
/// `/proc/PID/stat`): a buyer that has not reached its next point and
/// sleeps is waiting for something — in stepped mode, the lock.
fn asleep(pid: nix::unistd::Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(") ")?.1.chars().next()?;
            Some(matches!(state, 'S' | 'D'))
        })
        .unwrap_or(false)
}

/// PCT's state: a priority per buyer (higher moves first) and the steps at
/// which the buyer that moves drops to the bottom.
struct Pct {
    priority: Vec<u64>,
    /// Step numbers (from 1), each with the low priority it gives.
    changes: Vec<(usize, u64)>,
}

impl Pct {
    /// Priorities `depth..depth + n` in a random order; `depth - 1` change
    /// points among the first `4 n` steps (a purchase is four steps), with
    /// priorities `depth - 1` down to 1, below every initial one.
    fn new(rng: &mut seed::SeededRng, n: usize, depth: u32) -> Self {
        let d = u64::from(depth.max(1));
        let mut priority: Vec<u64> = (0..n as u64).map(|i| d + i).collect();
        for i in (1..n).rev() {
            priority.swap(i, seed::between(rng, 0, i as u64) as usize);
        }
        let horizon = (4 * n).max(1) as u64;
        let changes = (1..d)
            .map(|j| (seed::between(rng, 1, horizon) as usize, d - j))
            .collect();
        Pct { priority, changes }
    }

    /// The highest-priority buyer among `choices`, at step `step`; lowers
    /// it if `step` is a change point.
    fn choose(&mut self, choices: &[u32], step: usize) -> u32 {
        let b = *choices
            .iter()
            .max_by_key(|&&b| self.priority[b as usize])
            .expect("choices are not empty");
        for &(at, low) in &self.changes {
            if at == step {
                self.priority[b as usize] = low;
            }
        }
        b
    }
}

/// A seeded schedule sends no second buyer into the lock while one is
/// blocked in it (unless nothing else can move): with one waiter, a release
/// wakes that one, so the recorded schedule replays exactly. Which of
/// several waiters wins is the kernel's choice (or, for a strategy that
/// polls, a race), which no schedule can fix.
fn one_waiter_at_most(runnable: &[u32], states: &[State]) -> Vec<u32> {
    let blocked = states.iter().any(|s| matches!(s, State::Blocked { .. }));
    if !blocked {
        return runnable.to_vec();
    }
    let at_lock = |b: &u32| match states[*b as usize] {
        State::Paused { at } => matches!(Point::from_value(at), Some(Point::Lock | Point::Inside)),
        _ => false,
    };
    let others: Vec<u32> = runnable.iter().copied().filter(|b| !at_lock(b)).collect();
    if others.is_empty() {
        runnable.to_vec()
    } else {
        others
    }
}

fn describe(state: Option<State>) -> &'static str {
    match state {
        None => "not a buyer of this run",
        Some(State::Blocked { .. }) => "blocked in the lock",
        Some(State::Done) => "finished",
        Some(State::Running { .. }) => "still moving",
        Some(State::Paused { .. }) => "paused",
    }
}

fn list_ids(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    ids.join(", ")
}
