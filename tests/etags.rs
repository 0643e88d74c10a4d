//! `serve --etags`: records carry an ETag, a write whose `If-Match` names an older version is
//! refused with 412 and changes nothing; the client's conditional writes send it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::error::GraphError;
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::registered::REGISTERED;
use reqwest::{Method, StatusCode};
use serde_json::json;
use server_common::*;

const REGISTERED_PATH: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";

async fn conditional(api: &Api, method: Method, path: &str, etag: &str, body: serde_json::Value) -> Answer {
    let request = api
        .http
        .request(method, api.url(path))
        .bearer_auth("test-token")
        .header("If-Match", etag)
        .json(&body);
    answer(request).await
}

#[tokio::test]
async fn a_write_against_an_older_version_is_refused_with_412_and_changes_nothing() {
    let api = serve_with_flags(&["--etags"]).await;
    let id = api.first_id().await;
    let path = format!("{DEVICES}/{id}");
    let first = api.get(&path).await;
    let tag = first.header("etag").to_string();
    assert!(tag.starts_with("W/\""), "{tag:?}");
    // $select does not change the record's version.
    assert_eq!(api.get(&format!("{path}?$select=groupTag")).await.header("etag"), tag);

    let ok = conditional(&api, Method::PATCH, &path, &tag, json!({"groupTag": "First"})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let newer = ok.header("etag").to_string();
    assert_ne!(newer, tag, "a change makes a new version");
    let stale = conditional(&api, Method::PATCH, &path, &tag, json!({"groupTag": "Second"})).await;
    stale.error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed");
    assert_eq!(api.get_json(&path).await["groupTag"], "First", "a refused write changed the record");
    // No If-Match, or `*`: the write goes ahead (Graph does not require one).
    assert_eq!(api.patch(&path, &json!({"groupTag": "Third"})).await.status, StatusCode::OK);
    assert_eq!(
        conditional(&api, Method::PATCH, &path, "*", json!({"groupTag": "Fourth"})).await.status,
        StatusCode::OK
    );

    // Registered devices: updateDeviceProperties the same way.
    let page = api.get_json(&format!("{REGISTERED_PATH}?$top=1")).await;
    let rid = page["value"][0]["id"].as_str().unwrap().to_string();
    let rpath = format!("{REGISTERED_PATH}/{rid}");
    let rtag = api.get(&rpath).await.header("etag").to_string();
    let action = format!("{rpath}/updateDeviceProperties");
    assert_eq!(
        conditional(&api, Method::POST, &action, &rtag, json!({"groupTag": "A"})).await.status,
        StatusCode::NO_CONTENT
    );
    conditional(&api, Method::POST, &action, &rtag, json!({"groupTag": "B"}))
        .await
        .error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed");
    assert_eq!(api.get_json(&rpath).await["groupTag"], "A");
}

#[tokio::test]
async fn without_the_flag_there_is_no_etag_and_if_match_is_ignored() {
    let api = demo().await;
    let id = api.first_id().await;
    let path = format!("{DEVICES}/{id}");
    assert_eq!(api.get(&path).await.header("etag"), "");
    let answer = conditional(&api, Method::PATCH, &path, "W/\"0\"", json!({"groupTag": "X"})).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn the_clients_conditional_write_sends_if_match_and_reads_412_as_a_service_error() {
    let api = serve_with_flags(&["--etags"]).await;
    let config =
        ClientConfig::new(api.server.base_url(), autopilot_tui::graph::auth::Secret::new("test-token"));
    let client = GraphClient::new(config).unwrap().for_resource(&IMPORTED);
    let id = api.first_id().await;
    let read = client.get(&id).await;
    let tag = read.exchange.response_header("etag").map(str::to_string);
    let original = read.result.unwrap();
    let mut edited = original.clone();
    edited.insert("groupTag".into(), json!("Client"));
    let body = PatchBody::between(&IMPORTED, &original, &edited);
    // Someone else writes first: the conditional write is refused, nothing changes.
    assert_eq!(
        api.patch(&format!("{DEVICES}/{id}"), &json!({"groupTag": "Someone"})).await.status,
        StatusCode::OK
    );
    let refused = client.with_if_match(tag).write(&id, &body).await;
    assert!(
        refused.exchange.request_headers.iter().any(|(k, _)| k == "If-Match"),
        "{:?}",
        refused.exchange.request_headers
    );
    assert!(
        matches!(&refused.result, Err(GraphError::Service(e)) if e.status == 412),
        "{:?}",
        refused.result
    );
    assert_eq!(api.get_json(&format!("{DEVICES}/{id}")).await["groupTag"], "Someone");
    // A read never carries If-Match.
    let again = client.with_if_match(Some("W/\"x\"".into())).for_resource(&REGISTERED).get(&id).await;
    assert!(!again.exchange.request_headers.iter().any(|(k, _)| k == "If-Match"));
}
