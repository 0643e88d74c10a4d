//! The Graph resource `importedWindowsAutopilotDeviceIdentity`, its `state`, and the one table of
//! fields that drives the device table, the edit form, validation and the PATCH body.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// `@odata.type` of the device entity.
pub const DEVICE_ODATA_TYPE: &str = "#microsoft.graph.importedWindowsAutopilotDeviceIdentity";
/// `@odata.type` of the nested state object.
pub const STATE_ODATA_TYPE: &str = "microsoft.graph.importedWindowsAutopilotDeviceIdentityState";

/// `importedWindowsAutopilotDeviceIdentityImportStatus`, serialised exactly as Graph spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportStatus {
    /// The service has not reported a status yet (what a new record shows).
    #[default]
    Unknown,
    /// Registration in progress.
    Pending,
    /// Partly registered.
    Partial,
    /// Registered with the Autopilot service.
    Complete,
    /// Registration failed; `deviceErrorCode`/`deviceErrorName` say why.
    Error,
}

impl ImportStatus {
    /// Every value, in the order the enum declares them (the form's choice order).
    pub const ALL: [ImportStatus; 5] = [
        ImportStatus::Unknown,
        ImportStatus::Pending,
        ImportStatus::Partial,
        ImportStatus::Complete,
        ImportStatus::Error,
    ];

    /// The wire spelling (`unknown`, `pending`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Unknown => "unknown",
            ImportStatus::Pending => "pending",
            ImportStatus::Partial => "partial",
            ImportStatus::Complete => "complete",
            ImportStatus::Error => "error",
        }
    }

    /// Parses the exact wire spelling; anything else is `None` (Graph is case-sensitive here).
    pub fn parse(text: &str) -> Option<ImportStatus> {
        ImportStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `importedWindowsAutopilotDeviceIdentityState`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    /// Import status reported by the Autopilot service.
    #[serde(default)]
    pub device_import_status: ImportStatus,
    /// Device Registration ID once registration succeeded.
    #[serde(default)]
    pub device_registration_id: Option<String>,
    /// DDS error code; `0` when fine. Not nullable.
    #[serde(default)]
    pub device_error_code: i32,
    /// DDS error name, e.g. `ZtdDeviceAlreadyAssigned`.
    #[serde(default)]
    pub device_error_name: Option<String>,
    /// Properties this client does not know (`@odata.type`, newer service additions), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `importedWindowsAutopilotDeviceIdentity`.
///
/// Every property but `id` may be missing on the wire (a `$select` leaves them out), so they
/// default; `extra` keeps what this client does not know so it survives a round trip.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The entity key (a GUID). Read-only.
    pub id: String,
    /// UPN of the user the device will be assigned to.
    #[serde(default)]
    pub assigned_user_principal_name: Option<String>,
    /// Free text that dynamic groups use to pick a deployment profile.
    #[serde(default)]
    pub group_tag: Option<String>,
    /// The hardware hash, base64 on the wire (standard or url-safe alphabet).
    #[serde(default)]
    pub hardware_identifier: Option<String>,
    /// Id of the import batch.
    #[serde(default)]
    pub import_id: Option<String>,
    /// Windows product key / product id.
    #[serde(default)]
    pub product_key: Option<String>,
    /// OEM serial number.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// Registration state.
    #[serde(default)]
    pub state: DeviceState,
    /// Properties this client does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a field lives in the JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldPlace {
    /// A property of the device itself.
    Device,
    /// A property of the nested `state` object.
    State,
}

/// What kind of value a field holds; decides the editor and the validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The read-only entity key.
    Key,
    /// Free text, nullable.
    Text,
    /// A user principal name, nullable.
    Upn,
    /// Base64 (or base64url) binary, nullable.
    Binary,
    /// One of the five import states.
    ImportStatus,
    /// A non-nullable int32.
    Int32,
}

/// Every field of the resource this app knows, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldId {
    /// `id`
    Id,
    /// `assignedUserPrincipalName`
    AssignedUserPrincipalName,
    /// `groupTag`
    GroupTag,
    /// `hardwareIdentifier`
    HardwareIdentifier,
    /// `importId`
    ImportId,
    /// `productKey`
    ProductKey,
    /// `serialNumber`
    SerialNumber,
    /// `state/deviceImportStatus`
    DeviceImportStatus,
    /// `state/deviceRegistrationId`
    DeviceRegistrationId,
    /// `state/deviceErrorCode`
    DeviceErrorCode,
    /// `state/deviceErrorName`
    DeviceErrorName,
}

/// One row of the field table: how a field is labelled, named on the wire, typed and edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Which field.
    pub id: FieldId,
    /// Human label for the form and the table header.
    pub label: &'static str,
    /// JSON property name (inside `state` for [`FieldPlace::State`]).
    pub json: &'static str,
    /// Device or state property.
    pub place: FieldPlace,
    /// Value kind.
    pub kind: FieldKind,
    /// Whether the form lets the user change it.
    pub editable: bool,
    /// Whether JSON `null` is allowed (an empty editor means `null`).
    pub nullable: bool,
}

