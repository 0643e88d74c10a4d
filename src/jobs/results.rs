//! A job's results as CSV, one row per plan row: `key, outcome, old, new, status, request-id,
//! message`. `old` and `new` are JSON objects of the fields written (`{"groupTag":"Sales"}`),
//! so several fields and `null` read back unambiguously; `message` holds Graph's error or the
//! conflict's fields. What `apply --results` writes and what the TUI's jobs view exports.

use super::outcome::ItemResult;
use super::plan::{Plan, PlanItem, Step, Unplanned};
use serde_json::{Map, Value};
use std::io::Write;

/// The header row.
pub const HEADER: [&str; 7] = ["key", "outcome", "old", "new", "status", "request-id", "message"];

/// One row of a results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// The record's key as the user gave it (its serial, else its id).
    pub key: String,
    /// `done`, `failed`, `conflict`, `skipped`, `not sent` (a dry run: `to write`).
    pub outcome: String,
    /// What the plan saw of the fields written.
    pub old: String,
    /// What they are set to.
    pub new: String,
    /// The write's HTTP status, when an answer came.
    pub status: String,
    /// Its `request-id`, when an answer came.
    pub request_id: String,
    /// Why it failed or was a conflict.
    pub message: String,
}

impl ResultRow {
    /// The row of a planned item and how it ended.
    pub fn of(item: &PlanItem, result: &ItemResult) -> ResultRow {
        let (old, new) = values(item);
        ResultRow {
            key: item.label.clone(),
            outcome: result.word().to_string(),
            old,
            new,
            status: result.status().map(|s| s.to_string()).unwrap_or_default(),
            request_id: result.request_id().unwrap_or_default().to_string(),
            message: result.problem().unwrap_or_default(),
        }
    }

    /// The row of a planned item before anything is sent (`apply --dry-run`).
    pub fn planned(item: &PlanItem) -> ResultRow {
        let (old, new) = values(item);
        let outcome = match item.step {
            Step::Write(_) => "to write",
            Step::AlreadyThere => "skipped",
        };
        ResultRow {
            key: item.label.clone(),
            outcome: outcome.to_string(),
            old,
            new,
            status: String::new(),
            request_id: String::new(),
            message: String::new(),
        }
    }

    /// The row of a row that could not be planned: a failure, with its reason.
    pub fn unplanned(row: &Unplanned) -> ResultRow {
        ResultRow {
            key: row.key.clone(),
            outcome: "failed".to_string(),
            old: String::new(),
            new: String::new(),
            status: String::new(),
            request_id: String::new(),
            message: row.reason.clone(),
        }
    }

    fn cells(&self) -> [&str; 7] {
        [&self.key, &self.outcome, &self.old, &self.new, &self.status, &self.request_id, &self.message]
    }
}

/// `{"field": old}` and `{"field": new}` of an item's write; empty when it writes nothing.
fn values(item: &PlanItem) -> (String, String) {
    match item.body() {
        Some(body) => {
            let new: Map<String, Value> = body.properties.clone();
            (Value::Object(item.planned_values()).to_string(), Value::Object(new).to_string())
        }
        None => (String::new(), String::new()),
    }
}

/// Writes the header and `rows` as CSV.
pub fn write_rows<W: Write>(out: W, rows: impl IntoIterator<Item = ResultRow>) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    for row in rows {
        writer.write_record(row.cells())?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes a job's results: its items in plan order (`results` beside them), then the rows that
/// could not be planned (the TUI's export).
pub fn write_job<W: Write>(out: W, plan: &Plan, results: &[ItemResult]) -> Result<(), csv::Error> {
    let rows = plan.items.iter().zip(results).map(|(item, result)| ResultRow::of(item, result));
    write_rows(out, rows.chain(plan.unplanned.iter().map(ResultRow::unplanned)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::registered::REGISTERED;
    use crate::jobs::plan::Target;
    use serde_json::json;

    #[test]
    fn one_row_per_plan_row_with_json_values_status_and_request_id() {
        let tag = REGISTERED.field("groupTag").unwrap();
        let record = |tag: &str| json!({"id": "x", "groupTag": tag}).as_object().cloned().unwrap();
        let mut plan = Plan::uniform(
            &REGISTERED,
            &[Target { field: tag, value: json!("Lab") }],
            [
                ("a".to_string(), "SN-A".to_string(), record("Sales")),
                ("b".to_string(), "SN-B".to_string(), record("Lab")),
            ],
        );
        plan.unplanned.push(Unplanned { line: Some(4), key: "SN-Z".into(), reason: "no such serial".into() });
        let results = [
            ItemResult::Done { status: Some(204), request_id: Some("r-1".into()), verified: false },
            ItemResult::Skipped,
        ];
        let mut out = Vec::new();
        write_job(&mut out, &plan, &results).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "key,outcome,old,new,status,request-id,message");
        assert_eq!(lines[1], r#"SN-A,done,"{""groupTag"":""Sales""}","{""groupTag"":""Lab""}",204,r-1,"#);
        assert_eq!(lines[2], "SN-B,skipped,,,,,");
        assert_eq!(lines[3], "SN-Z,failed,,,,,no such serial");
        assert_eq!(lines.len(), 4);
        assert_eq!(ResultRow::planned(&plan.items[0]).outcome, "to write");
    }
}
