//! EDM type checks of request bodies, read from a resource's field table: property names,
//! `Edm.String`/`Edm.Binary`/`Edm.Int32`/`Edm.DateTimeOffset`/enum types, nullability, complex
//! values replaced whole, `@odata.type` annotations, beta-only properties, action parameters, and
//! the key. The answers are Graph's own 400 texts (`The property 'foo' does not exist on type ...`,
//! `Cannot convert the literal '...' to the expected type 'Edm.Binary'.`).

use super::conventions::{ApiError, is_json};
use crate::graph::resource::{Field, Kind, Record, Resource, TypeNames, Version};
use crate::graph::validate::{decode_binary, encode_binary};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

/// The namespace of Graph's types.
pub(super) const NAMESPACE: &str = "microsoft.graph";
/// What a non-nullable `Edm.DateTimeOffset` holds when there is no date (Intune's "never").
pub(super) const NEVER: &str = "0001-01-01T00:00:00Z";

/// A served entity type: its name, its field table and Graph's names for its own types.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntityType {
    /// The type's name without namespace (`windowsAutopilotDeviceIdentity`).
    pub(super) name: &'static str,
    /// The field table; the first field is the key.
    pub(super) fields: &'static [Field],
    /// Names of its complex and enum types.
    pub(super) names: &'static TypeNames,
}

impl EntityType {
    /// The entity type of a resource descriptor.
    pub(super) const fn of(resource: &'static Resource, names: &'static TypeNames) -> EntityType {
        EntityType { name: resource.entity, fields: resource.fields, names }
    }

    /// `microsoft.graph.<name>`.
    pub(super) fn qualified(&self) -> String {
        format!("{NAMESPACE}.{}", self.name)
    }

    /// The `@odata.type` of an instance: `#microsoft.graph.<name>`.
    pub(super) fn odata_type(&self) -> String {
        format!("#{}", self.qualified())
    }

    /// The key's property name (`id`).
    pub(super) fn key(&self) -> &'static str {
        self.fields.first().map_or("id", |field| field.path)
    }

    /// The fields served at a version root.
    pub(super) fn fields_at(&self, beta: bool) -> impl Iterator<Item = &'static Field> + use<> {
        self.fields.iter().filter(move |f| beta || f.version == Version::Both)
    }

    /// The field at an OData path (`groupTag`, `state/deviceErrorCode`), if served at this root.
    pub(super) fn field(&self, path: &str, beta: bool) -> Option<&'static Field> {
        self.fields_at(beta).find(|f| f.path == path)
    }

    /// The top-level property names served at a version root, in table order: plain fields and
    /// complex properties (each once).
    pub(super) fn top_level(&self, beta: bool) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for field in self.fields_at(beta) {
            let name = field.parent().unwrap_or(field.path);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The qualified type of a complex property (`state`).
    pub(super) fn complex_type(&self, name: &str) -> Option<String> {
        self.names.complex_type(name).map(|local| format!("{NAMESPACE}.{local}"))
    }

    /// The qualified EDM type of a field, as Graph's messages name it.
    pub(super) fn edm_type(&self, field: &Field) -> String {
        match field.kind {
            Kind::Key | Kind::Text | Kind::Upn | Kind::Secret => "Edm.String".into(),
            Kind::Binary => "Edm.Binary".into(),
            Kind::Int32 => "Edm.Int32".into(),
            Kind::DateTime => "Edm.DateTimeOffset".into(),
            Kind::Enum(_) => match self.names.enum_type(field.path) {
                Some(local) => format!("{NAMESPACE}.{local}"),
                None => "Edm.String".into(),
            },
        }
    }

    /// Fills what a stored record lacks the way Graph would answer it: `null` for a nullable
    /// field, and otherwise `0`, the enum's first value, or [`NEVER`] (the key is left alone).
    pub(super) fn complete(&self, record: &mut Record) {
        for field in self.fields.iter().skip(1) {
            if field.get(record).is_none() {
                field.set(record, default_value(field));
            }
        }
    }
}

fn default_value(field: &Field) -> Value {
    if field.nullable {
        return Value::Null;
    }
    match field.kind {
        Kind::Int32 => Value::from(0),
        Kind::Enum(values) => values.first().map_or(Value::Null, |v| Value::String((*v).to_string())),
        Kind::DateTime => Value::String(NEVER.into()),
        _ => Value::String(String::new()),
    }
}

/// What a body may say about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyRule<'a> {
    /// A new record may name its own id (POST on the collection).
    Keep,
    /// The id is checked and then dropped: the server picks one (an import entry).
    Drop,
    /// The addressed record's id: sent only unchanged (PATCH), and then dropped.
    Unchanged(&'a str),
}

/// The body as a JSON object, after the content-type check (any `application/json`, with or
/// without parameters).
pub(super) fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if !is_json(headers) {
        let sent = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("The content type '{sent}' is not supported; send 'application/json'."),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => {
            let node = match other {
                Value::Array(_) => "StartArray",
                _ => "PrimitiveValue",
            };
            Err(ApiError::bad_request(format!(
                "An unexpected '{node}' node was found when reading from the JSON reader. A 'StartObject' node was expected."
            )))
        }
    }
}

