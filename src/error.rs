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
            Error::Input(_) => 2,
            Error::Failed(_) => 1,
            Error::Interrupted(sig, _) => 128 + *sig as i32,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
