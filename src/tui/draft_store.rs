//! The draft store: every unsaved draft of a target (the tenant, or `demo`) in one file of the
//! state directory, written atomically (temporary file + rename, 0600) a moment after the
//! drafts last changed, at exit, and when a signal ends the app; restored on the next start.
//! It holds records and the text the user typed, never a token or a secret. Reading and
//! writing happen in the run loop at start and exit and in effect tasks, never in `update` or
//! on the draw path.

use crate::graph::resource::{Kind, Record};
use crate::tui::drafts::Draft;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file's format version (1: the recovery file written only on a signal, read as well).
const VERSION: u32 = 2;

/// Unsaved drafts of one target, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDrafts {
    /// Format version.
    pub version: u32,
    /// Which tenant or server the drafts belong to (`demo`, or the Graph root).
    pub target: String,
    /// When the file was written (seconds since the Unix epoch).
    pub saved_at: u64,
    /// What wrote it last (`a change`, `exit`, `SIGTERM`, ...).
    pub reason: String,
    /// The drafts.
    pub drafts: Vec<SavedDraft>,
    /// The bulk edit being prepared, when it changes anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<StoredBulk>,
}

/// A bulk edit not yet started: the marked records and what it does to each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBulk {
    /// The kind of record (its `:` command).
    pub resource: String,
    /// The marked records' ids.
    pub marked: Vec<String>,
    /// Each field not left alone: its path, `set` or `clear`, and the text typed.
    pub fields: Vec<(String, String, String)>,
}

impl StoredBulk {
    /// The bulk form as it can be stored (`None` when it leaves every field alone).
    pub fn of(
        form: &crate::tui::bulk::BulkForm,
        table: &crate::tui::table::TableState,
    ) -> Option<StoredBulk> {
        use crate::tui::bulk::Choice;
        let fields: Vec<(String, String, String)> = form
            .fields
            .iter()
            .filter(|f| f.choice != Choice::Leave && f.field.kind != Kind::Secret)
            .map(|f| (f.field.path.to_string(), f.choice.word().to_string(), f.text.clone()))
            .collect();
        if fields.is_empty() {
            return None;
        }
        let mut marked: Vec<String> = form.rows.iter().map(|&row| table.rows.id(row)).collect();
        marked.sort();
        Some(StoredBulk { resource: form.resource.command.to_string(), marked, fields })
    }

    /// Puts the stored choices back into a fresh form of the same records.
    pub fn apply_to(&self, form: &mut crate::tui::bulk::BulkForm) {
        use crate::tui::bulk::Choice;
        for (path, choice, text) in &self.fields {
            if let Some(f) = form.fields.iter_mut().find(|f| f.field.path == path) {
                f.choice = match choice.as_str() {
                    "clear" if f.field.nullable => Choice::Clear,
                    "set to" => Choice::Set,
                    _ => Choice::Leave,
                };
                f.text.clone_from(text);
            }
        }
    }
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
    /// When these edits were first stored (seconds since the Unix epoch; 0 in a version 1 file).
    #[serde(default)]
    pub since: u64,
}