/// The parameters of an action's body: none when the body is empty (whatever its content type),
/// else a JSON object.
pub(super) fn action_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) { Ok(Map::new()) } else { json_object(headers, body) }
}

fn unknown_property(name: &str, type_name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use property names that are \
         defined by the type or mark the type as open type."
    ))
}

/// An action's body names a parameter the operation does not have.
pub(super) fn unknown_parameter(name: &str, operation: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The parameter '{name}' in the request payload is not a valid parameter for the operation '{operation}'."
    ))
}

fn null_not_allowed(name: &str, edm_type: &str) -> ApiError {
    ApiError::bad_request(format!(
        "A null value was found for the property named '{name}', which has the expected type \
         '{edm_type}[Nullable=False]'. The expected type '{edm_type}[Nullable=False]' does not allow null values."
    ))
}

fn cannot_convert(value: &Value, edm_type: &str) -> ApiError {
    let literal = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ApiError::bad_request(format!(
        "Cannot convert the literal '{literal}' to the expected type '{edm_type}'."
    ))
}

/// Checks an instance annotation such as `@odata.type` (which must name the expected type);
/// returns true when `key` is an annotation and so not a property.
fn check_annotation(key: &str, value: &Value, expected_type: &str) -> Result<bool, ApiError> {
    if !key.contains('@') {
        return Ok(false);
    }
    if key == "@odata.type" {
        let named = value.as_str().unwrap_or("").trim_start_matches('#');
        if named != expected_type {
            return Err(ApiError::bad_request(format!(
                "A type named '{named}' could not be resolved by the model. When a model is available, each type name \
                 must resolve to a valid type."
            )));
        }
    }
    Ok(true)
}

/// One value checked against its field's EDM type; what is stored (binary as standard padded
/// base64, whatever alphabet or padding the client sent, as Graph answers it).
fn checked_value(entity: &EntityType, field: &Field, value: &Value) -> Result<Value, ApiError> {
    let edm_type = entity.edm_type(field);
    let ok = match (field.kind, value) {
        (_, Value::Null) if field.nullable => true,
        (_, Value::Null) => return Err(null_not_allowed(field.name(), &edm_type)),
        (Kind::Key | Kind::Text | Kind::Upn | Kind::Secret, Value::String(_)) => true,
        (Kind::Binary, Value::String(text)) => {
            // Edm.Binary is bytes: keep them, not the spelling.
            let bytes = decode_binary(text).map_err(|_| cannot_convert(value, &edm_type))?;
            return Ok(Value::String(encode_binary(&bytes)));
        }
        (Kind::Int32, Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        (Kind::Enum(values), Value::String(text)) => values.contains(&text.as_str()),
        (Kind::DateTime, Value::String(text)) => crate::graph::timestamp::parse(text).is_some(),
        _ => false,
    };
    if ok { Ok(value.clone()) } else { Err(cannot_convert(value, &edm_type)) }
}

/// Checks the properties of an entity body (PATCH, POST, an import entry) against the field
/// table at this version root and returns them without annotations; a complex value is checked
/// whole (it replaces the stored one as a unit).
pub(super) fn checked_entity(
    entity: &EntityType,
    beta: bool,
    body: &Map<String, Value>,
    key: KeyRule<'_>,
) -> Result<Record, ApiError> {
    let type_name = entity.qualified();
    let mut checked = Map::new();
    for (name, value) in body {
        if check_annotation(name, value, &type_name)? {
            continue;
        }
        if let Some(complex) = entity.complex_type(name) {
            checked.insert(name.clone(), checked_complex(entity, beta, name, &complex, value)?);
            continue;
        }
        let Some(field) = entity.field(name, beta) else {
            return Err(unknown_property(name, &type_name));
        };
        let value = checked_value(entity, field, value)?;
        if field.kind == Kind::Key {
            match key {
                KeyRule::Keep => {}
                KeyRule::Drop => continue,
                KeyRule::Unchanged(current) => {
                    let sent = value.as_str().unwrap_or_default();
                    if !sent.eq_ignore_ascii_case(current) {
                        return Err(ApiError::bad_request(format!(
                            "The key property '{name}' cannot be changed (from '{current}' to '{sent}')."
                        )));
                    }
                    // The same id, perhaps in other case: nothing to merge, keep the stored spelling.
                    continue;
                }
            }
        }
        checked.insert(name.clone(), value);
    }
    Ok(checked)
}

fn checked_complex(
    entity: &EntityType,
    beta: bool,
    name: &str,
    complex: &str,
    value: &Value,
) -> Result<Value, ApiError> {
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Err(null_not_allowed(name, complex)),
        other => return Err(cannot_convert(other, complex)),
    };
    let mut checked = Map::new();
    for (key, inner) in object {
        if check_annotation(key, inner, complex)? {
            continue;
        }
        let Some(field) = entity.field(&format!("{name}/{key}"), beta) else {
            return Err(unknown_property(key, complex));
        };
        checked.insert(key.clone(), checked_value(entity, field, inner)?);
    }
    Ok(Value::Object(checked))
}

