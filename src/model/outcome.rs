//! One buyer's outcome record, and how it travels to the parent.
//!
//! Every buyer writes its record as one JSON line into a pipe that all
//! buyers share. A line is far below `PIPE_BUF` (4096 bytes on Linux), and a
//! write of at most `PIPE_BUF` bytes to a pipe is atomic, so lines from
//! different buyers never interleave. One shared pipe, not one descriptor
//! per buyer, keeps a run of thousands of buyers under the default limit of
//! 1,024 open files.

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// What one buyer did. Times are raw `CLOCK_MONOTONIC` readings, a clock
/// every process on the machine shares, so buyers can be put on one timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The buyer's number, 0 to buyers - 1.
    pub id: u32,
    /// The buyer's process id.
    #[serde(with = "pid_number")]
    pub pid: Pid,
    /// Whether the buyer was told it got a ticket.
    pub got_ticket: bool,
    /// The ticket number it got: the count it read (so the first sold is N).
    pub ticket: Option<u64>,
    /// Microseconds from asking for the lock to holding it.
    pub wait_us: u64,
    /// The simulated delay this buyer drew from the seed, in microseconds
    /// (waited only if it found a ticket to sell).
    pub delay_us: u64,
    /// Microseconds from holding the lock to releasing it.
    pub hold_us: u64,
    /// Voluntary context switches while acquiring the lock (`getrusage`'s
    /// `ru_nvcsw`, after minus before): how often this buyer went to sleep
    /// on its way to the lock. One for a buyer that blocked once and was
    /// woken when the lock was its turn; more when it was woken for
    /// nothing and slept again — the thundering herd, made visible.
    #[serde(default)]
    pub wakeups: u64,
    /// `CLOCK_MONOTONIC` when the lock was acquired, in nanoseconds.
    pub acquired_ns: u64,
    /// `CLOCK_MONOTONIC` when the lock was released, in nanoseconds.
    pub released_ns: u64,
    /// What went wrong, if the buyer failed: the error it reported, its
    /// panic, or (filled in by the parent) how it died without reporting.
    /// A failed buyer has no ticket, and its purchase may or may not be in
    /// the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set by the parent, never taken from a buyer: the watchdog stopped
    /// this buyer (it made no progress for `--timeout`). `error` says where
    /// it was stuck.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hung: bool,
    /// What the strategy said happened in this buyer (`lock::note`), e.g.
    /// that it recovered a lock from a dead owner. Shown in the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The longest error text a record carries, keeping each line well below
/// `PIPE_BUF`.
const MAX_ERROR_LEN: usize = 512;

impl Outcome {
    /// A record of buyer `id` (process `pid`) that has nothing yet: no
    /// ticket, no times.
    pub fn empty(id: u32, pid: Pid) -> Self {
        Outcome {
            id,
            pid,
            got_ticket: false,
            ticket: None,
            wait_us: 0,
            delay_us: 0,
            hold_us: 0,
            wakeups: 0,
            acquired_ns: 0,
            released_ns: 0,
            error: None,
            hung: false,
            note: None,
        }
    }

    /// The record of buyer `id` that failed with `error`.
    pub fn failed(id: u32, pid: Pid, error: String) -> Self {
        Outcome {
            error: Some(error),
            ..Outcome::empty(id, pid)
        }
    }

    /// Whether the buyer reported without error.
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && !self.hung
    }

    /// A record of buyer `id` that was sold `ticket` (or nothing), for
    /// hand-made histories in tests.
    pub fn sold(id: u32, ticket: Option<u64>) -> Self {
        Outcome {
            got_ticket: ticket.is_some(),
            ticket,
            ..Outcome::empty(id, Pid::from_raw(1000 + id as i32))
        }
    }

    /// The record as one line (JSON and `\n`), always shorter than `PIPE_BUF`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut rec = self.clone();
        for text in [&mut rec.error, &mut rec.note].into_iter().flatten() {
            if text.len() > MAX_ERROR_LEN {
                let mut cut = MAX_ERROR_LEN;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
        }
        let mut line = serde_json::to_vec(&rec).expect("an outcome always serialises");
        line.push(b'\n');
        line
    }

    /// Parses one line written by [`Outcome::to_line`].
    ///
    /// # Errors
    /// When the line is not such a record.
    pub fn from_line(line: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(line)
    }
}

/// A pid in JSON: the plain number.
mod pid_number {
    use nix::unistd::Pid;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pid: &Pid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(pid.as_raw())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pid, D::Error> {
        i32::deserialize(d).map(Pid::from_raw)
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC` (see [`crate::sys::clock`]).
pub use crate::sys::clock::monotonic_ns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_stays_below_pipe_buf() {
        let o = Outcome {
            id: 7,
            pid: Pid::from_raw(4242),
            got_ticket: false,
            ticket: None,
            wait_us: 1,
            hold_us: 2,
            delay_us: 3,
            wakeups: u64::MAX,
            acquired_ns: u64::MAX,
            released_ns: u64::MAX,
            error: Some("é".repeat(5000)),
            hung: false,
            note: None,
        };
        let line = o.to_line();
        assert!(line.len() < 4096);
        assert_eq!(line.last(), Some(&b'\n'));
        let back = Outcome::from_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(back.id, 7);
        assert!(back.error.unwrap().len() <= MAX_ERROR_LEN);
    }
}
