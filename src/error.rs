//! The crate's error type and the exit code each kind of failure maps to.

use std::path::Path;

/// Everything that can stop a command, sorted by what the user should do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or bad input: nothing was started and nothing was changed.
    /// Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The run itself failed (a buyer could not start, a run made no
    /// progress, an I/O error mid-run). Exit code 1.
    #[error("{0}")]
    Failed(String),
    /// A stepped run's `--schedule` names, at `step`, a buyer who cannot
    /// move (`state` says why not). For a schedule that `booking` recorded
    /// this means the run diverged: where several buyers were blocked in
    /// the lock, the kernel woke another one than when it was recorded.
    /// Nothing of that run is reported; `engine::run` tries it again.
    /// Exit code 2, as for bad input.
    #[error(
        "--schedule: step {step} names buyer {buyer}, who is {state} (runnable: {}); a schedule recorded by booking that fails here diverged: the kernel woke another waiter",
        list_ids(.runnable)
    )]
    Diverged {
        /// The step, from 1.
        step: usize,
        /// The buyer the schedule names.
        buyer: u32,
        /// What that buyer is: blocked in the lock, finished, ...
        state: &'static str,
        /// The buyers that could move.
        runnable: Vec<u32>,
    },
    /// `SIGINT`, `SIGTERM` or `SIGHUP` arrived; every buyer was stopped and
    /// reaped, and what the run made removed. Exit code 128 + the signal's
    /// number (130 for Ctrl-C).
    #[error("interrupted by {}: {}", .0.as_str(), .1)]
    Interrupted(nix::sys::signal::Signal, String),
}

impl Error {
    /// A problem with a file the user named, e.g. `stock file data/x.json: not JSON`.
    pub fn file(what: &str, path: &Path, problem: impl std::fmt::Display) -> Self {
        Error::Input(format!("{what} {}: {problem}", path.display()))
    }

    /// A failure while running, with what was being done.
    pub fn failed(doing: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        Error::Failed(format!("{doing}: {err}"))
    }

    /// A stop signal ended the command while it was `doing` something.
    pub fn interrupted(sig: nix::sys::signal::Signal, doing: String) -> Self {
        Error::Interrupted(sig, doing)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Diverged { .. } => 2,
            Error::Failed(_) => 1,
            Error::Interrupted(sig, _) => 128 + *sig as i32,
        }
    }
}

/// Buyer ids as a message lists them: `0, 1, 2`.
pub(crate) fn list_ids(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    ids.join(", ")
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_divergence_says_what_it_always_said_and_exits_2() {
        let e = Error::Diverged {
            step: 4,
            buyer: 2,
            state: "blocked in the lock",
            runnable: vec![0, 1],
        };
        assert_eq!(
            e.to_string(),
            "--schedule: step 4 names buyer 2, who is blocked in the lock (runnable: 0, 1); a schedule recorded by booking that fails here diverged: the kernel woke another waiter"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
