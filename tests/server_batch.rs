//! `POST /$batch` of the embedded server over real HTTP on 127.0.0.1:0: the three forms of an
//! inner url, the same handlers as direct calls, each inner request journaled, throttled and
//! faulted on its own, ids, the limit of 20, `dependsOn` with 424, and malformed batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::graph::pacer::Rate;
use autopilot_tui::server::faults::{FaultConfig, FaultKind};
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{DataSet, RecordedRequest, ServeOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server_common::*;
use std::time::Duration;

const REGISTERED: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";

impl Api {
    /// `POST {root}/$batch` with `requests`; `root` is `/v1.0` or `/beta`.
    async fn batch_at(&self, root: &str, requests: Value) -> Answer {
        let url = format!("{}{root}/$batch", self.server.authority_base());
        answer(
            self.http
                .post(url)
                .bearer_auth("test-token")
                .header("content-type", "application/json")
                .body(json!({ "requests": requests }).to_string()),
        )
        .await
    }

    async fn batch(&self, requests: Value) -> Answer {
        self.batch_at("/v1.0", requests).await
    }

    async fn ok_batch(&self, requests: Value) -> Vec<Value> {
        let answer = self.batch(requests).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()["responses"].as_array().unwrap().clone()
    }

    async fn some_ids(&self, collection: &str, n: usize) -> Vec<String> {
        ids(&self.get_json(&format!("{collection}?$top={n}")).await["value"].as_array().unwrap().clone())
    }

    /// The journal entries made from batch items, in order.
    fn inner_requests(&self) -> Vec<RecordedRequest> {
        self.server.journal().into_iter().filter(|r| r.batch_item.is_some()).collect()
    }
}

/// The response with this id (ids are not case-sensitive).
fn response<'a>(responses: &'a [Value], id: &str) -> &'a Value {
    responses
        .iter()
        .find(|r| r["id"].as_str().unwrap().eq_ignore_ascii_case(id))
        .unwrap_or_else(|| panic!("no response {id}: {responses:?}"))
}

fn patch(id: &str, url: String, tag: &str) -> Value {
    json!({"id": id, "method": "PATCH", "url": url, "headers": {"Content-Type": "application/json"},
           "body": {"groupTag": tag}})
}

#[tokio::test]
async fn the_three_url_forms_reach_the_same_handlers_and_each_is_journaled() {
    let api = demo().await;
    let imported = api.some_ids(DEVICES, 4).await;
    let registered = api.some_ids(REGISTERED, 1).await;
    let origin = api.server.authority_base();
    let requests = json!([
        patch("1", format!("{DEVICES}/{}", imported[0]), "Relative"),
        patch("2", format!("/v1.0{DEVICES}/{}", imported[1]), "Versioned"),
        patch("3", format!("{origin}/v1.0{DEVICES}/{}", imported[2]), "Absolute"),
        // Without the leading slash, as Graph's own example writes `users?$select=...`.
        {"id": "4", "method": "get", "url": format!("{}/{}?$select=id,groupTag", &DEVICES[1..], imported[3])},
        // Spaces in a filter, unencoded, as Graph's example sends them.
        {"id": "6", "method": "GET", "url": format!("{DEVICES}?$filter=id eq '{}'&$count=true", imported[3])},
        {"id": "5", "method": "POST", "url": format!("{REGISTERED}/{}/updateDeviceProperties", registered[0]),
         "headers": {"content-type": "application/json", "client-request-id": "c-5"},
         "body": {"groupTag": "Registered"}},
    ]);
    let before = api.server.journal().len();
    let responses = api.ok_batch(requests).await;
    assert_eq!(responses.len(), 6);
    for (id, tag) in [("1", "Relative"), ("2", "Versioned"), ("3", "Absolute")] {
        let answer = response(&responses, id);
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["body"]["groupTag"], tag);
        assert_eq!(answer["headers"]["Content-Type"], JSON_TYPE);
        assert!(answer["headers"]["request-id"].is_string());
    }
    assert_eq!(response(&responses, "4")["body"]["id"], imported[3].as_str());
    let filtered = &response(&responses, "6")["body"];
    assert_eq!(
        (filtered["@odata.count"].as_u64(), filtered["value"][0]["id"].as_str()),
        (Some(1), Some(imported[3].as_str()))
    );
    let action = response(&responses, "5");
    assert_eq!(action["status"], 204);
    assert!(action.get("body").is_none(), "{action}");
    assert_eq!(action["headers"]["client-request-id"], "c-5");
    // The changes are there for a direct call to see.
    assert_eq!(api.get_json(&format!("{DEVICES}/{}", imported[2])).await["groupTag"], "Absolute");
    assert_eq!(api.get_json(&format!("{REGISTERED}/{}", registered[0])).await["groupTag"], "Registered");

    // The journal: the batch, then each of its requests on its own, as sent to the handlers.
    let journal = api.server.journal();
    assert_eq!(journal[before].path_and_query, "/v1.0/$batch");
    assert_eq!(journal[before].batch_item, None);
    let inner: Vec<&RecordedRequest> = journal[before + 1..before + 7].iter().collect();
    let mut items: Vec<&str> = inner.iter().map(|r| r.batch_item.as_deref().unwrap()).collect();
    items.sort_unstable();
    assert_eq!(items, ["1", "2", "3", "4", "5", "6"]);
    let by_item = |id: &str| *inner.iter().find(|r| r.batch_item.as_deref() == Some(id)).unwrap();
    for (id, device) in [("1", &imported[0]), ("2", &imported[1]), ("3", &imported[2])] {
        let entry = by_item(id);
        assert_eq!(entry.method, "PATCH");
        assert_eq!(entry.path_and_query, format!("/v1.0{DEVICES}/{device}"));
        let body: Value = serde_json::from_slice(&entry.body).unwrap();
        assert!(body["groupTag"].is_string());
        let header = |name: &str| entry.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("authorization"), Some("Bearer [redacted]"), "the batch's token, redacted");
        assert_eq!(header("content-type"), Some("application/json"));
    }
    assert_eq!(by_item("4").path_and_query, format!("/v1.0{DEVICES}/{}?$select=id,groupTag", imported[3]));
    assert_eq!(by_item("5").method, "POST");
}

