//! A draft is data: the record as fetched plus the text the user typed for each field they
//! changed. It can be saved to disk, restored, and applied to many records; the one line
//! editor of the focused field is view state of the form, not part of the draft.
//!
//! Nothing derived is stored: whether a field is dirty, whether it is valid, the edited record
//! and the write body are all computed from the original and the typed text.

use crate::graph::patch::PatchBody;
use crate::graph::resource::{Field, Kind, Record, Resource};
use crate::graph::validate::{FieldError, parse};
use crate::tui::line_edit::EditOp;
use serde_json::Value;
use std::collections::BTreeMap;

/// A record being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// What kind of record it is.
    pub resource: &'static Resource,
    /// The record as the server last sent it (whole: a device with its hash).
    pub original: Record,
    /// The user's text by OData path, for every field they touched; a field typed back to its
    /// original text is taken out.
    pub edits: BTreeMap<&'static str, String>,
}

/// Why a draft cannot be saved yet.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveBlock {
    /// Nothing changed.
    NothingChanged,
    /// These fields do not hold acceptable values.
    Invalid(Vec<(&'static Field, FieldError)>),
}

impl Draft {
    /// A clean draft of `record`.
    pub fn new(resource: &'static Resource, original: Record) -> Draft {
        Draft { resource, original, edits: BTreeMap::new() }
    }

    /// The record's id.
    pub fn id(&self) -> &str {
        self.resource.id(&self.original).unwrap_or("")
    }

    /// A field's text as the user sees it: what they typed, else the original.
    pub fn text(&self, field: &Field) -> String {
        self.edits.get(field.path).cloned().unwrap_or_else(|| field.display(&self.original).into_owned())
    }

    /// The original value of a field (`null` when absent).
    pub fn original_value(&self, field: &Field) -> Value {
        field.get(&self.original).cloned().unwrap_or(Value::Null)
    }

    /// The value the field would send, or why it cannot.
    pub fn value(&self, field: &Field) -> Result<Value, FieldError> {
        match self.edits.get(field.path) {
            Some(text) => parse(field, text),
            None => Ok(self.original_value(field)),
        }
    }

    /// Whether the field differs from the original. Text typed back to the original is clean;
    /// an unchanged original the validator would refuse (legacy data) is clean too; so is the
    /// same number written differently (`0806`).
    pub fn is_dirty(&self, field: &Field) -> bool {
        let Some(text) = self.edits.get(field.path) else { return false };
        // Untouched text is clean, also when the server sent "" where the editor can only
        // show "" (a null and an empty string look the same on screen).
        if *text == field.display(&self.original) {
            return false;
        }
        match parse(field, text) {
            Ok(v) => v != self.original_value(field),
            Err(_) => true,
        }
    }

    /// The validation error of a changed field (an unchanged one never blocks).
    pub fn error(&self, field: &Field) -> Option<FieldError> {
        if !self.is_dirty(field) {
            return None;
        }
        self.value(field).err()
    }

    /// The changed fields, in form order.
    pub fn dirty_fields(&self) -> Vec<&'static Field> {
        self.resource.editable().filter(|f| self.is_dirty(f)).collect()
    }

    /// How many fields changed.
    pub fn dirty_count(&self) -> usize {
        self.resource.editable().filter(|f| self.is_dirty(f)).count()
    }

    /// Whether anything changed.
    pub fn is_dirty_any(&self) -> bool {
        self.resource.editable().any(|f| self.is_dirty(f))
    }

    /// The fields whose changed text is refused.
    pub fn errors(&self) -> Vec<(&'static Field, FieldError)> {
        self.resource.editable().filter_map(|f| self.error(f).map(|e| (f, e))).collect()
    }

    /// The record with every changed field applied, or the fields that block it.
    pub fn edited(&self) -> Result<Record, Vec<(&'static Field, FieldError)>> {
        let errors = self.errors();
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut record = self.original.clone();
        for field in self.dirty_fields() {
            if let Ok(v) = self.value(field) {
                field.set(&mut record, v);
            }
        }
        Ok(record)
    }

    /// The write body of exactly the changed fields, or why there is none to send.
    pub fn patch(&self) -> Result<PatchBody, SaveBlock> {
        let edited = self.edited().map_err(SaveBlock::Invalid)?;
        let body = PatchBody::between(self.resource, &self.original, &edited);
        if body.is_empty() { Err(SaveBlock::NothingChanged) } else { Ok(body) }
    }

    /// After a save: a draft of the record as read back, keeping the changes it does not show
    /// (the live service has applied `updateDeviceProperties` only on a second call). Secret
    /// fields are never read back, so they cannot be checked and are not kept. Returns the
    /// fields not applied with the value sent and the value read.
    pub fn after_save(&self, record: Record) -> (Draft, Vec<(&'static Field, Value, Value)>) {
        let mut next = Draft::new(self.resource, record);
        let mut unapplied = Vec::new();
        for field in self.dirty_fields().into_iter().filter(|f| f.kind != Kind::Secret) {
            let (Ok(sent), Some(text)) = (self.value(field), self.edits.get(field.path)) else { continue };
            let now = next.original_value(field);
            if sent != now {
                next.set_text(field, text);
                unapplied.push((field, sent, now));
            }
        }
        (next, unapplied)
    }

    /// The draft moved onto the server's newer version of its record: fields the user did not
    /// change show the server's values, changed ones keep the user's text, and each field in
    /// `picks` takes the value picked (the server's value there is simply no edit).
    pub fn rebased_onto(&self, server: Record, picks: &[(&'static Field, Value)]) -> Draft {
        let mut next = Draft::new(self.resource, server);
        for (path, text) in &self.edits {
            if let Some(field) =
                self.resource.field(path).filter(|f| !picks.iter().any(|(p, _)| p.path == f.path))
            {
                next.set_text(field, text);
            }
        }
        for (field, value) in picks {
            let mut shown = next.original.clone();
            field.set(&mut shown, value.clone());
            let text = field.display(&shown).into_owned();
            next.set_text(field, &text);
        }
        next
    }

    /// Puts one field back to its original value.
    pub fn revert(&mut self, field: &Field) {
        self.edits.remove(field.path);
    }

    /// Puts every field back.
    pub fn revert_all(&mut self) {
        self.edits.clear();
    }

    /// Sets a field's text as if the user had typed it; text equal to the original is no
    /// edit at all.
    pub fn set_text(&mut self, field: &'static Field, text: &str) {
        if !field.editable {
            return;
        }
        if text == field.display(&self.original) {
            self.edits.remove(field.path);
        } else {
            self.edits.insert(field.path, text.to_string());
        }
    }

    /// Moves a choice field (one of an enum's values) by an edit key: left/right step, a letter
    /// picks the first value starting with it. Returns whether the value changed.
    pub fn choose(&mut self, field: &'static Field, op: &EditOp) -> bool {
        let Kind::Enum(values) = field.kind else { return false };
        let current = self.text(field);
        let i = values.iter().position(|v| *v == current).unwrap_or(0);
        let n = values.len();
        let next = match op {
            EditOp::Left | EditOp::Backspace => (i + n - 1) % n,
            EditOp::Right | EditOp::Insert(' ') => (i + 1) % n,
            EditOp::Home => 0,
            EditOp::End => n - 1,
            EditOp::Insert(c) => values
                .iter()
                .position(|v| v.starts_with(c.to_ascii_lowercase()) || v.starts_with(*c))
                .unwrap_or(i),
            EditOp::Paste(t) => values.iter().position(|v| *v == t.trim()).unwrap_or(i),
            _ => i,
        };
        self.set_text(field, values[next]);
        next != i
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    pub(crate) fn device() -> Record {
        json!({
            "id": "d1", "groupTag": "Sales", "assignedUserPrincipalName": "ana@contoso.com",
            "hardwareIdentifier": "AAEC", "importId": "i1", "productKey": null, "serialNumber": "S1",
            "state": {"deviceImportStatus": "error", "deviceRegistrationId": null,
                      "deviceErrorCode": 806, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn f(path: &str) -> &'static Field {
        IMPORTED.field(path).unwrap()
    }

    #[test]
    fn typing_back_to_the_original_is_clean() {
        let mut d = Draft::new(&IMPORTED, device());
        assert!(!d.is_dirty_any());
        d.set_text(f("groupTag"), "SalesX");
        assert!(d.is_dirty(f("groupTag")));
        assert_eq!(d.dirty_count(), 1);
        d.set_text(f("groupTag"), "Sales");
        assert!(!d.is_dirty_any() && d.edits.is_empty());
        assert_eq!(d.patch(), Err(SaveBlock::NothingChanged));
    }

    #[test]
    fn patch_holds_only_changed_fields() {
        let mut d = Draft::new(&IMPORTED, device());
        d.set_text(f("groupTag"), "Lab");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "Lab"}));
        d.set_text(f("assignedUserPrincipalName"), "");
        let body = d.patch().unwrap().to_json();
        assert_eq!(body, json!({"groupTag": "Lab", "assignedUserPrincipalName": null}));
    }

    #[test]
    fn invalid_fields_block_and_int_is_numeric() {
        let mut d = Draft::new(&IMPORTED, device());
        d.set_text(f("assignedUserPrincipalName"), "bob");
        d.set_text(f("state/deviceErrorCode"), "x");
        match d.patch() {
            Err(SaveBlock::Invalid(errs)) => {
                let fields: Vec<&str> = errs.iter().map(|e| e.0.path).collect();
                assert_eq!(fields, ["assignedUserPrincipalName", "state/deviceErrorCode"]);
            }
            other => panic!("{other:?}"),
        }
        d.set_text(f("assignedUserPrincipalName"), "ana@contoso.com");
        d.set_text(f("state/deviceErrorCode"), "0");
        let body = d.patch().unwrap().to_json();
        assert_eq!(body["state"]["deviceErrorCode"], json!(0));
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn same_number_written_differently_is_clean() {
        let mut d = Draft::new(&IMPORTED, device());
        d.set_text(f("state/deviceErrorCode"), "0806");
        assert!(!d.is_dirty(f("state/deviceErrorCode")));
    }

    #[test]
    fn choice_cycles_and_reverts() {
        let mut d = Draft::new(&IMPORTED, device());
        let status = f("state/deviceImportStatus");
        d.choose(status, &EditOp::Right);
        assert_eq!(d.text(status), "unknown");
        assert!(d.is_dirty(status));
        d.choose(status, &EditOp::Insert('c'));
        assert_eq!(d.text(status), "complete");
        d.revert(status);
        assert!(!d.is_dirty_any());
    }

    #[test]
    fn empty_string_from_the_server_is_not_a_change() {
        let mut dev = device();
        dev.insert("productKey".into(), json!(""));
        let mut d = Draft::new(&IMPORTED, dev);
        d.set_text(f("productKey"), "");
        assert!(!d.is_dirty_any());
        d.set_text(f("groupTag"), "Lab");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "Lab"}));
    }

    #[test]
    fn legacy_invalid_original_does_not_block() {
        let mut dev = device();
        dev.insert("assignedUserPrincipalName".into(), json!("legacy"));
        let mut d = Draft::new(&IMPORTED, dev);
        assert!(d.errors().is_empty());
        d.set_text(f("groupTag"), "New");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "New"}));
    }

    #[test]
    fn a_draft_is_plain_data_that_survives_a_round_trip() {
        let mut d = Draft::new(&IMPORTED, device());
        d.set_text(f("groupTag"), "Lab");
        let copy = Draft { resource: &IMPORTED, original: d.original.clone(), edits: d.edits.clone() };
        assert_eq!(copy.patch(), d.patch());
    }
}
