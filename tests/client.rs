//! The Graph client against the embedded server (and a few hand-made misbehaving servers),
//! over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod records;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, Collection, GraphClient, ListQuery};
use autopilot_tui::graph::error::GraphError;
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
use futures_util::StreamExt;
use records::RecordExt;
use std::collections::HashSet;
use std::time::Duration;

const TOKEN: &str = "test-token-7f3a9c";

async fn serve(data: DataSet, page_size: usize, strict: bool) -> RunningServer {
    server::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.to_string()),
        strict,
        data,
        page_size,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn client_for(base_url: &str, collection: Collection) -> GraphClient {
    let mut config = ClientConfig::new(base_url, Secret::new(TOKEN));
    config.collection = collection;
    GraphClient::new(config).unwrap()
}

#[tokio::test]
async fn lists_every_device_exactly_once_across_many_pages() {
    let server = serve(DataSet::Generated { devices: 1000, seed: 7 }, 37, false).await;
    let client = client_for(&server.base_url(), Collection::DeviceManagement);
    let query = ListQuery { count: true, ..ListQuery::default() };
    let outcomes: Vec<_> = client.list(&query).collect().await;
    assert_eq!(outcomes.len(), 1000usize.div_ceil(37));
    let mut ids = HashSet::new();
    let mut request_ids = HashSet::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let page = outcome.result.as_ref().unwrap();
        if i == 0 {
            assert_eq!(page.count, Some(1000));
        }
        for d in &page.devices {
            assert!(ids.insert(d.id()), "device {} listed twice", d.id());
        }
        assert_eq!(outcome.exchange.status, Some(200));
        assert!(request_ids.insert(outcome.exchange.client_request_id.clone()), "client-request-id reused");
        assert_eq!(
            outcome.exchange.response_header("client-request-id"),
            Some(outcome.exchange.client_request_id.as_str())
        );
    }
    assert_eq!(ids.len(), 1000);
    assert!(outcomes.last().unwrap().result.as_ref().unwrap().next_link.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn select_and_filter_reach_the_server() {
    let server = serve(DataSet::Demo, 100, false).await;
    let client = client_for(&server.base_url(), Collection::DeviceManagement);
    let all: Vec<_> = client.list(&ListQuery::default()).collect().await;
    let first = all[0].result.as_ref().unwrap().devices[0].clone();
    let serial = first.text("serialNumber").unwrap().to_string();
    let query = ListQuery {
        select: vec!["id".into(), "serialNumber".into()],
        filter: Some(format!(
            "contains(serialNumber,{})",
            autopilot_tui::graph::client::odata_literal(&serial)
        )),
        top: Some(999),
        ..ListQuery::default()
    };
    let pages: Vec<_> = client.list(&query).collect().await;
    let found: Vec<_> = pages.iter().flat_map(|o| o.result.as_ref().unwrap().devices.clone()).collect();
    assert!(found.iter().any(|d| d.id() == first.id()));
    assert!(found.iter().all(|d| d.text("serialNumber").unwrap_or("").contains(&serial)));
    assert!(found.iter().all(|d| d.text("hardwareIdentifier").is_none()), "$select must leave the hash out");
    server.shutdown().await;
}

#[tokio::test]
async fn get_and_patch_on_both_paths() {
    let server = serve(DataSet::Demo, 100, false).await;
    for collection in [Collection::DeviceManagement, Collection::Upload] {
        let client = client_for(&server.base_url(), collection);
        let page = client.list(&ListQuery::default()).next().await.unwrap().result.unwrap();
        let id = page.devices[3].id().clone();
        let got = client.get(&id).await;
        let original = got.result.unwrap();
        assert!(original.text("hardwareIdentifier").is_some());
        assert!(!original.contains_key("@odata.context"));

        let mut edited = original.clone();
        edited.set_text("groupTag", Some(&format!("Tag-{collection:?}")));
        let body = PatchBody::between(&IMPORTED, &original, &edited);
        let outcome = client.write(&id, &body).await;
        let updated = outcome.result.unwrap().expect("the server answers with the entity");
        assert_eq!(updated.text("groupTag"), edited.text("groupTag"));
        assert_eq!(updated.text("serialNumber"), original.text("serialNumber"));
        assert_eq!(outcome.exchange.method, "PATCH");
        assert_eq!(outcome.exchange.status_line(), "200 OK");
        assert!(outcome.exchange.url.ends_with(&format!("{}/{id}", collection.path())));

        let patches: Vec<_> = server.journal().into_iter().filter(|r| r.method == "PATCH").collect();
        let last = patches.last().unwrap();
        assert!(last.path_and_query.contains(collection.path()));
        let sent: serde_json::Value = serde_json::from_slice(&last.body).unwrap();
        assert_eq!(sent, serde_json::json!({"groupTag": format!("Tag-{collection:?}")}));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_typed_with_code_message_and_request_id() {
    let server = serve(DataSet::Demo, 100, true).await;
    let client = client_for(&server.base_url(), Collection::DeviceManagement);

    let missing = client.get("00000000-0000-0000-0000-000000000000").await;
    let err = missing.result.unwrap_err();
    let service = err.service().unwrap();
    assert_eq!(service.status, 404);
    assert_eq!(service.code, "ResourceNotFound");
    assert!(!service.message.is_empty());
    assert_eq!(service.request_id.as_deref(), missing.exchange.response_header("request-id"));
    assert_eq!(service.client_request_id.as_deref(), Some(missing.exchange.client_request_id.as_str()));

    // --strict: the live service's refusal of PATCH.
    let page = client.list(&ListQuery::default()).next().await.unwrap().result.unwrap();
    let original = page.devices[0].clone();
    let mut edited = original.clone();
    edited.set_text("groupTag", Some("x"));
    let refused = client.write(&original.id(), &PatchBody::between(&IMPORTED, &original, &edited)).await;
    let err = refused.result.unwrap_err();
    assert!(err.service().unwrap().is_patch_route_missing(), "{err}");
    assert_eq!(refused.exchange.status, Some(400));

    // A wrong token.
    let wrong = GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("wrong"))).unwrap();
    let denied = wrong.get(&original.id()).await.result.unwrap_err();
    assert_eq!(denied.service().unwrap().code, "InvalidAuthenticationToken");
    server.shutdown().await;
}

#[tokio::test]
async fn authorization_is_redacted_everywhere_it_is_shown() {
    let server = serve(DataSet::Demo, 100, false).await;
    let client = client_for(&server.base_url(), Collection::DeviceManagement);
    let outcome = client.list(&ListQuery::default()).next().await.unwrap();
    let shown = format!("{:?} {:?}", outcome.exchange, client);
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    let auth = outcome.exchange.request_headers.iter().find(|(k, _)| k == "Authorization").unwrap();
    assert_eq!(auth.1, "Bearer [redacted]");
    // The token did reach the server (the request succeeded), but its journal keeps it redacted.
    assert!(outcome.result.is_ok());
    assert!(
        !format!("{:?}", server.journal().iter().map(|r| &r.headers).collect::<Vec<_>>()).contains(TOKEN)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn read_only_client_sends_no_write() {
    let server = serve(DataSet::Demo, 100, false).await;
    let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
    config.read_only = true;
    let client = GraphClient::new(config).unwrap();
    let page = client.list(&ListQuery::default()).next().await.unwrap().result.unwrap();
    let original = page.devices[0].clone();
    let mut edited = original.clone();
    edited.set_text("groupTag", Some("nope"));
    let outcome = client.write(&original.id(), &PatchBody::between(&IMPORTED, &original, &edited)).await;
    assert!(matches!(outcome.result, Err(GraphError::ReadOnly(_))));
    assert!(server.journal().iter().all(|r| r.method == "GET"));
    server.shutdown().await;
}

/// A server that answers every page with a next link to itself: the client must stop.
#[tokio::test]
async fn repeated_next_link_stops_the_listing() {
    use axum::{Router, extract::State, routing::get};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page_url = format!("http://{addr}/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities");
    let app = Router::new()
        .route(
            "/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities",
            get(|State(url): State<String>| async move {
                axum::Json(serde_json::json!({"value": [{"id": "a"}], "@odata.nextLink": url}))
            }),
        )
        .with_state(page_url);
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_for(&format!("http://{addr}/v1.0"), Collection::DeviceManagement);
    let outcomes: Vec<_> = client.list(&ListQuery::default()).collect().await;
    // The first page is delivered, then its link (the URL just fetched) ends the listing.
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].result.as_ref().unwrap().devices.len(), 1);
    assert!(matches!(outcomes[1].result, Err(GraphError::RepeatedNextLink(_))));
    task.abort();
}

#[tokio::test]
async fn transport_errors_and_timeouts() {
    // A port that nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = ClientConfig::new(format!("http://{closed}/v1.0"), Secret::new(TOKEN));
    config.retry = RetryPolicy::none();
    let client = GraphClient::new(config).unwrap();
    let outcome = client.get("x").await;
    assert!(matches!(outcome.result, Err(GraphError::Connect(_))), "{:?}", outcome.result);
    let text = outcome.result.unwrap_err().to_string();
    assert!(text.contains(&format!("http://{closed}/v1.0/")) && text.contains("refused"), "{text}");
    assert!(outcome.exchange.transport_error.is_some());
    assert_eq!(outcome.exchange.status_line(), "no response");

    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = ClientConfig::new(format!("http://{addr}/v1.0"), Secret::new(TOKEN));
    config.timeout = Duration::from_millis(300);
    config.retry = RetryPolicy::none();
    let client = GraphClient::new(config).unwrap();
    let outcome = client.get("x").await;
    assert!(matches!(outcome.result, Err(GraphError::Timeout(_))), "{:?}", outcome.result);
    hold.abort();
}

/// 429 with a fractional Retry-After twice, then success: the client waits, tries again, and
/// tells its observer each time.
#[tokio::test]
async fn throttling_is_retried_with_retry_after() {
    use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    let calls = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/{id}",
            get(|State(calls): State<Arc<AtomicU32>>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("Retry-After", "0.05")],
                        "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}",
                    )
                        .into_response()
                } else {
                    axum::Json(serde_json::json!({"id": "a", "groupTag": "ok"})).into_response()
                }
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let client = client_for(&format!("http://{addr}/v1.0"), Collection::DeviceManagement)
        .with_retry_observer(Arc::new(move |n| seen.lock().unwrap().push(n)));
    let outcome = client.get("a").await;
    assert_eq!(outcome.result.unwrap().text("groupTag"), Some("ok"));
    assert_eq!(outcome.exchange.attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let notices = notices.lock().unwrap();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0].wait, Duration::from_millis(50));
    assert_eq!(notices[0].reason, "429 Too Many Requests");
    task.abort();
}
