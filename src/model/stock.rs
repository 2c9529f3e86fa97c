//! The stock file: `{"count": N}`, loaded strictly and saved atomically.
//!
//! * Exactly the classic format is accepted: a JSON object whose `count` is
//!   a whole number from 0 to [`MAX_COUNT`]. Every other field is kept, in
//!   its order, with its value; only the formatting is rewritten (compact).
//! * A parse error is never read as "0 tickets": a torn or invalid file is an
//!   error with its own message.
//! * Only a regular file of at most [`MAX_STOCK_BYTES`] is read, opened
//!   without blocking (see [`load`]): `--stock /dev/zero` or a named pipe is
//!   refused at once, not read without end or waited on forever.
//! * A key that appears twice at the top level, or a UTF-8 byte-order mark,
//!   is refused (see [`Stock::parse`]) rather than silently dropped when the
//!   file is rewritten.
//! * Saving writes a temporary file in the same directory and `rename`s it
//!   over the stock file. `rename` is atomic, so a reader sees the old or the
//!   new file, never an empty or half-written one, and a writer killed
//!   mid-write leaves only its temporary file, which the run removes.

use nix::unistd::{Pid, getpid};
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::value::SeqAccessDeserializer;
use serde::de::{self as serde_de, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The largest ticket count accepted.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// The largest stock file read, in bytes (1 MiB). A stock file is a few
/// bytes; the limit only stops `--stock` from reading something huge or
/// endless into memory.
pub const MAX_STOCK_BYTES: u64 = 1 << 20;

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

    /// Parses the text of a stock file: the single way in, [`load`] included.
    ///
    /// Stricter than plain `serde_json`:
    /// * A key that appears twice in the top-level object is refused.
    ///   `serde_json` would keep the last value, and the file is rewritten
    ///   from the parsed map, so the other would silently disappear.
    ///   Objects nested inside keep `serde_json`'s behaviour (the last value
    ///   wins): the file is opaque there, and they are kept as parsed.
    /// * A leading UTF-8 byte-order mark is refused with a message naming it
    ///   (JSON text must not start with one, RFC 8259 §8.1), rather than
    ///   "expected value at line 1 column 1".
    ///
    /// # Errors
    /// A one-line description of what is wrong (a byte-order mark, not JSON,
    /// a duplicate key, wrong shape, a `count` that is missing, negative,
    /// fractional, a string, too large). It names neither the file nor its
    /// path: the caller adds them.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('\u{feff}') {
            return Err(
                "starts with a UTF-8 byte-order mark (EF BB BF); save the file without it".into(),
            );
        }
        if text.trim().is_empty() {
            return Err("the file is empty (expected {\"count\": N})".into());
        }
        let mut duplicate = None;
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = TopLevel {
            duplicate: &mut duplicate,
        }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
        let value = match (parsed, duplicate) {
            (Ok(value), _) => value,
            (Err(_), Some(key)) => return Err(format!("the key {key:?} appears twice")),
            (Err(e), None) => return Err(format!("not valid JSON ({e})")),
        };
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

/// The top-level JSON value of a stock file, read in one pass with a check
/// `serde_json` lacks: an object whose keys are all distinct. The first key
/// seen twice is put in `duplicate` and ends the parse with an error.
/// Any other value (array, number, ...) is returned as it is, for
/// [`Stock::parse`] to refuse with its own message; values inside the object
/// are plain `serde_json` values.
struct TopLevel<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                let message = format!("duplicate key {key:?}");
                *self.duplicate = Some(key);
                return Err(serde_de::Error::custom(message));
            }
            let value = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Value::Array)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Reads and parses the stock file at `path`.
