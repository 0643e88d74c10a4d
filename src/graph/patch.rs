//! Original record + edited record -> the body of changed properties only (pure), for either
//! way a resource takes a change (`PATCH`, or a `POST` to an action such as
//! `updateDeviceProperties`).

use crate::graph::resource::{Field, Record, Resource};
use serde_json::{Map, Value};

/// One changed field, for the confirmation screen's old -> new list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Which field.
    pub field: &'static Field,
    /// Value as fetched (`null` when absent).
    pub old: Value,
    /// Value to send.
    pub new: Value,
}

/// The JSON object a write carries: exactly the changed properties, in their JSON types; a
/// complex property (`state`) whole when any part of it changed (Graph replaces a complex
/// value as a unit), with its known fields only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchBody {
    /// The body's properties, in field-table order.
    pub properties: Map<String, Value>,
    /// What changed, field by field.
    pub changes: Vec<FieldChange>,
}

impl PatchBody {
    /// Builds the body from the record as fetched and the record as edited.
    pub fn between(resource: &'static Resource, original: &Record, edited: &Record) -> PatchBody {
        let mut body = PatchBody::default();
        let value = |f: &Field, r: &Record| f.get(r).cloned().unwrap_or(Value::Null);
        for field in resource.editable() {
            let (old, new) = (value(field, original), value(field, edited));
            if old == new {
                continue;
            }
            match field.parent() {
                None => {
                    body.properties.insert(field.path.to_string(), new.clone());
                }
                Some(parent) if !body.properties.contains_key(parent) => {
                    let whole: Map<String, Value> = resource
                        .fields
                        .iter()
                        .filter(|f| f.parent() == Some(parent))
                        .map(|f| (f.name().to_string(), value(f, edited)))
                        .collect();
                    body.properties.insert(parent.to_string(), Value::Object(whole));
                }
                Some(_) => {}
            }
            body.changes.push(FieldChange { field, old, new });
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

/// Merges a PATCH body into a record's JSON the way Graph does: each sent property replaces the
/// stored one; a complex value (`state`) is replaced as a unit; nothing else changes.
pub fn merge(target: &mut Map<String, Value>, body: &Map<String, Value>) {
    for (key, value) in body {
        target.insert(key.clone(), value.clone());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use crate::graph::resource::Kind;
    use proptest::prelude::*;
    use serde_json::json;

    fn device() -> Record {
        json!({
            "id": "d1", "groupTag": "Sales", "assignedUserPrincipalName": "ana@contoso.com",
            "hardwareIdentifier": "AAEC", "importId": "i1", "productKey": null, "serialNumber": "S1",
            "extraProp": 5,
            "state": {"@odata.type": "x", "deviceImportStatus": "error", "deviceRegistrationId": null,
                      "deviceErrorCode": 806, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn set(record: &mut Record, path: &str, value: Value) {
        IMPORTED.field(path).unwrap().set(record, value);
    }

    #[test]
    fn only_group_tag() {
        let original = device();
        let mut edited = original.clone();
        set(&mut edited, "groupTag", json!("new"));
        let body = PatchBody::between(&IMPORTED, &original, &edited);
        assert_eq!(body.to_json(), json!({"groupTag": "new"}));
        assert_eq!(body.changes.len(), 1);
    }

    #[test]
    fn cleared_field_is_null_and_state_goes_whole() {
        let original = device();
        let mut edited = original.clone();
        set(&mut edited, "assignedUserPrincipalName", Value::Null);
        set(&mut edited, "state/deviceErrorCode", json!(0));
        let body = PatchBody::between(&IMPORTED, &original, &edited);
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
        assert!(PatchBody::between(&IMPORTED, &device(), &device()).is_empty());
    }

    fn arb_value(kind: Kind) -> BoxedStrategy<Value> {
        match kind {
            Kind::Enum(values) => proptest::sample::select(values.to_vec()).prop_map(Value::from).boxed(),
            Kind::Int32 => any::<i32>().prop_map(Value::from).boxed(),
            _ => proptest::option::of("[a-zA-Z0-9@.+/=]{0,8}")
                .prop_map(|t| t.map_or(Value::Null, Value::String))
                .boxed(),
        }
    }

    fn arb_edits() -> impl Strategy<Value = Vec<(&'static Field, Value)>> {
        let per_field: Vec<_> = IMPORTED
            .editable()
            .map(|f| proptest::option::of(arb_value(f.kind)).prop_map(move |v| v.map(|v| (f, v))))
            .collect();
        per_field.prop_map(|v| v.into_iter().flatten().collect())
    }

    proptest! {
        #[test]
        fn applying_the_body_gives_the_edited_record(edits in arb_edits()) {
            let original = device();
            let mut edited = original.clone();
            for (f, v) in edits {
                f.set(&mut edited, v);
            }
            let body = PatchBody::between(&IMPORTED, &original, &edited);
            let mut merged = original.clone();
            merge(&mut merged, &body.properties);
            for f in IMPORTED.fields {
                prop_assert_eq!(f.get(&merged), f.get(&edited), "{}", f.path);
            }
            // Unchanged fields never appear; unknown properties are never sent.
            for f in IMPORTED.editable().filter(|f| f.parent().is_none()) {
                if f.get(&original) == f.get(&edited) {
                    prop_assert!(!body.properties.contains_key(f.path));
                }
            }
            prop_assert!(!body.properties.contains_key("extraProp"));
            prop_assert!(!body.properties.contains_key("id"));
            prop_assert_eq!(body.is_empty(), original == edited);
        }
    }
}
