//! The Autopilot service's processing of the import queue, on the server's clock.
//!
//! A record created through the API (the `import` action, or `POST` on the collection without a
//! `state`) is `unknown`; from half the import delay on it is `pending`; at the delay it is
//! `complete`, with a registered device made of it whose id is its `state.deviceRegistrationId`,
//! or `error`, checked in this order:
//!
//! - 807 `ZtdDeviceDuplicated`: its hash appears more than once in the same `import` call
//!   (every record with that hash fails: the service cannot tell which one is right);
//! - 802 `InvalidZtdHardwareHash`: it has no hash (or no serial: only `POST` can leave one out);
//! - 808 `ZtdDeviceAssignedToOtherTenant`: its serial is registered in another tenant (the
//!   `--other-tenant-serials` file, and the serials of the data set's own imports that failed
//!   with 808);
//! - 806 `ZtdDeviceAlreadyAssigned`: a registered device of this tenant has its serial (without
//!   case) or its hash (the bytes), including one registered by an earlier record of the queue.
//!
//! Transitions are applied lazily and deterministically: before each Graph request the queue
//! applies what the clock says is due, in creation order, so every record ends as if the service
//! had processed it at its time, however often or seldom clients look. Records of the data set
//! itself are a snapshot and stay as they are; a record whose `state` a client changed to
//! something else than `unknown` or `pending` is left alone.

use super::AppState;
use super::data::{self, ALREADY_REGISTERED, GeneratedImported, OTHER_TENANT, REGISTERED_HASH};
use crate::graph::resource::Record;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// `ZtdDeviceDuplicated`: the same hash more than once in one import (the code is not
/// documented; 807 is what this imitation and its demo data use).
pub const DUPLICATED: (i32, &str) = (807, "ZtdDeviceDuplicated");
/// `InvalidZtdHardwareHash`: no usable hash.
pub const INVALID_HASH: (i32, &str) = (802, "InvalidZtdHardwareHash");
/// `StorageError`: the service failed to keep the device.
const STORAGE_ERROR: (i32, &str) = (500, "StorageError");
/// `ZtdDeviceAlreadyAssigned`: registered in this tenant already.
pub const ALREADY_ASSIGNED: (i32, &str) = (ALREADY_REGISTERED, "ZtdDeviceAlreadyAssigned");
/// `ZtdDeviceAssignedToOtherTenant`: registered in another tenant.
pub const ASSIGNED_TO_OTHER_TENANT: (i32, &str) = (OTHER_TENANT, "ZtdDeviceAssignedToOtherTenant");

/// How the imitated Autopilot service processes imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// How long after its creation a record is `complete` or `error` (`pending` from half of
    /// it); zero settles it at the next request.
    pub delay: Duration,
    /// Serials registered in another tenant: their imports fail with 808.
    pub other_tenant_serials: Vec<String>,
    /// A file of more such serials, one a line (blank lines and `#` comments skipped), read at start.
    pub other_tenant_file: Option<PathBuf>,
}

/// The default `--import-delay`.
pub const DEFAULT_IMPORT_DELAY: Duration = Duration::from_secs(5);

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            delay: DEFAULT_IMPORT_DELAY,
            other_tenant_serials: Vec::new(),
            other_tenant_file: None,
        }
    }
}

/// Where the data set's own 808 serials come from.
#[derive(Debug)]
pub(super) enum DataSetElsewhere {
    /// Listed at start (the demo).
    Listed(Vec<String>),
    /// Drawn from a generated set when first needed (a pass over every draw).
    Generated(GeneratedImported),
}

/// The records waiting for the service, oldest first.
#[derive(Debug)]
pub(super) struct ImportQueue {
    delay: Duration,
    entries: VecDeque<Entry>,
    /// How many entries at the front show `pending` already.
    shown_pending: usize,
    /// Serials registered in another tenant, in upper case.
    other_tenant: HashSet<String>,
    /// A generated set whose 808 serials are not collected yet.
    unscanned: Option<GeneratedImported>,
}

#[derive(Debug)]
struct Entry {
    id: String,
    created: Instant,
    /// Its hash appeared more than once in its `import` call.
    duplicate: bool,
}

/// What is due at one moment.
#[derive(Debug, Default)]
struct Due {
    /// Records to show `pending`.
    pending: Vec<String>,
    /// Records to finish, oldest first.
    finished: Vec<Entry>,
}

/// A serial as the service compares them: trimmed, without case.
fn serial_key(serial: &str) -> String {
    serial.trim().to_uppercase()
}

