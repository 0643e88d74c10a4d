//! Each row of a checked CSV against what the tenant holds, before anything is sent: new (import
//! it), registered already (nothing to do, or its group tag or user to update through
//! `updateDeviceProperties` instead), in the import queue already (pending or failed: shown, not
//! imported again), or a conflict (two records, a record that could not be read). Pure: the
//! checker's [`Report`] and a [`Tenant`] snapshot in, an [`ImportPlan`] out.
//!
//! Serials are compared as the service compares them: trimmed, without case. A value the CSV
//! leaves empty (no group tag, no user) means "as it is": it is never compared nor cleared.

use crate::graph::csv::{HardwareHashRow, ProblemKind, Report};
use crate::graph::import_errors::{Explanation, explain_state};
use crate::graph::patch::PatchBody;
use crate::graph::registered::REGISTERED;
use crate::graph::resource::Record;
use crate::jobs::plan::{PlanItem, Step as PlanStep, Target};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A serial as the Autopilot service compares them: trimmed, upper case.
pub fn serial_key(serial: &str) -> String {
    serial.trim().to_uppercase()
}

/// A registered device as the survey read it (its id, serial, group tag and user).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredDevice {
    /// Its id (what `updateDeviceProperties` is posted to).
    pub id: String,
    /// The properties read (`serialNumber`, `groupTag`, `userPrincipalName`).
    pub record: Record,
}

/// An imported identity (a record of the import queue) as a listing read it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRecord {
    /// Its id.
    pub id: String,
    /// Its serial number.
    pub serial: String,
    /// The import it came with.
    pub import_id: Option<String>,
    /// `state.deviceImportStatus` (`unknown` when the record has none).
    pub status: String,
    /// `state.deviceRegistrationId`: the registered device's id once complete.
    pub registration_id: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<Explanation>,
}

impl QueueRecord {
    /// Reads a record of the queue; `None` without an id or a serial.
    pub fn from_record(record: &Record) -> Option<QueueRecord> {
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
        let state = record.get("state").and_then(Value::as_object);
        Some(QueueRecord {
            id: text(record.get("id"))?,
            serial: text(record.get("serialNumber"))?,
            import_id: text(record.get("importId")),
            status: text(state.and_then(|s| s.get("deviceImportStatus"))).unwrap_or_else(|| "unknown".into()),
            registration_id: text(state.and_then(|s| s.get("deviceRegistrationId")))
                .filter(|r| !r.is_empty()),
            error: explain_state(record),
        })
    }

    /// `complete` or `error`: the service is done with it.
    pub fn is_settled(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "error")
    }

    /// `pending (import id X, record Y)`, or the error's title.
    pub fn describe(&self) -> String {
        let import = self.import_id.as_deref().map(|i| format!("import id {i}, ")).unwrap_or_default();
        match &self.error {
            Some(error) => format!("error {} ({import}record {})", error.title(), self.id),
            None => format!("{} ({import}record {})", self.status, self.id),
        }
    }
}

/// What the tenant holds for the serials of a CSV: only records whose serial is in the file are
/// kept, so a snapshot's size follows the file, not the tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tenant {
    /// Registered devices by [`serial_key`].
    pub registered: HashMap<String, Vec<RegisteredDevice>>,
    /// Records of the import queue by [`serial_key`].
    pub queue: HashMap<String, Vec<QueueRecord>>,
    /// Serials of records a listing left out as unreadable: never guessed about.
    pub unreadable: HashSet<String>,
    /// Registered devices read in all.
    pub registered_seen: u64,
    /// Import records read in all.
    pub queue_seen: u64,
}

/// Why a row needs nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// Registered already, with the group tag and user the file gives.
    AlreadyRegistered {
        /// The registered device.
        device_id: String,
        /// Import records of the serial still in the queue (complete ones left behind).
        queued: Vec<QueueRecord>,
    },
    /// The line repeats an earlier line exactly; that line goes.
    RepeatedLine {
        /// The earlier line.
        of: usize,
    },
}

/// Why a row is not imported although it is valid: something the user decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Registered already with another group tag or user (`--update-registered` updates it).
    RegisteredDiffers {
        /// The registered device.
        device_id: String,
        /// The update that would make it match the file.
        body: PatchBody,
    },
    /// In the import queue already and still being processed.
    InQueue(QueueRecord),
    /// In the import queue already, failed: delete that record before importing it again.
    FailedInQueue(QueueRecord),
    /// Anything that cannot be decided without the admin.
    Conflict(String),
}

