//! What a bulk change will do, decided before anything is sent: for each record, the fields it
//! changes (old -> new) or why it needs no write (already at the target). Pure data: built from
//! what is known of the records, read by the preview, the runner, its journal and `apply`.

use crate::graph::pacer::Rate;
use crate::graph::patch::{FieldChange, PatchBody};
use crate::graph::resource::{Field, Record, Resource};
use serde_json::Value;
use std::time::Duration;

/// One field set to one value (`null`: cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The field.
    pub field: &'static Field,
    /// Its new value, as it will be sent.
    pub value: Value,
}

/// What the plan does with one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send these changes (old -> new; an old value the plan did not know is `null`).
    Write(PatchBody),
    /// Nothing to send: every target is what the record holds already.
    AlreadyThere,
}

/// One record of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanItem {
    /// The record's id.
    pub id: String,
    /// What the user calls it (its serial number, else its id).
    pub label: String,
    /// What happens to it.
    pub step: Step,
}

impl PlanItem {
    /// Plans `targets` for a record of which `known` holds the current values (a field
    /// `known` lacks is not known: it is written whatever it holds).
    pub fn new(id: String, label: String, known: &Record, targets: &[Target]) -> PlanItem {
        let mut body = PatchBody::default();
        for target in targets {
            let old = target.field.get(known).cloned();
            if old.as_ref() == Some(&target.value) {
                continue;
            }
            body.properties.insert(target.field.path.to_string(), target.value.clone());
            body.changes.push(FieldChange {
                field: target.field,
                old: old.unwrap_or(Value::Null),
                new: target.value.clone(),
            });
        }
        let step = if body.is_empty() { Step::AlreadyThere } else { Step::Write(body) };
        PlanItem { id, label, step }
    }

    /// The body to send, when there is one.
    pub fn body(&self) -> Option<&PatchBody> {
        match &self.step {
            Step::Write(body) => Some(body),
            Step::AlreadyThere => None,
        }
    }

    /// Whether `record` (as read back) holds every value this item sets: its write landed, or
    /// is not needed. A cleared field may come back `null` or absent.
    pub fn reached(&self, record: &Record) -> bool {
        self.body().is_none_or(|body| {
            body.changes.iter().all(|change| match change.field.get(record) {
                Some(value) => *value == change.new,
                None => change.new.is_null(),
            })
        })
    }
}

/// A row that could not be planned (an unknown key, a serial two records share): it is that
/// row's failure, never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplanned {
    /// Where it came from (a CSV line), when it came from a file.
    pub line: Option<usize>,
    /// The key as given.
    pub key: String,
    /// Why, in words.
    pub reason: String,
}

/// A bulk change: every record it touches, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What kind of record.
    pub resource: &'static Resource,
    /// The records and what happens to each.
    pub items: Vec<PlanItem>,
    /// Rows that could not be planned.
    pub unplanned: Vec<Unplanned>,
}

impl Plan {
    /// The same targets for every record (the TUI's bulk edit of marked rows): `records` are
    /// `(id, label, known values)`.
    pub fn uniform(
        resource: &'static Resource,
        targets: &[Target],
        records: impl IntoIterator<Item = (String, String, Record)>,
    ) -> Plan {
        let items =
            records.into_iter().map(|(id, label, known)| PlanItem::new(id, label, &known, targets)).collect();
        Plan { resource, items, unplanned: Vec::new() }
    }

    /// How many writes it sends.
    pub fn writes(&self) -> usize {
        self.items.iter().filter(|i| i.body().is_some()).count()
    }

    /// How many records need nothing.
    pub fn already_there(&self) -> usize {
        self.items.len() - self.writes()
    }

    /// How long its writes take at `rate` at best: the bucket's first burst goes at once, the
    /// rest at the rate.
    pub fn duration_at(&self, rate: Rate) -> Duration {
        rate.floor(self.writes() as u64)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    fn known(tag: Option<&str>) -> Record {
        let mut r = json!({"id": "x"}).as_object().cloned().unwrap();
        if let Some(tag) = tag {
            r.insert("groupTag".into(), json!(tag));
        }
        r
    }

    #[test]
    fn records_at_the_target_need_no_write_and_unknown_values_are_written() {
        let tag = IMPORTED.field("groupTag").unwrap();
        let targets = [Target { field: tag, value: json!("Lab") }];
        let plan = Plan::uniform(
            &IMPORTED,
            &targets,
            [
                ("a".to_string(), "A".to_string(), known(Some("Sales"))),
                ("b".to_string(), "B".to_string(), known(Some("Lab"))),
                ("c".to_string(), "C".to_string(), known(None)),
            ],
        );
        assert_eq!(plan.writes(), 2);
        assert_eq!(plan.already_there(), 1);
        let a = plan.items[0].body().unwrap();
        assert_eq!(a.to_json(), json!({"groupTag": "Lab"}));
        assert_eq!(a.changes[0].old, json!("Sales"));
        assert_eq!(plan.items[1].step, Step::AlreadyThere);
        assert_eq!(plan.items[2].body().unwrap().changes[0].old, Value::Null);
        // Read back: at the target once the record holds the new value.
        assert!(!plan.items[0].reached(&known(Some("Sales"))));
        assert!(plan.items[0].reached(&known(Some("Lab"))));
        assert!(plan.items[1].reached(&known(None)), "nothing to write is always reached");
        let rate = Rate::new(100, Duration::from_secs(20));
        assert_eq!(plan.duration_at(rate), Duration::ZERO, "within the first burst");
    }
}
