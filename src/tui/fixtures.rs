//! Fixed data for unit and snapshot tests: devices, exchanges with fixed times and durations.

use crate::graph::client::Exchange;
use crate::graph::resource::Record;
use crate::graph::validate::encode_binary;
use crate::tui::model::Model;
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

pub const BASE: &str = "http://127.0.0.1:41234/v1.0";
pub const COLLECTION: &str =
    "http://127.0.0.1:41234/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities";

pub fn hash() -> String {
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    encode_binary(&bytes)
}

#[allow(clippy::too_many_arguments)]
fn device(
    n: u32,
    serial: &str,
    tag: Option<&str>,
    user: Option<&str>,
    status: &str,
    code: i32,
    name: Option<&str>,
    pk: Option<&str>,
) -> Record {
    let value = json!({
        "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
        "id": format!("7e1c8b0a-{n:04}-4b2d-9c1e-5f6a7b8c9d{n:02}"),
        "serialNumber": serial,
        "groupTag": tag,
        "assignedUserPrincipalName": user,
        "importId": format!("c0ffee00-{n:04}-4000-8000-000000000001"),
        "productKey": pk,
        "hardwareIdentifier": hash(),
        "state": {
            "@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
            "deviceImportStatus": status,
            "deviceRegistrationId": if status == "complete" { Some(format!("a1b2c3d4-{n:04}-4e5f-8a9b-0c1d2e3f4a5b")) } else { None },
            "deviceErrorCode": code,
            "deviceErrorName": name
        }
    });
    value.as_object().cloned().unwrap_or_default()
}

pub fn devices() -> Vec<Record> {
    vec![
        device(1, "PF3ABCDE", Some("Sales"), Some("ana.lopez@contoso.com"), "complete", 0, None, None),
        device(
            2,
            "5CD1234XYZ",
            Some("Kiosk-Lobby"),
            None,
            "error",
            806,
            Some("ZtdDeviceAlreadyAssigned"),
            None,
        ),
        device(3, "MXL9876543", Some("Finance"), Some("bob@contoso.com"), "pending", 0, None, None),
        device(4, "R90LKQ2B", None, None, "unknown", 0, None, None),
        device(
            5,
            "CNU812QWE1",
            Some("Engineering-Workstations-Berlin"),
            Some("chen.wei.long-name@contoso.onmicrosoft.com"),
            "complete",
            0,
            None,
            Some("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"),
        ),
        device(
            6,
            "8CC0457TRD",
            Some("Sales"),
            Some("dana@contoso.com"),
            "error",
            808,
            Some("ZtdDeviceAssignedToOtherTenant"),
            None,
        ),
        device(7, "PC0ZX91M", Some("Lab"), None, "partial", 0, None, None),
        device(8, "2UA7301FGH", Some("Finance"), Some("erik@contoso.com"), "complete", 0, None, None),
    ]
}

pub fn exchange(method: &str, path: &str, status: u16, request: Option<&str>, response: &str) -> Exchange {
    Exchange {
        method: method.to_string(),
        url: format!("{BASE}{path}"),
        request_headers: vec![
            ("Authorization".into(), "Bearer [redacted]".into()),
            ("client-request-id".into(), "11111111-2222-4333-8444-555555555555".into()),
            ("Accept".into(), "application/json".into()),
        ],
        request_body: request.map(String::from),
        status: Some(status),
        response_headers: vec![
            ("content-type".into(), "application/json;odata.metadata=minimal".into()),
            ("request-id".into(), "9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b".into()),
            ("client-request-id".into(), "11111111-2222-4333-8444-555555555555".into()),
        ],
        response_body: response.to_string(),
        invalid_utf8: Vec::new(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000 + 36_005),
        duration: Duration::from_millis(42),
        client_request_id: "11111111-2222-4333-8444-555555555555".into(),
        transport_error: None,
        attempts: 1,
    }
}

/// A model with the fixture devices listed, as after one page and the end of the listing.
pub fn model(w: u16, h: u16) -> Model {
    let mut m = Model::new(format!("DEMO {BASE}"), true, false);
    m.no_color = true;
    m.size = (w, h);
    m.base_url = BASE.to_string();
    m.table.push(&devices());
    m.table.listing.pages = 1;
    m.table.derive_view();
    m
}

/// The server's typed devices (generated ones, say) as the records the client reads.
pub fn as_records(devices: &[crate::graph::model::Device]) -> Vec<Record> {
    devices.iter().filter_map(|d| serde_json::to_value(d).ok().and_then(|v| v.as_object().cloned())).collect()
}

/// A write log entry of a successful save of `id`.
pub fn written(id: &str) -> Box<crate::write_log::WriteEntry> {
    Box::new(crate::write_log::WriteEntry {
        time: "2026-12-01T10:00:00Z".into(),
        target: "http://127.0.0.1:1/v1.0".into(),
        collection: "importedWindowsAutopilotDeviceIdentities".into(),
        id: id.into(),
        serial: None,
        verb: "PATCH".into(),
        before: serde_json::Map::new(),
        after: serde_json::Map::new(),
        status: 200,
        request_id: None,
        source: crate::write_log::WriteSource::Form,
        job: None,
        undoes: None,
    })
}
