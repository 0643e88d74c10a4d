//! Why an import failed, in plain words, with the next step (`graph-autopilot.md` section 7 and
//! Microsoft's support article on 806/808). Pure: the `state` of an imported identity in, an
//! [`Explanation`] out, for the import workflow's results, the table's import-status column and
//! the form alike.
//!
//! The name (`deviceErrorName`) is matched before the code: the names are what Microsoft
//! documents, while some codes are not (`ZtdDeviceDuplicated` has none; 807 is what the embedded
//! server uses). A name or code this module does not know gets the code, the name and a generic
//! next step. The name comes from the server: escape it before it reaches a terminal.

use crate::graph::resource::Record;
use serde_json::Value;
use std::fmt;

/// `ZtdDeviceAlreadyAssigned`: registered in this tenant already.
pub const ALREADY_ASSIGNED: (i32, &str) = (806, "ZtdDeviceAlreadyAssigned");
/// `ZtdDeviceAssignedToOtherTenant`: registered in another tenant.
pub const ASSIGNED_TO_OTHER_TENANT: (i32, &str) = (808, "ZtdDeviceAssignedToOtherTenant");
/// `ZtdDeviceDuplicated`: the same hash twice in one import (the code is not documented).
pub const DUPLICATED: (i32, &str) = (807, "ZtdDeviceDuplicated");
/// `InvalidZtdHardwareHash`: the hash is not one the service can use.
pub const INVALID_HASH: (i32, &str) = (802, "InvalidZtdHardwareHash");
/// `StorageError`: the service failed to keep the device.
pub const STORAGE_ERROR: &str = "StorageError";

/// The kinds of import error this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportErrorKind {
    /// 806 `ZtdDeviceAlreadyAssigned`.
    AlreadyAssigned,
    /// 808 `ZtdDeviceAssignedToOtherTenant`.
    AssignedToOtherTenant,
    /// `ZtdDeviceDuplicated` (807 here).
    Duplicated,
    /// 802 `InvalidZtdHardwareHash`.
    InvalidHash,
    /// `StorageError`: a failure of the service itself.
    StorageError,
    /// Any other code or name.
    Other,
}

impl ImportErrorKind {
    /// The kind of a code and name: the name decides when it is known, else the code.
    pub fn of(code: i32, name: Option<&str>) -> ImportErrorKind {
        let by_name = match name.map(str::trim) {
            Some(n) if n.eq_ignore_ascii_case(ALREADY_ASSIGNED.1) => Some(ImportErrorKind::AlreadyAssigned),
            Some(n) if n.eq_ignore_ascii_case(ASSIGNED_TO_OTHER_TENANT.1) => {
                Some(ImportErrorKind::AssignedToOtherTenant)
            }
            Some(n) if n.eq_ignore_ascii_case(DUPLICATED.1) => Some(ImportErrorKind::Duplicated),
            Some(n) if n.eq_ignore_ascii_case(INVALID_HASH.1) => Some(ImportErrorKind::InvalidHash),
            Some(n) if n.eq_ignore_ascii_case(STORAGE_ERROR) => Some(ImportErrorKind::StorageError),
            Some(n) if !n.is_empty() => Some(ImportErrorKind::Other),
            _ => None,
        };
        by_name.unwrap_or(match code {
            806 => ImportErrorKind::AlreadyAssigned,
            808 => ImportErrorKind::AssignedToOtherTenant,
            807 => ImportErrorKind::Duplicated,
            802 => ImportErrorKind::InvalidHash,
            _ => ImportErrorKind::Other,
        })
    }
}

/// An import error explained: what it is, what the portal calls it, what it means, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Which error it is.
    pub kind: ImportErrorKind,
    /// `state.deviceErrorCode` as the server sent it.
    pub code: i32,
    /// `state.deviceErrorName` as the server sent it (server text: escape it for a terminal).
    pub name: Option<String>,
    /// What the Intune portal shows for it, when that is known and differs from the name.
    pub portal_text: Option<&'static str>,
    /// What it means, in plain words.
    pub meaning: String,
    /// What to do next.
    pub next_step: String,
}

impl Explanation {
    /// `806 ZtdDeviceAlreadyAssigned` (the code alone when there is no name).
    pub fn title(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.code),
            None => self.code.to_string(),
        }
    }

    /// The meaning and the next step in one sentence pair, without the title.
    pub fn words(&self) -> String {
        format!("{} {}", self.meaning, self.next_step)
    }
}

impl fmt::Display for Explanation {
    /// `806 ZtdDeviceAlreadyAssigned: meaning. Next step.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.title(), self.words())
    }
}