/// What the plan does with one row of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Import it.
    Import,
    /// Registered already: update its group tag or user instead of importing it.
    Update {
        /// The registered device.
        device_id: String,
        /// Exactly the changed properties (old -> new).
        body: PatchBody,
        /// Import records of the serial still in the queue.
        queued: Vec<QueueRecord>,
    },
    /// Nothing to do, on purpose.
    Skip(Skip),
    /// Not imported: the user decides (shown in the plan and the results).
    Hold(Hold),
    /// The checker found problems: never sent.
    Invalid(Vec<String>),
}

/// One line of the file and what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRow {
    /// The CSV line (2 = the first row).
    pub line: usize,
    /// The serial, when the row could be read.
    pub serial: Option<String>,
    /// The row as it would be sent, when it is valid.
    pub row: Option<HardwareHashRow>,
    /// What happens to it.
    pub step: Step,
}

/// Counts of a plan, by step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Rows to import.
    pub import: usize,
    /// Registered devices to update instead.
    pub update: usize,
    /// Rows that need nothing.
    pub skip: usize,
    /// Valid rows held back for the user.
    pub hold: usize,
    /// Rows with problems.
    pub invalid: usize,
}

/// Every line of a CSV with what happens to it, in line order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportPlan {
    /// The rows.
    pub rows: Vec<PlannedRow>,
}

impl ImportPlan {
    /// How many rows take each step.
    pub fn counts(&self) -> PlanCounts {
        let mut counts = PlanCounts::default();
        for row in &self.rows {
            match row.step {
                Step::Import => counts.import += 1,
                Step::Update { .. } => counts.update += 1,
                Step::Skip(_) => counts.skip += 1,
                Step::Hold(_) => counts.hold += 1,
                Step::Invalid(_) => counts.invalid += 1,
            }
        }
        counts
    }

    /// Whether anything would be sent.
    pub fn sends_anything(&self) -> bool {
        let counts = self.counts();
        counts.import + counts.update > 0
    }

    /// The rows to import, in file order.
    pub fn imports(&self) -> impl Iterator<Item = &HardwareHashRow> {
        self.rows.iter().filter(|r| r.step == Step::Import).filter_map(|r| r.row.as_ref())
    }
}

/// What the plan may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Update a registered device's group tag or user instead of holding its row.
    pub update_registered: bool,
}

/// Plans every line of a checked file against a tenant snapshot.
pub fn plan(report: &Report, tenant: &Tenant, options: PlanOptions) -> ImportPlan {
    let mut rows: Vec<PlannedRow> = report
        .rows
        .iter()
        .map(|row| PlannedRow {
            line: row.line,
            serial: Some(row.serial_number.clone()),
            row: Some(row.clone()),
            step: step_for(row, tenant, options),
        })
        .collect();
    // Lines with problems of their own (line 1 is the file's; a blank line holds no row).
    let valid: HashSet<usize> = report.rows.iter().map(|r| r.line).collect();
    let mut problems: BTreeMap<usize, Vec<&crate::graph::csv::Problem>> = BTreeMap::new();
    for problem in report.problems.iter().filter(|p| p.line > 1 && p.kind != ProblemKind::BlankLine) {
        if !valid.contains(&problem.line) {
            problems.entry(problem.line).or_default().push(problem);
        }
    }
    let serial_of: HashMap<usize, &String> = report.refused_serials.iter().map(|(l, s)| (*l, s)).collect();
    for (line, problems) in problems {
        let repeated = problems.iter().all(|p| p.kind == ProblemKind::DuplicateRow);
        let step = match problems.first().and_then(|p| p.other_line) {
            // Skipped on purpose only when the line it repeats goes.
            Some(of) if repeated && valid.contains(&of) => Step::Skip(Skip::RepeatedLine { of }),
            _ => Step::Invalid(problems.iter().map(|p| p.to_string()).collect()),
        };
        rows.push(PlannedRow { line, serial: serial_of.get(&line).map(|s| s.to_string()), row: None, step });
    }
    rows.sort_by_key(|r| r.line);
    ImportPlan { rows }
}

