//! Stepped mode: the parent is the scheduler, and a run follows the
//! interleaving it chooses — real processes, real `flock`, real
//! semaphores.
//!
//! Each buyer pauses at four points of its purchase ([`Point`]: before
//! asking for the lock, reading the stock, writing it, releasing), says
//! where in its shared-memory slot, and waits on its own process-shared
//! semaphore ([`Turns`]) for its turn. A
//! **step** gives one paused buyer its turn; it then runs to its next
//! point, or finishes, or **blocks** in the lock because another buyer
//! holds it. After every step the parent waits for quiescence: every buyer
//! paused, finished, or blocked. A buyer that does not reach its next
//! point within a settle time while sleeping in the kernel is blocked;
//! when a release wakes it, it reaches its next point and is paused again
//! — the trace says who woke. Time is virtual: delays and arrivals are not
//! slept.
//!
//! The schedule is the list of buyer ids, one per step. A run with an
//! explicit schedule repeats exactly: the same tickets to the same buyers,
//! the same final stock. Where the kernel chooses among several blocked
//! waiters, a replay may see another winner take the lock; the schedule
//! then names a buyer that is not runnable, and the run is refused as
//! diverged (and retried by the caller) rather than reported wrongly.
//!
//! Two halves:
//! * `driver` — the turns: gives them, waits for quiescence, tells who is
//!   blocked, collects the records; the only half that sees processes;
//! * the policies, one file each, each a [`Chooser`]: given the buyers
//!   that can move, pick one. A policy never forks and never asks the
//!   kernel anything, so each is tested on its own. A new policy is a new
//!   file here, named in the `policies!` line below.

use super::buyer::Point;
use super::collect::Collector;
use super::config::{Stepping, schedule_text};
use crate::error::Result;
use crate::sys::Turns;
use crate::sys::channel::Receiver;

mod calls;
mod driver;

pub use calls::name as call_name;

/// Declares the policy modules and lists their makers, so that adding a
/// policy is adding its name here.
macro_rules! policies {
    ($($policy:ident),* $(,)?) => {
        $(mod $policy;)*
        /// Every policy's maker (see [`Maker`]), in the order they are asked.
        const POLICIES: &[Maker] = &[$($policy::chooser),*];
    };
}

policies!(replay, uniform, pct, explore);

/// A policy's maker: its chooser for a run of `buyers` buyers, when the
/// run's stepping is its own.
type Maker = fn(stepping: &Stepping, buyers: usize) -> Option<Box<dyn Chooser>>;

/// The schedule a stepped run followed, and what happened at each step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The buyer ids, one per step: `--schedule` replays it.
    pub steps: Vec<u32>,
    /// One line per step: who moved, and who blocked or woke.
    pub trace: Vec<String>,
    /// For an exploring run (`Stepping::Explore`), one per step: who
    /// could have moved instead, and what each step touched.
    pub explored: Vec<Explored>,
    /// Whether a buyer of an exploring run maps writable shared memory of
    /// its strategy's (besides the run's own): then any two steps may
    /// touch the same memory, and none commute.
    pub shared_memory: bool,
}

/// What a step touches, for partial-order reduction: two steps of
/// different buyers that touch different files (or nothing) commute — in
/// either order they leave the same state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Touch {
    /// Nothing another buyer can see (`getpid`, a skipped sleep).
    Nothing,
    /// These files (by path), and nothing else another buyer can see.
    Files(Vec<String>),
    /// Not known: it may touch anything (a purchase point's step, which
    /// runs code before its first call; a futex; an unknown call).
    #[default]
    Unknown,
}

impl Touch {
    /// Whether a step touching `self` and another's step touching `other`
    /// commute.
    pub fn commutes_with(&self, other: &Touch) -> bool {
        match (self, other) {
            (Touch::Unknown, _) | (_, Touch::Unknown) => false,
            (Touch::Files(a), Touch::Files(b)) => !a.iter().any(|f| b.contains(f)),
            _ => true,
        }
    }
}

/// One step of an exploring run: the buyers the scheduler could have
/// moved (after the one-waiter rule; a buyer that waits by spinning only
/// when nobody else can move), each with what its step would touch as far
/// as known before it runs, and what the step taken touched.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Explored {
    /// The buyers that could move, and what each would touch.
    pub options: Vec<(u32, Touch)>,
    /// What the step taken touched.
    pub touch: Touch,
}

impl Schedule {
    /// The schedule as `--schedule` takes it.
    pub fn text(&self) -> String {
        schedule_text(&self.steps)
    }
}

/// A buyer that can move now: paused at a point, waiting for its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Its id.
    pub id: u32,
    /// The point it paused at: what it does when given the turn (`None`
    /// for a slot value that names no point). For a spinning buyer, the
    /// last point it passed.
    pub at: Option<Point>,
    /// Whether it was preempted while spinning (running without reaching
    /// a point for the driver's quantum): its turn resumes the spin.
    pub spinning: bool,
}

impl Ready {
    /// Whether its turn would send it into the lock: asking for it, or
    /// going on from a point a strategy declared inside its `lock` (or
    /// `unlock`).
    pub fn at_lock(&self) -> bool {
        matches!(self.at, Some(Point::Lock | Point::Inside))
    }
}

/// One step about to be taken: what the scheduler knows when it chooses.
#[derive(Clone, Copy, Debug)]
pub struct Turn<'a> {
    /// The step's number, from 1.
    pub step: usize,
    /// The buyers that can move, by increasing id; never empty when a
    /// chooser is asked.
    pub ready: &'a [Ready],
    /// Whether some buyer is blocked: asleep in the lock, waiting for a
    /// release to wake it.
    pub blocked: bool,
}