#[tokio::test]
async fn a_beta_batch_sends_relative_urls_to_beta() {
    let api = demo().await;
    let responses = api_beta_settings(&api).await;
    assert_eq!(response(&responses, "1")["status"], 200, "{responses:?}");
    assert!(response(&responses, "1")["body"]["syncStatus"].is_string());
    // The same relative url in a v1.0 batch meets v1.0's answer for a beta-only resource.
    let v1 = api
        .ok_batch(json!([{"id": "1", "method": "GET", "url": "/deviceManagement/windowsAutopilotSettings"}]))
        .await;
    assert_eq!(response(&v1, "1")["status"], 400);
    assert_eq!(response(&v1, "1")["body"]["error"]["code"], "BadRequest");
    let paths: Vec<String> = api.inner_requests().into_iter().map(|r| r.path_and_query).collect();
    assert_eq!(
        paths,
        [
            "/beta/deviceManagement/windowsAutopilotSettings",
            "/v1.0/deviceManagement/windowsAutopilotSettings"
        ]
    );
}

async fn api_beta_settings(api: &Api) -> Vec<Value> {
    let answer = api
        .batch_at(
            "/beta",
            json!([{"id": "1", "method": "GET", "url": "/deviceManagement/windowsAutopilotSettings"}]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["responses"].as_array().unwrap().clone()
}

#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let api = demo().await;
    let id = api.first_id().await;
    let get = |n: &str| json!({"id": n, "method": "GET", "url": format!("{DEVICES}/{id}")});
    let twenty_one: Vec<Value> = (1..=21).map(|n| get(&n.to_string())).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("more than 20", Value::Array(twenty_one.clone()), "the limit is 20"),
        ("none", json!([]), "holds no requests"),
        ("ids differ only in case", json!([get("a"), get("A")]), "more than once"),
        ("no id", json!([{"method": "GET", "url": DEVICES}]), "has no 'id'"),
        ("no url", json!([{"id": "1", "method": "GET"}]), "has no 'url'"),
        ("no method", json!([{"id": "1", "url": DEVICES}]), "has no valid 'method'"),
        (
            "a body without Content-Type",
            json!([{"id": "1", "method": "PATCH", "url": format!("{DEVICES}/{id}"), "body": {"groupTag": "x"}}]),
            "no Content-Type",
        ),
        (
            "another host",
            json!([{"id": "1", "method": "GET", "url": format!("https://graph.microsoft.com/v1.0{DEVICES}")}]),
            "another host",
        ),
        (
            "a batch in the batch",
            json!([{"id": "1", "method": "POST", "url": "/$batch"}]),
            "cannot hold a batch",
        ),
        (
            "a dependency on a later request",
            json!([after(get("1"), &["2"]), get("2")]),
            "not a request before it",
        ),
        ("a dependency on no request", json!([get("1"), after(get("2"), &["9"])]), "not a request before it"),
        (
            "half sequential",
            json!([get("1"), after(get("2"), &["1"]), get("3")]),
            "fully sequential or fully parallel",
        ),
    ];
    for (what, requests, says) in cases {
        let message = api.batch(requests).await.error(StatusCode::BAD_REQUEST, "BadRequest");
        assert!(message.contains(says), "{what}: {message}");
    }
    for body in ["not json", "{\"value\": []}"] {
        let url = format!("{}/$batch", api.server.base_url());
        let answer =
            answer(api.http.post(url).bearer_auth("t").header("content-type", "application/json").body(body))
                .await;
        answer.error(StatusCode::BAD_REQUEST, "BadRequest");
    }
    assert!(api.inner_requests().is_empty(), "a refused batch runs none of its requests");
    // Twenty is fine.
    let twenty = api.ok_batch(Value::Array(twenty_one[..20].to_vec())).await;
    assert_eq!(twenty.len(), 20);
    assert!(twenty.iter().all(|r| r["status"] == 200));
    assert_eq!(api.inner_requests().len(), 20);
    // The batch needs a token like any Graph call; it takes POST only.
    let url = format!("{}/$batch", api.server.base_url());
    answer(api.http.post(&url).body("{}"))
        .await
        .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    answer(api.http.get(&url).bearer_auth("t"))
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
}