///
/// Only a regular file (or a symbolic link to one) of at most
/// [`MAX_STOCK_BYTES`] is read, so that `--stock` naming something else
/// fails at once instead of hanging or eating memory:
/// 1. `stat` first (it follows links): anything but a regular file is
///    refused before it is even opened, as opening a device can have
///    effects of its own.
/// 2. `open` with `O_NONBLOCK`: opening a FIFO for reading blocks until a
///    writer opens it, possibly forever; with `O_NONBLOCK` it returns at
///    once. On a regular file the flag changes nothing. `O_NOCTTY` keeps a
///    terminal from becoming our controlling terminal; `O_CLOEXEC` keeps the
///    descriptor out of anything executed.
/// 3. `fstat` the open file: the name may have been pointed elsewhere
///    between the `stat` and the `open`, and what is open is what is read.
/// 4. Read at most `MAX_STOCK_BYTES + 1` bytes, so a file larger than the
///    limit (or one growing while read) is refused without reading it all.
///
/// For a buyer in its critical section that is one `stat`, one `open`, one
/// `fstat` and one read (plus the read that finds the end of the file).
///
/// # Errors
/// A one-line description naming neither the path nor the file (the caller
/// adds them): missing, not a regular file, too large, unreadable, not
/// UTF-8, or invalid content (see [`Stock::parse`]).
pub fn load(path: &Path) -> Result<Stock, String> {
    check_regular(&fs::metadata(path).map_err(read_problem)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(read_problem)?;
    let meta = file.metadata().map_err(read_problem)?;
    check_regular(&meta)?;
    if meta.len() > MAX_STOCK_BYTES {
        return Err(format!(
            "is {} bytes, larger than the limit of {} MiB for a stock file",
            meta.len(),
            MAX_STOCK_BYTES >> 20
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_STOCK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_problem)?;
    if bytes.len() as u64 > MAX_STOCK_BYTES {
        return Err(format!(
            "grew past the limit of {} MiB for a stock file while being read",
            MAX_STOCK_BYTES >> 20
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text, so not JSON".to_string())?;
    Stock::parse(&text)
}

/// Why an I/O error stopped [`load`], in one line.
fn read_problem(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied (cannot read it)".to_string(),
        _ => e.to_string(),
    }
}

/// Refuses anything but a regular file, saying what it is.
fn check_regular(meta: &Metadata) -> Result<(), String> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    if t.is_dir() {
        return Err("is a directory, not a file".into());
    }
    let what = if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    Err(format!("is {what}, not a regular file"))
}

/// The temporary file that process `pid` writes before renaming it over
/// `stock`: `.<name>.<pid>.tmp` in the same directory (so `rename` stays on
/// one file system and is atomic). The run removes these for every buyer pid
/// it reaped, so a writer killed mid-write leaves nothing behind.
pub fn temp_path(stock: &Path, pid: Pid) -> PathBuf {
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
        let tmp = temp_path(target, getpid());
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
    fn other_top_level_values_are_refused_as_before() {
        for (text, kind) in [
            ("null", "found null"),
            ("true", "found a boolean"),
            ("-3", "found a number"),
            ("3", "found a number"),
            ("2.5", "found a number"),
            ("\"count\"", "found a string"),
            ("[{\"count\": 1}, [2]]", "found an array"),
        ] {
            let err = Stock::parse(text).unwrap_err();
            assert!(err.contains(kind), "{text:?}: {err:?} lacks {kind:?}");
        }
        let err = Stock::parse("{\"count\": 1} {}").unwrap_err();
        assert!(
            err.contains("not valid JSON (trailing characters"),
            "{err:?}"
        );
    }

    #[test]
    fn a_key_twice_at_the_top_level_is_refused() {
        for (text, err) in [
            (
                r#"{"count":5,"count":7}"#,
                r#"the key "count" appears twice"#,
            ),
            (
                r#"{"count":1,"x":[1],"y":2,"x":{}}"#,
                r#"the key "x" appears twice"#,
            ),
            // The same key spelt with an escape is the same key.
            (
                r#"{"count":1,"\u0063ount":2}"#,
                r#"the key "count" appears twice"#,
            ),
            (
                "{\"count\":1,\"a\\nb\":1,\"a\\nb\":2}",
                r#"the key "a\nb" appears twice"#,
            ),
        ] {
            assert_eq!(Stock::parse(text).unwrap_err(), err, "{text}");
        }
        // The same key in different objects, or twice in a nested object
        // (where serde_json keeps the last value), is not a duplicate here.
        let s = Stock::parse(r#"{"count":2,"v":{"count":3,"a":1,"a":2}}"#).unwrap();
        assert_eq!(s.count(), 2);
        assert_eq!(s.fields()["v"], serde_json::json!({"count": 3, "a": 2}));
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        let err = Stock::parse("\u{feff}{\"count\": 3}").unwrap_err();
        assert_eq!(
            err,
            "starts with a UTF-8 byte-order mark (EF BB BF); save the file without it"
        );
    }

    /// `load(path)` on another thread, failing after 10 s instead of
    /// hanging the test run when it blocks.
    fn load_within_10s(path: &Path) -> Result<Stock, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || tx.send(load(&path)));
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("load returns within 10 s")
    }

    #[test]
    fn only_regular_files_are_opened_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for (path, err) in [
            (fifo.as_path(), "is a FIFO (named pipe), not a regular file"),
            (&socket, "is a socket, not a regular file"),
            (&link, "is a character device, not a regular file"),
            (dir.path(), "is a directory, not a file"),
        ] {
            assert_eq!(load_within_10s(path).unwrap_err(), err, "{path:?}");
        }
        assert_eq!(
            load(&dir.path().join("missing")).unwrap_err(),
            "no such file"
        );
    }

    #[test]
    fn a_stock_file_is_read_up_to_the_limit_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.json");
        let json = "{\"count\":1}";
        let mut text = " ".repeat(MAX_STOCK_BYTES as usize - json.len());
        text.push_str(json);
        fs::write(&path, &text).unwrap();
        assert_eq!(load(&path).unwrap().count(), 1, "exactly the limit is fine");
        text.insert(0, ' ');
        fs::write(&path, &text).unwrap();
        assert_eq!(
            load(&path).unwrap_err(),
            "is 1048577 bytes, larger than the limit of 1 MiB for a stock file"
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.json");
        fs::write(&path, b"{\"count\": 1, \"x\": \"\xff\"}").unwrap();
        assert_eq!(load(&path).unwrap_err(), "not UTF-8 text, so not JSON");
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
        std::os::unix::fs::symlink(&victim, temp_path(&path, getpid())).unwrap();
        save(&path, &Stock::new(1), 0o600).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(load(&path).unwrap().count(), 1);
        assert!(!temp_path(&path, getpid()).exists());
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
