//! The registered Autopilot devices and the Autopilot settings of the embedded server, over real
//! HTTP on 127.0.0.1:0: the collection as the live service allows it, the actions, the refusals,
//! delete, the sync rules on the server's clock, and demo and generated data consistent with the
//! imported identities.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::server::{Clock, DataSet, ServeOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_common::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const REGISTERED: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
const SETTINGS: &str = "/deviceManagement/windowsAutopilotSettings";
/// The properties of `windowsAutopilotDeviceIdentity` on v1.0 (OpenAPI and CSDL), `id` aside.
const V1_PROPERTIES: [&str; 16] = [
    "addressableUserName",
    "azureActiveDirectoryDeviceId",
    "displayName",
    "enrollmentState",
    "groupTag",
    "lastContactedDateTime",
    "managedDeviceId",
    "manufacturer",
    "model",
    "productKey",
    "purchaseOrderIdentifier",
    "resourceName",
    "serialNumber",
    "skuNumber",
    "systemFamily",
    "userPrincipalName",
];
/// What beta adds (the navigation properties aside).
const BETA_PROPERTIES: [&str; 10] = [
    "azureAdDeviceId",
    "deploymentProfileAssignedDateTime",
    "deploymentProfileAssignmentDetailedStatus",
    "deploymentProfileAssignmentStatus",
    "deviceAccountPassword",
    "deviceAccountUpn",
    "deviceFriendlyName",
    "remediationState",
    "remediationStateLastModifiedDateTime",
    "userlessEnrollmentStatus",
];

/// `path` below the beta root.
fn beta(api: &Api, path: &str) -> String {
    format!("{}{path}", api.server.base_url().replace("/v1.0", "/beta"))
}

/// A registered device by id (v1.0).
async fn registered(api: &Api, id: &str) -> Value {
    api.get_json(&format!("{REGISTERED}/{id}")).await
}

/// A device of the list in this enrollment state.
fn one_in<'a>(devices: &'a [Value], state: &str) -> &'a Value {
    devices.iter().find(|d| d["enrollmentState"] == state).unwrap_or_else(|| panic!("no {state} device"))
}

/// A POST with a JSON body, or none.
async fn post_action(api: &Api, url: &str, body: Option<&Value>) -> Answer {
    let mut request = api.http.post(api.url(url)).bearer_auth("t");
    if let Some(body) = body {
        request = request.json(body);
    }
    answer(request).await
}

// ---------------------------------------------------------------------------------------------
// The collection

#[tokio::test]
async fn the_collection_pages_with_graph_shape_and_beta_adds_its_properties() {
    let api = demo().await;
    let page = api.get_json(REGISTERED).await;
    let base = api.server.base_url();
    assert_eq!(
        page["@odata.context"],
        format!("{base}/$metadata#deviceManagement/windowsAutopilotDeviceIdentities")
    );
    assert_eq!(page["value"].as_array().unwrap().len(), 100, "default page size");
    assert!(
        page["@odata.nextLink"].as_str().unwrap().starts_with(&format!("{base}{REGISTERED}?$skiptoken="))
    );
    let device = page["value"][0].as_object().unwrap();
    assert_eq!(device["@odata.type"], "#microsoft.graph.windowsAutopilotDeviceIdentity");
    let mut keys: Vec<&str> = device.keys().map(String::as_str).filter(|k| !k.starts_with('@')).collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = V1_PROPERTIES.into_iter().chain(["id"]).collect();
    expected.sort_unstable();
    assert_eq!(keys, expected, "v1.0 shows v1.0's properties only");

    let on_beta = api.get_json(&beta(&api, &format!("{REGISTERED}?$top=3"))).await;
    assert!(on_beta["@odata.context"].as_str().unwrap().contains("/beta/$metadata#"));
    let device = on_beta["value"][0].as_object().unwrap();
    for name in V1_PROPERTIES.iter().chain(BETA_PROPERTIES.iter()) {
        assert!(device.contains_key(*name), "{name} missing on beta");
    }
    assert!(device["deviceAccountPassword"].is_null(), "a secret is never answered");

    // Paging by next link returns every device once; $top pages; $count counts.
    let all = api.all(&format!("{REGISTERED}?$top=97")).await;
    let unique: HashSet<&str> = all.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!((300..=600).contains(&all.len()), "several hundred: {}", all.len());
    assert_eq!(unique.len(), all.len());
    let counted = api.get_json(&format!("{REGISTERED}?$count=true&$top=5")).await;
    assert_eq!(counted["@odata.count"], all.len());
    assert_eq!(counted["value"].as_array().unwrap().len(), 5);
    let count = api.get(&format!("{REGISTERED}/$count")).await;
    assert_eq!((count.status, count.header("content-type")), (StatusCode::OK, "text/plain"));
    assert_eq!(count.text, all.len().to_string());
}

