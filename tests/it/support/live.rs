//! A `booking` process started in a process group of its own, its output
//! read on threads, every wait on it bounded by a deadline.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::proc::{POLL, wait_for_wchan};
use super::{Run, Work};

/// A `booking` process started in a process group of its own, its stdout
/// and stderr read on threads (so it never blocks on a full pipe), every
/// wait on it bounded by a deadline: a hang fails the test instead of
/// hanging the suite.
pub struct Live {
    pub child: Child,
    pub line: String,
    chunks: Receiver<Vec<u8>>,
    stdout: Vec<u8>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Live {
    /// Starts `booking args` in `work` with stdin from /dev/null.
    pub fn start(work: &Work, args: &[&str]) -> Self {
        let mut cmd = work.command(args);
        cmd.stdin(Stdio::null());
        Live::spawn(cmd, args)
    }

    /// Starts `cmd` (built by [`Work::command`], stdout and stderr piped)
    /// in a process group of its own.
    pub fn spawn(mut cmd: Command, args: &[&str]) -> Self {
        let mut child = cmd.process_group(0).spawn().expect("booking starts");
        let mut out = child.stdout.take().expect("stdout is piped");
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        Live {
            child,
            line: format!("booking {}", args.join(" ")),
            chunks,
            stdout: Vec::new(),
            stderr: Some(stderr),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the whole process group and fails the test with `why`.
    fn give_up(&mut self, why: &str) -> ! {
        let _ = killpg(Pid::from_raw(self.pid() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        panic!(
            "$ {}\n{why}, killed\n--- stdout so far\n{}",
            self.line,
            String::from_utf8_lossy(&self.stdout)
        );
    }

    /// Reads stdout until it contains `needle`, for at most `within`.
    pub fn wait_for_stdout(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !String::from_utf8_lossy(&self.stdout).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.stdout.extend(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    self.give_up(&format!("no {needle:?} on stdout within {within:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.give_up(&format!("stdout ended without {needle:?}"))
                }
            }
        }
    }

    /// Waits until the process has at least `n` children (its buyers), for
    /// at most `within`; returns their pids.
    pub fn wait_for_children(&mut self, n: usize, within: Duration) -> Vec<u32> {
        match super::proc::wait_for_children(self.pid(), n, within) {
            Ok(pids) => pids,
            Err(had) => self.give_up(&format!(
                "never had {n} children within {within:?} (had {had})"
            )),
        }
    }

    /// Waits until the process sleeps in the kernel function `wchan` (a
    /// substring, e.g. `pipe_read`: kernels name it `pipe_read` or
    /// `anon_pipe_read`), for at most `within`.
    pub fn wait_for_wchan(&mut self, wchan: &str, within: Duration) {
        if !wait_for_wchan(self.pid(), wchan, within) {
            self.give_up(&format!("never blocked in {wchan} within {within:?}"));
        }
    }

    /// Sends `sig` to the process (not its group: the buyers get nothing).
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).expect("booking is there to signal");
    }

    /// Sends `SIGINT` (Ctrl-C, to the process alone) and checks that it
    /// ends within a second with exit code 130, its message naming
    /// `while_`.
    pub fn interrupt_within_a_second(self, while_: &str) {
        self.signal(Signal::SIGINT);
        let (run, took) = self.finish_within(Duration::from_secs(10));
        assert_eq!(run.code(), Some(130), "{}", run.context());
        assert!(
            took < Duration::from_secs(1),
            "took {took:?}{}",
            run.context()
        );
        assert!(run.stderr().contains(while_), "{}", run.context());
    }

    /// Waits for the process to end, for at most `within`; returns the
    /// finished run and how long the wait took.
    pub fn finish_within(mut self, within: Duration) -> (Run, Duration) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                break status;
            }
            if started.elapsed() > within {
                self.give_up(&format!("still running after {within:?}"));
            }
            std::thread::sleep(POLL);
        };
        let took = started.elapsed();
        // The buyers are reaped and booking has exited: the pipes close.
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.stdout.extend(chunk),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("$ {}\nstdout still open after exit", self.line)
                }
            }
        }
        let stderr = self
            .stderr
            .take()
            .expect("finished once")
            .join()
            .expect("stderr reader");
        let run = Run {
            line: self.line.clone(),
            pid: self.pid(),
            out: Output {
                status,
                stdout: std::mem::take(&mut self.stdout),
                stderr,
            },
        };
        (run, took)
    }
}
