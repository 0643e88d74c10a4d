//! The recovery file: unsaved drafts written when a signal (SIGTERM, SIGHUP, SIGINT, SIGQUIT)
//! ends the app, offered back on the next start against the same target. It holds devices and
//! the text the user typed, never a token or a secret. Reading and writing happen outside
//! `update` (at start, at exit, and in an effect task), never on the draw path.

use crate::graph::resource::{Kind, Record};
use crate::tui::drafts::Draft;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file's format version; a file of another version is left alone, not misread.
const VERSION: u32 = 1;

/// Unsaved drafts of one target, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Format version.
    pub version: u32,
    /// Which tenant or server the drafts belong to (`demo`, or the Graph root).
    pub target: String,
    /// When they were written (seconds since the Unix epoch).
    pub saved_at: u64,
    /// Why the app ended (`SIGTERM`, ...).
    pub reason: String,
    /// The drafts.
    pub drafts: Vec<SavedDraft>,
}

/// One record's draft: the record as fetched and the text of each changed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedDraft {
    /// The kind of record (its `:` command: `imported`, `devices`).
    pub resource: String,
    /// The record as the server last sent it.
    pub original: Record,
    /// The changed fields' text as typed, by OData path (`groupTag`, `state/deviceErrorCode`).
    pub edits: BTreeMap<String, String>,
}

/// Why the recovery file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// No state directory to keep it in (neither `XDG_STATE_HOME` nor `HOME` is set).
    #[error("no state directory (set XDG_STATE_HOME or HOME)")]
    NoStateDir,
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a recovery file this version can read; it is left in place.
    #[error("{path}: not a readable recovery file ({reason}); left in place")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl SavedDraft {
    /// The record's id.
    pub fn id(&self) -> &str {
        self.original.get("id").and_then(|v| v.as_str()).unwrap_or("")
    }

    /// What the record is called: its serial, else its id.
    pub fn label(&self) -> &str {
        self.original.get("serialNumber").and_then(|v| v.as_str()).unwrap_or_else(|| self.id())
    }
}

impl Recovery {
    /// The dirty drafts of a session, or `None` when nothing is unsaved.
    pub fn of_drafts(drafts: &HashMap<String, Draft>, target: &str, reason: &str) -> Option<Recovery> {
        let mut saved: Vec<SavedDraft> = drafts
            .values()
            .filter(|d| d.is_dirty_any())
            .map(|d| SavedDraft {
                resource: d.resource.command.to_string(),
                original: d.original.clone(),
                // A secret typed blind never reaches the disk.
                edits: d
                    .dirty_fields()
                    .into_iter()
                    .filter(|f| f.kind != Kind::Secret)
                    .map(|f| (f.path.to_string(), d.text(f)))
                    .collect(),
            })
            .collect();
        if saved.is_empty() {
            return None;
        }
        saved.sort_by(|a, b| a.id().cmp(b.id()));
        let saved_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Some(Recovery {
            version: VERSION,
            target: target.to_string(),
            saved_at,
            reason: reason.to_string(),
            drafts: saved,
        })
    }

    /// The drafts rebuilt: each original with the typed text put back into its fields.
    pub fn restore(&self) -> Vec<Draft> {
        self.drafts
            .iter()
            .filter_map(|saved| {
                let resource = crate::graph::resource_by_command(&saved.resource)?;
                let mut draft = Draft::new(resource, saved.original.clone());
                for (path, text) in &saved.edits {
                    if let Some(field) = resource.field(path).filter(|f| f.editable) {
                        draft.set_text(field, text);
                    }
                }
                Some(draft)
            })
            .collect()
    }

    /// When the drafts were written.
    pub fn saved_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.saved_at)
    }

    /// How many fields the drafts change in all.
    pub fn field_count(&self) -> usize {
        self.drafts.iter().map(|d| d.edits.len()).sum()
    }
}

/// The recovery file of a target in `dir`: one file per target, named by a hash of it.
pub fn path_in(dir: &Path, target: &str) -> PathBuf {
    // FNV-1a: stable across runs and versions (std's hasher is not).
    let hash = target
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    dir.join(format!("recovered-drafts-{hash:016x}.json"))
}

/// The recovery file of a target in the state directory.
pub fn default_path(target: &str) -> Result<PathBuf, RecoveryError> {
    let dir = crate::paths::state_dir().ok_or(RecoveryError::NoStateDir)?;
    Ok(path_in(&dir, target))
}

/// Writes the file atomically, readable by the user only.
pub fn write(path: &Path, recovery: &Recovery) -> Result<(), RecoveryError> {
    let io = |source| RecoveryError::Io { path: path.to_path_buf(), source };
    let text = serde_json::to_vec_pretty(recovery).map_err(|e| io(std::io::Error::other(e)))?;
    crate::paths::write_private(path, &text).map_err(io)
}

/// Reads the file of `target`: `Ok(None)` when there is none.
pub fn read(path: &Path, target: &str) -> Result<Option<Recovery>, RecoveryError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RecoveryError::Io { path: path.to_path_buf(), source }),
    };
    let unreadable = |reason: String| RecoveryError::Unreadable { path: path.to_path_buf(), reason };
    let recovery: Recovery = serde_json::from_slice(&text).map_err(|e| unreadable(e.to_string()))?;
    if recovery.version != VERSION {
        return Err(unreadable(format!("version {} (this app reads {VERSION})", recovery.version)));
    }
    if recovery.target != target {
        return Err(unreadable(format!("written for {}", recovery.target)));
    }
    Ok(Some(recovery))
}

/// Deletes the file (restored or discarded); a file already gone is fine.
pub fn remove(path: &Path) -> Result<(), RecoveryError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RecoveryError::Io { path: path.to_path_buf(), source }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use crate::tui::line_edit::EditOp;

    fn device(id: &str) -> Record {
        serde_json::json!({
            "id": id, "groupTag": "Sales", "serialNumber": "S1",
            "state": {"deviceImportStatus": "error", "deviceErrorCode": 806}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn f(path: &str) -> &'static crate::graph::resource::Field {
        IMPORTED.field(path).unwrap()
    }

    #[test]
    fn round_trip_through_the_file_keeps_every_edit() {
        let mut drafts = HashMap::new();
        let mut d = Draft::new(&IMPORTED, device("a"));
        d.set_text(f("groupTag"), "SalesX");
        d.set_text(f("state/deviceErrorCode"), "0");
        d.choose(f("state/deviceImportStatus"), &EditOp::Insert('c'));
        drafts.insert("a".to_string(), d.clone());
        drafts.insert("b".to_string(), Draft::new(&IMPORTED, device("b")));
        let rec = Recovery::of_drafts(&drafts, "demo", "SIGTERM").unwrap();
        assert_eq!(rec.drafts.len(), 1, "clean drafts are not saved");
        assert_eq!(rec.field_count(), 3);
        let dir = std::env::temp_dir().join(format!("ap-recovery-{}", uuid::Uuid::new_v4()));
        let path = path_in(&dir, "demo");
        write(&path, &rec).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = read(&path, "demo").unwrap().unwrap();
        let restored = back.restore();
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].dirty_fields(), d.dirty_fields());
        assert_eq!(restored[0].patch(), d.patch());
        assert!(matches!(read(&path, "other"), Err(RecoveryError::Unreadable { .. })));
        remove(&path).unwrap();
        assert!(read(&path, "demo").unwrap().is_none());
        remove(&path).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