/// A request of the batch that depends on others.
fn after(mut request: Value, ids: &[&str]) -> Value {
    request["dependsOn"] = json!(ids);
    request
}

#[tokio::test]
async fn depends_on_runs_in_order_and_a_failure_gives_424_to_what_follows() {
    let api = demo().await;
    let id = api.first_id().await;
    let item = format!("{DEVICES}/{id}");
    // Sequential: the GET after the PATCH sees its change.
    let responses = api
        .ok_batch(json!([
            patch("write", item.clone(), "First"),
            {"id": "read", "method": "GET", "url": item, "dependsOn": ["WRITE"]},
        ]))
        .await;
    assert_eq!(response(&responses, "read")["body"]["groupTag"], "First");

    // A failed request (404): what depends on it, directly or not, gets 424 and is never sent.
    let before = api.inner_requests().len();
    let responses = api
        .ok_batch(json!([
            patch("1", format!("{DEVICES}/00000000-0000-0000-0000-000000000000"), "Never"),
            after(patch("2", item.clone(), "Never"), &["1"]),
            after(patch("3", item.clone(), "Never"), &["2"]),
        ]))
        .await;
    assert_eq!(response(&responses, "1")["status"], 404);
    for id in ["2", "3"] {
        let failed = response(&responses, id);
        assert_eq!(failed["status"], 424, "{failed}");
        assert_eq!(failed["body"]["error"]["code"], "FailedDependency");
        assert!(failed["body"]["error"]["innerError"]["request-id"].is_string());
    }
    let sent: Vec<String> =
        api.inner_requests()[before..].iter().map(|r| r.batch_item.clone().unwrap()).collect();
    assert_eq!(sent, ["1"], "the dependents were not run");
    assert_eq!(api.get_json(&item).await["groupTag"], "First");

    // All depending on the same first request: they run after it, side by side.
    let responses = api
        .ok_batch(json!([
            patch("1", item.clone(), "Base"),
            {"id": "2", "method": "GET", "url": item.clone(), "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": item.clone(), "dependsOn": ["1"]},
        ]))
        .await;
    assert!(["2", "3"].iter().all(|id| response(&responses, id)["body"]["groupTag"] == "Base"));
}