/// Explains an import error by its code and name.
pub fn explain(code: i32, name: Option<&str>) -> Explanation {
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    let kind = ImportErrorKind::of(code, name.as_deref());
    let (portal_text, meaning, next_step): (Option<&'static str>, String, String) = match kind {
        ImportErrorKind::AlreadyAssigned => (
            Some("Device is already registered to the same Tenant"),
            "The device is registered in this tenant already (as an Autopilot device, or through a \
             Microsoft Store for Business record): there is nothing to import."
                .into(),
            "Change its group tag or user on the registered device instead (:devices, or import \
             --update-registered), and delete this failed import record; to import it again anyway, \
             delete the registered device first."
                .into(),
        ),
        ImportErrorKind::AssignedToOtherTenant => (
            Some("Internal error"),
            "The device is registered in another tenant (or as a Microsoft Store for Business record \
             elsewhere)."
                .into(),
            "It must be removed there, by that tenant or by the reseller or OEM that registered it, \
             before the import can succeed; otherwise Microsoft support asks for proof of ownership \
             (the purchase invoice). Delete this failed import record, then import it again once it \
             is released."
                .into(),
        ),
        ImportErrorKind::Duplicated => (
            None,
            "The same hardware hash was sent more than once in one import, so the service could not \
             tell which record is right and refused every copy."
                .into(),
            "Keep one line per device in the CSV (the checker names repeated hashes), delete the failed \
             import records and import the device again."
                .into(),
        ),
        ImportErrorKind::InvalidHash => (
            None,
            "The Autopilot service cannot use the hardware hash: it is missing, damaged or was not \
             captured on this device."
                .into(),
            "Capture the hash again on the device (Get-WindowsAutopilotInfo, or the OOBE diagnostics), \
             delete the failed import record and import the new hash."
                .into(),
        ),
        ImportErrorKind::StorageError => (
            None,
            "The Autopilot service failed to store the device; the device itself is not at fault.".into(),
            "Delete the failed import record and import it again later; if it fails the same way, open \
             a support case quoting the code, the name and the serial."
                .into(),
        ),
        ImportErrorKind::Other => (
            None,
            match &name {
                Some(name) => format!("The Autopilot service refused the device with error {code} ({name})."),
                None => format!("The Autopilot service refused the device with error {code}."),
            },
            "Check that the hash was captured on this device and that the serial is right, delete the \
             failed import record and import it again; if it fails the same way, open a support case \
             with Microsoft quoting the code, the name and the serial."
                .into(),
        ),
    };
    Explanation { kind, code, name, portal_text, meaning, next_step }
}

/// The explanation of an imported identity's `state`, when it failed: status `error`, or an
/// error code other than 0 whatever the status says.
pub fn explain_state(record: &Record) -> Option<Explanation> {
    let state = record.get("state")?.as_object()?;
    let status = state.get("deviceImportStatus").and_then(Value::as_str);
    let code = state.get("deviceErrorCode").and_then(Value::as_i64).unwrap_or(0);
    let name = state.get("deviceErrorName").and_then(Value::as_str);
    let failed = status == Some("error") || code != 0;
    failed.then(|| explain(i32::try_from(code).unwrap_or(i32::MAX), name))
}

/// A `deviceImportStatus` in plain words (what the service is doing with the record).
pub fn status_words(status: &str) -> &'static str {
    match status {
        "unknown" => "received; the Autopilot service has not looked at it yet",
        "pending" => "the Autopilot service is registering it",
        "partial" => "partly processed by the Autopilot service; still in progress",
        "complete" => "registered: the Autopilot device exists; this import record can be deleted",
        "error" => "the Autopilot service refused it (see the error)",
        _ => "a status this app does not know",
    }
}

