//! Opt-in faults of the embedded server over real HTTP on 127.0.0.1: each kind at rate 1, what a
//! faulted PATCH changed, and the Graph client's retry policy riding out every fault at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient, ListQuery};
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::server::faults::{FaultConfig, FaultKind};
use autopilot_tui::server::{self, DataSet, RecordedRequest, RunningServer, ServeOptions};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const DEVICES: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
const TOKEN: &str = "fault-test-token";

async fn serve(devices: u64, page_size: usize, faults: FaultConfig) -> RunningServer {
    server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices, seed: 11 },
        page_size,
        faults,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn only(kind: &str) -> FaultConfig {
    let mut config =
        FaultConfig { retry_after: Duration::from_millis(250), seed: 5, ..FaultConfig::default() };
    match kind {
        "429" => config.throttle = 1.0,
        "503" => config.unavailable = 1.0,
        "500" => config.internal_error = 1.0,
        "drop" => config.drop_connection = 1.0,
        "truncate" => config.truncate_body = 1.0,
        "malformed" => config.malformed_body = 1.0,
        other => panic!("no fault {other}"),
    }
    config
}

/// What came back: the status and headers when an answer started, and the body or the error.
struct Reply {
    status: Option<u16>,
    retry_after: Option<String>,
    body: Result<String, String>,
}

async fn send(server: &RunningServer, method: reqwest::Method, path: &str, body: Option<&Value>) -> Reply {
    let mut request =
        reqwest::Client::new().request(method, format!("{}{path}", server.base_url())).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(body);
    }
    match request.send().await {
        Err(e) => Reply { status: None, retry_after: None, body: Err(e.to_string()) },
        Ok(response) => {
            let status = Some(response.status().as_u16());
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            let body = response.text().await.map_err(|e| e.to_string());
            Reply { status, retry_after, body }
        }
    }
}

fn faults_of(server: &RunningServer) -> Vec<Option<FaultKind>> {
    server.journal().iter().map(|r| r.fault).collect()
}