impl FieldSpec {
    /// The OData property path, e.g. `groupTag` or `state/deviceImportStatus`.
    pub fn path(&self) -> String {
        match self.place {
            FieldPlace::Device => self.json.to_string(),
            FieldPlace::State => format!("state/{}", self.json),
        }
    }
}

const fn spec(
    id: FieldId,
    label: &'static str,
    json: &'static str,
    place: FieldPlace,
    kind: FieldKind,
    editable: bool,
    nullable: bool,
) -> FieldSpec {
    FieldSpec { id, label, json, place, kind, editable, nullable }
}

/// The field table. A new property is one line here.
pub const FIELDS: [FieldSpec; 11] = [
    spec(FieldId::Id, "Id", "id", FieldPlace::Device, FieldKind::Key, false, false),
    spec(
        FieldId::AssignedUserPrincipalName,
        "Assigned user",
        "assignedUserPrincipalName",
        FieldPlace::Device,
        FieldKind::Upn,
        true,
        true,
    ),
    spec(FieldId::GroupTag, "Group tag", "groupTag", FieldPlace::Device, FieldKind::Text, true, true),
    spec(
        FieldId::HardwareIdentifier,
        "Hardware hash",
        "hardwareIdentifier",
        FieldPlace::Device,
        FieldKind::Binary,
        true,
        true,
    ),
    spec(FieldId::ImportId, "Import id", "importId", FieldPlace::Device, FieldKind::Text, true, true),
    spec(FieldId::ProductKey, "Product key", "productKey", FieldPlace::Device, FieldKind::Text, true, true),
    spec(
        FieldId::SerialNumber,
        "Serial number",
        "serialNumber",
        FieldPlace::Device,
        FieldKind::Text,
        true,
        true,
    ),
    spec(
        FieldId::DeviceImportStatus,
        "Import status",
        "deviceImportStatus",
        FieldPlace::State,
        FieldKind::ImportStatus,
        true,
        false,
    ),
    spec(
        FieldId::DeviceRegistrationId,
        "Registration id",
        "deviceRegistrationId",
        FieldPlace::State,
        FieldKind::Text,
        true,
        true,
    ),
    spec(
        FieldId::DeviceErrorCode,
        "Error code",
        "deviceErrorCode",
        FieldPlace::State,
        FieldKind::Int32,
        true,
        false,
    ),
    spec(
        FieldId::DeviceErrorName,
        "Error name",
        "deviceErrorName",
        FieldPlace::State,
        FieldKind::Text,
        true,
        true,
    ),
];

impl FieldId {
    /// This field's row of [`FIELDS`].
    pub fn spec(self) -> &'static FieldSpec {
        // FIELDS is declared in FieldId's order; the test `field_table_in_enum_order` keeps it so.
        &FIELDS[self as usize]
    }

    /// Finds a field by its OData path (`groupTag`, `state/deviceImportStatus`).
    pub fn from_path(path: &str) -> Option<FieldId> {
        FIELDS.iter().find(|f| f.path() == path).map(|f| f.id)
    }
}

/// A field's value in its JSON type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string, or `None` for JSON `null`.
    Text(Option<String>),
    /// An import status.
    Status(ImportStatus),
    /// An int32.
    Int(i32),
}

impl FieldValue {
    /// The value as the form shows it: `null` is the empty string.
    pub fn to_text(&self) -> String {
        match self {
            FieldValue::Text(t) => t.clone().unwrap_or_default(),
            FieldValue::Status(s) => s.as_str().to_string(),
            FieldValue::Int(i) => i.to_string(),
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(Some(t)) => Value::String(t.clone()),
            FieldValue::Text(None) => Value::Null,
            FieldValue::Status(s) => Value::String(s.as_str().to_string()),
            FieldValue::Int(i) => Value::from(*i),
        }
    }
}

impl Device {
    /// A field's current value.
    pub fn get(&self, field: FieldId) -> FieldValue {
        match field {
            FieldId::Id => FieldValue::Text(Some(self.id.clone())),
            FieldId::AssignedUserPrincipalName => FieldValue::Text(self.assigned_user_principal_name.clone()),
            FieldId::GroupTag => FieldValue::Text(self.group_tag.clone()),
            FieldId::HardwareIdentifier => FieldValue::Text(self.hardware_identifier.clone()),
            FieldId::ImportId => FieldValue::Text(self.import_id.clone()),
            FieldId::ProductKey => FieldValue::Text(self.product_key.clone()),
            FieldId::SerialNumber => FieldValue::Text(self.serial_number.clone()),
            FieldId::DeviceImportStatus => FieldValue::Status(self.state.device_import_status),
            FieldId::DeviceRegistrationId => FieldValue::Text(self.state.device_registration_id.clone()),
            FieldId::DeviceErrorCode => FieldValue::Int(self.state.device_error_code),
            FieldId::DeviceErrorName => FieldValue::Text(self.state.device_error_name.clone()),
        }
    }