/// What the table's import-status column and the form say of an imported identity, in one
/// line: `error 808 ZtdDeviceAssignedToOtherTenant: <meaning> <next step>` for a failed one,
/// `pending: the Autopilot service is registering it` otherwise; `None` without a `state`.
/// Holds server text: escape it before it reaches a terminal.
pub fn state_text(record: &Record) -> Option<String> {
    let state = record.get("state")?.as_object()?;
    if let Some(error) = explain_state(record) {
        return Some(format!("error {error}"));
    }
    let status = state.get("deviceImportStatus").and_then(Value::as_str).unwrap_or("unknown");
    Some(format!("{status}: {}", status_words(status)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_errors_have_their_words_and_next_steps() {
        let e = explain(806, Some("ZtdDeviceAlreadyAssigned"));
        assert_eq!(e.kind, ImportErrorKind::AlreadyAssigned);
        assert_eq!(e.portal_text, Some("Device is already registered to the same Tenant"));
        assert!(e.meaning.contains("registered in this tenant already"), "{e}");
        assert!(
            e.next_step.contains("registered device instead") && e.next_step.contains("delete this failed")
        );
        assert_eq!(e.title(), "806 ZtdDeviceAlreadyAssigned");

        let e = explain(808, Some("ZtdDeviceAssignedToOtherTenant"));
        assert_eq!(e.kind, ImportErrorKind::AssignedToOtherTenant);
        assert_eq!(e.portal_text, Some("Internal error"));
        assert!(e.meaning.contains("another tenant") && e.meaning.contains("Store for Business"));
        assert!(e.next_step.contains("reseller or OEM") && e.next_step.contains("proof of ownership"));

        assert_eq!(explain(807, Some("ZtdDeviceDuplicated")).kind, ImportErrorKind::Duplicated);
        assert_eq!(explain(802, Some("InvalidZtdHardwareHash")).kind, ImportErrorKind::InvalidHash);
        assert_eq!(explain(500, Some("StorageError")).kind, ImportErrorKind::StorageError);
    }

    #[test]
    fn the_name_decides_over_the_code_and_the_code_without_a_name() {
        // The undocumented code of ZtdDeviceDuplicated may be anything on the live service.
        assert_eq!(explain(-2016330712, Some("ZtdDeviceDuplicated")).kind, ImportErrorKind::Duplicated);
        assert_eq!(explain(806, None).kind, ImportErrorKind::AlreadyAssigned);
        assert_eq!(explain(808, Some("  ")).kind, ImportErrorKind::AssignedToOtherTenant);
        assert_eq!(explain(806, Some("SomethingNew")).kind, ImportErrorKind::Other);
    }

    #[test]
    fn other_errors_carry_the_code_the_name_and_a_generic_hint() {
        let e = explain(999, Some("ZtdSomethingNew"));
        assert_eq!(e.kind, ImportErrorKind::Other);
        assert_eq!(e.title(), "999 ZtdSomethingNew");
        assert!(e.meaning.contains("999") && e.meaning.contains("ZtdSomethingNew"), "{e}");
        assert!(e.next_step.contains("support case"));
        let e = explain(42, None);
        assert_eq!(e.title(), "42");
        assert!(e.to_string().starts_with("42: The Autopilot service refused the device with error 42."));
    }

    #[test]
    fn a_state_is_explained_only_when_it_failed() {
        let record = |state: Value| json!({"id": "a", "state": state}).as_object().cloned().unwrap();
        let failed = record(json!({"deviceImportStatus": "error", "deviceErrorCode": 808,
                                   "deviceErrorName": "ZtdDeviceAssignedToOtherTenant"}));
        assert_eq!(explain_state(&failed).unwrap().kind, ImportErrorKind::AssignedToOtherTenant);
        let fine = record(json!({"deviceImportStatus": "complete", "deviceErrorCode": 0}));
        assert_eq!(explain_state(&fine), None);
        // An error code under another status still is one.
        let odd = record(json!({"deviceImportStatus": "complete", "deviceErrorCode": 806}));
        assert_eq!(explain_state(&odd).unwrap().kind, ImportErrorKind::AlreadyAssigned);
        let without_code = record(json!({"deviceImportStatus": "error"}));
        assert_eq!(explain_state(&without_code).unwrap().title(), "0");
        assert_eq!(explain_state(&json!({"id": "a"}).as_object().cloned().unwrap()), None);
        assert!(status_words("pending").contains("registering"));
    }

    #[test]
    fn the_state_in_one_line_for_the_table_and_the_form() {
        let record = |state: Value| json!({"id": "a", "state": state}).as_object().cloned().unwrap();
        let failed = record(json!({"deviceImportStatus": "error", "deviceErrorCode": 806,
                                   "deviceErrorName": "ZtdDeviceAlreadyAssigned"}));
        let text = state_text(&failed).unwrap();
        assert!(text.starts_with("error 806 ZtdDeviceAlreadyAssigned: The device is registered"), "{text}");
        assert!(text.ends_with(&explain(806, None).next_step));
        let pending = record(json!({"deviceImportStatus": "pending", "deviceErrorCode": 0}));
        assert_eq!(state_text(&pending).unwrap(), "pending: the Autopilot service is registering it");
        assert_eq!(state_text(&json!({"id": "a"}).as_object().cloned().unwrap()), None);
    }
}