/// The step of one valid row.
fn step_for(row: &HardwareHashRow, tenant: &Tenant, options: PlanOptions) -> Step {
    let key = serial_key(&row.serial_number);
    if tenant.unreadable.contains(&key) {
        return Step::Hold(Hold::Conflict(
            "a record with this serial could not be read from the tenant (it was left out of a listing): \
             look it up before importing"
                .into(),
        ));
    }
    let queued = tenant.queue.get(&key).cloned().unwrap_or_default();
    match tenant.registered.get(&key).map(Vec::as_slice).unwrap_or_default() {
        [] => {}
        [device] => {
            let targets = targets_of(row);
            let label = row.serial_number.clone();
            let item = PlanItem::new(device.id.clone(), label, &device.record, &targets);
            return match item.step {
                PlanStep::AlreadyThere => {
                    Step::Skip(Skip::AlreadyRegistered { device_id: device.id.clone(), queued })
                }
                PlanStep::Write(body) if options.update_registered => {
                    Step::Update { device_id: device.id.clone(), body, queued }
                }
                PlanStep::Write(body) => {
                    Step::Hold(Hold::RegisteredDiffers { device_id: device.id.clone(), body })
                }
            };
        }
        devices => {
            let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
            return Step::Hold(Hold::Conflict(format!(
                "{} registered devices have this serial ({}): sort them out in :devices first",
                devices.len(),
                ids.join(", ")
            )));
        }
    }
    match queued.as_slice() {
        [] => Step::Import,
        [record] if record.status == "error" => Step::Hold(Hold::FailedInQueue(record.clone())),
        [record] if record.status == "complete" => Step::Hold(Hold::Conflict(format!(
            "the import queue holds a completed import of this serial (record {}) but no registered device \
             has it: it was deleted since, or Intune has not synced yet; run the Autopilot sync and look \
             again, or delete that import record to import it anew",
            record.id
        ))),
        [record] => Step::Hold(Hold::InQueue(record.clone())),
        records => {
            let states: Vec<String> = records.iter().map(QueueRecord::describe).collect();
            Step::Hold(Hold::Conflict(format!(
                "{} import records have this serial: {}; delete the ones not wanted first",
                records.len(),
                states.join("; ")
            )))
        }
    }
}