    /// A borrowed view of a string field (`None` for null and for non-string fields).
    pub fn text(&self, field: FieldId) -> Option<&str> {
        match field {
            FieldId::Id => Some(&self.id),
            FieldId::AssignedUserPrincipalName => self.assigned_user_principal_name.as_deref(),
            FieldId::GroupTag => self.group_tag.as_deref(),
            FieldId::HardwareIdentifier => self.hardware_identifier.as_deref(),
            FieldId::ImportId => self.import_id.as_deref(),
            FieldId::ProductKey => self.product_key.as_deref(),
            FieldId::SerialNumber => self.serial_number.as_deref(),
            FieldId::DeviceRegistrationId => self.state.device_registration_id.as_deref(),
            FieldId::DeviceErrorName => self.state.device_error_name.as_deref(),
            FieldId::DeviceImportStatus | FieldId::DeviceErrorCode => None,
        }
    }

    /// Sets a field. A value of the wrong kind for the field is ignored (the caller parsed it
    /// through [`crate::graph::validate`], which knows the kinds).
    pub fn set(&mut self, field: FieldId, value: FieldValue) {
        match (field, value) {
            (FieldId::Id, FieldValue::Text(Some(t))) => self.id = t,
            (FieldId::AssignedUserPrincipalName, FieldValue::Text(t)) => {
                self.assigned_user_principal_name = t
            }
            (FieldId::GroupTag, FieldValue::Text(t)) => self.group_tag = t,
            (FieldId::HardwareIdentifier, FieldValue::Text(t)) => self.hardware_identifier = t,
            (FieldId::ImportId, FieldValue::Text(t)) => self.import_id = t,
            (FieldId::ProductKey, FieldValue::Text(t)) => self.product_key = t,
            (FieldId::SerialNumber, FieldValue::Text(t)) => self.serial_number = t,
            (FieldId::DeviceImportStatus, FieldValue::Status(s)) => self.state.device_import_status = s,
            (FieldId::DeviceRegistrationId, FieldValue::Text(t)) => self.state.device_registration_id = t,
            (FieldId::DeviceErrorCode, FieldValue::Int(i)) => self.state.device_error_code = i,
            (FieldId::DeviceErrorName, FieldValue::Text(t)) => self.state.device_error_name = t,
            _ => {}
        }
    }

    /// The `state` object as Graph expects it in a PATCH (the known properties only).
    pub fn state_json(&self) -> Value {
        let mut state = Map::new();
        for spec in FIELDS.iter().filter(|f| f.place == FieldPlace::State) {
            state.insert(spec.json.to_string(), self.get(spec.id).to_json());
        }
        Value::Object(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_table_in_enum_order() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{} out of order", f.json);
        }
    }

    #[test]
    fn import_status_wire_names() {
        let names: Vec<String> = ImportStatus::ALL
            .iter()
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["unknown", "pending", "partial", "complete", "error"]);
        assert!(serde_json::from_value::<ImportStatus>(json!("Complete")).is_err());
        assert_eq!(ImportStatus::parse("error"), Some(ImportStatus::Error));
    }

    #[test]
    fn unknown_properties_round_trip() {
        let doc = json!({
            "@odata.type": DEVICE_ODATA_TYPE,
            "id": "7e1c8b0a-1111-2222-3333-444455556666",
            "groupTag": "Sales",
            "assignedUserPrincipalName": null,
            "hardwareIdentifier": "AAEC",
            "importId": "imp",
            "productKey": "",
            "serialNumber": "PF3ABCDE",
            "futureProperty": {"nested": [1, 2, 3]},
            "state": {
                "@odata.type": STATE_ODATA_TYPE,
                "deviceImportStatus": "error",
                "deviceRegistrationId": null,
                "deviceErrorCode": 806,
                "deviceErrorName": "ZtdDeviceAlreadyAssigned",
                "stateExtra": true
            }
        });
        let device: Device = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(device.state.device_import_status, ImportStatus::Error);
        assert_eq!(device.extra["futureProperty"], json!({"nested": [1, 2, 3]}));
        let back = serde_json::to_value(&device).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn selected_subset_deserialises() {
        let device: Device = serde_json::from_value(json!({"id": "x", "serialNumber": "S1"})).unwrap();
        assert_eq!(device.serial_number.as_deref(), Some("S1"));
        assert_eq!(device.state.device_error_code, 0);
    }

    #[test]
    fn get_and_set_cover_every_field() {
        let mut d = Device::default();
        for f in FIELDS.iter() {
            let v = match f.kind {
                FieldKind::ImportStatus => FieldValue::Status(ImportStatus::Partial),
                FieldKind::Int32 => FieldValue::Int(-7),
                _ => FieldValue::Text(Some(format!("v-{}", f.json))),
            };
            d.set(f.id, v.clone());
            assert_eq!(d.get(f.id), v, "{}", f.json);
        }
        assert_eq!(FieldId::from_path("state/deviceErrorCode"), Some(FieldId::DeviceErrorCode));
    }
}
