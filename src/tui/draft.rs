//! A draft: a device as fetched plus the user's edits, one single-line editor per field.
//!
//! Nothing derived is stored: whether a field is dirty, whether it is valid, the edited device
//! and the PATCH body are all computed from the original and the editors' text.

use crate::graph::model::{Device, FIELDS, FieldId, FieldKind, FieldSpec, FieldValue, ImportStatus};
use crate::graph::patch::PatchBody;
use crate::graph::validate::{FieldError, parse_field};
use crate::tui::event::EditOp;
use ratatui::style::{Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

/// The editor of one field.
#[derive(Debug, Clone)]
pub enum Editor {
    /// Not editable (`id`).
    ReadOnly,
    /// Free text in a single-line editor.
    Text(Box<TextArea<'static>>),
    /// One of the five import states.
    Choice(ImportStatus),
}

/// A device being edited.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The device as the server last sent it (whole, with its hash).
    pub original: Device,
    /// One editor per entry of [`FIELDS`], same order.
    pub editors: Vec<Editor>,
}

/// Why a draft cannot be saved yet.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveBlock {
    /// Nothing changed.
    NothingChanged,
    /// These fields do not hold acceptable values.
    Invalid(Vec<(FieldId, FieldError)>),
}

/// A single-line editor holding `text`, cursor at the end.
pub fn line_editor(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut area = TextArea::new(vec![text.to_string()]);
    area.set_max_histories(0);
    area.set_cursor_line_style(Style::default());
    area.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    if !placeholder.is_empty() {
        area.set_placeholder_text(placeholder);
    }
    area.move_cursor(CursorMove::End);
    area
}

fn editor_for(spec: &FieldSpec, value: &FieldValue) -> Editor {
    if !spec.editable {
        return Editor::ReadOnly;
    }
    match (spec.kind, value) {
        (FieldKind::ImportStatus, FieldValue::Status(s)) => Editor::Choice(*s),
        (FieldKind::ImportStatus, _) => Editor::Choice(ImportStatus::Unknown),
        _ => Editor::Text(Box::new(line_editor(&value.to_text(), if spec.nullable { "null" } else { "" }))),
    }
}

/// Applies one edit to a single-line editor. Line breaks in pasted text are dropped for a
/// binary field (base64 is often wrapped) and a trailing line break is dropped everywhere;
/// any other control character stays so validation can point at it.
pub fn apply_edit(area: &mut TextArea<'static>, op: &EditOp, kind: FieldKind) -> bool {
    match op {
        EditOp::Insert(c) => {
            area.insert_char(*c);
            true
        }
        EditOp::Paste(text) => {
            let text = text.trim_end_matches(['\r', '\n']);
            let text: String = if kind == FieldKind::Binary {
                text.chars().filter(|c| !c.is_whitespace()).collect()
            } else {
                text.to_string()
            };
            area.insert_str(text)
        }
        EditOp::Backspace => area.delete_char(),
        EditOp::Delete => area.delete_next_char(),
        EditOp::Left => {
            area.move_cursor(CursorMove::Back);
            false
        }
        EditOp::Right => {
            area.move_cursor(CursorMove::Forward);
            false
        }
        EditOp::Home => {
            area.move_cursor(CursorMove::Head);
            false
        }
        EditOp::End => {
            area.move_cursor(CursorMove::End);
            false
        }
        EditOp::DeleteWord => area.delete_word(),
        EditOp::DeleteToStart => area.delete_line_by_head(),
        EditOp::DeleteToEnd => area.delete_line_by_end(),
    }
}

/// The text of a single-line editor.
pub fn editor_text<'a>(area: &'a TextArea<'a>) -> &'a str {
    area.lines().first().map(String::as_str).unwrap_or("")
}

impl Draft {
    /// A clean draft of `device`.
    pub fn new(device: Device) -> Draft {
        let editors = FIELDS.iter().map(|spec| editor_for(spec, &device.get(spec.id))).collect();
        Draft { original: device, editors }
    }

    fn index(field: FieldId) -> usize {
        field as usize
    }

    /// The editor of a field.
    pub fn editor(&self, field: FieldId) -> &Editor {
        &self.editors[Self::index(field)]
    }

    /// The editor of a field, mutably.
    pub fn editor_mut(&mut self, field: FieldId) -> &mut Editor {
        &mut self.editors[Self::index(field)]
    }

    /// The field's text as the user sees it.
    pub fn text(&self, field: FieldId) -> String {
        match self.editor(field) {
            Editor::ReadOnly => self.original.get(field).to_text(),
            Editor::Text(area) => editor_text(area).to_string(),
            Editor::Choice(s) => s.as_str().to_string(),
        }
    }

