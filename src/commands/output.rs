//! Where the commands' output goes, written so that nothing is half-done:
//!
//! * **Standard output** through [`print()`]: a reader that went away
//!   (`booking --timeline - | head -3`) ends the output quietly — no panic,
//!   no error; what the command computed is still its exit code.
//! * **Files** (`--timeline FILE`, `compare --out FILE`) through
//!   [`OutFile`]: checked before the run without touching an existing file,
//!   written whole to a temporary file beside it and renamed over it, so a
//!   failure or an interrupt never leaves it emptied or half-written.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::sys;

/// Set once standard output was found closed: nothing more is written.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output, unbuffered. A closed pipe ends the
/// output quietly. A stop signal ends a write that blocks (a reader that
/// stopped reading): the write is a raw `write(2)`, which the handler
/// interrupts, where std's `write_all` would retry for ever.
///
/// # Errors
/// [`Error::Failed`] when standard output fails other than by being
/// closed; [`Error::Interrupted`] on a stop signal.
pub fn print(text: &str) -> Result<()> {
    print_bytes(text.as_bytes())
}

/// `value` as one line of JSON on standard output, as [`print()`] writes,
/// streamed through a buffer: a run of 100,000 buyers never holds its
/// whole report as text.
///
/// # Errors
/// As [`print()`].
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    /// Standard output as `io::Write`, keeping [`print_bytes`]'s error.
    struct Raw(Option<Error>);
    impl Write for Raw {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match print_bytes(buf) {
                Ok(()) => Ok(buf.len()),
                Err(e) => {
                    self.0 = Some(e);
                    Err(io::Error::other("standard output"))
                }
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut out = io::BufWriter::with_capacity(1 << 16, Raw(None));
    let written = serde_json::to_writer(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match (written, out.into_parts().0.0) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(Error::failed("writing JSON to standard output", e)),
        (Ok(()), None) => Ok(()),
    }
}

fn print_bytes(bytes: &[u8]) -> Result<()> {
    use std::os::fd::AsFd;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let stdout = io::stdout();
    let mut rest = bytes;
    while !rest.is_empty() {
        // A stop that came between two writes ends the output too.
        if let Some(sig) = sys::stop_signal() {
            return Err(Error::interrupted(sig, "writing to standard output".into()));
        }
        match nix::unistd::write(stdout.as_fd(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {
                if let Some(sig) = sys::stop_signal() {
                    return Err(Error::interrupted(sig, "writing to standard output".into()));
                }
            }
            Err(Errno::EPIPE) => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => return Err(Error::failed("writing to standard output", e)),
        }
    }
    Ok(())
}

/// Writes `text` — a command's last words, its JSON error object — to
/// standard output even after a stop signal, which [`print()`] refuses:
/// `--json` promises one object whatever ends the command. A write that
/// would block is given up when a signal interrupts it, and a closed pipe
/// ends it quietly.
pub fn print_last_words(text: &str) {
    use std::os::fd::AsFd;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let stdout = io::stdout();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        match nix::unistd::write(stdout.as_fd(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(_) => return,
        }
    }
}

/// Whether standard output takes colour: a terminal, and `NO_COLOR` unset
/// (<https://no-color.org>).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
}

/// `text` with its `verdict:` line in green (SAFE), red (UNSAFE) or
/// yellow (FAILED) when [`color`] says so.
pub fn paint_verdict(text: &str) -> String {
    if !color() {
        return text.to_string();
    }
    text.lines()
        .map(|l| match l.strip_prefix("verdict: ") {
            Some(v) => {
                let code = if v.starts_with("SAFE") {
                    "32"
                } else if v.starts_with("UNSAFE") {
                    "31"
                } else {
                    "33"
                };
                format!("verdict: \x1b[1;{code}m{v}\x1b[0m\n")
            }
            None => format!("{l}\n"),
        })
        .collect()
}

/// Writes one line to standard error, ignoring failure (a closed stderr
/// must not turn an error message into a panic).
pub fn warn(line: &str) {
    use std::os::fd::AsFd;
    let text = format!("{line}\n");
    let stderr = io::stderr();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        match nix::unistd::write(stderr.as_fd(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// A file the command will write at the end, checked at the start.
#[derive(Clone, Debug)]
pub struct OutFile {
    /// The name the user gave (for messages).
    pub shown: PathBuf,
    /// Where it is written: a symbolic link resolved, so the link stays.
    target: PathBuf,
}

impl OutFile {
    /// Checks that `path` can be written — its directory writable, and the
    /// file itself if it exists and is not a directory — without creating
    /// or truncating anything. `flag` names the option in messages.
    ///
    /// # Errors
    /// [`Error::Input`] naming the option, the file and the problem.
    pub fn check(flag: &str, path: &Path) -> Result<Self> {
        use nix::unistd::{AccessFlags, access};
        let target = match std::fs::canonicalize(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
            Err(e) => return Err(Error::file(flag, path, e)),
        };
        if target.is_dir() {
            return Err(Error::file(flag, path, "is a directory"));
        }
        if target.exists() {
            access(&target, AccessFlags::W_OK)
                .map_err(|e| Error::file(flag, path, format!("not writable ({})", e.desc())))?;
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::file(flag, path, "its directory does not exist"));
        }
        access(dir, AccessFlags::W_OK).map_err(|e| {
            Error::file(
                flag,
                path,
                format!("its directory is not writable ({})", e.desc()),
            )
        })?;
        Ok(OutFile {
            shown: path.to_path_buf(),
            target,
        })
    }

    /// Writes `text` whole: a temporary file beside the target, then
    /// `rename` over it.
    ///
    /// # Errors
    /// [`Error::Failed`] naming the file; the target is then unchanged.
    pub fn write(&self, text: &str) -> Result<()> {
        self.stage(text)?.persist()
    }

    /// Writes `text` to a temporary file beside the target, to be renamed
    /// over it later ([`Staged::persist`]), or removed when dropped.
    ///
    /// # Errors
    /// [`Error::Failed`] naming the file.
    pub fn stage(&self, text: &str) -> Result<Staged> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::Failed(format!("writing {}: {e}", self.shown.display()))
        };
        let dir = match self.target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".booking-out-")
            .tempfile_in(dir)
            .map_err(|e| fail(&e))?;
        tmp.write_all(text.as_bytes()).map_err(|e| fail(&e))?;
        if let Ok(meta) = std::fs::metadata(&self.target) {
            let _ = tmp.as_file().set_permissions(meta.permissions());
        } else {
            // A new file gets what the umask allows, as `>` in a shell would.
            use nix::sys::stat::{Mode, umask};
            use std::os::unix::fs::PermissionsExt;
            let mask = umask(Mode::empty());
            umask(mask);
            let mode = 0o666 & !mask.bits();
            let _ = tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode));
        }
        Ok(Staged {
            tmp,
            target: self.target.clone(),
            shown: self.shown.clone(),
        })
    }
}

/// A file written beside its target, not yet renamed over it.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    shown: PathBuf,
}

impl Staged {
    /// The written file, and the target it is for.
    pub fn paths(&self) -> (&Path, &Path) {
        (self.tmp.path(), &self.target)
    }

    /// Renames it over the target.
    ///
    /// # Errors
    /// [`Error::Failed`] naming the file; the target is then unchanged.
    pub fn persist(self) -> Result<()> {
        self.tmp
            .persist(&self.target)
            .map_err(|e| Error::Failed(format!("writing {}: {}", self.shown.display(), e.error)))?;
        Ok(())
    }
}
