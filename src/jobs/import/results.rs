//! The results of an import, one per line of the CSV: what became of the row, in words, with the
//! error's code and explanation and the registered device's id when known; written as CSV. The
//! plan itself reads the same way (`would import`, ...) for `--dry-run`.

use super::reconcile::{Hold, ImportPlan, PlannedRow, QueueRecord, Skip, Step};
use crate::graph::import_errors::Explanation;
use crate::graph::patch::PatchBody;
use crate::terminal_text::escape_for_terminal;
use serde_json::Value;
use std::fmt;

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Imported: the device is registered.
    Imported,
    /// Registered already: its group tag or user was updated instead.
    UpdatedInstead,
    /// Nothing to do, on purpose (registered as the file says; a repeated line).
    Skipped,
    /// Valid but held back for the user (in the queue already, registered with other values, a
    /// conflict): the details say what to do.
    NotImported,
    /// Sent, and refused by Graph or by the Autopilot service, or its sending failed.
    Failed,
    /// Still in process when the watch timed out.
    Pending,
    /// The checker found problems: never sent.
    Invalid,
    /// Valid, but the user did not confirm: nothing was sent.
    NotSent,
    /// The plan (`--dry-run`): it would be imported.
    WouldImport,
    /// The plan (`--dry-run`): its registered device would be updated.
    WouldUpdate,
}

impl Outcome {
    /// The word in the results (`imported`, `updated instead`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::UpdatedInstead => "updated instead",
            Outcome::Skipped => "skipped",
            Outcome::NotImported => "not imported",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
            Outcome::Invalid => "invalid",
            Outcome::NotSent => "not sent",
            Outcome::WouldImport => "would import",
            Outcome::WouldUpdate => "would update",
        }
    }

    /// Whether the row needs nothing more: imported, updated, skipped on purpose (or, in a
    /// plan, would be). Exit status 0 needs every row done.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            Outcome::Imported
                | Outcome::UpdatedInstead
                | Outcome::Skipped
                | Outcome::WouldImport
                | Outcome::WouldUpdate
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the results.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    /// The CSV line.
    pub line: usize,
    /// The serial, when the row could be read.
    pub serial: Option<String>,
    /// What became of it.
    pub outcome: Outcome,
    /// The import error, explained, when the service refused it.
    pub error: Option<Explanation>,
    /// In words: why, and what to do next.
    pub details: String,
    /// The registered device, when known.
    pub registered_id: Option<String>,
    /// The import record left in the queue, when one is (failed ones are kept).
    pub import_record_id: Option<String>,
}

impl RowResult {
    /// A result with no error, device or record.
    pub fn new(planned: &PlannedRow, outcome: Outcome, details: String) -> RowResult {
        RowResult {
            line: planned.line,
            serial: planned.serial.clone(),
            outcome,
            error: None,
            details,
            registered_id: None,
            import_record_id: None,
        }
    }
}

/// `groupTag Sales -> Lab, userPrincipalName (none) -> ana@contoso.com`.
pub fn changes_text(body: &PatchBody) -> String {
    let value = |v: &Value| match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    body.changes
        .iter()
        .map(|c| format!("{} {} -> {}", c.field.label.to_lowercase(), value(&c.old), value(&c.new)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to say of import records of a registered serial still in the queue.
fn leftovers(queued: &[QueueRecord]) -> String {
    if queued.is_empty() {
        return String::new();
    }
    let ids: Vec<&str> = queued.iter().map(|q| q.id.as_str()).collect();
    format!("; its import record {} is still in the queue and can be deleted", ids.join(", "))
}

/// A held row's result: what holds it and what to do.
pub fn held(planned: &PlannedRow, hold: &Hold) -> RowResult {
    let (details, error, registered_id, record) = match hold {
        Hold::RegisteredDiffers { device_id, body } => (
            format!(
                "registered already (device {device_id}) with other values: {}; run with --update-registered \
                 to update it instead, or change it in :devices",
                changes_text(body)
            ),
            None,
            Some(device_id.clone()),
            None,
        ),
        Hold::InQueue(record) => (
            format!(
                "in the import queue already ({}); wait for it to finish, or delete that record to import it anew",
                record.describe()
            ),
            None,
            None,
            Some(record.id.clone()),
        ),
        Hold::FailedInQueue(record) => {
            let why = record.error.as_ref().map(Explanation::words).unwrap_or_default();
            (
                format!(
                    "an earlier import failed ({}): {why} The row is imported again only once that record is deleted.",
                    record.describe()
                ),
                record.error.clone(),
                None,
                Some(record.id.clone()),
            )
        }
        Hold::Conflict(why) => (why.clone(), None, None, None),
    };
    RowResult {
        error,
        registered_id,
        import_record_id: record,
        ..RowResult::new(planned, Outcome::NotImported, details)
    }
}

/// The result a row has before anything is sent: its planned outcome, with `import` and
/// `update` as the given outcomes (`would import`, or `not sent` when the user said no).
pub fn planned(planned: &PlannedRow, import: Outcome, update: Outcome) -> RowResult {
    match &planned.step {
        Step::Import => RowResult::new(planned, import, "new: to import".into()),
        Step::Update { device_id, body, queued } => RowResult {
            registered_id: Some(device_id.clone()),
            ..RowResult::new(
                planned,
                update,
                format!("registered already; update {}{}", changes_text(body), leftovers(queued)),
            )
        },
        Step::Skip(Skip::AlreadyRegistered { device_id, queued }) => RowResult {
            registered_id: Some(device_id.clone()),
            ..RowResult::new(
                planned,
                Outcome::Skipped,
                format!("registered already as the file says{}", leftovers(queued)),
            )
        },
        Step::Skip(Skip::RepeatedLine { of }) => RowResult::new(
            planned,
            Outcome::Skipped,
            format!("repeats line {of} exactly; line {of} is the one sent"),
        ),
        Step::Hold(hold) => held(planned, hold),
        Step::Invalid(problems) => RowResult::new(planned, Outcome::Invalid, problems.join("; ")),
    }
}

/// The plan as results (`--dry-run`).
pub fn plan_results(plan: &ImportPlan) -> Vec<RowResult> {
    plan.rows.iter().map(|row| planned(row, Outcome::WouldImport, Outcome::WouldUpdate)).collect()
}

/// Whether every row is done (exit status 0).
pub fn all_done(results: &[RowResult]) -> bool {
    results.iter().all(|r| r.outcome.is_done())
}

/// The results' CSV header.
pub const RESULTS_HEADER: [&str; 8] = [
    "Line",
    "Serial",
    "Outcome",
    "Error Code",
    "Error Name",
    "Details",
    "Registered Device Id",
    "Import Record Id",
];

/// The results as CSV (RFC 4180 quoting), every value with control, bidi and invisible
/// characters escaped: it is a report, read on terminals, and values come from the file and
/// the server.
pub fn to_csv(results: &[RowResult]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(RESULTS_HEADER);
    for r in results {
        let code = r.error.as_ref().map(|e| e.code.to_string()).unwrap_or_default();
        let name = r.error.as_ref().and_then(|e| e.name.clone()).unwrap_or_default();
        let fields = [
            r.line.to_string(),
            r.serial.clone().unwrap_or_default(),
            r.outcome.as_str().to_string(),
            code,
            name,
            r.details.clone(),
            r.registered_id.clone().unwrap_or_default(),
            r.import_record_id.clone().unwrap_or_default(),
        ];
        let _ = writer.write_record(fields.iter().map(|f| escape_for_terminal(f).into_owned()));
    }
    writer.into_inner().unwrap_or_default()
}