    /// The value the field would send, or why it cannot.
    pub fn value(&self, field: FieldId) -> Result<FieldValue, FieldError> {
        match self.editor(field) {
            Editor::ReadOnly => Ok(self.original.get(field)),
            Editor::Choice(s) => Ok(FieldValue::Status(*s)),
            Editor::Text(area) => parse_field(field.spec(), editor_text(area)),
        }
    }

    /// Whether the field differs from the original. Text typed back to the original is clean;
    /// an unchanged original the validator would refuse (legacy data) is clean too.
    pub fn is_dirty(&self, field: FieldId) -> bool {
        match self.editor(field) {
            Editor::ReadOnly => false,
            Editor::Choice(s) => FieldValue::Status(*s) != self.original.get(field),
            Editor::Text(area) => {
                let text = editor_text(area);
                let original = self.original.get(field);
                // Untouched text is clean, also when the server sent "" where the editor can
                // only show "" (a null and an empty string look the same on screen).
                if text == original.to_text() {
                    return false;
                }
                match parse_field(field.spec(), text) {
                    Ok(v) => v != original,
                    Err(_) => true,
                }
            }
        }
    }

    /// The validation error of a changed field (an unchanged one never blocks).
    pub fn error(&self, field: FieldId) -> Option<FieldError> {
        if !self.is_dirty(field) {
            return None;
        }
        self.value(field).err()
    }

    /// The changed fields, in form order.
    pub fn dirty_fields(&self) -> Vec<FieldId> {
        FIELDS.iter().map(|f| f.id).filter(|f| self.is_dirty(*f)).collect()
    }

    /// How many fields changed.
    pub fn dirty_count(&self) -> usize {
        FIELDS.iter().filter(|f| self.is_dirty(f.id)).count()
    }

    /// Whether anything changed.
    pub fn is_dirty_any(&self) -> bool {
        FIELDS.iter().any(|f| self.is_dirty(f.id))
    }

    /// The fields whose changed text is refused.
    pub fn errors(&self) -> Vec<(FieldId, FieldError)> {
        FIELDS.iter().filter_map(|f| self.error(f.id).map(|e| (f.id, e))).collect()
    }

    /// The device with every changed field applied, or the fields that block it.
    pub fn edited(&self) -> Result<Device, Vec<(FieldId, FieldError)>> {
        let errors = self.errors();
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut device = self.original.clone();
        for field in self.dirty_fields() {
            if let Ok(v) = self.value(field) {
                device.set(field, v);
            }
        }
        Ok(device)
    }

    /// The PATCH body of exactly the changed fields, or why there is none to send.
    pub fn patch(&self) -> Result<PatchBody, SaveBlock> {
        let edited = self.edited().map_err(SaveBlock::Invalid)?;
        let body = PatchBody::between(&self.original, &edited);
        if body.is_empty() { Err(SaveBlock::NothingChanged) } else { Ok(body) }
    }

    /// Puts one field back to its original value.
    pub fn revert(&mut self, field: FieldId) {
        let spec = field.spec();
        let editor = editor_for(spec, &self.original.get(field));
        *self.editor_mut(field) = editor;
    }

    /// Puts every field back.
    pub fn revert_all(&mut self) {
        *self = Draft::new(self.original.clone());
    }

    /// Replaces a field's text as if the user had typed it (a choice field takes the value
    /// spelled exactly; anything else leaves it as it was).
    pub fn set_text(&mut self, field: FieldId, text: &str) {
        match self.editor_mut(field) {
            Editor::ReadOnly => {}
            Editor::Text(area) => **area = line_editor(text, if field.spec().nullable { "null" } else { "" }),
            Editor::Choice(s) => {
                if let Some(parsed) = ImportStatus::parse(text) {
                    *s = parsed;
                }
            }
        }
    }

