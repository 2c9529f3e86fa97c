//! The stock file: `{"count": N}`, loaded strictly and saved atomically.
//!
//! * Exactly the classic format is accepted: a JSON object whose `count` is
//!   a whole number from 0 to [`MAX_COUNT`]. Every other field is kept, in
//!   its order, with its value; only the formatting is rewritten (compact).
//! * A parse error is never read as "0 tickets": a torn or invalid file is an
//!   error with its own message.
//! * Saving writes a temporary file in the same directory and `rename`s it
//!   over the stock file. `rename` is atomic, so a reader sees the old or the
//!   new file, never an empty or half-written one, and a writer killed
//!   mid-write leaves only its temporary file, which the run removes.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The largest ticket count accepted.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// The parsed content of a stock file.
#[derive(Clone, Debug, PartialEq)]
pub struct Stock {
    fields: Map<String, Value>,
}

impl Stock {
    /// A stock of `count` tickets and no other field.
    pub fn new(count: u64) -> Self {
        let mut fields = Map::new();
        fields.insert("count".into(), Value::from(count));
        Stock { fields }
    }

    /// Parses the text of a stock file.
    ///
    /// # Errors
    /// A one-line description of what is wrong (not JSON, wrong shape, a
    /// `count` that is missing, negative, fractional, a string, too large).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the file is empty (expected {\"count\": N})".into());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
        let Value::Object(fields) = value else {
            return Err(format!(
                "expected a JSON object like {{\"count\": 100}}, found {}",
                kind(&value)
            ));
        };
        let stock = Stock { fields };
        stock.checked_count()?;
        Ok(stock)
    }

    fn checked_count(&self) -> Result<u64, String> {
        match self.fields.get("count") {
            None => Err("no \"count\" field (expected {\"count\": N})".into()),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(c) if c <= MAX_COUNT => Ok(c),
                Some(c) => Err(format!(
                    "\"count\" {c} is larger than the limit {MAX_COUNT}"
                )),
                None if n.as_i64().is_some() => Err(format!("\"count\" {n} is negative")),
                None if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                    Err(format!("\"count\" {n} is not a whole number"))
                }
                None => Err(format!(
                    "\"count\" {n} is not a whole number from 0 to {MAX_COUNT}"
                )),
            },
            Some(other) => Err(format!("\"count\" is {}, not a number", kind(other))),
        }
    }

    /// The number of tickets left.
    pub fn count(&self) -> u64 {
        self.checked_count().expect("validated at parse time")
    }

    /// Sets the number of tickets left, keeping every other field.
    pub fn set_count(&mut self, count: u64) {
        self.fields.insert("count".into(), Value::from(count));
    }

    /// The fields of the file, `count` included.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The file's text: compact JSON and a newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string(&self.fields).expect("a JSON map always serialises");
        s.push('\n');
        s
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads and parses the stock file at `path`.
///
/// # Errors
/// A one-line description naming neither the path nor the file (the caller
/// adds them): missing, a directory, unreadable, or invalid content.
pub fn load(path: &Path) -> Result<Stock, String> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::IsADirectory => "is a directory, not a file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied (cannot read it)".to_string(),
        io::ErrorKind::InvalidData => "not UTF-8 text, so not JSON".to_string(),
        _ => e.to_string(),
    })?;
    Stock::parse(&text)
}

/// The temporary file that process `pid` writes before renaming it over
/// `stock`: `.<name>.<pid>.tmp` in the same directory (so `rename` stays on
/// one file system and is atomic). The run removes these for every buyer pid
/// it reaped, so a writer killed mid-write leaves nothing behind.
pub fn temp_path(stock: &Path, pid: i32) -> PathBuf {
    let name = stock
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    stock.with_file_name(format!(".{name}.{pid}.tmp"))
}

/// Writes `stock` to `path` atomically: temporary file, then `rename`.
///
/// # Errors
/// Any I/O error; the stock file is then unchanged.
pub fn save(path: &Path, stock: &Stock, mode: u32) -> io::Result<()> {
    TempFile::create(path, mode)?.commit(stock)
}

