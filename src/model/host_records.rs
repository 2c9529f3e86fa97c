//! A shared run's host records kept on the host's own disk: what a host of
//! `--run NAME` writes when the server cannot take its records (the server
//! went down at the end of the run and did not come back while the host
//! kept trying), so that no committed sale is lost from the record.
//! `booking verdict --records FILE` reads them back in place of the
//! records the server lacks.
//!
//! The file is one JSON object: the run, the host, and each buyer's
//! outcome record as the host would have written it to the server (a
//! record's JSON line, or `null` for a buyer that sent none). It is
//! written whole (a temporary file, then `rename`), in the directory the
//! host was started in.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One host's records of one shared run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRecords {
    /// The run's name (`--run`).
    pub run: String,
    /// The host's name (`--host-name`).
    pub host: String,
    /// Each buyer's record, in buyer order (`None`: no record).
    pub records: Vec<Option<String>>,
}

impl HostRecords {
    /// The file's name in `dir`: `booking-run-<run>-<host>.json`, the
    /// host's name with any byte other than a letter, a digit, `.`, `_` or
    /// `-` written as `_`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        let host: String = self
            .host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("booking-run-{}-{host}.json", self.run))
    }

    /// Writes the file in `dir`, whole or not at all; returns its path.
    ///
    /// # Errors
    /// Any I/O error; no file is then left.
    pub fn save_in(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = self.path_in(dir);
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut tmp, self)?;
        tmp.write_all(b"\n")?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// Reads a file [`HostRecords::save_in`] wrote.
    ///
    /// # Errors
    /// A message naming the problem (not readable, not such a file).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| format!("not a host's records ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_reads_back_and_its_name_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let r = HostRecords {
            run: "r1".into(),
            host: "lab/pc 7".into(),
            records: vec![Some("{\"id\":0}".into()), None],
        };
        let path = r.save_in(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("booking-run-r1-lab_pc_7.json"));
        assert_eq!(HostRecords::load(&path).unwrap(), r);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{\"count\": 100}").unwrap();
        assert!(
            HostRecords::load(&path)
                .unwrap_err()
                .starts_with("not a host's records")
        );
    }
}