/// What the file asks of a registered device: its group tag and user, where it gives them.
fn targets_of(row: &HardwareHashRow) -> Vec<Target> {
    let mut targets = Vec::new();
    let fields = [("groupTag", &row.group_tag), ("userPrincipalName", &row.assigned_user_principal_name)];
    for (path, value) in fields {
        if let (Some(field), Some(value)) = (REGISTERED.field(path), value) {
            targets.push(Target { field, value: Value::String(value.clone()) });
        }
    }
    targets
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::csv::check;
    use base64::Engine;
    use serde_json::json;

    fn hash(n: u8) -> String {
        base64::engine::general_purpose::STANDARD
            .encode((0..2048u32).map(|i| (i as u8) ^ n).collect::<Vec<_>>())
    }

    fn csv(rows: &[(&str, &str, &str)]) -> Report {
        let mut text =
            String::from("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\r\n");
        for (i, (serial, tag, user)) in rows.iter().enumerate() {
            text.push_str(&format!("{serial},,{},{tag},{user}\r\n", hash(i as u8 + 1)));
        }
        check(text.as_bytes())
    }

    fn registered(id: &str, serial: &str, tag: Option<&str>) -> RegisteredDevice {
        let mut record = json!({"id": id, "serialNumber": serial}).as_object().cloned().unwrap();
        if let Some(tag) = tag {
            record.insert("groupTag".into(), json!(tag));
        }
        RegisteredDevice { id: id.into(), record }
    }

    fn queued(id: &str, serial: &str, status: &str, code: i32) -> QueueRecord {
        let record = json!({"id": id, "serialNumber": serial, "importId": "old",
            "state": {"deviceImportStatus": status, "deviceErrorCode": code,
                      "deviceErrorName": if code == 808 { json!("ZtdDeviceAssignedToOtherTenant") } else { Value::Null }}});
        QueueRecord::from_record(record.as_object().unwrap()).unwrap()
    }

    fn tenant() -> Tenant {
        let mut t = Tenant::default();
        t.registered.insert("REG-SAME".into(), vec![registered("d1", "reg-same", Some("Lab"))]);
        t.registered.insert("REG-OTHER".into(), vec![registered("d2", "REG-OTHER", Some("Sales"))]);
        t.registered.insert(
            "REG-TWICE".into(),
            vec![registered("d3", "REG-TWICE", None), registered("d4", "REG-TWICE", None)],
        );
        t.queue.insert("Q-PENDING".into(), vec![queued("q1", "Q-PENDING", "pending", 0)]);
        t.queue.insert("Q-FAILED".into(), vec![queued("q2", "Q-FAILED", "error", 808)]);
        t.queue.insert("Q-DONE".into(), vec![queued("q3", "Q-DONE", "complete", 0)]);
        t.queue.insert(
            "Q-TWO".into(),
            vec![queued("q4", "Q-TWO", "error", 808), queued("q5", "Q-TWO", "pending", 0)],
        );
        t.queue.insert("REG-SAME".into(), vec![queued("q6", "REG-SAME", "complete", 0)]);
        t.unreadable.insert("UNREAD".into());
        t
    }

    #[test]
    fn every_row_gets_its_step() {
        let report = csv(&[
            ("NEW-1", "", ""),
            ("Reg-Same", "Lab", ""),
            ("REG-OTHER", "Lab", "ana@contoso.com"),
            ("REG-TWICE", "", ""),
            ("Q-PENDING", "", ""),
            ("Q-FAILED", "", ""),
            ("Q-DONE", "", ""),
            ("Q-TWO", "", ""),
            ("UNREAD", "", ""),
        ]);
        assert!(report.is_clean(), "{:?}", report.problems);
        let plan = plan(&report, &tenant(), PlanOptions::default());
        let steps: Vec<&Step> = plan.rows.iter().map(|r| &r.step).collect();
        assert_eq!(steps[0], &Step::Import);
        let Step::Skip(Skip::AlreadyRegistered { device_id, queued }) = steps[1] else {
            panic!("{:?}", steps[1])
        };
        assert_eq!((device_id.as_str(), queued[0].id.as_str()), ("d1", "q6"));
        let Step::Hold(Hold::RegisteredDiffers { device_id, body }) = steps[2] else {
            panic!("{:?}", steps[2])
        };
        assert_eq!(device_id, "d2");
        assert_eq!(body.to_json(), json!({"groupTag": "Lab", "userPrincipalName": "ana@contoso.com"}));
        assert_eq!(body.changes[0].old, json!("Sales"));
        assert!(matches!(steps[3], Step::Hold(Hold::Conflict(why)) if why.contains("d3, d4")));
        assert!(matches!(steps[4], Step::Hold(Hold::InQueue(r)) if r.id == "q1"));
        assert!(
            matches!(steps[5], Step::Hold(Hold::FailedInQueue(r)) if r.error.as_ref().unwrap().code == 808)
        );
        assert!(matches!(steps[6], Step::Hold(Hold::Conflict(why)) if why.contains("q3")));
        assert!(matches!(steps[7], Step::Hold(Hold::Conflict(why)) if why.contains("2 import records")));
        assert!(matches!(steps[8], Step::Hold(Hold::Conflict(why)) if why.contains("could not be read")));
        assert_eq!(plan.counts(), PlanCounts { import: 1, update: 0, skip: 1, hold: 7, invalid: 0 });

        let plan = super::plan(&report, &tenant(), PlanOptions { update_registered: true });
        assert!(matches!(&plan.rows[2].step, Step::Update { device_id, .. } if device_id == "d2"));
        assert_eq!(plan.counts().update, 1);
        assert!(plan.sends_anything());
    }

    #[test]
    fn an_empty_value_leaves_the_registered_device_as_it_is() {
        let report = csv(&[("REG-OTHER", "", "")]);
        let plan = plan(&report, &tenant(), PlanOptions { update_registered: true });
        assert!(matches!(plan.rows[0].step, Step::Skip(Skip::AlreadyRegistered { .. })));
    }

    #[test]
    fn lines_with_problems_are_invalid_and_a_repeated_line_is_skipped() {
        let good = format!("NEW-1,,{},,", hash(1));
        let text = format!(
            "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\r\n{good}\r\n\r\nNEW-2,,abc,,\r\n{good}\r\n"
        );
        let report = check(text.as_bytes());
        let plan = plan(&report, &Tenant::default(), PlanOptions::default());
        let lines: Vec<usize> = plan.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 5], "the blank line 3 holds no row");
        assert_eq!(plan.rows[0].step, Step::Import);
        assert!(
            matches!(&plan.rows[1].step, Step::Invalid(problems) if problems[0].starts_with("line 4, Hardware Hash"))
        );
        assert_eq!(plan.rows[2].step, Step::Skip(Skip::RepeatedLine { of: 2 }));
        assert_eq!(plan.imports().count(), 1);
    }
}