/// The temporary file of an atomic save, created ahead of time so that a
/// buyer can make it before it queues for the lock, outside the critical
/// section. Dropped without [`TempFile::commit`], it is removed.
///
/// It is created with `O_EXCL` and `O_NOFOLLOW` (a symbolic link planted
/// under its name is never followed) and given `mode`, the stock file's
/// permissions. No `fsync`: the guarantee is against crashed processes, not
/// power loss, and a flush per purchase would dwarf the critical section.
pub struct TempFile {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl TempFile {
    /// Creates the temporary file for replacing `target`.
    ///
    /// # Errors
    /// Any I/O error creating it.
    pub fn create(target: &Path, mode: u32) -> io::Result<Self> {
        let tmp = temp_path(target, std::process::id() as i32);
        let open = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(&tmp)
        };
        let file = match open() {
            // A leftover of an earlier process with our pid (killed
            // mid-write): unlink removes the entry itself, never what a
            // link points to.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp)?;
                open()?
            }
            other => other?,
        };
        let this = TempFile {
            file,
            tmp,
            target: target.to_path_buf(),
            done: false,
        };
        // The umask may have narrowed `mode` at creation.
        this.file.set_permissions(Permissions::from_mode(mode))?;
        Ok(this)
    }

    /// Writes the first half of `stock`'s text and stops: what a writer
    /// killed mid-write leaves behind (`--kill-at write`).
    ///
    /// # Errors
    /// Any I/O error.
    pub fn write_torn(&mut self, stock: &Stock) -> io::Result<()> {
        let text = stock.to_text();
        self.file.write_all(&text.as_bytes()[..text.len() / 2])
    }

    /// Writes `stock` and renames the file over the target.
    ///
    /// # Errors
    /// Any I/O error; the target is then unchanged and the file removed.
    pub fn commit(mut self, stock: &Stock) -> io::Result<()> {
        self.file.write_all(stock.to_text().as_bytes())?;
        fs::rename(&self.tmp, &self.target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_classic_file_and_keeps_other_fields() {
        let s = Stock::parse(r#"{"event": "concert", "count": 3, "venue": {"seats": 9}}"#).unwrap();
        assert_eq!(s.count(), 3);
        let mut s2 = s.clone();
        s2.set_count(2);
        assert_eq!(
            s2.to_text(),
            "{\"event\":\"concert\",\"count\":2,\"venue\":{\"seats\":9}}\n"
        );
    }

    #[test]
    fn rejects_every_wrong_shape_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("   \n", "empty"),
            ("{\"count\": 1", "not valid JSON"),
            ("[1]", "an array"),
            ("{}", "no \"count\""),
            ("{\"count\": -1}", "negative"),
            ("{\"count\": 1.5}", "not a whole number"),
            ("{\"count\": \"5\"}", "a string"),
            ("{\"count\": null}", "null"),
            ("{\"count\": 1e30}", "whole number"),
            ("{\"count\": 18446744073709551616}", "whole number"),
            ("{\"count\": 2000000000}", "larger than the limit"),
        ];
        for (text, reason) in cases {
            let err = Stock::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err:?} lacks {reason:?}");
            assert!(!err.contains('\n'), "{text:?}: message is not one line");
        }
    }

    #[test]
    fn save_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.json");
        fs::write(&path, "{\"count\": 5, \"x\": 1}").unwrap();
        let mut s = load(&path).unwrap();
        s.set_count(4);
        save(&path, &s, 0o640).unwrap();
        assert_eq!(load(&path).unwrap(), s);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["stock.json"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.json");
        let victim = dir.path().join("victim");
        fs::write(&path, "{\"count\": 2}").unwrap();
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, temp_path(&path, std::process::id() as i32)).unwrap();
        save(&path, &Stock::new(1), 0o600).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(load(&path).unwrap().count(), 1);
        assert!(!temp_path(&path, std::process::id() as i32).exists());
    }

    #[test]
    fn a_torn_write_never_reaches_the_stock_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.json");
        save(&path, &Stock::new(9), 0o600).unwrap();
        let mut tmp = TempFile::create(&path, 0o600).unwrap();
        tmp.write_torn(&Stock::new(8)).unwrap();
        drop(tmp);
        assert_eq!(load(&path).unwrap().count(), 9);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file removed"
        );
    }
}
