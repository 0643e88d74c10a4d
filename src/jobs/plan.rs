//! What a bulk change will do, decided before anything is sent: for each record, the fields it
//! changes (old -> new) or why it needs no write (already at the target). Pure data: built from
//! what is known of the records, read by the preview, the runner, its journal and `apply`.

use super::outcome::ConflictField;
use crate::graph::conflict::same_value;
use crate::graph::pacer::Rate;
use crate::graph::patch::{FieldChange, PatchBody};
use crate::graph::resource::{Field, Record, Resource};
use serde_json::{Map, Value};
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
    /// The written fields whose value the plan did not know (the table had no column for
    /// them): written whatever they hold, never a conflict.
    pub unseen: Vec<&'static str>,
}

/// Where a record stands against its item, as read just before the write (or after one).
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Every targeted field holds its new value: nothing (more) to write.
    AtTarget,
    /// Every targeted field holds what the plan saw (or already its new value): write it.
    AsPlanned,
    /// These targeted fields hold neither: someone changed them since the plan.
    Changed(Vec<ConflictField>),
}

impl PlanItem {
    /// Plans `targets` for a record of which `known` holds the current values (a field
    /// `known` lacks is not known: it is written whatever it holds).
    pub fn new(id: String, label: String, known: &Record, targets: &[Target]) -> PlanItem {
        let mut body = PatchBody::default();
        let mut unseen = Vec::new();
        for target in targets {
            let old = target.field.get(known).cloned();
            if old.is_some() && same_value(target.field, old.as_ref(), &target.value) {
                continue;
            }
            if old.is_none() {
                unseen.push(target.field.path);
            }
            body.properties.insert(target.field.path.to_string(), target.value.clone());
            body.changes.push(FieldChange {
                field: target.field,
                old: old.unwrap_or(Value::Null),
                new: target.value.clone(),
            });
        }
        let step = if body.is_empty() { Step::AlreadyThere } else { Step::Write(body) };
        PlanItem { id, label, step, unseen }
    }

    /// The body to send, when there is one.
    pub fn body(&self) -> Option<&PatchBody> {
        match &self.step {
            Step::Write(body) => Some(body),
            Step::AlreadyThere => None,
        }
    }

    /// Whether `record` (as read back) holds every value this item sets: its write landed, or
    /// is not needed.
    pub fn reached(&self, record: &Record) -> bool {
        self.standing(record) == Standing::AtTarget
    }

    /// Where `record` stands: at the target, as the plan saw it, or changed since. Empty is
    /// empty however it comes (absent, `null`, `""`: the table shows them alike), a value is
    /// compared as the text the plan saw (a number typed in a table is its digits), and a user
    /// principal name whatever its case (as Entra compares them).
    pub fn standing(&self, record: &Record) -> Standing {
        let Some(body) = self.body() else { return Standing::AtTarget };
        let mut at_target = true;
        let mut changed = Vec::new();
        for change in &body.changes {
            let now = change.field.get(record);
            if same_value(change.field, now, &change.new) {
                continue;
            }
            at_target = false;
            if !self.unseen.contains(&change.field.path) && !same_value(change.field, now, &change.old) {
                changed.push(ConflictField {
                    field: change.field.path.to_string(),
                    planned: change.old.clone(),
                    now: now.cloned().unwrap_or(Value::Null),
                    target: change.new.clone(),
                });
            }
        }
        match (at_target, changed.is_empty()) {
            (true, _) => Standing::AtTarget,
            (false, true) => Standing::AsPlanned,
            (false, false) => Standing::Changed(changed),
        }
    }

    /// What `record` holds of the fields this item writes (`null` when absent): the "before"
    /// of its write.
    pub fn values_in(&self, record: &Record) -> Map<String, Value> {
        self.body()
            .map(|body| {
                body.changes
                    .iter()
                    .map(|c| (c.field.path.to_string(), c.field.get(record).cloned().unwrap_or(Value::Null)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the plan saw of the fields this item writes (`null`: empty or not known).
    pub fn planned_values(&self) -> Map<String, Value> {
        self.body()
            .map(|body| body.changes.iter().map(|c| (c.field.path.to_string(), c.old.clone())).collect())
            .unwrap_or_default()
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

    #[test]
    fn a_record_read_again_is_at_the_target_as_planned_or_changed_since() {
        use crate::graph::registered::REGISTERED;
        let tag = REGISTERED.field("groupTag").unwrap();
        let user = REGISTERED.field("userPrincipalName").unwrap();
        let record = |tag: Value, user: Value| {
            json!({"id": "a", "groupTag": tag, "userPrincipalName": user}).as_object().cloned().unwrap()
        };
        let targets = [
            Target { field: tag, value: json!("Lab") },
            Target { field: user, value: json!("Ana@Contoso.com") },
        ];
        // The table showed an empty tag (null) and no user column: the user is not known.
        let known = json!({"id": "a", "groupTag": null}).as_object().cloned().unwrap();
        let item = PlanItem::new("a".into(), "SN".into(), &known, &targets);
        assert_eq!(item.unseen, ["userPrincipalName"]);
        // Empty is empty however it comes; an unseen field is written whatever it holds.
        assert_eq!(item.standing(&record(json!(""), json!("bob@contoso.com"))), Standing::AsPlanned);
        // Half done counts as planned; a UPN is the same whatever its case.
        assert_eq!(item.standing(&record(json!("Lab"), json!(null))), Standing::AsPlanned);
        assert_eq!(item.standing(&record(json!("Lab"), json!("ana@contoso.com"))), Standing::AtTarget);
        let Standing::Changed(fields) = item.standing(&record(json!("Kiosk"), json!(null))) else { panic!() };
        assert_eq!(
            (fields[0].field.as_str(), &fields[0].planned, &fields[0].now),
            ("groupTag", &Value::Null, &json!("Kiosk"))
        );
        assert_eq!(item.values_in(&record(json!("Kiosk"), json!(null)))["groupTag"], json!("Kiosk"));
        // Planned against the same text already there: nothing to write.
        let known = json!({"id": "a", "groupTag": "", "userPrincipalName": "ana@contoso.com"})
            .as_object()
            .cloned()
            .unwrap();
        let clear = [
            Target { field: tag, value: Value::Null },
            Target { field: user, value: json!("ANA@contoso.com") },
        ];
        assert_eq!(PlanItem::new("a".into(), "SN".into(), &known, &clear).step, Step::AlreadyThere);
    }
}