    /// Applies an edit to a field. Returns whether the text changed.
    pub fn edit(&mut self, field: FieldId, op: &EditOp) -> bool {
        let kind = field.spec().kind;
        match self.editor_mut(field) {
            Editor::ReadOnly => false,
            Editor::Text(area) => apply_edit(area, op, kind),
            Editor::Choice(s) => {
                let i = ImportStatus::ALL.iter().position(|x| x == s).unwrap_or(0);
                let n = ImportStatus::ALL.len();
                let next = match op {
                    EditOp::Left | EditOp::Backspace => (i + n - 1) % n,
                    EditOp::Right | EditOp::Insert(' ') => (i + 1) % n,
                    EditOp::Home => 0,
                    EditOp::End => n - 1,
                    EditOp::Insert(c) => ImportStatus::ALL
                        .iter()
                        .position(|s| s.as_str().starts_with(c.to_ascii_lowercase()))
                        .unwrap_or(i),
                    EditOp::Paste(t) => {
                        ImportStatus::ALL.iter().position(|s| s.as_str() == t.trim()).unwrap_or(i)
                    }
                    _ => i,
                };
                *s = ImportStatus::ALL[next];
                next != i
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn device() -> Device {
        serde_json::from_value(json!({
            "id": "d1", "groupTag": "Sales", "assignedUserPrincipalName": "ana@contoso.com",
            "hardwareIdentifier": "AAEC", "importId": "i1", "productKey": null, "serialNumber": "S1",
            "state": {"deviceImportStatus": "error", "deviceRegistrationId": null,
                      "deviceErrorCode": 806, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}
        }))
        .unwrap()
    }

    fn type_text(d: &mut Draft, f: FieldId, text: &str) {
        d.edit(f, &EditOp::DeleteToStart);
        d.edit(f, &EditOp::DeleteToEnd);
        for c in text.chars() {
            d.edit(f, &EditOp::Insert(c));
        }
    }

    #[test]
    fn typing_back_to_the_original_is_clean() {
        let mut d = Draft::new(device());
        assert!(!d.is_dirty_any());
        d.edit(FieldId::GroupTag, &EditOp::Insert('X'));
        assert!(d.is_dirty(FieldId::GroupTag));
        assert_eq!(d.dirty_count(), 1);
        d.edit(FieldId::GroupTag, &EditOp::Backspace);
        assert!(!d.is_dirty_any());
        assert_eq!(d.patch(), Err(SaveBlock::NothingChanged));
    }

    #[test]
    fn patch_holds_only_changed_fields() {
        let mut d = Draft::new(device());
        type_text(&mut d, FieldId::GroupTag, "Lab");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "Lab"}));
        type_text(&mut d, FieldId::AssignedUserPrincipalName, "");
        let body = d.patch().unwrap().to_json();
        assert_eq!(body, json!({"groupTag": "Lab", "assignedUserPrincipalName": null}));
    }

    #[test]
    fn invalid_fields_block_and_int_is_numeric() {
        let mut d = Draft::new(device());
        type_text(&mut d, FieldId::AssignedUserPrincipalName, "bob");
        type_text(&mut d, FieldId::DeviceErrorCode, "x");
        match d.patch() {
            Err(SaveBlock::Invalid(errs)) => {
                let fields: Vec<FieldId> = errs.iter().map(|e| e.0).collect();
                assert_eq!(fields, [FieldId::AssignedUserPrincipalName, FieldId::DeviceErrorCode]);
            }
            other => panic!("{other:?}"),
        }
        type_text(&mut d, FieldId::AssignedUserPrincipalName, "ana@contoso.com");
        type_text(&mut d, FieldId::DeviceErrorCode, "0");
        let body = d.patch().unwrap().to_json();
        assert_eq!(body["state"]["deviceErrorCode"], json!(0));
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn same_number_written_differently_is_clean() {
        let mut d = Draft::new(device());
        type_text(&mut d, FieldId::DeviceErrorCode, "0806");
        assert!(!d.is_dirty(FieldId::DeviceErrorCode));
    }

    #[test]
    fn choice_cycles_and_reverts() {
        let mut d = Draft::new(device());
        d.edit(FieldId::DeviceImportStatus, &EditOp::Right);
        assert_eq!(d.text(FieldId::DeviceImportStatus), "unknown");
        assert!(d.is_dirty(FieldId::DeviceImportStatus));
        d.edit(FieldId::DeviceImportStatus, &EditOp::Insert('c'));
        assert_eq!(d.text(FieldId::DeviceImportStatus), "complete");
        d.revert(FieldId::DeviceImportStatus);
        assert!(!d.is_dirty_any());
    }

    #[test]
    fn revert_all_and_paste_of_wrapped_hash() {
        let mut d = Draft::new(device());
        type_text(&mut d, FieldId::HardwareIdentifier, "");
        d.edit(FieldId::HardwareIdentifier, &EditOp::Paste("AAEC\nAwQF\n".into()));
        assert_eq!(d.text(FieldId::HardwareIdentifier), "AAECAwQF");
        assert!(d.error(FieldId::HardwareIdentifier).is_none());
        type_text(&mut d, FieldId::GroupTag, "x");
        assert_eq!(d.dirty_count(), 2);
        d.revert_all();
        assert_eq!(d.dirty_count(), 0);
    }

    #[test]
    fn empty_string_from_the_server_is_not_a_change() {
        let mut dev = device();
        dev.product_key = Some(String::new());
        let mut d = Draft::new(dev);
        assert!(!d.is_dirty_any());
        type_text(&mut d, FieldId::GroupTag, "Lab");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "Lab"}));
    }

    #[test]
    fn legacy_invalid_original_does_not_block() {
        let mut dev = device();
        dev.assigned_user_principal_name = Some("legacy".into());
        let mut d = Draft::new(dev);
        assert!(d.errors().is_empty());
        type_text(&mut d, FieldId::GroupTag, "New");
        assert_eq!(d.patch().unwrap().to_json(), json!({"groupTag": "New"}));
    }
}
