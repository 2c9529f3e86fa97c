//! A private work directory for one test, and a finished `booking`
//! command with everything a failing test should print.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A private directory for one test: stock files, and the run directory
/// (`XDG_RUNTIME_DIR` points into it, so a test can see what a run left).
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        Work {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory fresh runs make their private directory in.
    pub fn runtime_dir(&self) -> PathBuf {
        let p = self.path("runtime");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes a stock file and returns its path.
    pub fn stock(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `booking args...` with the run directory inside this work dir,
    /// stdout and stderr captured, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_booking")), args)
    }

    /// [`Work::command`] of another build's `booking`, at `exe`.
    pub fn command_of(&self, exe: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs `booking args...` with the run directory inside this work dir.
    pub fn booking(&self, args: &[&str]) -> Run {
        Run::of(self.command(args), args)
    }

    /// Runs `booking args...` in this work dir, with `input` on stdin.
    pub fn booking_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        let mut cmd = self.command(args);
        cmd.current_dir(self.dir.path());
        Run::with_input(cmd, args, input)
    }

    /// Fails if a run left anything in the run-directory parent.
    pub fn assert_clean(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "a run left behind: {left:?}");
    }

    /// Names left in the run-directory parent after runs.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// A finished command, with everything a failing test should print.
pub struct Run {
    pub line: String,
    pub pid: u32,
    pub out: Output,
}

impl Run {
    /// Runs `cmd` (stdout and stderr piped, stdin empty) to the end.
    pub fn of(cmd: Command, args: &[&str]) -> Self {
        Run::with_input(cmd, args, b"")
    }

    /// Runs `cmd` to the end with `input` on its stdin.
    pub fn with_input(mut cmd: Command, args: &[&str], input: &[u8]) -> Self {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("booking starts");
        // A command that does not read its input may have exited already.
        let _ = child.stdin.take().expect("stdin is piped").write_all(input);
        let pid = child.id();
        let out = child.wait_with_output().expect("booking ends");
        Run {
            line: format!("booking {}", args.join(" ")),
            pid,
            out,
        }
    }

    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// The command, its exit status and its output, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "\n$ {}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.line,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit code{}",
            self.context()
        );
        self
    }

    /// Stdout as one JSON object, whatever the exit code.
    pub fn report(&self) -> Value {
        serde_json::from_slice(&self.out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}{}", self.context()))
    }

    /// The `--json` report of a successful run.
    pub fn json(&self) -> Value {
        self.expect_code(0);
        self.report()
    }
}
