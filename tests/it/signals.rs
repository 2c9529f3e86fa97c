//! Stop signals end `booking` promptly at every moment — at the quiz
//! prompt, mid-run on the user's stock file, in the middle of `compare` —
//! with exit code 128 + N, one line on stderr, and nothing left behind.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::{Live, alive, wait_for_wchan};
use crate::support::{Run, Work, count_of};

/// How long a stopped `booking` may take to exit.
const PROMPT: Duration = Duration::from_secs(3);

/// Asserts the run ended because of `sig`: exit code 128 + N within
/// [`PROMPT`] of the signal, and one line on stderr saying so.
fn assert_stopped_by(run: &Run, took: Duration, sig: Signal) {
    let ctx = run.context();
    assert_eq!(run.code(), Some(128 + sig as i32), "{ctx}");
    assert!(took < PROMPT, "{sig} took {took:?}{ctx}");
    let err = run.stderr();
    assert_eq!(err.trim_end().lines().count(), 1, "{ctx}");
    assert!(err.contains("interrupted"), "{ctx}");
}

const QUIZ: [&str; 7] = ["--quiz", "--buyers", "5", "--lock", "file", "--delay", "0"];

/// Ctrl-C while the quiz waits for a prediction ends it at once (a read
/// that restarts after the signal would wait for ever).
#[test]
fn ctrl_c_at_the_quiz_prompt_exits_130() {
    let work = Work::new();
    let mut cmd = work.command(&QUIZ);
    // Piped and kept open by `Live`'s child, never written: the prompt waits.
    cmd.stdin(Stdio::piped());
    let mut live = Live::spawn(cmd, &QUIZ);
    live.wait_for_stdout("got a ticket?", Duration::from_secs(20));
    // The signal comes while it waits on its stdin (in poll(2)): the moment
    // a person presses Ctrl-C (see the next test for a moment before).
    live.wait_for_wchan("poll", Duration::from_secs(10));
    live.signal(Signal::SIGINT);
    let (run, took) = live.finish_within(Duration::from_secs(10));
    assert_stopped_by(&run, took, Signal::SIGINT);
    work.assert_clean();
}

/// Ctrl-C that arrives while the quiz is still writing its question (a
/// slow terminal, a full pipe) is not lost: the prompt must not then wait
/// for a prediction.
///
/// Made certain, not a race: the test fills its stdout pipe (shrunk to one
/// page) to within 100 bytes, so the "Quiz: ... Running..." line fits and
/// the question after the run does not; `booking` blocks writing the
/// question, gets the signal there, and the test then empties the pipe.
#[test]
fn ctrl_c_while_the_quiz_question_is_written_exits_130() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::io::Read;
    let work = Work::new();
    // Close-on-exec: a booking another test starts meanwhile must not
    // inherit an end of this pipe.
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    fcntl(&r, FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let room = 100;
    let filler = format!("{}\n", "#".repeat(4096 - room - 1));
    nix::unistd::write(&w, filler.as_bytes()).unwrap();
    let mut cmd = work.command(&QUIZ);
    cmd.stdin(Stdio::piped()).stdout(Stdio::from(w));
    let mut child = cmd.process_group(0).spawn().expect("booking starts");
    drop(cmd); // our copy of the write end: the reader must see the end
    let pid = child.id();
    let kill_all = |child: &mut std::process::Child, why: &str| -> ! {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
        let _ = child.wait();
        panic!("$ booking {}\n{why}, killed", QUIZ.join(" "));
    };
    if !wait_for_wchan(pid, "pipe_write", Duration::from_secs(20)) {
        kill_all(&mut child, "never blocked writing its question");
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let sent = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::fs::File::from(r).read_to_end(&mut out);
        out
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if sent.elapsed() > PROMPT + Duration::from_secs(2) {
            kill_all(
                &mut child,
                "still running 5 s after SIGINT (the signal came while it wrote the question)",
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = sent.elapsed();
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let stdout = reader.join().unwrap();
    let run = Run {
        line: format!("booking {}", QUIZ.join(" ")),
        pid,
        out: std::process::Output {
            status,
            stdout: stdout[filler.len()..].to_vec(),
            stderr,
        },
    };
    assert_stopped_by(&run, took, Signal::SIGINT);
    work.assert_clean();
}

/// SIGHUP (the terminal closed) mid-run on the user's stock file: exit 129,
/// no temporary file or lock file beside the stock, no buyer left, and the
/// stock still a valid stock file.
#[test]
fn sighup_mid_run_on_a_user_stock_cleans_up_and_exits_129() {
    let work = Work::new();
    let stock = work.stock("s.json", "{\"count\": 40}");
    let args = [
        "--stock",
        stock.to_str().unwrap(),
        "--lock",
        "file",
        "--buyers",
        "40",
        "--delay",
        "100ms..200ms",
    ];
    let mut live = Live::start(&work, &args);
    let buyers = live.wait_for_children(40, Duration::from_secs(20));
    live.signal(Signal::SIGHUP);
    let (run, took) = live.finish_within(Duration::from_secs(10));
    assert_stopped_by(&run, took, Signal::SIGHUP);
    let ctx = run.context();
    let temps: Vec<String> = std::fs::read_dir(work.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".s.json.") && n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}{ctx}");
    assert!(!work.path("s.json.lock").exists(), "lock file left{ctx}");
    let alive: Vec<u32> = buyers.into_iter().filter(|&p| alive(p)).collect();
    assert!(alive.is_empty(), "buyers outlived the run: {alive:?}{ctx}");
    assert!(count_of(&stock) <= 40, "{ctx}");
    work.assert_clean();
}

/// `compare --out` interrupted before its first strategy finished leaves an
/// existing file as it was.
#[test]
fn an_interrupted_compare_leaves_its_out_file_alone() {
    let work = Work::new();
    let out = work.stock("out.csv", "keep me");
    let args = [
        "compare",
        "--lock",
        "file",
        "--buyers",
        "20",
        "--tickets",
        "5",
        "--delay",
        "100ms..200ms",
        "--repeat",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    let mut live = Live::start(&work, &args);
    live.wait_for_children(20, Duration::from_secs(20));
    live.signal(Signal::SIGINT);
    let (run, took) = live.finish_within(Duration::from_secs(10));
    assert_stopped_by(&run, took, Signal::SIGINT);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "keep me",
        "{}",
        run.context()
    );
    let temps: Vec<String> = std::fs::read_dir(work.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".booking-out-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}{}", run.context());
    work.assert_clean();
}

/// Under `--json`, Ctrl-C mid-run still prints the promised object: one
/// line of JSON with the error and exit code 130 (the stop that ends the
/// run must not also silence its last words).
#[test]
fn ctrl_c_under_json_prints_the_error_object() {
    let work = Work::new();
    let args = [
        "--lock",
        "file",
        "--buyers",
        "20",
        "--delay",
        "100ms..200ms",
        "--json",
    ];
    let mut live = Live::start(&work, &args);
    live.wait_for_children(20, Duration::from_secs(20));
    live.signal(Signal::SIGINT);
    let (run, took) = live.finish_within(Duration::from_secs(10));
    assert_stopped_by(&run, took, Signal::SIGINT);
    let obj: serde_json::Value = serde_json::from_str(run.stdout().trim())
        .unwrap_or_else(|e| panic!("not one JSON object: {e}{}", run.context()));
    assert_eq!(obj["exit_code"], 130, "{}", run.context());
    assert!(
        obj["error"].as_str().unwrap().contains("interrupted"),
        "{}",
        run.context()
    );
    work.assert_clean();
}
