//! The embedded Graph server over real HTTP on 127.0.0.1:0: every endpoint, every error, the
//! Graph conventions, and the `serve` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::server::ServeOptions;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_common::*;
use std::collections::HashSet;

// ---------------------------------------------------------------------------------------------
// Listing and paging

#[tokio::test]
async fn list_page_has_graph_shape() {
    let api = demo().await;
    let page = api.get_json(DEVICES).await;
    let base = api.server.base_url();
    assert_eq!(
        page["@odata.context"],
        format!("{base}/$metadata#deviceManagement/importedWindowsAutopilotDeviceIdentities")
    );
    let value = page["value"].as_array().unwrap();
    assert_eq!(value.len(), 100, "default page size");
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{base}{DEVICES}?$skiptoken=")), "{next}");
    let device = &value[0];
    assert_eq!(device["@odata.type"], "#microsoft.graph.importedWindowsAutopilotDeviceIdentity");
    for key in [
        "id",
        "groupTag",
        "serialNumber",
        "hardwareIdentifier",
        "importId",
        "productKey",
        "assignedUserPrincipalName",
    ] {
        assert!(device.get(key).is_some(), "{key} missing");
    }
    assert_eq!(device["state"]["@odata.type"], "microsoft.graph.importedWindowsAutopilotDeviceIdentityState");
    assert!(page.get("@odata.count").is_none());
}

#[tokio::test]
async fn demo_data_is_realistic() {
    let api = demo().await;
    let all = api.all(&format!("{DEVICES}?$top=999")).await;
    assert!((200..=300).contains(&all.len()), "{}", all.len());
    let hash = all[0]["hardwareIdentifier"].as_str().unwrap();
    assert_eq!(autopilot_tui::graph::validate::decode_binary(hash).unwrap().len(), 4096);
    let codes: HashSet<i64> = all.iter().filter_map(|d| d["state"]["deviceErrorCode"].as_i64()).collect();
    assert!(codes.contains(&806) && codes.contains(&808), "{codes:?}");
    assert!(all.iter().any(|d| d["groupTag"].is_null()));
    assert!(all.iter().any(|d| d["assignedUserPrincipalName"].is_null()));
    assert!(all.iter().any(|d| d["serialNumber"].as_str().unwrap().starts_with("PF")));
    for d in all.iter().filter(|d| d["state"]["deviceImportStatus"] == "complete") {
        assert!(d["state"]["deviceRegistrationId"].is_string());
    }
}

#[tokio::test]
async fn paging_by_next_link_returns_every_device_once() {
    let api = generated(1234, 5).await;
    let all = api.all(&format!("{DEVICES}?$top=97")).await;
    let unique: HashSet<String> = ids(&all).into_iter().collect();
    assert_eq!(all.len(), 1234);
    assert_eq!(unique.len(), 1234);
    // The default page size applies without $top.
    assert_eq!(api.all(DEVICES).await.len(), 1234);
}

#[tokio::test]
async fn next_link_keeps_filter_select_and_order() {
    let api = generated(600, 3).await;
    let filter = enc("state/deviceImportStatus eq 'complete'");
    let first =
        format!("{DEVICES}?$filter={filter}&$select=serialNumber,state&$orderby=serialNumber desc&$top=50");
    let all = api.all(&first.replace(' ', "%20")).await;
    assert!(all.len() > 300, "{}", all.len());
    let serials: Vec<&str> = all.iter().map(|d| d["serialNumber"].as_str().unwrap()).collect();
    assert!(serials.windows(2).all(|w| w[0] >= w[1]), "sorted descending across pages");
    for d in &all {
        assert_eq!(d["state"]["deviceImportStatus"], "complete");
        assert!(d.get("groupTag").is_none() && d.get("hardwareIdentifier").is_none());
    }
    let unique: HashSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), all.len());
    let count: usize = api.get(&format!("{DEVICES}/$count?$filter={filter}")).await.text.parse().unwrap();
    assert_eq!(count, all.len());
}

#[tokio::test]
async fn top_skip_and_limits() {
    let api = generated(2500, 1).await;
    let page = api.get_json(&format!("{DEVICES}?$top=5000&$select=id")).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 999, "$top clamps to 999");
    let all = ids(&api.all(&format!("{DEVICES}?$select=id&$top=999")).await);
    let skipped = ids(&api.all(&format!("{DEVICES}?$select=id&$skip=2490")).await);
    assert_eq!(skipped, all[2490..].to_vec());
    let empty = api.get_json(&format!("{DEVICES}?$top=0")).await;
    assert_eq!(empty["value"], json!([]));
    assert!(empty.get("@odata.nextLink").is_none());
    for bad in
        ["$top=-1", "$top=x", "$skip=-3", "$count=yes", "$search=abc", "$top=1&$top=2", "$skiptoken=%%%"]
    {
        let message = api.get(&format!("{DEVICES}?{bad}")).await.error(StatusCode::BAD_REQUEST, "BadRequest");
        assert!(!message.is_empty(), "{bad}");
    }
}

#[tokio::test]
async fn count_option_and_count_endpoint() {
    let api = demo().await;
    let total = api.all(DEVICES).await.len();
    let page = api.get_json(&format!("{DEVICES}?$count=true&$top=10")).await;
    assert_eq!(page["@odata.count"], total);
    let second = api.get_json(page["@odata.nextLink"].as_str().unwrap()).await;
    assert!(second.get("@odata.count").is_none(), "count on the first page only");
    let answer = api.get(&format!("{DEVICES}/$count")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("content-type").starts_with("text/plain"));
    assert_eq!(answer.text, total.to_string());
    let filtered =
        api.get(&format!("{DEVICES}/$count?$filter={}", enc("state/deviceErrorCode eq 806"))).await;
    let expected = api.all(DEVICES).await.iter().filter(|d| d["state"]["deviceErrorCode"] == 806).count();
    assert_eq!(filtered.text, expected.to_string());
    let filtered_page =
        api.get_json(&format!("{DEVICES}?$count=true&$filter={}", enc("state/deviceErrorCode eq 806"))).await;
    assert_eq!(filtered_page["@odata.count"], expected);
}