impl ImportQueue {
    /// An empty queue; reads `--other-tenant-serials` (a file that cannot be read is an error).
    pub(super) fn new(options: &ImportOptions, data_set: DataSetElsewhere) -> Result<ImportQueue, String> {
        let mut other_tenant: HashSet<String> =
            options.other_tenant_serials.iter().map(|s| serial_key(s)).collect();
        if let Some(path) = &options.other_tenant_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the other-tenant serials file {}: {e}", path.display()))?;
            other_tenant.extend(
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(serial_key),
            );
        }
        let unscanned = match data_set {
            DataSetElsewhere::Listed(serials) => {
                other_tenant.extend(serials.iter().map(|s| serial_key(s)));
                None
            }
            DataSetElsewhere::Generated(generated) => Some(generated),
        };
        Ok(ImportQueue {
            delay: options.delay,
            entries: VecDeque::new(),
            shown_pending: 0,
            other_tenant,
            unscanned,
        })
    }

    /// Queues a record created at `created` (callers hold the queue's lock across the store
    /// insert, so the queue stays in creation order).
    pub(super) fn push(&mut self, id: String, created: Instant, duplicate: bool) {
        self.entries.push_back(Entry { id, created, duplicate });
    }

    fn finish_due(&self, entry: &Entry, now: Instant) -> bool {
        now >= entry.created + self.delay
    }

    fn pending_due(&self, entry: &Entry, now: Instant) -> bool {
        now >= entry.created + self.delay / 2
    }

    /// Whether anything changes at `now` (O(1): the queue is in creation order).
    fn is_due(&self, now: Instant) -> bool {
        self.entries.front().is_some_and(|e| self.finish_due(e, now))
            || self.entries.get(self.shown_pending).is_some_and(|e| self.pending_due(e, now))
    }

    fn take_due(&mut self, now: Instant) -> Due {
        let mut due = Due::default();
        while let Some(entry) = self.entries.front()
            && self.finish_due(entry, now)
            && let Some(entry) = self.entries.pop_front()
        {
            due.finished.push(entry);
            self.shown_pending = self.shown_pending.saturating_sub(1);
        }
        while let Some(entry) = self.entries.get(self.shown_pending)
            && self.pending_due(entry, now)
        {
            due.pending.push(entry.id.clone());
            self.shown_pending += 1;
        }
        due
    }

    /// Whether this serial is registered in another tenant.
    fn elsewhere(&mut self, serial: &str) -> bool {
        if let Some(generated) = self.unscanned.take() {
            let serials = generated.serials_failed_with(OTHER_TENANT);
            self.other_tenant.extend(serials.iter().map(|s| serial_key(s)));
        }
        self.other_tenant.contains(&serial_key(serial))
    }
}

/// The queue, locked. Lock order: the queue, then `imported`, then `registered`.
pub(super) fn lock(app: &AppState) -> MutexGuard<'_, ImportQueue> {
    app.imports.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The layer before every Graph route: applies what is due, off the async workers when there
/// is anything (a look-up scans the registered devices).
pub(super) async fn settle_first(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if lock(&app).is_due(app.clock.now()) {
        let worker = Arc::clone(&app);
        if let Err(error) = tokio::task::spawn_blocking(move || settle(&worker)).await {
            tracing::warn!(%error, "import processing failed");
        }
    }
    next.run(request).await
}

/// A record's `deviceImportStatus`.
fn status(record: &Record) -> Option<&str> {
    record.get("state")?.get("deviceImportStatus")?.as_str()
}

/// Still the service's to process: `unknown` or `pending`.
fn in_process(record: &Record) -> bool {
    matches!(status(record), Some("unknown" | "pending"))
}

fn text<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record.get(name).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty())
}

/// Sets a record's whole `state`.
fn set_state(record: &mut Record, status: &str, registration: Option<String>, error: Option<(i32, &str)>) {
    let mut state = Map::new();
    state.insert("deviceImportStatus".into(), Value::String(status.into()));
    state.insert("deviceRegistrationId".into(), registration.map_or(Value::Null, Value::String));
    state.insert("deviceErrorCode".into(), Value::from(error.map_or(0, |(code, _)| code)));
    state.insert("deviceErrorName".into(), error.map_or(Value::Null, |(_, name)| Value::String(name.into())));
    record.insert("state".into(), Value::Object(state));
}