fn graph_error_code(reply: &Reply) -> String {
    let body: Value = serde_json::from_str(reply.body.as_ref().unwrap()).unwrap();
    assert!(body["error"]["innerError"]["request-id"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn status_faults_at_rate_one() {
    let server = serve(20, 5, only("429")).await;
    let reply = send(&server, reqwest::Method::GET, DEVICES, None).await;
    assert_eq!(reply.status, Some(429));
    assert_eq!(reply.retry_after.as_deref(), Some("1"), "whole seconds, rounded up");
    assert_eq!(graph_error_code(&reply), "TooManyRequests");
    assert_eq!(faults_of(&server), [Some(FaultKind::Throttled)]);

    server.set_faults(only("500")).unwrap();
    let reply = send(&server, reqwest::Method::GET, DEVICES, None).await;
    assert_eq!(reply.status, Some(500));
    assert_eq!(graph_error_code(&reply), "InternalServerError");

    server.set_faults(only("503")).unwrap();
    let mut with_header = 0;
    let mut without_header = 0;
    for _ in 0..16 {
        let reply = send(&server, reqwest::Method::GET, DEVICES, None).await;
        assert_eq!(reply.status, Some(503));
        assert_eq!(graph_error_code(&reply), "serviceNotAvailable");
        match reply.retry_after.as_deref() {
            Some(value) => {
                assert_eq!(value, "1");
                with_header += 1;
            }
            None => without_header += 1,
        }
    }
    assert!(with_header > 0 && without_header > 0, "{with_header} with, {without_header} without");
    let journal = server.journal();
    assert_eq!(
        journal
            .iter()
            .filter(|r| matches!(r.fault, Some(FaultKind::Unavailable { retry_after: true })))
            .count(),
        with_header
    );

    // Authentication comes first: an unauthenticated request is refused, not faulted.
    let reply = reqwest::Client::new().get(format!("{}{DEVICES}", server.base_url())).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(server.journal().last().unwrap().fault, None);
    server.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_transport_errors() {
    let server = serve(20, 5, only("drop")).await;
    for _ in 0..8 {
        let reply = send(&server, reqwest::Method::GET, DEVICES, None).await;
        // The answer never completes: either no status at all, or a body that fails.
        assert!(reply.body.is_err(), "status {:?}, body {:?}", reply.status, reply.body);
    }
    let faults = faults_of(&server);
    assert!(faults.contains(&Some(FaultKind::DroppedBeforeHandling)), "{faults:?}");
    assert!(faults.contains(&Some(FaultKind::DroppedAfterHandling)), "{faults:?}");

    // The Graph client sees a transport error, and with retries off reports it.
    let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
    config.retry = RetryPolicy::none();
    let client = GraphClient::new(config).unwrap();
    let outcome = client.list(&ListQuery::default()).next().await.unwrap();
    assert!(
        matches!(outcome.result, Err(autopilot_tui::graph::error::GraphError::Transport(_))),
        "{:?}",
        outcome.result
    );
    server.shutdown().await;
}

#[tokio::test]
async fn truncated_and_malformed_bodies_are_undecodable_200s() {
    let server = serve(20, 5, FaultConfig::default()).await;
    let whole = send(&server, reqwest::Method::GET, DEVICES, None).await.body.unwrap();
    for kind in ["truncate", "malformed"] {
        server.set_faults(only(kind)).unwrap();
        let reply = send(&server, reqwest::Method::GET, DEVICES, None).await;
        assert_eq!(reply.status, Some(200), "{kind}");
        let body = reply.body.unwrap();
        assert!(serde_json::from_str::<Value>(&body).is_err(), "{kind}: {body}");
        if kind == "truncate" {
            assert!(whole.starts_with(&body) && body.len() < whole.len(), "{body}");
        }
        let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
        config.retry = RetryPolicy::none();
        let outcome = GraphClient::new(config).unwrap().list(&ListQuery::default()).next().await.unwrap();
        assert!(
            matches!(outcome.result, Err(autopilot_tui::graph::error::GraphError::Decode(_))),
            "{kind}: {:?}",
            outcome.result
        );
    }
    let faults = faults_of(&server);
    assert!(
        faults.contains(&Some(FaultKind::TruncatedBody)) && faults.contains(&Some(FaultKind::MalformedBody))
    );
    // An answer with no body (DELETE's 204) has nothing to garble and goes out unfaulted.
    let id = serde_json::from_str::<Value>(&whole).unwrap()["value"][0]["id"].as_str().unwrap().to_string();
    let reply = send(&server, reqwest::Method::DELETE, &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(reply.status, Some(204));
    assert_eq!(server.journal().last().unwrap().fault, None);
    server.shutdown().await;
}

/// A GET that asks for gzip: the status, whether the answer came gzipped, and the unzipped body
/// (or why there is none).
async fn get_gzip(server: &RunningServer, path: &str) -> (Option<u16>, bool, Result<Vec<u8>, String>) {
    use std::io::Read;
    let sent = reqwest::Client::new()
        .get(format!("{}{path}", server.base_url()))
        .bearer_auth(TOKEN)
        .header("accept-encoding", "gzip")
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return (None, false, Err(e.to_string())),
    };
    let status = Some(response.status().as_u16());
    let gzipped = response.headers().get("content-encoding").is_some_and(|v| v == "gzip");
    let body = match response.bytes().await {
        Ok(zipped) => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&zipped[..])
                .read_to_end(&mut out)
                .map(|_| out)
                .map_err(|e| format!("not a whole gzip stream: {e}"))
        }
        Err(e) => Err(e.to_string()),
    };
    (status, gzipped, body)
}

#[tokio::test]
async fn faults_garble_the_json_inside_a_gzip_answer() {
    // Compression sits outside the faults: the client unzips fine and then finds bad JSON,
    // as when a proxy garbled the answer before compressing it.
    let server = serve(20, 5, FaultConfig::default()).await;
    let (status, gzipped, whole) = get_gzip(&server, DEVICES).await;
    assert_eq!((status, gzipped), (Some(200), true));
    let whole = whole.unwrap();
    assert!(serde_json::from_slice::<Value>(&whole).is_ok());
    for kind in ["truncate", "malformed"] {
        server.set_faults(only(kind)).unwrap();
        let (status, gzipped, body) = get_gzip(&server, DEVICES).await;
        assert_eq!((status, gzipped), (Some(200), true), "{kind}");
        let body = body.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(serde_json::from_slice::<Value>(&body).is_err(), "{kind}");
        if kind == "truncate" {
            assert!(whole.starts_with(&body) && body.len() < whole.len(), "{kind}");
        }
    }
    server.set_faults(only("drop")).unwrap();
    for _ in 0..4 {
        let (_, _, body) = get_gzip(&server, DEVICES).await;
        assert!(body.is_err(), "a dropped connection stays a transport error under gzip");
    }
    server.set_faults(only("429")).unwrap();
    let (status, gzipped, body) = get_gzip(&server, DEVICES).await;
    assert_eq!((status, gzipped), (Some(429), true));
    let error: Value = serde_json::from_slice(&body.unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "TooManyRequests");
    server.shutdown().await;
}

async fn group_tag(server: &RunningServer, id: &str) -> Option<String> {
    let reply = send(server, reqwest::Method::GET, &format!("{DEVICES}/{id}"), None).await;
    assert_eq!(reply.status, Some(200));
    let device: Value = serde_json::from_str(&reply.body.unwrap()).unwrap();
    device["groupTag"].as_str().map(String::from)
}

#[tokio::test]
async fn faulted_patches_change_the_store_only_when_they_reached_the_handler() {
    let server = serve(40, 40, FaultConfig::default()).await;
    let page: Value =
        serde_json::from_str(&send(&server, reqwest::Method::GET, DEVICES, None).await.body.unwrap())
            .unwrap();
    let ids: Vec<String> =
        page["value"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().into()).collect();
    let before: Vec<Option<String>> = {
        let mut tags = Vec::new();
        for id in &ids {
            tags.push(group_tag(&server, id).await);
        }
        tags
    };

    // Faults decided before the handler: the store is untouched.
    let before_handling = FaultConfig {
        throttle: 0.3,
        unavailable: 0.3,
        internal_error: 0.4,
        retry_after: Duration::from_millis(10),
        ..FaultConfig::default()
    };
    server.set_faults(before_handling).unwrap();
    for id in &ids[..10] {
        let reply = send(
            &server,
            reqwest::Method::PATCH,
            &format!("{DEVICES}/{id}"),
            Some(&json!({"groupTag": "Never"})),
        )
        .await;
        assert!(matches!(reply.status, Some(429 | 500 | 503)), "{:?}", reply.status);
    }
    // Drops and garbled bodies: half the drops before handling, the rest after.
    let after = FaultConfig {
        drop_connection: 0.5,
        truncate_body: 0.25,
        malformed_body: 0.25,
        ..FaultConfig::default()
    };
    server.set_faults(after).unwrap();
    for id in &ids[10..] {
        let reply = send(
            &server,
            reqwest::Method::PATCH,
            &format!("{DEVICES}/{id}"),
            Some(&json!({"groupTag": "Maybe"})),
        )
        .await;
        assert!(reply.body.is_err() || serde_json::from_str::<Value>(reply.body.as_ref().unwrap()).is_err());
    }
    server.set_faults(FaultConfig::default()).unwrap();

    let patches: HashMap<String, RecordedRequest> = server
        .journal()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.path_and_query.rsplit('/').next().unwrap().to_string(), r))
        .collect();
    let mut seen_before = 0;
    let mut seen_after = 0;
    for (i, id) in ids.iter().enumerate() {
        let recorded = &patches[id];
        let fault = recorded.fault.expect("every PATCH was faulted");
        let now = group_tag(&server, id).await;
        if recorded.reached_handler() {
            seen_after += 1;
            assert_eq!(now.as_deref(), Some("Maybe"), "{id}: {fault}");
        } else {
            seen_before += 1;
            assert_eq!(now, before[i], "{id}: {fault} must change nothing");
        }
    }
    assert!(seen_before > 10 && seen_after > 5, "{seen_before} before, {seen_after} after");
    server.shutdown().await;
}