// ---------------------------------------------------------------------------------------------
// $filter, $select, $orderby

async fn filtered(api: &Api, filter: &str) -> Vec<Value> {
    api.all(&format!("{DEVICES}?$top=999&$filter={}", enc(filter))).await
}

#[tokio::test]
async fn filters_match_what_they_say() {
    let api = demo().await;
    let all = api.all(&format!("{DEVICES}?$top=999")).await;
    let text = |d: &Value, key: &str| d[key].as_str().map(str::to_lowercase);
    let by = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        ids(&all.iter().filter(|d| pred(d)).cloned().collect::<Vec<_>>())
    };
    let serial = all[10]["serialNumber"].as_str().unwrap().to_string();

    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("serialNumber eq '{serial}'"),
            by(&|d| text(d, "serialNumber") == Some(serial.to_lowercase())),
        ),
        (
            format!("serialNumber ne '{serial}'"),
            by(&|d| text(d, "serialNumber") != Some(serial.to_lowercase())),
        ),
        (
            "startswith(serialNumber,'PF')".into(),
            by(&|d| text(d, "serialNumber").is_some_and(|s| s.starts_with("pf"))),
        ),
        (
            "contains(groupTag,'sales')".into(),
            by(&|d| text(d, "groupTag").is_some_and(|s| s.contains("sales"))),
        ),
        ("state/deviceImportStatus eq 'error'".into(), by(&|d| d["state"]["deviceImportStatus"] == "error")),
        ("state/deviceErrorCode eq 808".into(), by(&|d| d["state"]["deviceErrorCode"] == 808)),
        ("groupTag eq null".into(), by(&|d| d["groupTag"].is_null())),
        (
            "groupTag eq 'Kiosk' and state/deviceImportStatus eq 'complete'".into(),
            by(&|d| d["groupTag"] == "Kiosk" && d["state"]["deviceImportStatus"] == "complete"),
        ),
        (
            "groupTag eq 'Kiosk' or groupTag eq 'Exec'".into(),
            by(&|d| d["groupTag"] == "Kiosk" || d["groupTag"] == "Exec"),
        ),
        (
            "(groupTag eq 'Kiosk' or groupTag eq 'Exec') and not (state/deviceImportStatus eq 'complete')"
                .into(),
            by(&|d| {
                (d["groupTag"] == "Kiosk" || d["groupTag"] == "Exec")
                    && d["state"]["deviceImportStatus"] != "complete"
            }),
        ),
        ("groupTag eq 'O''Brien-Lab'".into(), by(&|d| d["groupTag"] == "O'Brien-Lab")),
    ];
    for (filter, expected) in cases {
        let got = ids(&filtered(&api, &filter).await);
        assert!(
            !expected.is_empty() || filter.contains("ne"),
            "case {filter} matches nothing in the demo set"
        );
        assert_eq!(got, expected, "{filter}");
    }
    assert_eq!(ids(&filtered(&api, "groupTag eq 'O''Brien-Lab'").await).len(), 1);
}

#[tokio::test]
async fn bad_filters_are_400_naming_the_problem() {
    let api = demo().await;
    for (filter, fragment) in [
        ("serialNumber eq", "value"),
        ("nope eq 'x'", "'nope'"),
        ("serialNumber eq 'open", "unterminated"),
        ("state/deviceImportStatus eq 'finished'", "'finished'"),
        ("(groupTag eq 'x'", "')'"),
        ("bogus(serialNumber,'x')", "unknown function 'bogus'"),
    ] {
        let message = api
            .get(&format!("{DEVICES}?$filter={}", enc(filter)))
            .await
            .error(StatusCode::BAD_REQUEST, "BadRequest");
        assert!(message.contains(fragment), "{filter}: {message}");
    }
}

#[tokio::test]
async fn select_limits_properties_and_keeps_id() {
    let api = demo().await;
    let page = api.get_json(&format!("{DEVICES}?$select=serialNumber,state&$top=3")).await;
    assert_selected(
        &page,
        "importedWindowsAutopilotDeviceIdentities(id,serialNumber,state)",
        &["@odata.type", "id", "serialNumber", "state"],
    );
    let message = api
        .get(&format!("{DEVICES}?$select=serialNumber,bogus"))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert!(message.contains("'bogus'"), "{message}");
}

