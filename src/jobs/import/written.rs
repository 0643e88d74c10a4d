//! The import's lines in the write log (`crate::write_log`): every write of a run that got an
//! answer from the server, journalled as it comes back.
//!
//! - an `import` request: one entry per row it carried (`POST import`, the record's id when
//!   the answer listed it, the row's properties without the hardware hash: 4 KB a row adds
//!   nothing an undo needs); a row found in the queue after an answer was lost gets its entry
//!   then, with status 0 ("no answer");
//! - an update made instead of importing: `POST updateDeviceProperties`, old and new values;
//! - a clean-up delete: `DELETE` of the import record (a 404 too: it reached the server).
//!
//! A 429 is not journalled: the server took nothing. No write log, or one that cannot be
//! written, is said once (an event) and the import goes on.

use super::progress::{ImportEvent, Reporter};
use crate::graph::client::Exchange;
use crate::graph::csv::HardwareHashRow;
use crate::graph::resource::Resource;
use crate::write_log::{WriteEntry, WriteLog, WriteSource};
use serde_json::{Map, Value};
use std::sync::Mutex;

/// Where one run's writes are journalled.
pub(super) struct Journal {
    log: Mutex<Option<WriteLog>>,
    reporter: Reporter,
    /// The Graph version root the writes went to.
    target: String,
    /// The run's `importId`: the entries' `job`.
    import_id: String,
}

impl Journal {
    /// A journal writing to `log` (none: nothing is journalled, and nothing said).
    pub(super) fn new(
        log: Option<WriteLog>,
        reporter: Reporter,
        target: String,
        import_id: String,
    ) -> Journal {
        Journal { log: Mutex::new(log), reporter, target: crate::write_log::target_of(&target), import_id }
    }

    /// Appends entries in one write; the first failure is told and ends journalling.
    pub(super) fn append(&self, entries: &[WriteEntry]) {
        if entries.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(writer) = log.as_ref() else { return };
        if let Err(e) = writer.append(entries) {
            tracing::warn!(error = %e, "write log unavailable");
            self.reporter.emit(ImportEvent::WriteLogUnavailable { reason: e.to_string() });
            *log = None;
        }
    }

    /// An entry for one write: `status` is the answer's (0: none came, but the write landed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn entry(
        &self,
        resource: &Resource,
        id: &str,
        serial: Option<&str>,
        verb: &str,
        before: Map<String, Value>,
        after: Map<String, Value>,
        answer: &Answer,
        source: WriteSource,
    ) -> WriteEntry {
        WriteEntry {
            time: crate::graph::timestamp::format(std::time::SystemTime::now()),
            target: self.target.clone(),
            collection: resource.collection_name().to_string(),
            id: id.to_string(),
            serial: serial.map(str::to_string),
            verb: verb.to_string(),
            before,
            after,
            status: answer.status.unwrap_or(0),
            request_id: answer.request_id.clone(),
            source,
            job: (!self.import_id.is_empty()).then(|| self.import_id.clone()),
            undoes: None,
        }
    }
}

/// What the write log keeps of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Answer {
    /// Its status (`None`: no answer came).
    pub status: Option<u16>,
    /// The server's `request-id`.
    pub request_id: Option<String>,
}

impl Answer {
    /// What an exchange's answer was.
    pub(super) fn of(exchange: &Exchange) -> Answer {
        Answer {
            status: exchange.status,
            request_id: exchange.response_header("request-id").map(str::to_string),
        }
    }

    /// Whether it is journalled: an answer came, and it was not a 429 (nothing taken).
    pub(super) fn journalled(&self) -> bool {
        self.status.is_some_and(|s| s != 429)
    }
}

/// What an import entry says was sent for a row: its properties and the `importId`, without
/// the hardware hash.
pub(super) fn import_after(row: &HardwareHashRow, import_id: &str) -> Map<String, Value> {
    let mut after = row.to_import_json();
    after.remove("@odata.type");
    after.remove("hardwareIdentifier");
    after.insert("importId".into(), Value::String(import_id.to_string()));
    after
}
