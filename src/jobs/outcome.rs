//! What became of each item of a job: exactly one of done, failed, conflict, skipped or not
//! sent, never "unknown" (an item whose answer was lost is read back before it ends). Shared by
//! the runner, its journal, the TUI's jobs view and `apply`'s results file.

use crate::graph::batch::ItemOutcome;
use crate::graph::error::GraphError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A field a colleague (or another tool) changed between the plan and the write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictField {
    /// The field's path (`groupTag`).
    pub field: String,
    /// What the plan saw (`null`: empty).
    pub planned: Value,
    /// What the server holds now (`null`: empty).
    pub now: Value,
    /// What the plan would have set.
    pub target: Value,
}

impl fmt::Display for ConflictField {
    /// `groupTag is "Lab" now, "Sales" when planned`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {} now, {} when planned", self.field, shown(&self.now), shown(&self.planned))
    }
}

/// A value in a message: text quoted, `null` as `empty`.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "empty".to_string(),
        other => other.to_string(),
    }
}

/// How one item of a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ItemResult {
    /// Written. `verified`: no 2xx was seen (the answer was lost, or the job was resumed), but
    /// a read showed the record at the target, so nothing was sent again.
    Done {
        /// The write's HTTP status (`None` when verified by a read).
        status: Option<u16>,
        /// The write's `request-id`, when an answer came.
        request_id: Option<String>,
        /// Confirmed by reading the record back rather than by the write's answer.
        verified: bool,
    },
    /// Not written: Graph refused it, or it could not be sent or confirmed.
    Failed {
        /// The HTTP status of the refusal (`None`: no answer).
        status: Option<u16>,
        /// Graph's `error.code`, when it sent one.
        code: Option<String>,
        /// What went wrong, in words (Graph's message, or the transport's).
        message: String,
        /// The `request-id` support asks for, when an answer came.
        request_id: Option<String>,
    },
    /// Not written: a targeted field no longer held what the plan saw (someone changed it
    /// since), so writing would overwrite their change blind.
    Conflict {
        /// The fields changed since the plan.
        fields: Vec<ConflictField>,
    },
    /// Nothing to send: the record already held the target.
    Skipped,
    /// Not written: the job stopped (cancelled, or its journal could not be written) before it
    /// was sent, or before it was sent again after a write that did not land.
    NotSent,
}

impl ItemResult {
    /// `done`, `failed`, `conflict`, `skipped` or `not sent`.
    pub fn word(&self) -> &'static str {
        match self {
            ItemResult::Done { .. } => "done",
            ItemResult::Failed { .. } => "failed",
            ItemResult::Conflict { .. } => "conflict",
            ItemResult::Skipped => "skipped",
            ItemResult::NotSent => "not sent",
        }
    }

    /// Done or skipped: the record is at its target.
    pub fn is_at_target(&self) -> bool {
        matches!(self, ItemResult::Done { .. } | ItemResult::Skipped)
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ItemResult::Done { status, .. } | ItemResult::Failed { status, .. } => *status,
            ItemResult::Conflict { .. } | ItemResult::Skipped | ItemResult::NotSent => None,
        }
    }

    /// The answer's `request-id`, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ItemResult::Done { request_id, .. } | ItemResult::Failed { request_id, .. } => {
                request_id.as_deref()
            }
            ItemResult::Conflict { .. } | ItemResult::Skipped | ItemResult::NotSent => None,
        }
    }

    /// What went wrong, in words, for a failure (Graph's code and message) or a conflict
    /// (each field changed since the plan); `None` otherwise.
    pub fn problem(&self) -> Option<String> {
        match self {
            ItemResult::Failed { code: Some(code), message, .. } => Some(format!("{code}: {message}")),
            ItemResult::Failed { message, .. } => Some(message.clone()),
            ItemResult::Conflict { fields } => {
                Some(fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            }
            _ => None,
        }
    }

    /// A write's 2xx answer.
    pub(crate) fn written(outcome: &ItemOutcome) -> ItemResult {
        ItemResult::Done {
            status: outcome.exchange.status,
            request_id: outcome.request_id().map(str::to_string),
            verified: false,
        }
    }

    /// A failure, in Graph's words when Graph answered.
    pub(crate) fn failed(error: &GraphError, request_id: Option<&str>) -> ItemResult {
        match error.service() {
            Some(service) => ItemResult::Failed {
                status: Some(service.status),
                code: Some(service.code.clone()),
                message: service.message.clone(),
                request_id: service.request_id.clone().or_else(|| request_id.map(str::to_string)),
            },
            None => ItemResult::Failed {
                status: None,
                code: None,
                message: error.to_string(),
                request_id: request_id.map(str::to_string),
            },
        }
    }
}

