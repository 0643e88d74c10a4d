//! Original device + edited device -> the PATCH body of changed properties only (pure).

use crate::graph::model::{Device, FIELDS, FieldId, FieldPlace, FieldValue};
use serde_json::{Map, Value};

/// One changed field, for the confirmation screen's old -> new list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Which field.
    pub field: FieldId,
    /// Value as fetched.
    pub old: FieldValue,
    /// Value to send.
    pub new: FieldValue,
}

/// The JSON object a Graph PATCH carries: exactly the changed properties, in their JSON types;
/// `state` whole when any part of it changed (Graph replaces a complex value as a unit).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchBody {
    /// The body's properties, in field-table order.
    pub properties: Map<String, Value>,
    /// What changed, field by field.
    pub changes: Vec<FieldChange>,
}

impl PatchBody {
    /// Builds the body from the device as fetched and the device as edited.
    pub fn between(original: &Device, edited: &Device) -> PatchBody {
        let mut body = PatchBody::default();
        let mut state_changed = false;
        for spec in FIELDS.iter().filter(|f| f.editable) {
            let (old, new) = (original.get(spec.id), edited.get(spec.id));
            if old == new {
                continue;
            }
            match spec.place {
                FieldPlace::Device => {
                    body.properties.insert(spec.json.to_string(), new.to_json());
                }
                FieldPlace::State => state_changed = true,
            }
            body.changes.push(FieldChange { field: spec.id, old, new });
        }
        if state_changed {
            body.properties.insert("state".to_string(), edited.state_json());
        }
        body
    }

    /// True when nothing changed: nothing should be sent.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The body as a JSON value.
    pub fn to_json(&self) -> Value {
        Value::Object(self.properties.clone())
    }

    /// The body pretty-printed, as the confirmation screen shows it.
    pub fn to_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.properties).unwrap_or_default()
    }
}

/// Merges a PATCH body into a device's JSON the way Graph does: each sent property replaces the
/// stored one; a complex value (`state`) is replaced as a unit; nothing else changes.
pub fn merge(target: &mut Map<String, Value>, body: &Map<String, Value>) {
    for (key, value) in body {
        target.insert(key.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::{FieldKind, ImportStatus};
    use proptest::prelude::*;
    use serde_json::json;

    fn device() -> Device {
        serde_json::from_value(json!({
            "id": "d1", "groupTag": "Sales", "assignedUserPrincipalName": "ana@contoso.com",
            "hardwareIdentifier": "AAEC", "importId": "i1", "productKey": null, "serialNumber": "S1",
            "extraProp": 5,
            "state": {"deviceImportStatus": "error", "deviceRegistrationId": null,
                      "deviceErrorCode": 806, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}
        }))
        .unwrap()
    }

    #[test]
    fn only_group_tag() {
        let original = device();
        let mut edited = original.clone();
        edited.group_tag = Some("new".into());
        let body = PatchBody::between(&original, &edited);
        assert_eq!(body.to_json(), json!({"groupTag": "new"}));
        assert_eq!(body.changes.len(), 1);
    }

    #[test]
    fn cleared_field_is_null_and_state_goes_whole() {
        let original = device();
        let mut edited = original.clone();
        edited.assigned_user_principal_name = None;
        edited.state.device_error_code = 0;
        let body = PatchBody::between(&original, &edited);
        assert_eq!(
            body.to_json(),
            json!({"assignedUserPrincipalName": null, "state": {
                "deviceImportStatus": "error", "deviceRegistrationId": null,
                "deviceErrorCode": 0, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}})
        );
        assert!(body.to_json()["state"]["deviceErrorCode"].is_i64());
    }

    #[test]
    fn nothing_changed_is_empty() {
        assert!(PatchBody::between(&device(), &device()).is_empty());
    }

    fn arb_value(kind: FieldKind) -> BoxedStrategy<FieldValue> {
        match kind {
            FieldKind::ImportStatus => {
                proptest::sample::select(ImportStatus::ALL.to_vec()).prop_map(FieldValue::Status).boxed()
            }
            FieldKind::Int32 => any::<i32>().prop_map(FieldValue::Int).boxed(),
            _ => proptest::option::of("[a-zA-Z0-9@.+/=]{0,8}").prop_map(FieldValue::Text).boxed(),
        }
    }

    fn arb_edits() -> impl Strategy<Value = Vec<(FieldId, FieldValue)>> {
        let per_field: Vec<_> = FIELDS
            .iter()
            .filter(|f| f.editable)
            .map(|f| {
                let id = f.id;
                proptest::option::of(arb_value(f.kind)).prop_map(move |v| v.map(|v| (id, v)))
            })
            .collect();
        per_field.prop_map(|v| v.into_iter().flatten().collect())
    }

    proptest! {
        #[test]
        fn applying_the_body_gives_the_edited_device(edits in arb_edits()) {
            let original = device();
            let mut edited = original.clone();
            for (f, v) in edits {
                edited.set(f, v);
            }
            let body = PatchBody::between(&original, &edited);
            let mut doc = serde_json::to_value(&original).unwrap();
            merge(doc.as_object_mut().unwrap(), &body.properties);
            let merged: Device = serde_json::from_value(doc).unwrap();
            prop_assert_eq!(&merged, &edited);
            // Unchanged fields never appear; unknown properties are never sent.
            for spec in FIELDS.iter().filter(|f| f.place == FieldPlace::Device) {
                if original.get(spec.id) == edited.get(spec.id) {
                    prop_assert!(!body.properties.contains_key(spec.json));
                }
            }
            prop_assert!(!body.properties.contains_key("extraProp"));
            prop_assert!(!body.properties.contains_key("id"));
            prop_assert_eq!(body.is_empty(), original == edited);
        }
    }
}
