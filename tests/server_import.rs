//! Imports on the embedded server, over real HTTP on 127.0.0.1:0: the `import` action validated
//! like Graph, the lifecycle `unknown` -> `pending` -> `complete`/`error` on the server's clock
//! (paused, never slept through), the registered twins of completed imports, the error states
//! (806, 808, `ZtdDeviceDuplicated`, `InvalidZtdHardwareHash`), and the import queue as a
//! staging queue (deleting a completed record leaves its registered device).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::server::{DataSet, ImportOptions, ServeOptions};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_common::*;
use std::collections::HashSet;
use std::time::Duration;

const REGISTERED: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
const IMPORT: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities/import";
const NEVER: &str = "0001-01-01T00:00:00Z";
/// The import delay of these tests: `pending` from 30 s, finished at 60 s.
const DELAY: Duration = Duration::from_secs(60);

/// A plausible 4 KB hardware hash, different for every `n`, in standard base64.
fn hash(n: u32) -> String {
    let bytes: Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(31).wrapping_add(n.wrapping_mul(7919)) >> 3) as u8).collect();
    STANDARD.encode(bytes)
}

fn delayed(data: DataSet, other_tenant: &[&str]) -> ServeOptions {
    ServeOptions {
        data,
        imports: ImportOptions {
            delay: DELAY,
            other_tenant_serials: other_tenant.iter().map(|s| s.to_string()).collect(),
            other_tenant_file: None,
        },
        ..ServeOptions::default()
    }
}

