//! A change made against one version of a record, checked against the version the server holds
//! now (pure). Graph documents no ETag for Autopilot records, so a write is last-writer-wins:
//! the app reads the record again before it writes, keeps what others changed in fields the
//! user did not touch, and stops where both changed the same field.

use crate::graph::patch::{FieldChange, PatchBody};
use crate::graph::resource::{Field, Kind, Record, Resource};
use serde_json::Value;

/// A field the user changed that someone else changed too, since the draft was made.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    /// Which field.
    pub field: &'static Field,
    /// Its value when the draft was made.
    pub original: Value,
    /// Its value on the server now.
    pub server: Value,
    /// The user's value.
    pub mine: Value,
}

/// What to do with a change now that the record has been read again.
#[derive(Debug, Clone, PartialEq)]
pub enum Rebased {
    /// Nobody else touched the changed fields: send this (made against the server's version,
    /// so a complex value carries the server's other parts). Empty when the server already
    /// holds every value the user wants.
    Send(PatchBody),
    /// Someone else changed a field the user changed: nothing is sent until the user decides.
    Conflicts(Vec<FieldConflict>),
}

/// Checks `changes` (made against `original`) against `server`, the record as it is now.
pub fn rebase(
    resource: &'static Resource,
    original: &Record,
    server: &Record,
    changes: &[FieldChange],
) -> Rebased {
    let value = |f: &Field, r: &Record| f.get(r).cloned().unwrap_or(Value::Null);
    let conflicts: Vec<FieldConflict> = changes
        .iter()
        .filter_map(|c| {
            let (was, now) = (value(c.field, original), value(c.field, server));
            let moved = !same_value(c.field, Some(&now), &was);
            (moved && !same_value(c.field, Some(&now), &c.new)).then(|| FieldConflict {
                field: c.field,
                original: was,
                server: now,
                mine: c.new.clone(),
            })
        })
        .collect();
    if !conflicts.is_empty() {
        return Rebased::Conflicts(conflicts);
    }
    let mut edited = server.clone();
    for change in changes {
        change.field.set(&mut edited, change.new.clone());
    }
    Rebased::Send(PatchBody::between(resource, server, &edited))
}

/// Whether a field's value as read (`held`) is `wanted`, as a person comparing them would say.
pub fn same_value(field: &Field, held: Option<&Value>, wanted: &Value) -> bool {
    fn text(value: Option<&Value>) -> Option<String> {
        match value {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => None,
        }
    }
    if held == Some(wanted) {
        return true;
    }
    match (text(held), text(Some(wanted))) {
        (Some(a), Some(b)) if field.kind == Kind::Upn => a.eq_ignore_ascii_case(&b),
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The fields the user did not change whose value on the server differs from the draft's:
/// what a rebase takes from the server.
pub fn moved_on(
    resource: &'static Resource,
    original: &Record,
    server: &Record,
    changed: &[&Field],
) -> Vec<&'static Field> {
    let value = |f: &Field, r: &Record| f.get(r).cloned().unwrap_or(Value::Null);
    resource
        .editable()
        .filter(|f| !changed.iter().any(|c| c.path == f.path))
        .filter(|f| value(f, original) != value(f, server))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    fn record(tag: &str, user: &str, status: &str) -> Record {
        json!({"id": "a", "groupTag": tag, "assignedUserPrincipalName": user,
               "state": {"deviceImportStatus": status, "deviceErrorCode": 0}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn changes(original: &Record, edited: &Record) -> Vec<FieldChange> {
        PatchBody::between(&IMPORTED, original, edited).changes
    }

    #[test]
    fn what_others_changed_elsewhere_is_kept_and_the_same_field_is_a_conflict() {
        let original = record("Sales", "a@contoso.com", "pending");
        let mine = record("Lab", "a@contoso.com", "pending");
        // Someone changed the user and the import status: mine goes on top, theirs stays.
        let server = record("Sales", "b@contoso.com", "complete");
        let Rebased::Send(body) = rebase(&IMPORTED, &original, &server, &changes(&original, &mine)) else {
            panic!("no conflict expected")
        };
        assert_eq!(body.to_json(), json!({"groupTag": "Lab"}));
        let changed = [IMPORTED.field("groupTag").unwrap()];
        let moved: Vec<&str> =
            moved_on(&IMPORTED, &original, &server, &changed).iter().map(|f| f.path).collect();
        assert_eq!(moved, ["assignedUserPrincipalName", "state/deviceImportStatus"]);

        // A complex value is sent whole, with the server's other parts.
        let mine = record("Sales", "a@contoso.com", "error");
        let server = {
            let mut r = record("Sales", "a@contoso.com", "pending");
            r["state"]["deviceErrorCode"] = json!(806);
            r
        };
        let Rebased::Send(body) = rebase(&IMPORTED, &original, &server, &changes(&original, &mine)) else {
            panic!("no conflict expected")
        };
        assert_eq!(body.to_json()["state"]["deviceErrorCode"], json!(806));

        // Both changed the tag: a conflict, naming the three values.
        let mine = record("Lab", "a@contoso.com", "pending");
        let server = record("Finance", "a@contoso.com", "pending");
        let Rebased::Conflicts(c) = rebase(&IMPORTED, &original, &server, &changes(&original, &mine)) else {
            panic!("a conflict expected")
        };
        assert_eq!((c.len(), c[0].field.path), (1, "groupTag"));
        assert_eq!(
            (&c[0].original, &c[0].server, &c[0].mine),
            (&json!("Sales"), &json!("Finance"), &json!("Lab"))
        );

        // The server already holds my value: nothing to send, no conflict.
        let server = record("Lab", "a@contoso.com", "pending");
        assert_eq!(
            rebase(&IMPORTED, &original, &server, &changes(&original, &mine)),
            Rebased::Send(PatchBody::default())
        );
    }
}