// Paused time: the injected latency and the client's back-off pass on tokio's clock, not in real
// sleeps.
#[tokio::test(start_paused = true)]
async fn the_client_rides_out_every_fault_at_once() {
    let faults = FaultConfig::every_kind(0.1, 2026);
    let server = serve(500, 50, faults.clone()).await;
    let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
    // 60% of requests fail; 25 tries make a request that never gets through vanishingly rare.
    config.retry = RetryPolicy {
        max_attempts: 25,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let client = GraphClient::new(config).unwrap();

    let outcomes: Vec<_> = client.list(&ListQuery::default()).collect().await;
    let mut listed = Vec::new();
    for outcome in &outcomes {
        let page = outcome.result.as_ref().unwrap_or_else(|e| panic!("a page failed: {e}"));
        listed.extend(page.devices.iter().filter_map(|d| d["id"].as_str().map(String::from)));
    }
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(listed.len(), 500, "every device exactly once");
    assert_eq!(unique.len(), 500, "every device exactly once");
    assert!(outcomes.iter().any(|o| o.exchange.attempts > 1), "faults made the client retry");

    // PATCH 120 devices, 4 at a time.
    let targets: Vec<String> = listed.iter().step_by(4).take(120).cloned().collect();
    let results: Vec<(String, bool)> = futures_util::stream::iter(targets.clone())
        .map(|id| {
            let client = client.clone();
            async move {
                let original = json!({"id": id}).as_object().unwrap().clone();
                let mut edited = original.clone();
                edited.insert("groupTag".into(), json!(format!("Faulted-{id}")));
                let body = PatchBody::between(&autopilot_tui::graph::imported::IMPORTED, &original, &edited);
                let outcome = client.write(&id, &body).await;
                if let Ok(Some(device)) = &outcome.result {
                    assert_eq!(device.get("groupTag"), edited.get("groupTag"));
                }
                (id, outcome.result.is_ok())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;

    server.set_faults(FaultConfig::default()).unwrap();
    let journal = server.journal();
    let kinds: HashSet<String> = journal.iter().filter_map(|r| r.fault).map(|f| format!("{f:?}")).collect();
    assert!(kinds.len() >= 7, "every kind of fault happened: {kinds:?}");
    let mut succeeded = 0;
    for (id, ok) in &results {
        let patches: Vec<&RecordedRequest> = journal
            .iter()
            .filter(|r| r.method == "PATCH" && r.path_and_query.ends_with(id.as_str()))
            .collect();
        let bodies: HashSet<&Vec<u8>> = patches.iter().map(|r| &r.body).collect();
        assert_eq!(bodies.len(), 1, "{id}: every retry sent the same body");
        let delivered = patches.iter().filter(|r| r.fault.is_none()).count();
        let applied = patches.iter().filter(|r| r.reached_handler()).count();
        let tag = group_tag(&server, id).await;
        if *ok {
            succeeded += 1;
            assert_eq!(delivered, 1, "{id}: a success is exactly one delivered answer");
            assert_eq!(tag, Some(format!("Faulted-{id}")));
        } else {
            assert_eq!(delivered, 0, "{id}: a failure delivered no success");
            assert_eq!(tag == Some(format!("Faulted-{id}")), applied > 0, "{id}: changed only if applied");
        }
    }
    assert!(succeeded >= 110, "only {succeeded} of {} PATCHes got through", results.len());
    server.shutdown().await;
}