impl Turn<'_> {
    /// What an exhaustive exploration branches on: the [`Turn::choices`],
    /// less the buyers that wait by spinning when another can move (a
    /// spinning buyer's turn changes nothing while the one it waits for
    /// has not moved, and choosing it again and again would make the
    /// exploration endless).
    pub fn options(&self) -> Vec<u32> {
        let spinning = |b: u32| self.ready.iter().any(|r| r.id == b && r.spinning);
        let mut all = self.choices();
        if all.iter().any(|&b| !spinning(b)) {
            all.retain(|&b| !spinning(b));
        }
        all
    }

    /// The one-waiter rule: the ready buyers a policy may choose without
    /// betting on the kernel. While a buyer is blocked in the lock, none
    /// is sent into it (unless nothing else can move): with one waiter, a
    /// release wakes that one, so the recorded schedule replays exactly.
    /// Which of several waiters wins is the kernel's choice (or, for a
    /// strategy that polls, a race), which no schedule can fix.
    pub fn choices(&self) -> Vec<u32> {
        let all = || self.ready.iter().map(|r| r.id).collect();
        if !self.blocked {
            return all();
        }
        let others: Vec<u32> = self
            .ready
            .iter()
            .filter(|r| !r.at_lock())
            .map(|r| r.id)
            .collect();
        if others.is_empty() { all() } else { others }
    }
}

/// A scheduling policy: at each step, which ready buyer moves.
pub trait Chooser {
    /// The buyer who moves at `turn`: one of `turn.ready`.
    ///
    /// # Errors
    /// [`Refusal`] when the policy's own plan does not fit the run.
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal>;

    /// The run is over after `steps` steps (nobody can move any more).
    ///
    /// # Errors
    /// [`Refusal::Unfinished`] when the policy's plan had more steps.
    fn finish(&self, steps: usize) -> Result<(), Refusal> {
        let _ = steps;
        Ok(())
    }
}

/// Why a policy with a plan of its own (a `--schedule`) cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The plan names this buyer, who cannot move now.
    NotReady {
        /// The buyer the plan names.
        buyer: u32,
    },
    /// The plan has ended while buyers can still move.
    Ended,
    /// The run ended before the plan, which has `planned` steps.
    Unfinished {
        /// The plan's length.
        planned: usize,
    },
}

/// The chooser for `stepping`'s policy, in a run of `buyers` buyers.
fn chooser(stepping: &Stepping, buyers: usize) -> Box<dyn Chooser> {
    POLICIES
        .iter()
        .find_map(|make| make(stepping, buyers))
        .expect("every stepping has its policy")
}

/// Runs the buyers step by step as `stepping` says, collecting their
/// records through `c`, and returns the schedule followed.
///
/// # Errors
/// [`crate::error::Error::Diverged`] when an explicit schedule names a
/// buyer that is not runnable at its step (for a schedule that `booking`
/// recorded: the kernel woke another waiter, the run diverged);
/// [`crate::error::Error::Input`] when it is too short or too long;
/// [`crate::error::Error::Interrupted`] on a stop signal.
pub(super) fn collect_stepped(
    c: &mut Collector,
    channel: Receiver,
    turns: &Turns,
    stepping: &Stepping,
) -> Result<Schedule> {
    let mut chooser = chooser(stepping, c.buyers());
    let exploring = matches!(stepping, Stepping::Explore(_));
    driver::drive(c, channel, turns, chooser.as_mut(), exploring)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ready buyers, each at the point given.
    pub(super) fn ready(at: &[(u32, Point)]) -> Vec<Ready> {
        at.iter()
            .map(|&(id, p)| Ready {
                id,
                at: Some(p),
                spinning: false,
            })
            .collect()
    }

    /// Step `step`, with `ready` ready and, if `blocked`, a buyer asleep in
    /// the lock.
    pub(super) fn turn(step: usize, ready: &[Ready], blocked: bool) -> Turn<'_> {
        Turn {
            step,
            ready,
            blocked,
        }
    }

    #[test]
    fn with_nobody_blocked_every_ready_buyer_is_a_choice() {
        let r = ready(&[(0, Point::Lock), (1, Point::Read), (2, Point::Inside)]);
        assert_eq!(turn(1, &r, false).choices(), vec![0, 1, 2]);
    }

    #[test]
    fn while_one_waits_in_the_lock_nobody_else_is_sent_in() {
        let r = ready(&[
            (0, Point::Lock),
            (1, Point::Read),
            (2, Point::Inside),
            (3, Point::Unlock),
            (4, Point::Write),
        ]);
        assert_eq!(turn(7, &r, true).choices(), vec![1, 3, 4]);
    }

    #[test]
    fn when_only_the_lock_is_left_a_second_waiter_may_go() {
        let r = ready(&[(0, Point::Lock), (2, Point::Inside)]);
        assert_eq!(turn(3, &r, true).choices(), vec![0, 2]);
    }

    #[test]
    fn every_stepping_has_its_policy() {
        for stepping in [
            Stepping::Schedule(vec![0, 1]),
            Stepping::Seeded(3),
            Stepping::Pct { seed: 3, depth: 2 },
        ] {
            let found = POLICIES.iter().filter_map(|m| m(&stepping, 2)).count();
            assert_eq!(found, 1, "{stepping:?}");
        }
    }
}