impl fmt::Display for ItemResult {
    /// `done (204)`, `done (verified by reading it back)`, `failed: 400 BadRequest: message
    /// (request-id: ...)`, `skipped (already at the target)`, `not sent`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemResult::Done { verified: true, .. } => f.write_str("done (verified by reading it back)"),
            ItemResult::Done { status: Some(status), .. } => write!(f, "done ({status})"),
            ItemResult::Done { .. } => f.write_str("done"),
            ItemResult::Failed { status, code, message, request_id } => {
                f.write_str("failed: ")?;
                match (status, code) {
                    (Some(status), Some(code)) => write!(f, "{status} {code}: ")?,
                    (Some(status), None) => write!(f, "{status}: ")?,
                    (None, Some(code)) => write!(f, "{code}: ")?,
                    (None, None) => {}
                }
                f.write_str(message)?;
                match request_id {
                    Some(id) => write!(f, " (request-id: {id})"),
                    None => Ok(()),
                }
            }
            ItemResult::Conflict { .. } => {
                write!(f, "conflict, not written: {}", self.problem().unwrap_or_default())
            }
            ItemResult::Skipped => f.write_str("skipped (already at the target)"),
            ItemResult::NotSent => f.write_str("not sent"),
        }
    }
}

/// How many items of a job ended which way, and how many have not ended yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Written (or verified at the target).
    pub done: usize,
    /// Refused, or could not be sent or confirmed.
    pub failed: usize,
    /// Changed since the plan: not written.
    pub conflicts: usize,
    /// Already at the target: nothing sent.
    pub skipped: usize,
    /// Not written because the job stopped.
    pub not_sent: usize,
    /// Not ended yet.
    pub pending: usize,
}

impl Counts {
    /// The counts of a job's results so far (`None`: pending).
    pub fn of<'a>(results: impl IntoIterator<Item = Option<&'a ItemResult>>) -> Counts {
        let mut counts = Counts::default();
        for result in results {
            match result {
                Some(result) => counts.add(result),
                None => counts.pending += 1,
            }
        }
        counts
    }

    /// Counts one more ended item (not taken off `pending`).
    pub fn add(&mut self, result: &ItemResult) {
        match result {
            ItemResult::Done { .. } => self.done += 1,
            ItemResult::Failed { .. } => self.failed += 1,
            ItemResult::Conflict { .. } => self.conflicts += 1,
            ItemResult::Skipped => self.skipped += 1,
            ItemResult::NotSent => self.not_sent += 1,
        }
    }

    /// Every item, ended or not.
    pub fn total(&self) -> usize {
        self.done + self.failed + self.conflicts + self.skipped + self.not_sent + self.pending
    }

    /// Every item done or skipped.
    pub fn all_at_target(&self) -> bool {
        self.failed == 0 && self.conflicts == 0 && self.not_sent == 0 && self.pending == 0
    }

    /// Items ended so far.
    pub fn ended(&self) -> usize {
        self.total() - self.pending
    }
}

impl fmt::Display for Counts {
    /// `3 done, 1 failed, 2 skipped, 0 not sent, 4 pending`, with `, 1 conflict` after the
    /// failures when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} done, {} failed", self.done, self.failed)?;
        match self.conflicts {
            0 => {}
            1 => f.write_str(", 1 conflict")?,
            n => write!(f, ", {n} conflicts")?,
        }
        write!(f, ", {} skipped, {} not sent, {} pending", self.skipped, self.not_sent, self.pending)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn results_say_how_they_ended_and_count() {
        let failed = ItemResult::Failed {
            status: Some(400),
            code: Some("BadRequest".into()),
            message: "no".into(),
            request_id: Some("r-1".into()),
        };
        assert_eq!(failed.to_string(), "failed: 400 BadRequest: no (request-id: r-1)");
        let verified = ItemResult::Done { status: None, request_id: None, verified: true };
        assert_eq!(verified.to_string(), "done (verified by reading it back)");
        let counts = Counts::of([Some(&failed), Some(&verified), None, Some(&ItemResult::Skipped)]);
        assert_eq!(counts.to_string(), "1 done, 1 failed, 1 skipped, 0 not sent, 1 pending");
        assert_eq!(counts.total(), 4);
        assert!(!counts.all_at_target());
        // What the journal stores reads back the same.
        let line = serde_json::to_string(&failed).unwrap();
        assert!(line.starts_with(r#"{"outcome":"failed","#), "{line}");
        assert_eq!(serde_json::from_str::<ItemResult>(&line).unwrap(), failed);
        let line = serde_json::to_string(&ItemResult::NotSent).unwrap();
        assert_eq!(line, r#"{"outcome":"not_sent"}"#);
        let conflict = ItemResult::Conflict {
            fields: vec![ConflictField {
                field: "groupTag".into(),
                planned: "Sales".into(),
                now: "Lab".into(),
                target: "Kiosk".into(),
            }],
        };
        assert_eq!(
            conflict.to_string(),
            r#"conflict, not written: groupTag is "Lab" now, "Sales" when planned"#
        );
        assert_eq!(failed.problem().unwrap(), "BadRequest: no");
        let line = serde_json::to_string(&conflict).unwrap();
        assert_eq!(serde_json::from_str::<ItemResult>(&line).unwrap(), conflict);
        let counts = Counts::of([Some(&conflict), Some(&ItemResult::Skipped)]);
        assert_eq!(counts.to_string(), "0 done, 0 failed, 1 conflict, 1 skipped, 0 not sent, 0 pending");
        assert!(!counts.all_at_target());
    }
}
