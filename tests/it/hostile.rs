//! Hostile `--stock` arguments: things that are not stock files (a device
//! that never ends, a named pipe that blocks whoever opens it), a file far
//! too large, and files a lax reader would misread (a key twice, a
//! byte-order mark). Each is refused at once: exit code 2, one line naming
//! the file and the problem, and a regular file left byte for byte.
//!
//! Every run here is bounded in time: a refusal that hangs (reading
//! `/dev/zero` without end, blocking in `open` on a FIFO) fails its test
//! instead of hanging the whole suite.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::support::{Run, Work};

/// How long a refusal may take. It should take milliseconds; the limit only
/// turns a hang into a failure.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `booking --buyers 3 --lock file --stock <stock>`; if it has not
/// ended within [`DEADLINE`], kills it (and anything it forked: it runs in
/// a process group of its own) and fails the test.
fn booking_on(work: &Work, stock: &Path) -> Run {
    let args = [
        "--buyers",
        "3",
        "--lock",
        "file",
        "--stock",
        stock.to_str().unwrap(),
    ];
    let line = format!("booking {}", args.join(" "));
    let mut child = work
        .command(&args)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("booking starts");
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            panic!("$ {line}\nstill running after {DEADLINE:?}, killed");
        }
        // A deadline, not synchronisation: polling a little late is harmless.
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        line,
        pid: child.id(),
        out: Output {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        },
    }
}

/// Reads `pipe` to its end on a thread of its own, so that the child never
/// blocks on a full pipe while the test waits for it.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Asserts that `booking` refused `stock`: exit code 2 and one line on
/// stderr that names the file and says `reason`.
fn assert_refused(work: &Work, stock: &Path, reason: &str) {
    let run = booking_on(work, stock);
    run.expect_code(2);
    let err = run.stderr();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "not one line{}",
        run.context()
    );
    let want = format!("stock file {}: {reason}", stock.display());
    assert!(
        err.contains(&want),
        "stderr lacks {want:?}{}",
        run.context()
    );
}

/// Writes `text` as a stock file, asserts that `booking` refuses it with
/// `reason`, and that the file is byte for byte what was written, with no
/// lock file beside it.
fn assert_file_refused(name: &str, text: &str, reason: &str) {
    let work = Work::new();
    let stock = work.stock(name, text);
    assert_refused(&work, &stock, reason);
    assert!(
        std::fs::read(&stock).unwrap() == text.as_bytes(),
        "{name} changed"
    );
    assert!(
        !work.path(&format!("{name}.lock")).exists(),
        "{name}: lock file left"
    );
}

#[test]
fn dev_zero_is_refused_not_read_without_end() {
    let work = Work::new();
    assert_refused(
        &work,
        Path::new("/dev/zero"),
        "is a character device, not a regular file",
    );
}

#[test]
fn a_fifo_is_refused_without_blocking_on_it() {
    let work = Work::new();
    let fifo = work.path("fifo.json");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    assert_refused(&work, &fifo, "is a FIFO (named pipe), not a regular file");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let text = format!("{}{{\"count\":1}}", " ".repeat(2 << 20));
    let reason = format!(
        "is {} bytes, larger than the limit of 1 MiB for a stock file",
        text.len()
    );
    assert_file_refused("big.json", &text, &reason);
}

#[test]
fn a_key_twice_is_refused_not_silently_dropped() {
    assert_file_refused(
        "twice.json",
        r#"{"count":5,"count":7}"#,
        r#"the key "count" appears twice"#,
    );
}

#[test]
fn a_byte_order_mark_is_refused_by_name() {
    assert_file_refused(
        "bom.json",
        "\u{feff}{\"count\": 3}",
        "starts with a UTF-8 byte-order mark (EF BB BF); save the file without it",
    );
}
