//! The write log: every write that reached a server, from any part of the app (the form, a
//! bulk job, `apply`, an import's clean-up, an undo), one JSON line each, appended to one file
//! in the state directory. It is what `:journal` shows and what an undo writes back from.
//!
//! One line is one `write(2)` on a file opened for appending, so two processes writing at once
//! interleave whole lines, and a crash leaves at worst a torn last line, which reading skips.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The file's name in the state directory.
pub const FILE_NAME: &str = "writes.jsonl";

/// How an entry names the Graph root a write went to (`https://graph.microsoft.com/v1.0`, no
/// trailing slash), so entries of one tenant compare equal whoever wrote them.
pub fn target_of(base_url: &str) -> String {
    base_url.trim_end_matches('/').to_string()
}

/// What made a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WriteSource {
    /// A save from the single-record form.
    Form,
    /// An item of a bulk job started in the app.
    Bulk,
    /// An item of `autopilot-tui apply`.
    Apply,
    /// An import's request (`import` action) or an update made instead of importing.
    Import,
    /// The clean-up of an import (deleting its records).
    Cleanup,
    /// An undo of an earlier entry.
    Undo,
    /// A record action from the app (assign, unassign, delete).
    Action,
}

impl WriteSource {
    /// The word `:journal` shows.
    pub fn word(self) -> &'static str {
        match self {
            WriteSource::Form => "form",
            WriteSource::Bulk => "bulk",
            WriteSource::Apply => "apply",
            WriteSource::Import => "import",
            WriteSource::Cleanup => "clean-up",
            WriteSource::Undo => "undo",
            WriteSource::Action => "action",
        }
    }
}

/// One write that reached a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteEntry {
    /// When the answer came (`2026-12-01T11:56:48Z`).
    pub time: String,
    /// Where it went: the Graph version root (`https://graph.microsoft.com/v1.0`).
    pub target: String,
    /// The collection's name (`windowsAutopilotDeviceIdentities`).
    pub collection: String,
    /// The record's id.
    pub id: String,
    /// The record's serial number, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// `PATCH`, `POST updateDeviceProperties`, `DELETE`, ...
    pub verb: String,
    /// The written fields' values before (by field path; `null` for none).
    #[serde(default)]
    pub before: Map<String, Value>,
    /// The written fields' values sent.
    #[serde(default)]
    pub after: Map<String, Value>,
    /// The HTTP status of the answer; 0 when no answer came but a read back showed the write
    /// landed (a bulk job never sends such a write again).
    pub status: u16,
    /// The server's `request-id`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What made the write.
    pub source: WriteSource,
    /// The bulk job it belonged to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The entry this one undid (its `time` and `id`), for an undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
}

impl WriteEntry {
    /// Whether the server took the write (a 2xx answer, or a lost answer a read showed landed).
    pub fn succeeded(&self) -> bool {
        self.status == 0 || (200..300).contains(&self.status)
    }

    /// A key naming this entry among all others (time and id), for `undoes`.
    pub fn key(&self) -> String {
        format!("{} {}", self.time, self.id)
    }
}

/// Why the write log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WriteLogError {
    /// Neither `XDG_STATE_HOME` nor `HOME` is set.
    #[error("no state directory (set XDG_STATE_HOME or HOME); writes are not logged")]
    NoStateDir,
    /// The file could not be opened, written or read.
    #[error("write log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The write log file (it need not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLog {
    path: PathBuf,
}

impl WriteLog {
    /// The log at `path`.
    pub fn at(path: impl Into<PathBuf>) -> WriteLog {
        WriteLog { path: path.into() }
    }

    /// The log in the state directory.
    pub fn default_path() -> Result<PathBuf, WriteLogError> {
        crate::paths::state_dir().map(|dir| dir.join(FILE_NAME)).ok_or(WriteLogError::NoStateDir)
    }

    /// The log in the state directory.
    pub fn in_state_dir() -> Result<WriteLog, WriteLogError> {
        WriteLog::default_path().map(WriteLog::at)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries, one line each in a single write (readable by the user only).
    pub fn append(&self, entries: &[WriteEntry]) -> Result<(), WriteLogError> {
        if entries.is_empty() {
            return Ok(());
        }
        let io = |source| WriteLogError::Io { path: self.path.clone(), source };
        let mut text = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut text, entry).map_err(|e| io(std::io::Error::other(e)))?;
            text.push(b'\n');
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path).map_err(io)?;
        // A line torn by a crash is ended first, so it costs only itself.
        if ends_mid_line(&mut file).map_err(io)? {
            text.insert(0, b'\n');
        }
        file.write_all(&text).map_err(io)
    }

    /// Every entry, oldest first; no file is an empty log. A line that does not read (torn by a
    /// crash, or written by a newer version) is skipped and counted.
    pub fn read(&self) -> Result<(Vec<WriteEntry>, usize), WriteLogError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(source) => return Err(WriteLogError::Io { path: self.path.clone(), source }),
        };
        let mut entries = Vec::new();
        let mut unreadable = 0;
        for line in text.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            match serde_json::from_slice(line) {
                Ok(entry) => entries.push(entry),
                Err(_) => unreadable += 1,
            }
        }
        Ok((entries, unreadable))
    }
}

/// Whether the file's last byte is not a line end.
fn ends_mid_line(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(id: &str, status: u16) -> WriteEntry {
        let mut before = Map::new();
        before.insert("groupTag".into(), Value::from("Sales"));
        let mut after = Map::new();
        after.insert("groupTag".into(), Value::Null);
        WriteEntry {
            time: "2026-12-01T11:56:48Z".into(),
            target: "http://127.0.0.1:1/v1.0".into(),
            collection: "windowsAutopilotDeviceIdentities".into(),
            id: id.into(),
            serial: Some("S1".into()),
            verb: "POST updateDeviceProperties".into(),
            before,
            after,
            status,
            request_id: Some("r-1".into()),
            source: WriteSource::Form,
            job: None,
            undoes: None,
        }
    }

    #[test]
    fn appended_entries_read_back_in_order_and_a_torn_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("ap-writes-{}", uuid::Uuid::new_v4()));
        let log = WriteLog::at(dir.join(FILE_NAME));
        assert_eq!(log.read().unwrap().0.len(), 0, "no file is an empty log");
        log.append(&[entry("a", 204), entry("b", 400)]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"{\"time\":\"2026")
            .unwrap();
        log.append(&[entry("c", 204)]).unwrap();
        let (entries, unreadable) = log.read().unwrap();
        assert_eq!(unreadable, 1, "the torn line");
        assert_eq!(entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(entries[0].succeeded() && !entries[1].succeeded());
        assert_eq!(entries[0], entry("a", 204));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