/// Checks the parameters of a bound action (`updateDeviceProperties`) against the fields it
/// takes; a parameter the operation does not have at this version is refused in OData's words.
pub(super) fn checked_parameters(
    entity: &EntityType,
    operation: &str,
    parameters: &[&'static Field],
    body: &Map<String, Value>,
) -> Result<Record, ApiError> {
    let mut checked = Map::new();
    for (name, value) in body {
        if name.contains('@') {
            continue;
        }
        let Some(field) = parameters.iter().find(|f| f.path == name) else {
            return Err(unknown_parameter(name, operation));
        };
        checked.insert(name.clone(), checked_value(entity, field, value)?);
    }
    Ok(checked)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::{imported, registered};
    use serde_json::json;

    const IMPORTED: EntityType = EntityType::of(&imported::IMPORTED, &imported::TYPE_NAMES);
    const REGISTERED: EntityType = EntityType::of(&registered::REGISTERED, &registered::TYPE_NAMES);

    fn check(body: Value) -> Result<Record, ApiError> {
        checked_entity(&IMPORTED, false, body.as_object().unwrap(), KeyRule::Unchanged("x"))
    }

    #[test]
    fn body_checks() {
        let ok = json!({"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity", "groupTag": null,
                        "hardwareIdentifier": "-_8",
                        "state": {"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                                  "deviceErrorCode": 806, "deviceImportStatus": "error"}});
        let checked = check(ok).unwrap();
        assert!(!checked.contains_key("@odata.type"));
        assert_eq!(checked["hardwareIdentifier"], "+/8=", "stored as standard padded base64");
        assert!(!checked["state"].as_object().unwrap().contains_key("@odata.type"));
        let bad = [
            (
                json!({"foo": 1}),
                "The property 'foo' does not exist on type 'microsoft.graph.importedWindowsAutopilotDeviceIdentity'",
            ),
            (
                json!({"state": {"bar": 1}}),
                "'bar' does not exist on type 'microsoft.graph.importedWindowsAutopilotDeviceIdentityState'",
            ),
            (json!({"groupTag": 5}), "Edm.String"),
            (
                json!({"hardwareIdentifier": "%%%"}),
                "Cannot convert the literal '%%%' to the expected type 'Edm.Binary'.",
            ),
            (json!({"state": {"deviceErrorCode": null}}), "does not allow null"),
            (json!({"state": {"deviceErrorCode": 2_147_483_648_i64}}), "Edm.Int32"),
            (json!({"state": {"deviceErrorCode": 1.5}}), "Edm.Int32"),
            (json!({"state": {"deviceImportStatus": "Complete"}}), "ImportStatus"),
            (json!({"state": null}), "does not allow null"),
            (json!({"id": "y"}), "cannot be changed"),
            (json!({"@odata.type": "#microsoft.graph.user"}), "could not be resolved"),
        ];
        for (body, fragment) in bad {
            let err = check(body.clone()).unwrap_err();
            assert!(err.message.contains(fragment), "{body}: {}", err.message);
            assert_eq!(err.code, "BadRequest");
        }
    }

    #[test]
    fn beta_only_properties_and_parameters_exist_only_on_beta() {
        let body = json!({"deviceFriendlyName": "Hub"});
        let body = body.as_object().unwrap();
        assert!(checked_entity(&REGISTERED, true, body, KeyRule::Keep).is_ok());
        let error = checked_entity(&REGISTERED, false, body, KeyRule::Keep).unwrap_err();
        assert!(error.message.contains("'deviceFriendlyName' does not exist"), "{}", error.message);
        let v1: Vec<&'static Field> = REGISTERED.fields_at(false).filter(|f| f.editable).collect();
        let error = checked_parameters(&REGISTERED, "updateDeviceProperties", &v1, body).unwrap_err();
        assert_eq!(
            error.message,
            "The parameter 'deviceFriendlyName' in the request payload is not a valid parameter for the operation \
             'updateDeviceProperties'."
        );
        let wrong = json!({"groupTag": 7});
        let error =
            checked_parameters(&REGISTERED, "updateDeviceProperties", &v1, wrong.as_object().unwrap())
                .unwrap_err();
        assert_eq!(error.message, "Cannot convert the literal '7' to the expected type 'Edm.String'.");
    }

    #[test]
    fn records_are_completed_with_graph_defaults() {
        let mut record =
            json!({"id": "x", "state": {"deviceImportStatus": "error"}}).as_object().unwrap().clone();
        IMPORTED.complete(&mut record);
        assert_eq!(record["groupTag"], Value::Null);
        assert_eq!(
            record["state"],
            json!({"deviceImportStatus": "error", "deviceRegistrationId": null, "deviceErrorCode": 0, "deviceErrorName": null})
        );
        let mut registered = json!({"id": "y"}).as_object().unwrap().clone();
        REGISTERED.complete(&mut registered);
        assert_eq!(registered["enrollmentState"], "unknown");
        assert_eq!(registered["lastContactedDateTime"], NEVER);
        assert_eq!(
            REGISTERED.edm_type(REGISTERED.field("enrollmentState", false).unwrap()),
            "microsoft.graph.enrollmentState"
        );
    }
}