#[tokio::test]
async fn an_inner_429_comes_back_in_a_200_batch_with_its_retry_after() {
    let api = api_with(ServeOptions {
        throttle: ThrottleConfig { writes: Some(Rate::new(2, Duration::from_secs(20))), requests: None },
        ..ServeOptions::default()
    })
    .await;
    let ids = api.some_ids(DEVICES, 4).await;
    let requests: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| patch(&(i + 1).to_string(), format!("{DEVICES}/{id}"), "T"))
        .collect();
    let responses = api.ok_batch(Value::Array(requests)).await;
    let statuses: Vec<u64> =
        (1..=4).map(|i| response(&responses, &i.to_string())["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 429, 429], "each request is throttled on its own, in order");
    let throttled = response(&responses, "3");
    assert_eq!(throttled["headers"]["Retry-After"], "10", "the next token is 10 s away");
    assert_eq!(throttled["body"]["error"]["code"], "TooManyRequests");
    let document: Value =
        serde_json::from_str(throttled["body"]["error"]["message"].as_str().unwrap()).unwrap();
    assert_eq!(document["_version"], 3, "Intune's document inside the message");
    let faults: Vec<Option<FaultKind>> = api.inner_requests().iter().map(|r| r.fault).collect();
    assert_eq!(faults, [None, None, Some(FaultKind::Throttled), Some(FaultKind::Throttled)]);
    // Reads are not writes: they pass.
    let reads =
        api.ok_batch(json!([{"id": "1", "method": "GET", "url": format!("{DEVICES}/{}", ids[0])}])).await;
    assert_eq!(reads[0]["status"], 200);
    // Ten seconds on, one more write goes.
    api.server.clock().advance(Duration::from_secs(10));
    let later = api
        .ok_batch(json!([
            patch("1", format!("{DEVICES}/{}", ids[2]), "T"),
            patch("2", format!("{DEVICES}/{}", ids[3]), "T")
        ]))
        .await;
    assert_eq!(
        (response(&later, "1")["status"].as_u64(), response(&later, "2")["status"].as_u64()),
        (Some(200), Some(429))
    );
}

#[tokio::test]
async fn faults_hit_each_inner_request_on_its_own() {
    let api = api_with(ServeOptions {
        data: DataSet::Generated { devices: 30, seed: 3 },
        ..ServeOptions::default()
    })
    .await;
    let ids = api.some_ids(DEVICES, 6).await;
    let writes = |tag: &str| -> Value {
        Value::Array(
            ids.iter()
                .enumerate()
                .map(|(i, id)| patch(&i.to_string(), format!("{DEVICES}/{id}"), tag))
                .collect(),
        )
    };
    let only = |config: FaultConfig| FaultConfig { retry_after: Duration::from_secs(2), seed: 9, ..config };

    api.server.set_faults(only(FaultConfig { throttle: 1.0, ..FaultConfig::default() })).unwrap();
    let responses = api.ok_batch(writes("A")).await;
    for answer in &responses {
        assert_eq!(answer["status"], 429);
        assert_eq!(answer["headers"]["Retry-After"], "2");
    }

    // A dropped connection becomes a 504 for that request; the batch still answers.
    api.server.set_faults(only(FaultConfig { drop_connection: 1.0, ..FaultConfig::default() })).unwrap();
    let responses = api.ok_batch(writes("B")).await;
    assert!(
        responses.iter().all(|r| r["status"] == 504 && r["body"]["error"]["code"] == "GatewayTimeout"),
        "{responses:?}"
    );
    // A garbled body comes as the text it is, with a 2xx status.
    api.server.set_faults(only(FaultConfig { truncate_body: 1.0, ..FaultConfig::default() })).unwrap();
    let responses = api.ok_batch(writes("C")).await;
    assert!(responses.iter().all(|r| r["status"] == 200 && r["body"].is_string()), "{responses:?}");
    api.server.set_faults(FaultConfig::default()).unwrap();

    // The journal marks each inner request's fault; the batches themselves were never faulted.
    let journal = api.server.journal();
    let batches: Vec<&RecordedRequest> =
        journal.iter().filter(|r| r.path_and_query.ends_with("/$batch")).collect();
    assert_eq!(batches.len(), 3);
    assert!(batches.iter().all(|r| r.fault.is_none()));
    let inner: Vec<&RecordedRequest> = journal.iter().filter(|r| r.batch_item.is_some()).collect();
    assert_eq!(inner.len(), 18);
    assert!(inner[..6].iter().all(|r| r.fault == Some(FaultKind::Throttled)));
    assert!(inner[6..12].iter().all(|r| matches!(
        r.fault,
        Some(FaultKind::DroppedBeforeHandling | FaultKind::DroppedAfterHandling)
    )));
    assert!(inner[12..].iter().all(|r| r.fault == Some(FaultKind::TruncatedBody)));
    // What a dropped answer changed is what reached the handler; every truncated one did.
    for (i, id) in ids.iter().enumerate() {
        let tag = api.get_json(&format!("{DEVICES}/{id}")).await["groupTag"].clone();
        assert_eq!(tag, "C", "device {i}");
    }
    let dropped_after = inner[6..12].iter().filter(|r| r.reached_handler()).count();
    let dropped_before = 6 - dropped_after;
    assert!(dropped_after > 0 && dropped_before > 0, "{dropped_after} after, {dropped_before} before");
}

#[tokio::test]
async fn a_body_in_base64_under_another_content_type_is_decoded() {
    let api = demo().await;
    let id = api.first_id().await;
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(b"{\"groupTag\":\"Encoded\"}");
    // The handler gets the decoded bytes, and refuses them under text/plain as it would directly.
    let responses = api
        .ok_batch(json!([{"id": "1", "method": "PATCH", "url": format!("{DEVICES}/{id}"),
                          "headers": {"Content-Type": "text/plain"}, "body": encoded}]))
        .await;
    let entry = api.inner_requests().pop().unwrap();
    assert_eq!(entry.body, b"{\"groupTag\":\"Encoded\"}");
    assert_eq!(response(&responses, "1")["status"], 415, "{responses:?}");
}