#[tokio::test]
async fn select_keeps_the_key_and_knows_which_root_has_what() {
    let api = demo().await;
    let page = api.get_json(&format!("{REGISTERED}?$select=serialNumber,enrollmentState&$top=2")).await;
    assert_selected(
        &page,
        "windowsAutopilotDeviceIdentities(id,serialNumber,enrollmentState)",
        &["@odata.type", "enrollmentState", "id", "serialNumber"],
    );
    // A beta-only property does not exist on v1.0.
    let message = api
        .get(&format!("{REGISTERED}?$select=deploymentProfileAssignmentStatus"))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(
        message,
        "Could not find a property named 'deploymentProfileAssignmentStatus' on type 'microsoft.graph.windowsAutopilotDeviceIdentity'."
    );
    let on_beta = api
        .get_json(&beta(&api, &format!("{REGISTERED}?$select=deploymentProfileAssignmentStatus&$top=1")))
        .await;
    assert!(on_beta["value"][0]["deploymentProfileAssignmentStatus"].is_string());
}

#[tokio::test]
async fn contains_on_the_serial_works_and_eq_is_refused_like_the_live_service() {
    let api = demo().await;
    let all = api.all(&format!("{REGISTERED}?$top=999")).await;
    let serial = all[42]["serialNumber"].as_str().unwrap().to_string();
    let part = serial[1..5].to_lowercase();
    let filter = |f: &str| format!("{REGISTERED}?$filter={}", enc(f));

    let found = api.all(&filter(&format!("contains(serialNumber,'{part}')"))).await;
    let expected: Vec<&Value> =
        all.iter().filter(|d| d["serialNumber"].as_str().unwrap().to_lowercase().contains(&part)).collect();
    assert!(!found.is_empty());
    assert_eq!(found.len(), expected.len(), "a substring match, without case");
    assert!(found.iter().any(|d| d["serialNumber"] == serial.as_str()));
    let count = api
        .get(&format!("{REGISTERED}/$count?$filter={}", enc(&format!("contains(serialNumber,'{part}')"))))
        .await;
    assert_eq!(count.text, expected.len().to_string());
    let with_count =
        api.get_json(&format!("{}&$count=true", filter(&format!("contains(serialNumber,'{serial}')")))).await;
    assert_eq!(with_count["@odata.count"], 1);

    // eq, the way scripts try first, is the live 400 (msgraph-sdk-powershell#1260).
    let eq = api.get(&filter(&format!("serialNumber eq '{serial}'"))).await;
    let text = eq.intune_error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(text.starts_with("An error has occurred - Operation ID (for customer support): "), "{text}");
    assert!(
        text.ends_with(&format!(
            "/deviceManagement/windowsAutopilotDeviceIdentities?api-version=2025-09-01&$filter={}",
            enc(&format!("serialNumber eq '{serial}'"))
        )),
        "the URL names the filter as sent: {text}"
    );
    // What is not known to work is refused the same way; so is a GUID-shaped serial (#2464).
    for refused in [
        "id eq 'x'".to_string(),
        "contains(groupTag,'Kiosk')".to_string(),
        format!("startswith(serialNumber,'{part}')"),
        format!("contains(serialNumber,'{part}') and contains(serialNumber,'x')"),
        "contains(serialNumber,'ec2a1bbf-7e9f-45f0-f404-bec2e9da6f35')".to_string(),
    ] {
        api.get(&filter(&refused)).await.intune_error(StatusCode::BAD_REQUEST, "BadRequest");
        api.get(&format!("{REGISTERED}/$count?$filter={}", enc(&refused)))
            .await
            .intune_error(StatusCode::BAD_REQUEST, "BadRequest");
    }
    for option in ["$orderby=serialNumber", "$skip=5", "$search=x"] {
        let message =
            api.get(&format!("{REGISTERED}?{option}")).await.error(StatusCode::BAD_REQUEST, "BadRequest");
        assert!(message.contains("is not supported on this resource"), "{option}: {message}");
    }
    // A filter that is not OData at all still says what is wrong with it.
    let message =
        api.get(&filter("contains(serialNumber,")).await.error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(message.starts_with("Invalid $filter"), "{message}");
}