#[tokio::test]
async fn orderby_sorts_both_ways_and_by_state() {
    let api = demo().await;
    let asc = api.all(&format!("{DEVICES}?$orderby=serialNumber&$top=999")).await;
    let serials: Vec<&str> = asc.iter().map(|d| d["serialNumber"].as_str().unwrap()).collect();
    assert!(serials.windows(2).all(|w| w[0] <= w[1]));
    let desc = api.all(&format!("{DEVICES}?$orderby={}&$top=999", enc("serialNumber desc"))).await;
    let mut reversed = ids(&desc);
    reversed.reverse();
    let asc_ids = ids(&asc);
    assert_eq!(reversed.len(), asc_ids.len());
    let by_state =
        api.all(&format!("{DEVICES}?$orderby={}&$top=999", enc("state/deviceImportStatus desc"))).await;
    let rank = |s: &str| {
        ["unknown", "pending", "partial", "complete", "error"].iter().position(|x| *x == s).unwrap()
    };
    let ranks: Vec<usize> =
        by_state.iter().map(|d| rank(d["state"]["deviceImportStatus"].as_str().unwrap())).collect();
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]));
    api.get(&format!("{DEVICES}?$orderby={}", enc("serialNumber upwards")))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn beta_serves_the_same_devices() {
    let api = demo().await;
    let base = api.server.base_url().replace("/v1.0", "/beta");
    let page = api.get_json(&format!("{base}{DEVICES}?$top=5")).await;
    assert!(page["@odata.context"].as_str().unwrap().starts_with(&format!("{base}/$metadata#")));
    assert!(page["@odata.nextLink"].as_str().unwrap().starts_with(&format!("{base}{DEVICES}")));
    let v1 = api.get_json(&format!("{DEVICES}?$top=5")).await;
    assert_eq!(ids(page["value"].as_array().unwrap()), ids(v1["value"].as_array().unwrap()));
    let id = api.first_id().await;
    let answer = api.patch(&format!("{base}{DEVICES}/{id}"), &json!({"groupTag": "Beta"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["groupTag"], "Beta");
}

// ---------------------------------------------------------------------------------------------
// Single device: GET, PATCH, DELETE, POST, import

#[tokio::test]
async fn get_one_answers_the_bare_entity() {
    let api = demo().await;
    let id = api.first_id().await;
    let device = api.get_json(&format!("{DEVICES}/{id}")).await;
    let base = api.server.base_url();
    assert_eq!(
        device["@odata.context"],
        format!("{base}/$metadata#deviceManagement/importedWindowsAutopilotDeviceIdentities/$entity")
    );
    assert_eq!(device["@odata.type"], "#microsoft.graph.importedWindowsAutopilotDeviceIdentity");
    assert_eq!(device["id"], id);
    assert!(device.get("value").is_none());
    // Ids compare without case, like Graph's GUID keys.
    assert_eq!(api.get_json(&format!("{DEVICES}/{}", id.to_uppercase())).await["id"], id);
    let selected = api.get_json(&format!("{DEVICES}/{id}?$select=groupTag")).await;
    let keys: HashSet<&str> = selected.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["@odata.context", "@odata.type", "id", "groupTag"]));
    let message = api
        .get(&format!("{DEVICES}/00000000-0000-0000-0000-000000000000"))
        .await
        .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    assert!(message.contains("00000000-0000-0000-0000-000000000000"));
    // The upload path serves the same store.
    assert_eq!(api.get_json(&format!("{UPLOAD}/{id}")).await["serialNumber"], device["serialNumber"]);
    let upload_list = api.get_json(&format!("{UPLOAD}?$top=1")).await;
    assert_eq!(upload_list["value"][0]["id"], id);
}

fn without(mut device: Value, keys: &[&str]) -> Value {
    for key in keys {
        device.as_object_mut().unwrap().remove(*key);
    }
    device
}

#[tokio::test]
async fn patch_merges_exactly_what_was_sent_on_both_paths() {
    let api = demo().await;
    let id = api.first_id().await;
    for (path, tag) in [(DEVICES, "Finance-NYC"), (UPLOAD, "Kiosk-Lobby")] {
        let before = api.get_json(&format!("{DEVICES}/{id}")).await;
        let body = json!({"groupTag": tag});
        let answer = api.patch(&format!("{path}/{id}"), &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let returned = answer.json();
        assert_eq!(returned["groupTag"], tag);
        let after = api.get_json(&format!("{DEVICES}/{id}")).await;
        assert_eq!(
            without(after.clone(), &["groupTag"]),
            without(before, &["groupTag"]),
            "only groupTag changed"
        );
        assert_eq!(without(returned, &["@odata.context"]), without(after, &["@odata.context"]));
    }
    let patches: Vec<_> = api.server.journal().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 2);
    assert_eq!(
        serde_json::from_slice::<Value>(&patches[0].body).unwrap(),
        json!({"groupTag": "Finance-NYC"})
    );
    assert_eq!(patches[0].path_and_query, format!("/v1.0{DEVICES}/{id}"));
    let auth = patches[0].headers.iter().find(|(k, _)| k == "authorization").unwrap();
    assert_eq!(auth.1, "Bearer [redacted]", "the token never reaches the journal");
}