/// Why the draft store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DraftStoreError {
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
    /// The file is not a draft store this version can read; it is left in place.
    #[error("{path}: not a readable drafts file ({reason}); left in place")]
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

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl StoredDrafts {
    /// The dirty drafts of a session (`None` when nothing is unsaved); a draft whose edits are
    /// as `before` stored them keeps its time there.
    pub fn of_drafts(
        drafts: &HashMap<String, Draft>,
        bulk: Option<StoredBulk>,
        target: &str,
        reason: &str,
        before: Option<&StoredDrafts>,
    ) -> Option<StoredDrafts> {
        let now = now_secs();
        let mut saved: Vec<SavedDraft> = drafts
            .values()
            .filter(|d| d.is_dirty_any())
            .map(|d| {
                // A secret typed blind never reaches the disk.
                let edits: BTreeMap<String, String> = d
                    .dirty_fields()
                    .into_iter()
                    .filter(|f| f.kind != Kind::Secret)
                    .map(|f| (f.path.to_string(), d.text(f)))
                    .collect();
                let id = d.id();
                let since = before
                    .and_then(|b| b.drafts.iter().find(|s| s.id() == id && s.edits == edits))
                    .map_or(now, |s| s.since);
                SavedDraft {
                    resource: d.resource.command.to_string(),
                    original: d.original.clone(),
                    edits,
                    since,
                }
            })
            .filter(|s| !s.edits.is_empty())
            .collect();
        if saved.is_empty() && bulk.is_none() {
            return None;
        }
        saved.sort_by(|a, b| a.id().cmp(b.id()));
        Some(StoredDrafts {
            version: VERSION,
            target: target.to_string(),
            saved_at: now,
            reason: reason.to_string(),
            drafts: saved,
            bulk,
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

    /// When each draft was first stored, by record id.
    pub fn times(&self) -> HashMap<String, SystemTime> {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(if secs == 0 { self.saved_at } else { secs });
        self.drafts.iter().map(|d| (d.id().to_string(), at(d.since))).collect()
    }

    /// When the file was written.
    pub fn saved_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.saved_at)
    }

    /// How many fields the drafts change in all.
    pub fn field_count(&self) -> usize {
        self.drafts.iter().map(|d| d.edits.len()).sum()
    }

    /// A fingerprint of what a session would store (each unsaved draft's typed text, the bulk
    /// edit's choices and records), cheap enough to take after every event: the store is
    /// written only when it changes, without building the store to compare.
    pub fn fingerprint(drafts: &HashMap<String, Draft>, bulk: Option<&crate::tui::bulk::BulkForm>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut ids: Vec<&String> = drafts.keys().collect();
        ids.sort();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for id in ids {
            let draft = &drafts[id];
            for field in draft.dirty_fields().into_iter().filter(|f| f.kind != Kind::Secret) {
                (id, field.path, draft.edits.get(field.path)).hash(&mut hasher);
            }
        }
        if let Some(form) = bulk {
            form.rows.hash(&mut hasher);
            for f in &form.fields {
                (f.field.path, f.choice.word(), &f.text).hash(&mut hasher);
            }
        }
        hasher.finish()
    }
}

/// The draft store of a target in `dir`: one file per target, named by a hash of it.
pub fn path_in(dir: &Path, target: &str) -> PathBuf {
    // FNV-1a: stable across runs and versions (std's hasher is not).
    let hash = target
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    dir.join(format!("drafts-{hash:016x}.json"))
}

/// The file the hardening issue's recovery wrote (read once, then replaced by the store).
pub fn old_recovery_path_in(dir: &Path, target: &str) -> PathBuf {
    let name =
        path_in(dir, target).file_name().map(|n| n.to_string_lossy().replace("drafts-", "recovered-drafts-"));
    dir.join(name.unwrap_or_default())
}

/// The draft store of a target in the state directory.
pub fn default_path(target: &str) -> Result<PathBuf, DraftStoreError> {
    let dir = crate::paths::state_dir().ok_or(DraftStoreError::NoStateDir)?;
    Ok(path_in(&dir, target))
}

/// Writes the store atomically, readable by the user only; no drafts: the file goes.
pub fn write(path: &Path, drafts: Option<&StoredDrafts>) -> Result<(), DraftStoreError> {
    let io = |source| DraftStoreError::Io { path: path.to_path_buf(), source };
    let Some(drafts) = drafts else { return remove(path) };
    let text = serde_json::to_vec_pretty(drafts).map_err(|e| io(std::io::Error::other(e)))?;
    crate::paths::write_private(path, &text).map_err(io)
}

/// Reads the store of `target`: `Ok(None)` when there is none. A version 1 recovery file at
/// the old name is read too.
pub fn read(path: &Path, target: &str) -> Result<Option<StoredDrafts>, DraftStoreError> {
    let old = path.parent().map(|dir| old_recovery_path_in(dir, target));
    let (path, text) = match std::fs::read(path) {
        Ok(text) => (path.to_path_buf(), text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match old.as_ref().map(std::fs::read) {
            Some(Ok(text)) => (old.clone().unwrap_or_default(), text),
            _ => return Ok(None),
        },
        Err(source) => return Err(DraftStoreError::Io { path: path.to_path_buf(), source }),
    };
    let unreadable = |reason: String| DraftStoreError::Unreadable { path: path.clone(), reason };
    let stored: StoredDrafts = serde_json::from_slice(&text).map_err(|e| unreadable(e.to_string()))?;
    if !(1..=VERSION).contains(&stored.version) {
        return Err(unreadable(format!("version {} (this app reads up to {VERSION})", stored.version)));
    }
    if stored.target != target {
        return Err(unreadable(format!("written for {}", stored.target)));
    }
    Ok(Some(stored))
}

/// Deletes the file (and an old recovery file of the same target); one already gone is fine.
pub fn remove(path: &Path) -> Result<(), DraftStoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DraftStoreError::Io { path: path.to_path_buf(), source }),
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
        let rec = StoredDrafts::of_drafts(&drafts, None, "demo", "SIGTERM", None).unwrap();
        assert_eq!(rec.drafts.len(), 1, "clean drafts are not saved");
        assert_eq!(rec.field_count(), 3);
        let dir = std::env::temp_dir().join(format!("ap-drafts-{}", uuid::Uuid::new_v4()));
        let path = path_in(&dir, "demo");
        write(&path, Some(&rec)).unwrap();
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
        assert!(matches!(read(&path, "other"), Err(DraftStoreError::Unreadable { .. })));
        remove(&path).unwrap();
        assert!(read(&path, "demo").unwrap().is_none());
        remove(&path).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