#[tokio::test]
async fn get_answers_the_bare_entity_and_404_for_an_unknown_id() {
    let api = demo().await;
    let first = api.get_json(&format!("{REGISTERED}?$top=1")).await["value"][0].clone();
    let id = first["id"].as_str().unwrap();
    let device = registered(&api, &id.to_uppercase()).await;
    assert_eq!(
        device["@odata.context"],
        format!(
            "{}/$metadata#deviceManagement/windowsAutopilotDeviceIdentities/$entity",
            api.server.base_url()
        )
    );
    assert_eq!(device["id"], id);
    assert_eq!(device["serialNumber"], first["serialNumber"]);
    let selected = api.get_json(&format!("{REGISTERED}/{id}?$select=groupTag")).await;
    let keys: HashSet<&str> = selected.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["@odata.context", "@odata.type", "id", "groupTag"]));
    let message = api
        .get(&format!("{REGISTERED}/00000000-0000-0000-0000-000000000000"))
        .await
        .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    assert!(message.contains("microsoft.graph.windowsAutopilotDeviceIdentity"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Actions

#[tokio::test]
async fn update_device_properties_changes_exactly_what_was_sent() {
    let api = demo().await;
    let all = api.all(&format!("{REGISTERED}?$top=999")).await;
    let id = all[3]["id"].as_str().unwrap().to_string();
    let before = registered(&api, &id).await;

    for (segment, tag) in
        [("updateDeviceProperties", "Retagged-1"), ("microsoft.graph.updateDeviceProperties", "Retagged-2")]
    {
        let done =
            post_action(&api, &format!("{REGISTERED}/{id}/{segment}"), Some(&json!({"groupTag": tag}))).await;
        assert_eq!(done.status, StatusCode::NO_CONTENT, "{segment}: {}", done.text);
        assert!(done.text.is_empty() && done.header("content-type").is_empty());
        let after = registered(&api, &id).await;
        assert_eq!(after["groupTag"], tag);
        let mut unchanged = after.clone();
        unchanged["groupTag"] = before["groupTag"].clone();
        assert_eq!(unchanged, before, "only the tag changed");
    }
    let journal = api.server.journal();
    let posted = journal.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(posted.path_and_query, format!("/v1.0{REGISTERED}/{id}/updateDeviceProperties"));
    assert_eq!(serde_json::from_slice::<Value>(&posted.body).unwrap(), json!({"groupTag": "Retagged-1"}));

    // All four v1.0 properties at once, nulls included.
    let body = json!({"userPrincipalName": "ana.silva@contoso.com", "addressableUserName": "Ana Silva",
                      "displayName": "LT-ANA", "groupTag": null});
    assert_eq!(
        post_action(&api, &format!("{REGISTERED}/{id}/updateDeviceProperties"), Some(&body)).await.status,
        StatusCode::NO_CONTENT
    );
    let after = registered(&api, &id).await;
    for (name, value) in body.as_object().unwrap() {
        assert_eq!(&after[name], value, "{name}");
    }
}

#[tokio::test]
async fn action_bodies_are_type_checked_and_beta_only_parameters_refused_on_v1() {
    let api = demo().await;
    let id =
        api.get_json(&format!("{REGISTERED}?$top=1")).await["value"][0]["id"].as_str().unwrap().to_string();
    let url = format!("{REGISTERED}/{id}/updateDeviceProperties");
    let before = registered(&api, &id).await;
    let cases = [
        (json!({"groupTag": 5}), "Cannot convert the literal '5' to the expected type 'Edm.String'."),
        (
            json!({"deviceFriendlyName": "Hub"}),
            "The parameter 'deviceFriendlyName' in the request payload is not a valid parameter for the operation 'updateDeviceProperties'.",
        ),
        (
            json!({"enrollmentState": "enrolled"}),
            "The parameter 'enrollmentState' in the request payload is not a valid parameter for the operation 'updateDeviceProperties'.",
        ),
    ];
    for (body, message) in &cases {
        assert_eq!(
            post_action(&api, &url, Some(body)).await.error(StatusCode::BAD_REQUEST, "BadRequest"),
            *message
        );
    }
    let not_object = api.send(Method::POST, &url, Some(("application/json", "[1]".into()))).await;
    not_object.error(StatusCode::BAD_REQUEST, "BadRequest");
    let not_json = api.send(Method::POST, &url, Some(("text/plain", "{}".into()))).await;
    not_json.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType");
    assert_eq!(registered(&api, &id).await, before, "a refused action changes nothing");

    // On beta the Surface Hub properties exist; the password is taken, never answered or kept.
    let secret = "Hub-Password-5xZ!";
    let body = json!({"deviceFriendlyName": "Board room", "deviceAccountUpn": "hub@contoso.com", "deviceAccountPassword": secret});
    let done = post_action(&api, &beta(&api, &url), Some(&body)).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    let after = api.get_json(&beta(&api, &format!("{REGISTERED}/{id}"))).await;
    assert_eq!(after["deviceFriendlyName"], "Board room");
    assert_eq!(after["deviceAccountUpn"], "hub@contoso.com");
    assert!(after["deviceAccountPassword"].is_null());
    let journal = format!("{:?}", api.server.journal());
    assert!(!journal.contains(secret), "the password reached the journal");
    assert!(journal.contains("[redacted]"));
    // v1.0 still shows its own properties only.
    assert!(registered(&api, &id).await.get("deviceFriendlyName").is_none());
}

#[tokio::test]
async fn assign_and_unassign_a_user() {
    let api = demo().await;
    let id =
        api.get_json(&format!("{REGISTERED}?$top=1")).await["value"][0]["id"].as_str().unwrap().to_string();
    let assign =
        json!({"userPrincipalName": "kofi.okafor@contoso.com", "addressableUserName": "Kofi Okafor"});
    for segment in ["assignUserToDevice", "microsoft.graph.assignUserToDevice"] {
        let done = post_action(&api, &format!("{REGISTERED}/{id}/{segment}"), Some(&assign)).await;
        assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    }
    let device = registered(&api, &id).await;
    assert_eq!(
        (&device["userPrincipalName"], &device["addressableUserName"]),
        (&assign["userPrincipalName"], &assign["addressableUserName"])
    );
    post_action(&api, &format!("{REGISTERED}/{id}/assignUserToDevice"), Some(&json!({"groupTag": "x"})))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    post_action(
        &api,
        &format!("{REGISTERED}/{id}/assignUserToDevice"),
        Some(&json!({"addressableUserName": "Nobody"})),
    )
    .await
    .intune_error(StatusCode::BAD_REQUEST, "BadRequest");

    // No body at all, or an empty object: both are an action without parameters.
    let done = post_action(&api, &format!("{REGISTERED}/{id}/unassignUserFromDevice"), None).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    let device = registered(&api, &id).await;
    assert_eq!((&device["userPrincipalName"], &device["addressableUserName"]), (&json!(""), &json!("")));
    let again = post_action(
        &api,
        &format!("{REGISTERED}/{id}/microsoft.graph.unassignUserFromDevice"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    // An action that does not exist, and one on a device that does not.
    let message = post_action(&api, &format!("{REGISTERED}/{id}/wipe"), None)
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(message, "Resource not found for the segment 'wipe'.");
    post_action(&api, &format!("{REGISTERED}/does-not-exist/unassignUserFromDevice"), None)
        .await
        .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    api.get(&format!("{REGISTERED}/{id}/updateDeviceProperties"))
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
}

// ---------------------------------------------------------------------------------------------
// Refusals and delete

#[tokio::test]
async fn patch_and_create_are_refused_as_the_live_service_refuses_them() {
    let api = demo().await;
    let id =
        api.get_json(&format!("{REGISTERED}?$top=1")).await["value"][0]["id"].as_str().unwrap().to_string();
    let before = registered(&api, &id).await;
    for root in [api.server.base_url(), api.server.base_url().replace("/v1.0", "/beta")] {
        let message = api
            .patch(&format!("{root}{REGISTERED}/{id}"), &json!({"groupTag": "x"}))
            .await
            .error(StatusCode::BAD_REQUEST, "No method match route template");
        assert_eq!(
            message,
            format!(
                "No OData route exists that match template ~/singleton/navigation/key with http verb PATCH for request \
                 /DeviceEnrollmentFE_2511/StatelessDeviceEnrollmentFEService/deviceManagement/windowsAutopilotDeviceIdentities('{id}')."
            )
        );
        let message = api
            .post(&format!("{root}{REGISTERED}"), &json!({"serialNumber": "NEW"}))
            .await
            .error(StatusCode::BAD_REQUEST, "No method match route template");
        assert_eq!(
            message,
            "No OData route exists that match template ~/singleton/navigation with http verb POST for request \
             /DeviceEnrollmentFE_2511/StatelessDeviceEnrollmentFEService/deviceManagement/windowsAutopilotDeviceIdentities."
        );
    }
    assert_eq!(registered(&api, &id).await, before);
}

#[tokio::test]
async fn delete_removes_a_device_and_refuses_an_enrolled_one() {
    let api = demo().await;
    let all = api.all(&format!("{REGISTERED}?$top=999")).await;
    let enrolled = one_in(&all, "enrolled")["id"].as_str().unwrap().to_string();
    let waiting = one_in(&all, "notContacted")["id"].as_str().unwrap().to_string();

    let refused = api.send(Method::DELETE, &format!("{REGISTERED}/{enrolled}"), None).await;
    let text = refused.intune_error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(text.contains("is enrolled in Intune"), "{text}");
    assert_eq!(registered(&api, &enrolled).await["enrollmentState"], "enrolled", "still there");

    let deleted = api.send(Method::DELETE, &format!("{REGISTERED}/{waiting}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty());
    api.get(&format!("{REGISTERED}/{waiting}")).await.error(StatusCode::NOT_FOUND, "ResourceNotFound");
    // Deleting it again: the 400 the live service was seen to give (microsoft-graph-docs#7128).
    let again = api.send(Method::DELETE, &format!("{REGISTERED}/{waiting}"), None).await;
    let text = again.intune_error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(text.starts_with(&format!("Cannot find device with ztd Id {waiting} and accountId ")), "{text}");
    assert_eq!(api.get(&format!("{REGISTERED}/$count")).await.text, (all.len() - 1).to_string());
}

// ---------------------------------------------------------------------------------------------
// The Autopilot settings and their sync

#[tokio::test]
async fn sync_answers_409_while_running_and_429_within_ten_minutes_on_the_test_clock() {
    let api = demo().await;
    let settings = async |api: &Api| api.get_json(&beta(api, SETTINGS)).await;
    let sync =
        async |segment: &str| post_action(&api, &beta(&api, &format!("{SETTINGS}/{segment}")), None).await;
    let first = settings(&api).await;
    assert_eq!(first["@odata.type"], "#microsoft.graph.windowsAutopilotSettings");
    assert!(
        first["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/beta/$metadata#deviceManagement/windowsAutopilotSettings/$entity")
    );
    assert_eq!(first["syncStatus"], "completed");
    assert_eq!(first["lastManualSyncTriggerDateTime"], "0001-01-01T00:00:00Z", "never synced by hand");

    let started = sync("sync").await;
    assert_eq!(started.status, StatusCode::NO_CONTENT, "{}", started.text);
    let running = settings(&api).await;
    assert_eq!(running["syncStatus"], "inProgress");
    let triggered = running["lastManualSyncTriggerDateTime"].as_str().unwrap().to_string();
    assert_ne!(triggered, "0001-01-01T00:00:00Z");
    let conflict = sync("microsoft.graph.sync").await;
    assert!(conflict.intune_error(StatusCode::CONFLICT, "Conflict").contains("already in progress"));

    // A minute later the sync is done; the next is allowed ten minutes after the last.
    api.server.clock().advance(Duration::from_secs(61));
    let done = settings(&api).await;
    assert_eq!(done["syncStatus"], "completed");
    assert_eq!(done["lastManualSyncTriggerDateTime"], triggered.as_str());
    assert_ne!(done["lastSyncDateTime"], first["lastSyncDateTime"]);
    let too_soon = sync("sync").await;
    let text = too_soon.intune_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    assert!(text.contains(&triggered), "{text}");
    assert!(too_soon.header("retry-after").is_empty(), "no Retry-After: the live one is not known");
    assert_eq!(
        settings(&api).await["lastManualSyncTriggerDateTime"],
        triggered.as_str(),
        "a refusal changes nothing"
    );

    api.server.clock().advance(Duration::from_secs(9 * 60));
    assert_eq!(sync("microsoft.graph.sync").await.status, StatusCode::NO_CONTENT);
    assert_ne!(settings(&api).await["lastManualSyncTriggerDateTime"], triggered.as_str());
}

#[tokio::test(start_paused = true)]
async fn the_sync_rules_follow_a_paused_runtime_too() {
    let api = demo().await;
    let url = beta(&api, &format!("{SETTINGS}/sync"));
    assert_eq!(post_action(&api, &url, None).await.status, StatusCode::NO_CONTENT);
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    post_action(&api, &url, None).await.intune_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    assert_eq!(post_action(&api, &url, None).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_settings_are_beta_only() {
    let api = demo().await;
    for (method, path) in [(Method::GET, SETTINGS.to_string()), (Method::POST, format!("{SETTINGS}/sync"))] {
        let message = api.send(method, &path, None).await.error(StatusCode::BAD_REQUEST, "BadRequest");
        assert_eq!(message, "Resource not found for the segment 'windowsAutopilotSettings'.");
    }
    let selected = api.get_json(&beta(&api, &format!("{SETTINGS}?$select=syncStatus"))).await;
    let keys: HashSet<&str> = selected.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["@odata.context", "@odata.type", "id", "syncStatus"]));
}

// ---------------------------------------------------------------------------------------------
// Data

#[tokio::test]
async fn demo_imports_and_registered_devices_agree() {
    let api = demo().await;
    let imports = api.all(&format!("{DEVICES}?$top=999")).await;
    let devices = api.all(&beta(&api, &format!("{REGISTERED}?$top=999"))).await;
    let by_serial: HashMap<&str, &Value> =
        devices.iter().map(|d| (d["serialNumber"].as_str().unwrap(), d)).collect();
    assert_eq!(by_serial.len(), devices.len(), "serials are unique");
    let mut twins = 0;
    for import in &imports {
        let serial = import["serialNumber"].as_str().unwrap();
        match (
            import["state"]["deviceImportStatus"].as_str().unwrap(),
            import["state"]["deviceErrorCode"].as_i64(),
        ) {
            ("complete", _) => {
                twins += 1;
                let id = import["state"]["deviceRegistrationId"].as_str().unwrap();
                let twin = registered(&api, id).await;
                assert_eq!(twin["serialNumber"], serial, "the twin of {serial}");
                assert_eq!(twin["groupTag"].as_str().unwrap(), import["groupTag"].as_str().unwrap_or(""));
            }
            // Already registered in this tenant: the earlier registration has the serial.
            (_, Some(806)) => assert!(by_serial.contains_key(serial), "806 {serial}"),
            (status, code) => {
                assert!(!by_serial.contains_key(serial), "{status} {code:?} {serial} is registered")
            }
        }
    }
    assert!(twins > 100, "{twins}");
    assert!(devices.len() > twins + 150, "devices without an import record too: {}", devices.len());

    // Realistic spread: makes and models, tags, users, states, last contact over months.
    let distinct = |name: &str| devices.iter().filter_map(|d| d[name].as_str()).collect::<HashSet<&str>>();
    assert!(
        distinct("manufacturer").len() >= 4 && distinct("model").len() >= 8,
        "{:?}",
        distinct("manufacturer")
    );
    assert!(distinct("groupTag").len() >= 6);
    assert!(distinct("userPrincipalName").len() >= 20);
    let states = distinct("enrollmentState");
    for state in ["enrolled", "notContacted", "failed", "pendingReset", "unknown"] {
        assert!(states.contains(state), "{state}: {states:?}");
    }
    let profiles = distinct("deploymentProfileAssignmentStatus");
    assert!(profiles.contains("assignedUnkownSyncState") && profiles.contains("notAssigned"), "{profiles:?}");
    let contacted: Vec<std::time::SystemTime> = devices
        .iter()
        .filter_map(|d| d["lastContactedDateTime"].as_str())
        .filter(|t| !t.starts_with("0001"))
        .map(|t| autopilot_tui::graph::timestamp::parse(t).unwrap())
        .collect();
    let newest = contacted.iter().max().unwrap();
    let oldest = contacted.iter().min().unwrap();
    assert!(newest.duration_since(*oldest).unwrap() > Duration::from_secs(90 * 86_400), "spread over months");
    assert!(
        std::time::SystemTime::now().duration_since(*newest).unwrap_or_default()
            < Duration::from_secs(8 * 86_400)
    );
    for never in devices.iter().filter(|d| d["enrollmentState"] == "notContacted") {
        assert_eq!(never["lastContactedDateTime"], "0001-01-01T00:00:00Z");
    }
}

#[tokio::test]
async fn generated_data_agrees_and_a_million_devices_page_cheaply() {
    let api = generated(1_000_000, 3).await;
    assert_eq!(api.get(&format!("{REGISTERED}/$count")).await.text, "1000000");
    let imports =
        api.get_json(&format!("{DEVICES}?$top=60&$skip=999000")).await["value"].as_array().unwrap().clone();
    let complete: Vec<&Value> =
        imports.iter().filter(|d| d["state"]["deviceImportStatus"] == "complete").collect();
    assert!(complete.len() > 20);
    for import in complete {
        let twin = registered(&api, import["state"]["deviceRegistrationId"].as_str().unwrap()).await;
        assert_eq!(twin["serialNumber"], import["serialNumber"]);
    }
    let page = api.get_json(&format!("{REGISTERED}?$top=999")).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 999);
    let next = api.get_json(page["@odata.nextLink"].as_str().unwrap()).await;
    assert_ne!(next["value"][0]["id"], page["value"][0]["id"]);
    // The same seed and start give the same devices.
    let start = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_000);
    let fixed = |seed| ServeOptions {
        data: DataSet::Generated { devices: 50, seed },
        clock: Clock::starting_at(start),
        ..ServeOptions::default()
    };
    let (a, b, c) = (api_with(fixed(8)).await, api_with(fixed(8)).await, api_with(fixed(9)).await);
    let list =
        async |api: &Api| api.get_json(&beta(api, &format!("{REGISTERED}?$top=50"))).await["value"].clone();
    let (la, lb, lc) = (list(&a).await, list(&b).await, list(&c).await);
    assert_eq!(la, lb);
    assert_ne!(la, lc);
}

#[tokio::test]
async fn metadata_describes_the_registered_devices_and_the_settings() {
    let api = demo().await;
    let doc = answer(api.http.get(api.url("/$metadata"))).await.text;
    for fragment in [
        r#"<EntityType Name="windowsAutopilotDeviceIdentity" BaseType="graph.entity">"#,
        r#"<Property Name="enrollmentState" Type="graph.enrollmentState" Nullable="false" />"#,
        r#"<EnumType Name="windowsAutopilotProfileAssignmentStatus">"#,
        r#"<Member Name="assignedUnkownSyncState" Value="3" />"#,
        r#"<Action Name="updateDeviceProperties" IsBound="true">"#,
        r#"<Action Name="assignUserToDevice" IsBound="true">"#,
        r#"<Action Name="unassignUserFromDevice" IsBound="true">"#,
        r#"<Action Name="sync" IsBound="true">"#,
        r#"<EntityType Name="windowsAutopilotSettings" BaseType="graph.entity">"#,
        r#"<NavigationProperty Name="windowsAutopilotDeviceIdentities" Type="Collection(graph.windowsAutopilotDeviceIdentity)" ContainsTarget="true" />"#,
    ] {
        assert!(doc.contains(fragment), "missing {fragment}");
    }
    // Every property a beta answer carries is described.
    let device = api.get_json(&beta(&api, &format!("{REGISTERED}?$top=1"))).await["value"][0].clone();
    let settings = api.get_json(&beta(&api, SETTINGS)).await;
    for name in device.as_object().unwrap().keys().chain(settings.as_object().unwrap().keys()) {
        if !name.starts_with('@') {
            assert!(doc.contains(&format!(r#"Name="{name}""#)), "{name} is not described");
        }
    }
}