/// Posts an import of these entries; asserts 200 and returns the answered records.
async fn import(api: &Api, entries: Vec<Value>) -> Vec<Value> {
    let answer = api.post(IMPORT, &json!({ "importedWindowsAutopilotDeviceIdentities": entries })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["value"].as_array().unwrap().clone()
}

/// The `state` of each imported record by id, without its annotation.
async fn states(api: &Api, records: &[Value]) -> Vec<Value> {
    let mut states = Vec::new();
    for record in records {
        let mut state =
            api.get_json(&format!("{DEVICES}/{}", record["id"].as_str().unwrap())).await["state"].clone();
        state.as_object_mut().unwrap().remove("@odata.type");
        states.push(state);
    }
    states
}

fn statuses(states: &[Value]) -> Vec<&str> {
    states.iter().map(|s| s["deviceImportStatus"].as_str().unwrap()).collect()
}

async fn count(api: &Api, path: &str) -> usize {
    api.get(&format!("{path}/$count")).await.text.parse().unwrap()
}

fn failed(code: i32, name: &str) -> Value {
    json!({"deviceImportStatus": "error", "deviceRegistrationId": null, "deviceErrorCode": code, "deviceErrorName": name})
}

/// What the demo's data offers a mixed import: a registered serial, the hash of a completed
/// import (so of its registered twin), and a serial the demo shows failed with 808.
async fn demo_material(api: &Api) -> (String, String, String) {
    let devices = api.get_json(&format!("{REGISTERED}?$top=1")).await;
    let registered_serial = devices["value"][0]["serialNumber"].as_str().unwrap().to_string();
    let imports = api.all(&format!("{DEVICES}?$top=999")).await;
    let completed = imports.iter().find(|d| d["state"]["deviceImportStatus"] == "complete").unwrap();
    let twin_hash = completed["hardwareIdentifier"].as_str().unwrap().to_string();
    let other = imports.iter().find(|d| d["state"]["deviceErrorCode"] == 808).unwrap();
    (registered_serial, twin_hash, other["serialNumber"].as_str().unwrap().to_string())
}

#[tokio::test(start_paused = true)]
async fn a_mixed_import_goes_unknown_pending_then_complete_or_error_with_registered_twins() {
    let api = api_with(delayed(DataSet::Demo, &["ot-list-1"])).await;
    let (registered_serial, twin_hash, demo_other_tenant) = demo_material(&api).await;
    let registered_before = count(&api, REGISTERED).await;
    let imported_before = count(&api, DEVICES).await;
    let batch = "3f8e5a2c-7b1d-4c9e-a6f0-2d4b8c1e9a73";
    let entries = vec![
        // 0: new, with everything the CSV can carry; the hash in base64url, as SDKs send bytes.
        json!({"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
               "serialNumber": "NEW-0001", "productKey": "", "groupTag": "Sales-EMEA",
               "assignedUserPrincipalName": "ana.silva@contoso.com", "importId": batch,
               "hardwareIdentifier": URL_SAFE_NO_PAD.encode(STANDARD.decode(hash(1)).unwrap())}),
        // 1: a serial registered here already (the comparison ignores case).
        json!({"serialNumber": registered_serial.to_lowercase(), "hardwareIdentifier": hash(2), "importId": batch}),
        // 2: the hash of a registered device under a new serial.
        json!({"serialNumber": "NEW-0003", "hardwareIdentifier": twin_hash, "importId": batch}),
        // 3: a serial the options list as registered in another tenant.
        json!({"serialNumber": "OT-LIST-1", "hardwareIdentifier": hash(4), "importId": batch}),
        // 4: a serial of the demo's own 808 failures.
        json!({"serialNumber": demo_other_tenant, "hardwareIdentifier": hash(5), "importId": batch}),
        // 5, 6: the same hash twice in this call.
        json!({"serialNumber": "NEW-0006", "hardwareIdentifier": hash(6), "importId": batch}),
        json!({"serialNumber": "NEW-0007", "hardwareIdentifier": hash(6), "importId": batch}),
        // 7: no hash at all.
        json!({"serialNumber": "NEW-0008", "importId": batch}),
        // 8: the serial of entry 0 again: registered by then, so 806.
        json!({"serialNumber": "NEW-0001", "hardwareIdentifier": hash(9), "importId": batch}),
    ];
    let answered = import(&api, entries).await;
    assert_eq!(answered.len(), 9, "one record per entry, in the order sent");
    let first = &answered[0];
    assert_eq!(first["@odata.type"], "#microsoft.graph.importedWindowsAutopilotDeviceIdentity");
    assert_eq!(first["serialNumber"], "NEW-0001");
    assert_eq!(first["groupTag"], "Sales-EMEA");
    assert_eq!(first["assignedUserPrincipalName"], "ana.silva@contoso.com");
    assert_eq!(first["hardwareIdentifier"], hash(1), "the bytes, in standard padded base64");
    assert!(uuid::Uuid::parse_str(first["id"].as_str().unwrap()).is_ok());
    let unknown = json!({"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                         "deviceImportStatus": "unknown", "deviceRegistrationId": null, "deviceErrorCode": 0, "deviceErrorName": null});
    for record in &answered {
        assert_eq!(record["importId"], batch, "the client's importId is kept");
        assert_eq!(record["state"], unknown);
    }
    assert_eq!(count(&api, DEVICES).await, imported_before + 9);

    // Just before half the delay: still unknown; from there on pending; nothing registered yet.
    tokio::time::advance(DELAY / 2 - Duration::from_secs(1)).await;
    assert!(statuses(&states(&api, &answered).await).iter().all(|s| *s == "unknown"));
    tokio::time::advance(Duration::from_secs(1)).await;
    let pending = states(&api, &answered).await;
    assert!(statuses(&pending).iter().all(|s| *s == "pending"), "{pending:?}");
    assert!(pending.iter().all(|s| s["deviceRegistrationId"].is_null() && s["deviceErrorCode"] == 0));
    assert_eq!(count(&api, REGISTERED).await, registered_before);
    let filter = format!("{REGISTERED}?$filter={}", enc("contains(serialNumber,'NEW-0001')"));
    assert!(api.get_json(&filter).await["value"].as_array().unwrap().is_empty());

    // At the delay every record is finished.
    tokio::time::advance(DELAY / 2).await;
    let done = states(&api, &answered).await;
    assert_eq!(done[0]["deviceImportStatus"], "complete", "{:?}", done[0]);
    assert_eq!(
        (done[0]["deviceErrorCode"].clone(), done[0]["deviceErrorName"].clone()),
        (json!(0), Value::Null)
    );
    let already = failed(806, "ZtdDeviceAlreadyAssigned");
    let elsewhere = failed(808, "ZtdDeviceAssignedToOtherTenant");
    let duplicated = failed(807, "ZtdDeviceDuplicated");
    assert_eq!(
        done[1..].to_vec(),
        vec![
            already.clone(),
            already.clone(),
            elsewhere.clone(),
            elsewhere,
            duplicated.clone(),
            duplicated,
            failed(802, "InvalidZtdHardwareHash"),
            already
        ]
    );

    // The registered twin: the import's device under the import's deviceRegistrationId.
    let twin_id = done[0]["deviceRegistrationId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(twin_id).is_ok());
    let twin = api.get_json(&format!("{REGISTERED}/{twin_id}")).await;
    assert_eq!(twin["@odata.type"], "#microsoft.graph.windowsAutopilotDeviceIdentity");
    assert_eq!(twin["id"], twin_id);
    for (name, value) in [
        ("serialNumber", "NEW-0001"),
        ("groupTag", "Sales-EMEA"),
        ("userPrincipalName", "ana.silva@contoso.com"),
        ("addressableUserName", "Ana Silva"),
        ("productKey", ""),
        ("enrollmentState", "notContacted"),
        ("lastContactedDateTime", NEVER),
        ("managedDeviceId", "00000000-0000-0000-0000-000000000000"),
        ("purchaseOrderIdentifier", ""),
    ] {
        assert_eq!(twin[name], value, "{name}: {twin}");
    }
    for name in ["manufacturer", "model", "systemFamily", "azureActiveDirectoryDeviceId"] {
        assert!(!twin[name].as_str().unwrap().is_empty(), "{name}: {twin}");
    }
    assert!(
        twin.as_object().unwrap().keys().all(|k| !k.contains("hardware")),
        "no hash on a registered device: {twin}"
    );
    let on_beta = api
        .get_json(&format!("{}{REGISTERED}/{twin_id}", api.server.base_url().replace("/v1.0", "/beta")))
        .await;
    assert_eq!(
        on_beta["deploymentProfileAssignmentStatus"], "pending",
        "a tagged device waits for its profile"
    );
    assert_eq!(on_beta["deploymentProfileAssignedDateTime"], NEVER);
    // Listed, filtered and counted like any registered device; exactly one twin was made.
    let listed = api.get_json(&filter).await["value"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], twin_id);
    assert_eq!(count(&api, REGISTERED).await, registered_before + 1);
    let all = api.all(&format!("{REGISTERED}?$top=999")).await;
    assert_eq!(all.last().unwrap()["id"], twin_id, "new devices come last");

    // The queue is a staging queue: deleting the completed record leaves its registered device.
    let completed_record = format!("{DEVICES}/{}", answered[0]["id"].as_str().unwrap());
    assert_eq!(api.send(Method::DELETE, &completed_record, None).await.status, StatusCode::NO_CONTENT);
    api.get(&completed_record).await.error(StatusCode::NOT_FOUND, "ResourceNotFound");
    assert_eq!(api.get_json(&format!("{REGISTERED}/{twin_id}")).await["serialNumber"], "NEW-0001");
    assert_eq!(count(&api, REGISTERED).await, registered_before + 1);
    // A failed record stays until it is deleted, and nothing changes it later.
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(states(&api, &answered[1..2]).await[0], failed(806, "ZtdDeviceAlreadyAssigned"));
}

#[tokio::test(start_paused = true)]
async fn the_import_action_validates_like_graph_and_a_refused_import_changes_nothing() {
    let api = api_with(delayed(DataSet::Demo, &[])).await;
    let before = count(&api, DEVICES).await;
    let post = async |entries: Value| {
        api.post(IMPORT, &json!({ "importedWindowsAutopilotDeviceIdentities": entries })).await
    };

    let message = post(json!([{"serialNumber": "OK-1", "hardwareIdentifier": hash(1)},
                              {"serialNumber": "BAD-1", "hardwareIdentifier": "AAE=C"}]))
    .await
    .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(message, "Cannot convert the literal 'AAE=C' to the expected type 'Edm.Binary'.");

    let missing = post(
        json!([{"serialNumber": "OK-1", "hardwareIdentifier": hash(1)}, {"hardwareIdentifier": hash(2)}]),
    )
    .await;
    let text = missing.intune_error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(text.starts_with("A serial number is required to import a device (importedWindowsAutopilotDeviceIdentities[1] has none)"), "{text}");
    let blank = post(json!([{"serialNumber": "  ", "hardwareIdentifier": hash(2)}])).await;
    assert!(blank.intune_error(StatusCode::BAD_REQUEST, "BadRequest").contains("[0] has none"));

    for (entry, fragment) in [
        (json!({"serialNumber": 5}), "Cannot convert the literal '5' to the expected type 'Edm.String'."),
        (json!({"serialNumber": "X", "groupTag": ["a"]}), "to the expected type 'Edm.String'"),
        (json!({"serialNumber": "X", "colour": "red"}), "The property 'colour' does not exist on type"),
        (json!({"serialNumber": "X", "state": {"deviceErrorCode": "806"}}), "'Edm.Int32'"),
    ] {
        let message = post(json!([entry])).await.error(StatusCode::BAD_REQUEST, "BadRequest");
        assert!(message.contains(fragment), "{entry}: {message}");
    }
    assert_eq!(count(&api, DEVICES).await, before, "a refused import stores nothing");

    // A state sent with an entry is the service's to set: the record starts unknown.
    let answered = import(
        &api,
        vec![json!({"serialNumber": "S-1", "hardwareIdentifier": hash(3),
        "state": {"deviceImportStatus": "complete", "deviceErrorCode": 0}})],
    )
    .await;
    assert_eq!(answered[0]["state"]["deviceImportStatus"], "unknown");
    assert!(import(&api, Vec::new()).await.is_empty(), "an empty import is answered empty");
}

#[tokio::test(start_paused = true)]
async fn with_no_delay_the_next_request_sees_the_outcome_and_the_flags_reach_the_server() {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("other-tenant.txt");
    std::fs::write(&file, "# from the reseller\nOT-FILE-1\n\n  ot-file-2  \n").unwrap();
    let api =
        serve_with_flags(&["--import-delay", "0", "--other-tenant-serials", file.to_str().unwrap()]).await;
    let answered = import(
        &api,
        vec![
            json!({"serialNumber": "ZERO-1", "hardwareIdentifier": hash(1)}),
            json!({"serialNumber": "OT-FILE-1", "hardwareIdentifier": hash(2)}),
            json!({"serialNumber": "OT-FILE-2", "hardwareIdentifier": hash(3)}),
        ],
    )
    .await;
    assert_eq!(answered[0]["state"]["deviceImportStatus"], "unknown", "the answer is the record as created");
    let done = states(&api, &answered).await;
    assert_eq!(statuses(&done), ["complete", "error", "error"]);
    assert_eq!(done[1]["deviceErrorCode"], 808);
    assert_eq!(done[2]["deviceErrorName"], "ZtdDeviceAssignedToOtherTenant");
    let twin =
        api.get_json(&format!("{REGISTERED}/{}", done[0]["deviceRegistrationId"].as_str().unwrap())).await;
    assert_eq!(twin["serialNumber"], "ZERO-1");
    assert_eq!(twin["deploymentProfileAssignmentStatus"], Value::Null, "v1.0 shows no beta property");
    assert_eq!(twin["groupTag"], "");
    std::fs::remove_dir_all(&dir).unwrap();

    // A file that cannot be read stops the server from starting, naming the file.
    use clap::Parser;
    let cli = autopilot_tui::cli::Cli::try_parse_from([
        "autopilot-tui",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--other-tenant-serials",
        "/nonexistent/ot.txt",
    ])
    .unwrap();
    let Some(autopilot_tui::cli::Command::Serve(args)) = cli.command else { panic!("serve expected") };
    let error = autopilot_tui::server::start(args.to_options()).await.unwrap_err();
    assert!(error.to_string().contains("/nonexistent/ot.txt"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_deleted_registration_frees_its_serial_and_post_create_follows_the_lifecycle() {
    let api = api_with(delayed(DataSet::Demo, &[])).await;
    let device = json!({"serialNumber": "AGAIN-1", "hardwareIdentifier": hash(11), "groupTag": ""});
    let first = import(&api, vec![device.clone()]).await;
    tokio::time::advance(DELAY).await;
    let twin_id = states(&api, &first).await[0]["deviceRegistrationId"].as_str().unwrap().to_string();
    let twin = api.get_json(&format!("{REGISTERED}/{twin_id}")).await;
    assert_eq!(twin["enrollmentState"], "notContacted", "so it may be deleted");
    assert_eq!(
        api.send(Method::DELETE, &format!("{REGISTERED}/{twin_id}"), None).await.status,
        StatusCode::NO_CONTENT
    );

    let again = import(&api, vec![device]).await;
    tokio::time::advance(DELAY).await;
    let state = &states(&api, &again).await[0];
    assert_eq!(state["deviceImportStatus"], "complete", "{state}");
    assert_ne!(state["deviceRegistrationId"], twin_id.as_str(), "a new registration");

    // POST on the collection is a new import too; one that names its state keeps it.
    let created =
        api.post(DEVICES, &json!({"serialNumber": "POSTED-1", "hardwareIdentifier": hash(12)})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let staged = api
        .post(
            DEVICES,
            &json!({"serialNumber": "STAGED-1", "hardwareIdentifier": hash(13),
                               "state": {"deviceImportStatus": "error", "deviceErrorCode": 806,
                                         "deviceErrorName": "ZtdDeviceAlreadyAssigned"}}),
        )
        .await;
    assert_eq!(staged.status, StatusCode::CREATED, "{}", staged.text);
    // A client's own change of state takes a record out of processing.
    let patched =
        import(&api, vec![json!({"serialNumber": "PATCHED-1", "hardwareIdentifier": hash(14)})]).await;
    let patched_item = format!("{DEVICES}/{}", patched[0]["id"].as_str().unwrap());
    let answer = api
        .patch(&patched_item, &json!({"state": {"deviceImportStatus": "partial", "deviceErrorCode": 0}}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    tokio::time::advance(DELAY).await;
    let records = [created.json(), staged.json(), patched[0].clone()];
    let done = states(&api, &records).await;
    assert_eq!(statuses(&done), ["complete", "error", "partial"]);
    assert_eq!(done[1]["deviceErrorCode"], 806);
    let serials: HashSet<String> = api
        .all(&format!("{REGISTERED}?$top=999"))
        .await
        .iter()
        .map(|d| d["serialNumber"].as_str().unwrap().to_string())
        .collect();
    assert!(serials.contains("POSTED-1") && !serials.contains("STAGED-1") && !serials.contains("PATCHED-1"));

    // A record deleted before its time is never processed.
    let registered = count(&api, REGISTERED).await;
    let withdrawn =
        import(&api, vec![json!({"serialNumber": "WITHDRAWN-1", "hardwareIdentifier": hash(15)})]).await;
    let item = format!("{DEVICES}/{}", withdrawn[0]["id"].as_str().unwrap());
    assert_eq!(api.send(Method::DELETE, &item, None).await.status, StatusCode::NO_CONTENT);
    tokio::time::advance(DELAY).await;
    assert_eq!(count(&api, REGISTERED).await, registered);
    api.get(&item).await.error(StatusCode::NOT_FOUND, "ResourceNotFound");
}

#[tokio::test(start_paused = true)]
async fn generated_sets_know_their_own_registrations_and_other_tenant_serials() {
    let api = api_with(delayed(DataSet::Generated { devices: 400, seed: 3 }, &[])).await;
    let imports = api.all(&format!("{DEVICES}?$top=999")).await;
    let serial_with = |code: i64| {
        imports.iter().find(|d| d["state"]["deviceErrorCode"] == code).unwrap()["serialNumber"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let completed = imports.iter().find(|d| d["state"]["deviceImportStatus"] == "complete").unwrap();
    let answered = import(
        &api,
        vec![
            json!({"serialNumber": "GEN-NEW-1", "hardwareIdentifier": hash(21)}),
            json!({"serialNumber": completed["serialNumber"], "hardwareIdentifier": hash(22)}),
            json!({"serialNumber": serial_with(806), "hardwareIdentifier": hash(23)}),
            json!({"serialNumber": serial_with(808), "hardwareIdentifier": hash(24)}),
        ],
    )
    .await;
    tokio::time::advance(DELAY).await;
    let done = states(&api, &answered).await;
    assert_eq!(statuses(&done), ["complete", "error", "error", "error"]);
    let codes: Vec<&Value> = done.iter().map(|s| &s["deviceErrorCode"]).collect();
    assert_eq!(codes, [&json!(0), &json!(806), &json!(806), &json!(808)]);
    assert_eq!(count(&api, REGISTERED).await, 401);
    assert_eq!(count(&api, DEVICES).await, 404);
}