#[tokio::test]
async fn patch_replaces_state_whole_and_accepts_annotations_and_same_id() {
    let api = demo().await;
    let id = api.first_id().await;
    let body = json!({
        "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
        "id": id.to_uppercase(),
        "assignedUserPrincipalName": null,
        "hardwareIdentifier": "-_8",
        "state": {"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                  "deviceImportStatus": "error", "deviceErrorCode": 806}
    });
    let answer = api
        .send(
            Method::PATCH,
            &format!("{DEVICES}/{id}"),
            Some(("application/json; charset=utf-8", body.to_string())),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let after = api.get_json(&format!("{DEVICES}/{id}")).await;
    assert_eq!(after["id"], id);
    assert_eq!(after["assignedUserPrincipalName"], Value::Null);
    assert_eq!(after["hardwareIdentifier"], "+/8=", "the same bytes, in standard padded base64");
    assert_eq!(
        after["state"],
        json!({"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
               "deviceImportStatus": "error", "deviceRegistrationId": null, "deviceErrorCode": 806, "deviceErrorName": null}),
        "state replaced as a unit"
    );
}

#[tokio::test]
async fn rejected_patches_change_nothing() {
    let api = demo().await;
    let id = api.first_id().await;
    let item = format!("{DEVICES}/{id}");
    let before = api.get_json(&item).await;
    let unknown = "The property 'foo' does not exist on type 'microsoft.graph.importedWindowsAutopilotDeviceIdentity'. \
                   Make sure to only use property names that are defined by the type or mark the type as open type.";
    let cases: Vec<(&str, String, StatusCode, &str, Option<&str>)> = vec![
        ("application/json", "{\"groupTag\": ".into(), StatusCode::BAD_REQUEST, "BadRequest", None),
        ("application/json", "[1,2]".into(), StatusCode::BAD_REQUEST, "BadRequest", None),
        ("application/json", "\"text\"".into(), StatusCode::BAD_REQUEST, "BadRequest", None),
        (
            "application/json",
            json!({"groupTag": "x", "foo": 1}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            Some(unknown),
        ),
        ("application/json", json!({"groupTag": 5}).to_string(), StatusCode::BAD_REQUEST, "BadRequest", None),
        (
            "application/json",
            json!({"serialNumber": ["a"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            None,
        ),
        (
            "application/json",
            json!({"state": {"deviceErrorCode": null}}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            None,
        ),
        (
            "application/json",
            json!({"state": {"deviceErrorCode": "806"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            None,
        ),
        (
            "application/json",
            json!({"state": {"deviceImportStatus": "done"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            None,
        ),
        ("application/json", json!({"state": null}).to_string(), StatusCode::BAD_REQUEST, "BadRequest", None),
        (
            "application/json",
            json!({"id": "11111111-2222-3333-4444-555555555555"}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            None,
        ),
        (
            "application/json",
            json!({"groupTag": "x", "hardwareIdentifier": "not base64!"}).to_string(),
            StatusCode::BAD_REQUEST,
            "BadRequest",
            Some("Cannot convert the literal 'not base64!' to the expected type 'Edm.Binary'."),
        ),
        (
            "text/plain",
            json!({"groupTag": "x"}).to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            None,
        ),
    ];
    for (content_type, body, status, code, exact) in cases {
        let answer = api.send(Method::PATCH, &item, Some((content_type, body.clone()))).await;
        let message = answer.error(status, code);
        if let Some(exact) = exact {
            assert_eq!(message, exact);
        }
        assert_eq!(api.get_json(&item).await, before, "{body} changed the device");
    }
    // No content type at all.
    let answer = answer(api.http.patch(api.url(&item)).bearer_auth("t").body("{\"groupTag\":\"x\"}")).await;
    answer.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType");
    // Unknown id.
    api.patch(&format!("{DEVICES}/does-not-exist"), &json!({"groupTag": "x"}))
        .await
        .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    api.patch(&format!("{UPLOAD}/does-not-exist"), &json!({"groupTag": "x"}))
        .await
        .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    assert_eq!(api.get_json(&item).await, before);
}

#[tokio::test]
async fn prefer_return_minimal_patch_answers_204_with_preference_applied() {
    let api = demo().await;
    let id = api.first_id().await;
    let patch_preferring = async |path: &str, prefer: &str, body: &Value| {
        answer(
            api.http
                .patch(api.url(&format!("{path}/{id}")))
                .bearer_auth("t")
                .header("prefer", prefer)
                .json(body),
        )
        .await
    };
    for (path, prefer, tag) in [
        (DEVICES, "return=minimal", "Minimal-1"),
        (UPLOAD, "odata.maxpagesize=5, Return = \"minimal\"", "Minimal-2"),
    ] {
        let minimal = patch_preferring(path, prefer, &json!({"groupTag": tag})).await;
        assert_eq!(minimal.status, StatusCode::NO_CONTENT, "{prefer}");
        assert_eq!(minimal.header("preference-applied"), "return=minimal");
        assert!(minimal.text.is_empty());
        assert_eq!(minimal.header("content-type"), "");
        assert!(uuid::Uuid::parse_str(minimal.header("request-id")).is_ok());
        assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["groupTag"], tag, "applied");
    }
    // Asking for the representation, or nothing, gets the entity.
    let full = patch_preferring(DEVICES, "return=representation", &json!({"groupTag": "Full"})).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.json()["groupTag"], "Full");
    assert_eq!(full.header("preference-applied"), "");
    // A refused PATCH is an error whatever was preferred.
    let refused = patch_preferring(DEVICES, "return=minimal", &json!({"foo": 1})).await;
    refused.error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(refused.header("preference-applied"), "");
    assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["groupTag"], "Full");
}

#[tokio::test]
async fn strict_mode_refuses_patch_like_the_live_service() {
    let api = api_with(ServeOptions { strict: true, ..ServeOptions::default() }).await;
    let id = api.first_id().await;
    let before = api.get_json(&format!("{DEVICES}/{id}")).await;
    for path in [DEVICES, UPLOAD] {
        let message = api
            .patch(&format!("{path}/{id}"), &json!({"groupTag": "x"}))
            .await
            .error(StatusCode::BAD_REQUEST, "No method match route template");
        assert_eq!(
            message,
            format!(
                "No OData route exists that match template ~/singleton/navigation/key with http verb PATCH for request \
                 /DeviceManagement_2511/StatelessDeviceManagementFEService/deviceManagement/importedWindowsAutopilotDeviceIdentities('{id}')."
            )
        );
    }
    assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await, before);
}

#[tokio::test]
async fn delete_on_both_paths() {
    let api = demo().await;
    let all = ids(&api.all(&format!("{DEVICES}?$top=999")).await);
    for (path, id) in [(DEVICES, &all[0]), (UPLOAD, &all[1])] {
        let answer = api.send(Method::DELETE, &format!("{path}/{id}"), None).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        assert!(answer.text.is_empty());
        api.get(&format!("{DEVICES}/{id}")).await.error(StatusCode::NOT_FOUND, "ResourceNotFound");
        api.send(Method::DELETE, &format!("{path}/{id}"), None)
            .await
            .error(StatusCode::NOT_FOUND, "ResourceNotFound");
    }
    let left = ids(&api.all(&format!("{DEVICES}?$top=7")).await);
    assert_eq!(left, all[2..].to_vec());
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.text, (all.len() - 2).to_string());
}

#[tokio::test]
async fn post_creates_devices() {
    let api = demo().await;
    let count = async |api: &Api| api.get(&format!("{DEVICES}/$count")).await.text.parse::<usize>().unwrap();
    let before = count(&api).await;
    let answer = api
        .post(
            DEVICES,
            &json!({"serialNumber": "NEW0001", "groupTag": "Sales-EMEA", "hardwareIdentifier": "AAEC"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let created = answer.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "server assigns a GUID");
    assert!(answer.header("location").ends_with(&id));
    assert_eq!(created["state"]["deviceImportStatus"], "unknown");
    assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["serialNumber"], "NEW0001");
    let chosen = "0f0f0f0f-1111-4222-8333-444444444444";
    assert_eq!(
        api.post(DEVICES, &json!({"id": chosen, "serialNumber": "NEW0002"})).await.status,
        StatusCode::CREATED
    );
    api.post(DEVICES, &json!({"id": chosen})).await.error(StatusCode::CONFLICT, "Conflict");
    api.post(DEVICES, &json!({"serialNumber": "X", "bogus": true}))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    api.post(DEVICES, &json!({"hardwareIdentifier": "***"}))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(count(&api).await, before + 2);
    // New devices appear at the end of the list.
    let all = ids(&api.all(&format!("{DEVICES}?$top=999")).await);
    assert_eq!(&all[all.len() - 2..], [id.as_str(), chosen]);
}

#[tokio::test]
async fn post_preferring_return_minimal_answers_204_with_the_location() {
    let api = demo().await;
    let minimal = answer(
        api.http
            .post(api.url(DEVICES))
            .bearer_auth("t")
            .header("prefer", "return=minimal")
            .json(&json!({"serialNumber": "MINIMAL-1"})),
    )
    .await;
    assert_eq!(minimal.status, StatusCode::NO_CONTENT, "{}", minimal.text);
    assert_eq!(minimal.header("preference-applied"), "return=minimal");
    assert!(minimal.text.is_empty());
    let location = minimal.header("location");
    assert!(location.starts_with(&format!("{}{DEVICES}/", api.server.base_url())), "{location}");
    assert_eq!(minimal.header("odata-entityid"), location);
    let created = api.get_json(location).await;
    assert_eq!(created["serialNumber"], "MINIMAL-1");
    assert_eq!(created["state"]["deviceImportStatus"], "unknown");
}

#[tokio::test]
async fn import_action_on_both_names() {
    let api = generated(10, 1).await;
    for action in ["import", "microsoft.graph.import"] {
        let body = json!({"importedWindowsAutopilotDeviceIdentities": [
            {"serialNumber": format!("IMP-{action}-1"), "hardwareIdentifier": "AAEC", "groupTag": "Kiosk",
             "state": {"deviceImportStatus": "complete", "deviceErrorCode": 0}},
            {"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity", "serialNumber": format!("IMP-{action}-2"), "hardwareIdentifier": "AAEC"}
        ]});
        let answer = api.post(&format!("{DEVICES}/{action}"), &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let value = answer.json()["value"].as_array().unwrap().clone();
        assert_eq!(value.len(), 2);
        for d in &value {
            assert_eq!(d["state"]["deviceImportStatus"], "unknown", "new imports are not processed yet");
            let id = d["id"].as_str().unwrap();
            assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["serialNumber"], d["serialNumber"]);
        }
    }
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.text, "14");
    // One bad entry rejects the whole import.
    let bad = json!({"importedWindowsAutopilotDeviceIdentities": [{"serialNumber": "OK"}, {"hardwareIdentifier": "@@"}]});
    api.post(&format!("{DEVICES}/import"), &bad).await.error(StatusCode::BAD_REQUEST, "BadRequest");
    api.post(&format!("{DEVICES}/import"), &json!({"devices": []}))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.text, "14");
}

/// A hash whose standard base64 has `+`, `/` and padding, so base64url differs in every way.
fn awkward_hash() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..4094u32).map(|i| (i * 37 % 256) as u8).collect();
    bytes.extend_from_slice(&[0xfb, 0xff]);
    bytes
}

/// Asserts a device's hash is exactly `expected`, showing only the start of a 5 KB mismatch.
fn same_hash(device: &Value, expected: &str) {
    let got = device["hardwareIdentifier"].as_str().unwrap_or("<not a string>");
    assert!(got == expected, "hash {}... is not {}...", &got[..got.len().min(40)], &expected[..40]);
}

/// What Microsoft's Python SDK does with an Edm.Binary: strict standard base64, padding required.
fn strict_standard(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("not standard padded base64 ({e}): {}", &text[..text.len().min(40)]))
}

#[tokio::test]
async fn hardware_identifier_in_base64url_comes_back_as_standard_padded_base64() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let api = demo().await;
    let bytes = awkward_hash();
    let standard = STANDARD.encode(&bytes);
    let url_no_pad = URL_SAFE_NO_PAD.encode(&bytes);
    assert!(standard.contains('+') && standard.contains('/') && standard.ends_with('='));
    assert!(url_no_pad.contains('-') && url_no_pad.contains('_') && !url_no_pad.ends_with('='));

    // PATCH, as Microsoft's SDKs send bytes: base64url without padding.
    let id = api.first_id().await;
    let item = format!("{DEVICES}/{id}");
    let patched = api.patch(&item, &json!({"hardwareIdentifier": url_no_pad})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    same_hash(&patched.json(), &standard);
    same_hash(&api.get_json(&item).await, &standard);
    // Every page of the listing is readable by a strict decoder, and the device shows the bytes.
    let listed = api.all(&format!("{DEVICES}?$top=40")).await;
    assert!(listed.len() >= 200);
    for hash in listed.iter().filter_map(|d| d["hardwareIdentifier"].as_str()) {
        strict_standard(hash);
    }
    let mine = listed.iter().find(|d| d["id"] == id.as_str()).unwrap();
    same_hash(mine, &standard);
    let selected = api.get_json(&format!("{DEVICES}?$select=hardwareIdentifier&$top=1")).await;
    same_hash(&selected["value"][0], &standard);

    // POST and the import action store bytes too, whatever the spelling.
    let created = api
        .post(DEVICES, &json!({"serialNumber": "B64-POST", "hardwareIdentifier": URL_SAFE.encode(&bytes)}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    same_hash(&created.json(), &standard);
    let created_id = created.json()["id"].as_str().unwrap().to_string();
    same_hash(&api.get_json(&format!("{DEVICES}/{created_id}")).await, &standard);
    let imported = api
        .post(
            &format!("{DEVICES}/import"),
            &json!({"importedWindowsAutopilotDeviceIdentities": [
                {"serialNumber": "B64-IMPORT", "hardwareIdentifier": STANDARD_NO_PAD.encode(&bytes)}
            ]}),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    let entry = imported.json()["value"][0].clone();
    same_hash(&entry, &standard);
    let imported_id = entry["id"].as_str().unwrap();
    same_hash(&api.get_json(&format!("{DEVICES}/{imported_id}")).await, &standard);
    assert_eq!(strict_standard(&standard), bytes);

    // What does not decode keeps Graph's exact 400, and changes nothing.
    let before = api.get_json(&item).await;
    for bad in ["not base64!", "+-8=", "AAE=C"] {
        let message = api
            .patch(&item, &json!({"hardwareIdentifier": bad}))
            .await
            .error(StatusCode::BAD_REQUEST, "BadRequest");
        assert_eq!(message, format!("Cannot convert the literal '{bad}' to the expected type 'Edm.Binary'."));
        let message = api
            .post(DEVICES, &json!({"hardwareIdentifier": bad}))
            .await
            .error(StatusCode::BAD_REQUEST, "BadRequest");
        assert_eq!(message, format!("Cannot convert the literal '{bad}' to the expected type 'Edm.Binary'."));
    }
    assert_eq!(api.get_json(&item).await, before);
}

#[tokio::test]
async fn retry_after_is_whole_seconds_on_429_and_503_even_for_a_fractional_flag() {
    let throttled = serve_with_flags(&["--fault-429", "1", "--fault-retry-after", "0.25"]).await;
    for answer in [throttled.get(DEVICES).await, throttled.patch(&format!("{DEVICES}/x"), &json!({})).await] {
        answer.error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
        assert_eq!(answer.header("retry-after"), "1", "0.25 s rounds up");
    }

    let unavailable = serve_with_flags(&["--fault-503", "1", "--fault-retry-after", "2.5"]).await;
    let mut sent = Vec::new();
    for _ in 0..16 {
        let answer = unavailable.get(DEVICES).await;
        answer.error(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable");
        sent.push(answer.header("retry-after").to_string());
    }
    assert!(sent.iter().any(String::is_empty), "half the 503s carry no Retry-After: {sent:?}");
    assert!(sent.iter().filter(|v| !v.is_empty()).all(|v| v == "3"), "2.5 s rounds up: {sent:?}");
    assert!(sent.iter().any(|v| v == "3"), "{sent:?}");
}

// ---------------------------------------------------------------------------------------------
// Conventions: headers, authentication, unknown routes

#[tokio::test]
async fn every_response_carries_graph_headers() {
    let api = demo().await;
    let id = api.first_id().await;
    let requests = vec![
        api.http.get(api.url(DEVICES)).bearer_auth("t"),
        api.http.get(api.url(&format!("{DEVICES}/{id}"))).bearer_auth("t"),
        api.http.get(api.url(&format!("{DEVICES}/$count"))).bearer_auth("t"),
        api.http.get(api.url(&format!("{DEVICES}/nope"))).bearer_auth("t"),
        api.http.get(api.url("/deviceManagement/unknownThing")).bearer_auth("t"),
        api.http.put(api.url(DEVICES)).bearer_auth("t"),
        api.http.get(api.url(DEVICES)),
        api.http
            .patch(api.url(&format!("{DEVICES}/{id}")))
            .bearer_auth("t")
            .header("content-type", "application/json")
            .body("{}"),
        api.http.delete(api.url(&format!("{DEVICES}/{id}"))).bearer_auth("t"),
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let echoed = format!("c0ffee00-0000-4000-8000-{i:012}");
        let with_echo = answer(request.try_clone().unwrap().header("client-request-id", &echoed)).await;
        assert_eq!(with_echo.header("client-request-id"), echoed, "request {i}");
        let request_id = with_echo.header("request-id");
        assert!(uuid::Uuid::parse_str(request_id).is_ok(), "request {i}: {request_id}");
        assert_eq!(with_echo.header("odata-version"), "4.0");
        assert!(httpdate::parse_http_date(with_echo.header("date")).is_ok());
        if !with_echo.text.is_empty() && !with_echo.status.is_success() {
            with_echo.error(with_echo.status, with_echo.json()["error"]["code"].as_str().unwrap());
        }
        if i == 8 {
            break; // the DELETE must not be sent twice
        }
        let without_echo = answer(request).await;
        assert_eq!(
            without_echo.header("client-request-id"),
            without_echo.header("request-id"),
            "request {i}"
        );
        assert_ne!(without_echo.header("request-id"), request_id, "fresh request-id each time");
    }
}

#[tokio::test]
async fn every_json_answer_has_graph_content_type() {
    let api = generated(30, 4).await;
    let id = api.first_id().await;
    let item = format!("{DEVICES}/{id}");
    let import = json!({"importedWindowsAutopilotDeviceIdentities": [{"serialNumber": "CT-1"}]});
    let answers = vec![
        ("list", api.get(DEVICES).await),
        ("list, upload path", api.get(UPLOAD).await),
        ("list with options", api.get(&format!("{DEVICES}?$top=2&$count=true&$select=serialNumber")).await),
        ("get", api.get(&item).await),
        ("patch", api.patch(&item, &json!({"groupTag": "CT"})).await),
        ("post", api.post(DEVICES, &json!({"serialNumber": "CT-0"})).await),
        ("import", api.post(&format!("{DEVICES}/import"), &import).await),
        ("400 filter", api.get(&format!("{DEVICES}?$filter={}", enc("nope eq 1"))).await),
        ("400 body", api.patch(&item, &json!({"foo": 1})).await),
        ("400 route", api.get("/deviceManagement/nothing").await),
        ("401", answer(api.http.get(api.url(DEVICES))).await),
        ("404", api.get(&format!("{DEVICES}/does-not-exist")).await),
        ("405", api.send(Method::PUT, DEVICES, Some(("application/json", "{}".into()))).await),
        ("415", api.send(Method::PATCH, &item, Some(("text/plain", "{}".into()))).await),
    ];
    for (what, answer) in &answers {
        assert_eq!(answer.header("content-type"), JSON_TYPE, "{what}: {}", answer.text);
        answer.json();
    }
    let throttled = serve_with_flags(&["--fault-429", "1"]).await.get(DEVICES).await;
    assert_eq!(throttled.header("content-type"), JSON_TYPE, "429");
    // Not JSON, so not JSON's type.
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.header("content-type"), "text/plain");
    let deleted = api.send(Method::DELETE, &item, None).await;
    assert_eq!((deleted.status, deleted.header("content-type")), (StatusCode::NO_CONTENT, ""));
}

/// Status, headers and the raw body bytes of a GET with these extra headers.
async fn raw_get(
    api: &Api,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = api.http.get(api.url(path)).bearer_auth("t");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a whole gzip stream");
    out
}

#[tokio::test]
async fn gzip_when_the_client_asks_and_only_then() {
    let api = demo().await;
    let page = format!("{DEVICES}?$top=999");
    let (status, headers, plain) = raw_get(&api, &page, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-encoding"), None, "not asked, not compressed");
    let plain: Value = serde_json::from_slice(&plain).unwrap();

    for asked in ["gzip", "gzip, deflate", "br;q=1.0, gzip;q=0.8, *;q=0.1"] {
        let (status, headers, zipped) = raw_get(&api, &page, &[("accept-encoding", asked)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-encoding"], "gzip", "{asked}");
        assert_eq!(headers["content-type"], JSON_TYPE);
        assert!(headers["vary"].to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"));
        assert!(headers.get("request-id").is_some(), "Graph's headers survive compression");
        let unzipped: Value = serde_json::from_slice(&gunzip(&zipped)).unwrap();
        assert_eq!(unzipped, plain, "{asked}");
    }
    // An encoding the server does not offer: the answer goes out as it is.
    let (_, headers, body) = raw_get(&api, &page, &[("accept-encoding", "br")]).await;
    assert_eq!(headers.get("content-encoding"), None);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), plain);
    // Errors are compressed too, and stay Graph errors.
    let (status, headers, zipped) =
        raw_get(&api, &format!("{DEVICES}/does-not-exist"), &[("accept-encoding", "gzip")]).await;
    assert_eq!((status, &headers["content-encoding"]), (StatusCode::NOT_FOUND, &"gzip".parse().unwrap()));
    let error: Value = serde_json::from_slice(&gunzip(&zipped)).unwrap();
    assert_eq!(error["error"]["code"], "ResourceNotFound");
}

/// Every tag opened in `xml` is closed in order (a well-formedness check without a parser).
fn tags_balance(xml: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    for tag in xml.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or("")) {
        if tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        match tag.strip_prefix('/') {
            Some(name) => {
                if open.pop() != Some(name) {
                    return false;
                }
            }
            None => open.push(tag.split_whitespace().next().unwrap_or("")),
        }
    }
    open.is_empty()
}

#[tokio::test]
async fn metadata_describes_the_served_types_without_a_token() {
    let api = demo().await;
    let root = api.server.base_url().replace("/v1.0", "");
    let mut documents = Vec::new();
    for version in ["v1.0", "beta"] {
        // No Authorization header: Graph serves its description to anyone.
        let doc = answer(api.http.get(format!("{root}/{version}/$metadata"))).await;
        assert_eq!(doc.status, StatusCode::OK, "{version}: {}", doc.text);
        assert_eq!(doc.header("content-type"), "application/xml");
        assert!(uuid::Uuid::parse_str(doc.header("request-id")).is_ok());
        assert_eq!(doc.header("odata-version"), "4.0");
        documents.push(doc.text);
    }
    assert_eq!(documents[0], documents[1]);
    let csdl = &documents[0];
    assert!(csdl.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#));
    assert!(tags_balance(csdl), "{csdl}");
    for fragment in [
        r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
        r#"<Schema Namespace="microsoft.graph" Alias="graph""#,
        r#"<EntityType Name="importedWindowsAutopilotDeviceIdentity" BaseType="graph.entity">"#,
        r#"<Key><PropertyRef Name="id" /></Key>"#,
        r#"<Property Name="groupTag" Type="Edm.String" />"#,
        r#"<Property Name="hardwareIdentifier" Type="Edm.Binary" />"#,
        r#"<Property Name="state" Type="graph.importedWindowsAutopilotDeviceIdentityState" Nullable="false" />"#,
        r#"<ComplexType Name="importedWindowsAutopilotDeviceIdentityState">"#,
        r#"<Property Name="deviceImportStatus" Type="graph.importedWindowsAutopilotDeviceIdentityImportStatus" Nullable="false" />"#,
        r#"<Property Name="deviceErrorCode" Type="Edm.Int32" Nullable="false" />"#,
        r#"<EnumType Name="importedWindowsAutopilotDeviceIdentityImportStatus">"#,
        r#"<Member Name="unknown" Value="0" />"#,
        r#"<Member Name="error" Value="4" />"#,
        r#"<NavigationProperty Name="importedWindowsAutopilotDeviceIdentities" Type="Collection(graph.importedWindowsAutopilotDeviceIdentity)" ContainsTarget="true" />"#,
        r#"<Singleton Name="deviceManagement" Type="graph.deviceManagement" />"#,
        r#"<Action Name="import" IsBound="true">"#,
    ] {
        assert!(csdl.contains(fragment), "missing {fragment}");
    }
    // Every property the JSON carries is described.
    let device = api.get_json(&format!("{DEVICES}?$top=1")).await["value"][0].clone();
    for (name, _) in device.as_object().unwrap().iter().chain(device["state"].as_object().unwrap()) {
        if !name.starts_with('@') {
            assert!(csdl.contains(&format!(r#"Name="{name}""#)), "{name} is not described");
        }
    }
    // The context URL of an answer names the document.
    let page = api.get_json(DEVICES).await;
    let context = page["@odata.context"].as_str().unwrap();
    assert!(context.starts_with(&format!("{}/$metadata#", api.server.base_url())), "{context}");
    // Only GET, and still Graph's errors elsewhere.
    api.send(Method::POST, "/$metadata", Some(("application/json", "{}".into())))
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
}

#[tokio::test]
async fn authentication_is_required() {
    let api = demo().await;
    let missing = answer(api.http.get(api.url(DEVICES))).await;
    assert_eq!(
        missing.error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        "Access token is empty."
    );
    let empty = answer(api.http.get(api.url(DEVICES)).header("authorization", "Bearer ")).await;
    assert_eq!(empty.error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"), "Access token is empty.");
    answer(api.http.get(api.url(DEVICES)).basic_auth("u", Some("p")))
        .await
        .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");

    let locked = api_with(ServeOptions { token: Some("s3cret".into()), ..ServeOptions::default() }).await;
    let wrong = answer(locked.http.get(locked.url(DEVICES)).bearer_auth("other")).await;
    let message = wrong.error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(message.starts_with("Access token validation failure"), "{message}");
    let id = api.first_id().await;
    // A PATCH without the right token changes nothing.
    answer(
        locked
            .http
            .patch(locked.url(&format!("{DEVICES}/{id}")))
            .bearer_auth("other")
            .json(&json!({"groupTag": "x"})),
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let right = answer(locked.http.get(locked.url(&format!("{DEVICES}/{id}"))).bearer_auth("s3cret")).await;
    assert_eq!(right.status, StatusCode::OK);
    assert_ne!(right.json()["groupTag"], "x");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_graph_shape() {
    let api = demo().await;
    let message = api
        .get("/deviceManagement/windowsAutopilotThings")
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(message, "Resource not found for the segment 'windowsAutopilotThings'.");
    let root = api.server.base_url().replace("/v1.0", "");
    answer(api.http.get(format!("{root}/v9{DEVICES}")).bearer_auth("t"))
        .await
        .error(StatusCode::BAD_REQUEST, "BadRequest");
    let put = api.send(Method::PUT, DEVICES, Some(("application/json", "{}".into()))).await;
    put.error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
    api.send(Method::POST, &format!("{UPLOAD}/x"), Some(("application/json", "{}".into())))
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
}

// ---------------------------------------------------------------------------------------------
// Generated data

#[tokio::test]
async fn generated_data_is_deterministic() {
    let a = generated(500, 42).await;
    let b = generated(500, 42).await;
    let c = generated(500, 43).await;
    let page = async |api: &Api| api.get_json(&format!("{DEVICES}?$top=50&$skip=100")).await["value"].clone();
    let (pa, pb, pc) = (page(&a).await, page(&b).await, page(&c).await);
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
    let id = pa[0]["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let one = async |api: &Api| without(api.get_json(&format!("{DEVICES}/{id}")).await, &["@odata.context"]);
    assert_eq!(one(&a).await, one(&b).await);
    c.get(&format!("{DEVICES}/{id}")).await.error(StatusCode::NOT_FOUND, "ResourceNotFound");
}

#[tokio::test]
async fn a_million_devices_page_cheaply() {
    let api = generated(1_000_000, 1).await;
    let started = std::time::Instant::now();
    let page = api.get_json(&format!("{DEVICES}?$top=999")).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 999);
    let next = api.get_json(page["@odata.nextLink"].as_str().unwrap()).await;
    assert_ne!(next["value"][0]["id"], page["value"][0]["id"]);
    let id = page["value"][500]["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.patch(&format!("{DEVICES}/{id}"), &json!({"groupTag": "Patched"})).await.status,
        StatusCode::OK
    );
    let found = api.get_json(&format!("{DEVICES}?$filter={}", enc("groupTag eq 'Patched'"))).await;
    assert_eq!(ids(found["value"].as_array().unwrap()), [id]);
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.text, "1000000");
    // Generous even for a debug build on a shared machine; the release figure is far lower.
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// The real binary

#[test]
fn serve_binary_announces_serves_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let log = std::env::temp_dir().join(format!("autopilot-tui-test-{}.log", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"))
        .args(["serve", "--addr", "127.0.0.1:0", "--log-file"])
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/v1.0"), "{base}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}{DEVICES}?$top=1"))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::OK);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains("request"), "requests are logged to the file");
    let _ = std::fs::remove_file(&log);
}