/// Applies everything due by the clock, in creation order.
pub(super) fn settle(app: &AppState) {
    let mut queue = lock(app);
    let due = queue.take_due(app.clock.now());
    if due.pending.is_empty() && due.finished.is_empty() {
        return;
    }
    let mut imported = app.imported.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    for id in &due.pending {
        if let Some(mut record) = imported.get(id, None)
            && status(&record) == Some("unknown")
        {
            set_state(&mut record, "pending", None, None);
            let _ = imported.replace(record);
        }
    }
    let finishing: Vec<(Entry, Record)> = due
        .finished
        .into_iter()
        .filter_map(|entry| imported.get(&entry.id, None).filter(in_process).map(|record| (entry, record)))
        .collect();
    if finishing.is_empty() {
        return;
    }
    let mut registered = app.registered.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    // One pass over the registered devices for the serials and hashes of this batch.
    let serials: HashSet<String> =
        finishing.iter().filter_map(|(_, r)| text(r, "serialNumber")).map(serial_key).collect();
    let hashes: HashSet<String> =
        finishing.iter().filter_map(|(_, r)| text(r, "hardwareIdentifier")).map(str::to_string).collect();
    let mut taken_serials = HashSet::new();
    let mut taken_hashes = HashSet::new();
    for device in registered.scan(Some(&["serialNumber", REGISTERED_HASH])) {
        if let Some(serial) = text(&device, "serialNumber").map(serial_key)
            && serials.contains(&serial)
        {
            taken_serials.insert(serial);
        }
        if let Some(hash) = text(&device, REGISTERED_HASH)
            && hashes.contains(hash)
        {
            taken_hashes.insert(hash.to_string());
        }
    }
    let wall = app.clock.wall();
    for (entry, mut record) in finishing {
        let serial = text(&record, "serialNumber").map(serial_key);
        let hash = text(&record, "hardwareIdentifier").map(str::to_string);
        let error = match (&serial, &hash) {
            _ if entry.duplicate => Some(DUPLICATED),
            (None, _) | (_, None) => Some(INVALID_HASH),
            (Some(serial), _) if queue.elsewhere(serial) => Some(ASSIGNED_TO_OTHER_TENANT),
            (Some(serial), Some(hash)) if taken_serials.contains(serial) || taken_hashes.contains(hash) => {
                Some(ALREADY_ASSIGNED)
            }
            _ => None,
        };
        match error {
            Some(error) => set_state(&mut record, "error", None, Some(error)),
            None => {
                let id = registered.fresh_id();
                let stored = data::registered_twin(&record, id.clone(), wall)
                    .is_some_and(|twin| registered.insert(twin).is_ok());
                if stored {
                    taken_serials.extend(serial);
                    taken_hashes.extend(hash);
                    set_state(&mut record, "complete", Some(id), None);
                } else {
                    // Not reachable with a serial and a fresh id; the service's own failure if it were.
                    set_state(&mut record, "error", None, Some(STORAGE_ERROR));
                }
            }
        }
        let _ = imported.replace(record);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_queue_turns_pending_then_due_in_creation_order() {
        let options = ImportOptions { delay: Duration::from_secs(10), ..ImportOptions::default() };
        let mut queue = ImportQueue::new(&options, DataSetElsewhere::Listed(vec!["ab1".into()])).unwrap();
        let t0 = Instant::now();
        queue.push("a".into(), t0, false);
        queue.push("b".into(), t0 + Duration::from_secs(3), true);
        assert!(!queue.is_due(t0 + Duration::from_secs(4)));
        let due = queue.take_due(t0 + Duration::from_secs(5));
        assert_eq!((due.pending, due.finished.len()), (vec!["a".to_string()], 0));
        assert!(!queue.is_due(t0 + Duration::from_secs(6)), "a shows pending already");
        let due = queue.take_due(t0 + Duration::from_secs(10));
        assert_eq!(due.pending, ["b"]);
        assert_eq!(due.finished.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["a"]);
        let due = queue.take_due(t0 + Duration::from_secs(60));
        assert!(due.pending.is_empty());
        assert!(due.finished[0].duplicate);
        assert!(!queue.is_due(t0 + Duration::from_secs(600)));
        assert!(queue.elsewhere(" AB1 ") && !queue.elsewhere("AB2"));
    }

    #[test]
    fn an_unreadable_serials_file_is_an_error() {
        let options = ImportOptions {
            other_tenant_file: Some(PathBuf::from("/nonexistent/serials.txt")),
            ..ImportOptions::default()
        };
        let error = ImportQueue::new(&options, DataSetElsewhere::Listed(Vec::new())).unwrap_err();
        assert!(error.contains("/nonexistent/serials.txt"), "{error}");
    }
}
