//! The lab handout runs as written, from the set-up to the last exercise.
//!
//! Ignored by a plain `cargo test`, which it would take past three minutes
//! on two cores (it builds the project twice, in a profile of its own):
//! `make slow-tests` runs it, and CI runs it with every other test
//! (`cargo test -- --include-ignored`).
//!
//! Every line of every `sh` block of `docs/lab.md` runs through `bash`, in
//! order, in a copy of the project, the way a student types it: the set-up's
//! `cargo install` puts a `booking` on `PATH` (a private install root), the
//! exercises run that `booking`, exercise 6 copies the template, renames it,
//! installs again and tests the new strategy with `cargo test props`. The
//! quiz gets `100` on standard input. A trailing `# exits with code N` gives
//! the expected exit code, else 0; a command with `--json` must print one
//! JSON object.
//!
//! The machine is made the lab server's: **busy** (a busy loop per core
//! runs beside every command) and **offline** (each command runs in a
//! network namespace of its own, which has only its loopback, where this
//! process may make one — as root; elsewhere cargo's own offline switch
//! only, and the test says so on standard error).
//!
//! Only the environment differs from a student's: the install root, a build
//! directory of its own under `target/` (kept between test runs, so the
//! dependencies are built once), no network (the outer build fetched every
//! crate), a release profile without LTO or optimisation (the commands
//! are checked for working, not for speed), and two property-test cases
//! (`BOOKING_CASES`) for the nested `cargo test`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Work, target_dir};

/// (command line, expected exit code) for every line of the `sh` blocks.
fn commands(handout: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in handout.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if in_sh && !t.is_empty() && !t.starts_with('#') {
            let code = t
                .rsplit_once("# exits with code ")
                .map_or(0, |(_, c)| c.trim().parse().expect("an exit code"));
            out.push((t.to_string(), code));
        }
    }
    out
}

/// Busy loops, one per core, until dropped: the lab server is busy.
struct Hogs(Vec<std::process::Child>);

impl Hogs {
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Hogs(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("a busy loop starts")
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            let _ = hog.kill();
            let _ = hog.wait();
        }
    }
}

/// The command that runs `bash -c LINE` off the network: in a network
/// namespace of its own where one can be made here (`unshare -n` needs
/// root), else plain `bash`, with cargo's offline switch only (said once,
/// on standard error).
fn offline_bash() -> Vec<&'static str> {
    let netns = Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if netns {
        vec!["unshare", "-n", "--", "bash"]
    } else {
        eprintln!(
            "handout: no network namespace can be made here (unshare -n needs root): \
             offline by CARGO_NET_OFFLINE only"
        );
        vec!["bash"]
    }
}

/// Copies the project's sources (everything but `target/` and `.git/`).
fn copy_project(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_project(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
#[ignore = "builds the project twice (minutes on two cores): `make slow-tests` runs it, and CI (cargo test -- --include-ignored)"]
fn the_handout_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let handout = std::fs::read_to_string(root.join("docs/lab.md")).unwrap();
    let cmds = commands(&handout);
    assert!(cmds.len() >= 20, "found only {} commands", cmds.len());
    assert!(
        cmds.iter().any(|(c, _)| c.starts_with("cargo install")),
        "the set-up installs booking"
    );

    let work = Work::new();
    let project = work.path("project");
    copy_project(root, &project);
    let install = work.path("cargo-root");
    let path = format!(
        "{}:{}",
        install.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let bash = offline_bash();
    let _busy = Hogs::start();
    for (cmd, code) in &cmds {
        let out = Command::new(bash[0])
            .args(&bash[1..])
            // As on an offline machine, the namespace's loopback is up
            // (where `ip` is installed): only the outside world is missing.
            .args(["-c", &format!("ip link set lo up 2>/dev/null; {cmd}")])
            .current_dir(&project)
            .env("PATH", &path)
            .env("XDG_RUNTIME_DIR", work.runtime_dir())
            .env("CARGO_INSTALL_ROOT", &install)
            .env("CARGO_TARGET_DIR", target_dir().join("handout"))
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
            // The nested property test: a couple of cases show it runs.
            .env("BOOKING_CASES", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                // A command that does not read its input may have exited.
                let _ = child.stdin.take().unwrap().write_all(b"100\n");
                child.wait_with_output()
            })
            .expect("bash runs");
        let context = || {
            format!(
                "\n$ {cmd}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        assert_eq!(out.status.code(), Some(*code), "{}", context());
        if cmd.contains("--json") {
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap_or_else(|e| panic!("not one JSON object: {e}{}", context()));
        }
    }
    for svg in ["race.svg", "lock.svg"] {
        assert!(project.join(svg).exists(), "{svg} was not drawn");
    }
    work.assert_clean();
}
