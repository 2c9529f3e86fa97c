//! What a buyer says of itself to the parent without a message: its
//! [`Stage`] (a byte of shared memory the parent reads when a buyer is
//! stuck) and, in a stepped run, the [`Point`] where it paused.

/// Where a buyer is, written to its cell of shared memory so that the
/// parent can tell what a stuck buyer is stuck on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Forked, not yet at the start barrier.
    Starting = 0,
    /// Waiting at the start barrier.
    Ready = 1,
    /// Thinking before it asks for the lock (`--arrival`).
    Arriving = 2,
    /// Asking for the lock.
    Waiting = 3,
    /// Holding the lock: reading, deciding, writing.
    Holding = 4,
    /// Released the lock; reporting and exiting.
    Done = 5,
    /// Reading the stock and waiting the delay before taking the lock
    /// (a strategy that protects only the write).
    Reading = 6,
    /// Stopped by `--pause` (`SIGSTOP`), at one of the kill points.
    Paused = 7,
}

impl Stage {
    /// The stage a cell holds.
    pub fn from_cell(v: u8) -> Self {
        match v {
            1 => Stage::Ready,
            2 => Stage::Arriving,
            3 => Stage::Waiting,
            4 => Stage::Holding,
            5 => Stage::Done,
            6 => Stage::Reading,
            7 => Stage::Paused,
            _ => Stage::Starting,
        }
    }

    /// What a buyer at this stage is doing, for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::Ready => "waiting at the start barrier",
            Stage::Arriving => "arriving",
            Stage::Waiting => "waiting for the lock",
            Stage::Holding => "holding the lock",
            Stage::Done => "releasing the lock or reporting",
            Stage::Reading => "reading the stock before locking",
            Stage::Paused => "stopped by --pause (SIGSTOP)",
        }
    }
}

/// The points at which a buyer in stepped mode pauses for its turn: each
/// names the action it takes when given the turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Point {
    /// Ask for the lock.
    Lock = 1,
    /// Read the stock.
    Read = 2,
    /// Write the new stock (rename it over the old).
    Write = 3,
    /// Release the lock, then report and exit.
    Unlock = 4,
    /// Go on from a point a strategy declared inside its `lock` or
    /// `unlock` ([`crate::lock::point`]).
    Inside = 5,
    /// Start: open the lock (the strategy's `open`) and get ready. Not a
    /// step: the scheduler starts the buyers one at a time in id order
    /// before the first step, so that what `open` does in shared memory
    /// (a slot taken by a counter) happens in the same order every run.
    Start = 6,
}

impl Point {
    /// The point a slot value names.
    pub fn from_value(v: u32) -> Option<Self> {
        match v & 0xff {
            1 => Some(Point::Lock),
            2 => Some(Point::Read),
            3 => Some(Point::Write),
            4 => Some(Point::Unlock),
            5 => Some(Point::Inside),
            6 => Some(Point::Start),
            _ => None,
        }
    }

    /// Its name, for the trace.
    pub fn name(self) -> &'static str {
        match self {
            Point::Lock => "lock",
            Point::Read => "read",
            Point::Write => "write",
            Point::Unlock => "unlock",
            Point::Inside => "go on inside the lock",
            Point::Start => "start",
        }
    }
}
