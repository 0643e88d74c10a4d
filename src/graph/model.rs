//! The typed model of `importedWindowsAutopilotDeviceIdentity` and its `state`: what the embedded
//! server generates and keeps. The client reads records through the descriptor
//! ([`crate::graph::imported::IMPORTED`]) instead.

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
