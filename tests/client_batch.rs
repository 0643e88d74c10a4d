//! The write pacer and the `$batch` client against the embedded server (and a hand-made one
//! that refuses batching), over real HTTP on 127.0.0.1:0, on a paused clock: every write lands
//! exactly once under throttling and faults (the server's journal proves it), a 429 pauses
//! every writer, and a server without `$batch` gets single writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::batch::{BatchSupport, BatchWriter, Landing, Via, WriteItem};
use autopilot_tui::graph::client::{ClientConfig, GraphClient, RetryNotice};
use autopilot_tui::graph::error::GraphError;
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::pacer::{PacerConfig, Rate, WritePacer};
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::graph::resource::Resource;
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::server::faults::FaultConfig;
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{self, DataSet, RecordedRequest, RunningServer, ServeOptions};
use futures_util::StreamExt;
use hostile::{Hostile, Reply};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "batch-test-token";

async fn serve(devices: u64, throttle: ThrottleConfig, faults: FaultConfig) -> RunningServer {
    server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices, seed: 12 },
        page_size: 999,
        throttle,
        faults,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

/// A client with retries generous enough to ride out a stream of faults.
fn client(base_url: &str, resource: &'static Resource, pacer: &WritePacer) -> GraphClient {
    let mut config = ClientConfig::new(base_url, Secret::new(TOKEN));
    config.retry =
        RetryPolicy { max_attempts: 40, base_delay: Duration::from_millis(50), ..RetryPolicy::default() };
    GraphClient::new(config).unwrap().for_resource(resource).with_pacer(pacer.clone())
}

fn pacer(rate: &str, concurrency: usize) -> WritePacer {
    WritePacer::new(PacerConfig { rate: rate.parse().unwrap(), concurrency })
}

/// Every id of the collection.
async fn all_ids(client: &GraphClient) -> Vec<String> {
    let mut ids = Vec::new();
    let mut pages = client.list(&Default::default());
    while let Some(page) = pages.next().await {
        for record in page.result.unwrap().devices {
            ids.push(record["id"].as_str().unwrap().to_string());
        }
    }
    ids
}

/// `groupTag` set to `tag-{id}` on each record.
fn retag(resource: &'static Resource, ids: &[String]) -> Vec<WriteItem> {
    ids.iter()
        .map(|id| {
            let original = json!({"id": id}).as_object().unwrap().clone();
            let mut edited = original.clone();
            edited.insert("groupTag".into(), json!(format!("tag-{id}")));
            WriteItem {
                id: id.clone(),
                body: PatchBody::between(resource, &original, &edited),
                if_match: None,
            }
        })
        .collect()
}

/// The journaled writes of one record (sent alone or inside a batch).
fn writes_of<'a>(journal: &'a [RecordedRequest], path: &str, id: &str) -> Vec<&'a RecordedRequest> {
    journal
        .iter()
        .filter(|r| r.method != "GET" && r.path_and_query.contains(&format!("{path}/{id}")))
        .collect()
}

/// Every write landed exactly once: one answer delivered per record, every retry the same body,
/// the record as written.
async fn assert_landed_exactly_once(
    server: &RunningServer,
    client: &GraphClient,
    items: &[WriteItem],
    outcomes: &[autopilot_tui::graph::batch::ItemOutcome],
) {
    let journal = server.journal();
    let path = client.resource().path;
    for (item, outcome) in items.iter().zip(outcomes) {
        assert_eq!(outcome.id, item.id);
        assert!(outcome.result.is_ok(), "{}: {:?}", item.id, outcome.result);
        assert_eq!(outcome.landing(), Landing::Landed);
        let writes = writes_of(&journal, path, &item.id);
        let delivered = writes.iter().filter(|r| r.fault.is_none()).count();
        assert_eq!(delivered, 1, "{}: exactly one answered write ({} sent)", item.id, writes.len());
        let bodies: HashSet<&Vec<u8>> = writes.iter().map(|r| &r.body).collect();
        assert_eq!(bodies.len(), 1, "{}: every retry sent the same body", item.id);
        let record = client.get(&item.id).await.result.unwrap();
        assert_eq!(record["groupTag"], format!("tag-{}", item.id));
    }
}

// Throttled at Intune's write budget, every fault on: a plan of 400 retags, 20 to a batch,
// lands whole and exactly once, and the pacer keeps the server's bucket from ever refusing.
#[tokio::test(start_paused = true)]
async fn paced_batches_land_every_write_exactly_once_under_throttling_and_faults() {
    let throttle = ThrottleConfig { writes: Some(Rate::new(100, Duration::from_secs(20))), requests: None };
    let server = serve(400, throttle, FaultConfig::default()).await;
    let pacer = pacer("100/20", 4);
    let client = client(&server.base_url(), &IMPORTED, &pacer);
    let ids = all_ids(&client).await;
    assert_eq!(ids.len(), 400);

    // First without faults: the budget alone. Not one write is refused by the bucket.
    let writer = BatchWriter::new(client.clone());
    let items = retag(&IMPORTED, &ids[..200]);
    let round = writer.write(items.clone()).await;
    assert_eq!(writer.support(), BatchSupport::Supported);
    assert_eq!(round.batches.len(), 10, "200 writes in 10 batches");
    assert!(round.items.iter().all(|o| matches!(o.via, Via::Batch { .. })));
    assert_landed_exactly_once(&server, &client, &items, &round.items).await;
    let journal = server.journal();
    assert!(journal.iter().all(|r| r.fault.is_none()), "the pacer kept to the server's budget");
    assert_eq!(pacer.status().pauses, 0);

    // Then with every kind of fault on each inner request.
    server
        .set_faults(FaultConfig { retry_after: Duration::from_secs(2), ..FaultConfig::every_kind(0.05, 77) })
        .unwrap();
    let items = retag(&IMPORTED, &ids[200..]);
    let round = writer.write(items.clone()).await;
    server.set_faults(FaultConfig::default()).unwrap();
    let journal = server.journal();
    let kinds: HashSet<String> = journal
        .iter()
        .filter(|r| r.batch_item.is_some())
        .filter_map(|r| r.fault)
        .map(|f| format!("{f:?}"))
        .collect();
    assert!(kinds.len() >= 6, "faults hit the inner requests: {kinds:?}");
    assert!(round.items.iter().any(|o| o.exchange.attempts > 1), "faulted items were retried");
    assert!(pacer.status().pauses > 0, "the 429s and 503s paused the pacer");
    assert_landed_exactly_once(&server, &client, &items, &round.items).await;
    // Each item's own exchange names it, as a direct call would.
    let first = &round.items[0];
    assert_eq!(first.exchange.method, "PATCH");
    assert_eq!(first.exchange.url, client.item_url(&first.id));
    assert_eq!(first.exchange.status, Some(200));
    assert_eq!(
        first.exchange.response_header("client-request-id"),
        Some(first.exchange.client_request_id.as_str())
    );
    assert!(first.request_id().is_some());
    server.shutdown().await;
}

// The registered devices take a change as a POST to updateDeviceProperties (204, no body):
// batched the same way.
#[tokio::test(start_paused = true)]
async fn action_writes_are_batched_too() {
    let throttle = ThrottleConfig { writes: Some(Rate::new(100, Duration::from_secs(20))), requests: None };
    let server = serve(60, throttle, FaultConfig::default()).await;
    let pacer = pacer("100/20", 2);
    let client = client(&server.base_url(), &REGISTERED, &pacer);
    let ids = all_ids(&client).await;
    server
        .set_faults(FaultConfig { retry_after: Duration::from_secs(1), ..FaultConfig::every_kind(0.05, 5) })
        .unwrap();
    let items = retag(&REGISTERED, &ids);
    let round = BatchWriter::new(client.clone()).write(items.clone()).await;
    server.set_faults(FaultConfig::default()).unwrap();
    assert!(round.batches.len() > 3, "60 writes in 3 batches, and the faulted ones again");
    assert!(round.items.iter().all(|o| matches!(o.result, Ok(None)) && o.exchange.status == Some(204)));
    assert!(
        round
            .items
            .iter()
            .all(|o| o.exchange.method == "POST" && o.exchange.url.ends_with("/updateDeviceProperties"))
    );
    assert_landed_exactly_once(&server, &client, &items, &round.items).await;
    server.shutdown().await;
}

/// Writes that arrived while a pause was on: each pause is (when the 429 came, how long it
/// asked to wait), as the client's retry observer heard them on the server's clock.
fn writes_inside_a_pause(
    journal: &[RecordedRequest],
    pauses: &[(Duration, Duration)],
) -> Vec<(Duration, Duration)> {
    let writes: Vec<&RecordedRequest> =
        journal.iter().filter(|r| r.method != "GET" && !r.path_and_query.ends_with("/$batch")).collect();
    let mut inside = Vec::new();
    for (at, wait) in pauses {
        for w in &writes {
            if w.received > *at && w.received < *at + *wait {
                inside.push((*at, w.received));
            }
        }
    }
    inside
}

/// Each 429's time on the server's clock and the wait it asked for.
type Pauses = Arc<Mutex<Vec<(Duration, Duration)>>>;

/// A client whose retry waits are noted with the server's time.
fn observed(client: GraphClient, server: &RunningServer) -> (GraphClient, Pauses) {
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let (noted, clock) = (pauses.clone(), server.clock().clone());
    let client = client.with_retry_observer(Arc::new(move |notice: RetryNotice| {
        if notice.reason.starts_with("429") {
            noted.lock().unwrap().push((clock.elapsed(), notice.wait));
        }
    }));
    (client, pauses)
}

// The pacer is set looser than the server (2 writes a second against 1 per 2 s): the server's
// 429s must hold every writer back, not only the one that got it. Without the shared pause the
// other writers go on at the pacer's pace, inside the `Retry-After` of the 429.
#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_writer_sharing_the_pacer() {
    let throttle = ThrottleConfig { writes: Some(Rate::new(5, Duration::from_secs(10))), requests: None };
    let server = serve(24, throttle, FaultConfig::default()).await;
    let reader = client(&server.base_url(), &IMPORTED, &pacer("1/1", 1));
    let ids = all_ids(&reader).await;

    // Single writes, four at a time.
    let (singles, pauses) = observed(client(&server.base_url(), &IMPORTED, &pacer("2/1", 4)), &server);
    let items = retag(&IMPORTED, &ids[..12]);
    let round = BatchWriter::single(singles.clone()).write(items.clone()).await;
    assert!(round.batches.is_empty() && round.items.iter().all(|o| o.via == Via::Single));
    let pauses = pauses.lock().unwrap().clone();
    assert!(!pauses.is_empty(), "the server refused some writes");
    let inside = writes_inside_a_pause(&server.journal(), &pauses);
    assert!(inside.is_empty(), "writes sent while paused (429 at, write at): {inside:?}");
    assert_landed_exactly_once(&server, &singles, &items, &round.items).await;

    // Two batch writers sharing a pacer, each sending batches of two: an inner 429 in one
    // holds the other back too.
    server.set_throttle(throttle);
    let before = server.journal().len();
    let (batching, pauses) = observed(client(&server.base_url(), &IMPORTED, &pacer("4/2", 4)), &server);
    let run = |items: Vec<WriteItem>| {
        let writer = BatchWriter::new(batching.clone());
        async move {
            let mut outcomes = Vec::new();
            for chunk in items.chunks(2) {
                outcomes.extend(writer.write(chunk.to_vec()).await.items);
            }
            outcomes
        }
    };
    let (first, second) = (retag(&IMPORTED, &ids[12..18]), retag(&IMPORTED, &ids[18..]));
    let (outcomes_a, outcomes_b) = tokio::join!(run(first.clone()), run(second.clone()));
    let pauses = pauses.lock().unwrap().clone();
    assert!(!pauses.is_empty(), "inner 429s happened");
    let inside = writes_inside_a_pause(&server.journal()[before..], &pauses);
    assert!(inside.is_empty(), "{inside:?}");
    assert_landed_exactly_once(&server, &batching, &first, &outcomes_a).await;
    assert_landed_exactly_once(&server, &batching, &second, &outcomes_b).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_that_refuses_batch_gets_single_writes() {
    for refusal in [
        Reply::error(400, "BadRequest", "Resource not found for the segment '$batch'."),
        Reply::error(404, "NotFound", "no such thing"),
    ] {
        let hostile = Hostile::start(move |seen, _| {
            if seen.path_and_query.ends_with("/$batch") {
                return refusal.clone();
            }
            let id = seen.path_and_query.rsplit('/').next().unwrap();
            let body: Value = serde_json::from_slice(&seen.body).unwrap();
            let mut device = hostile::device(id, &format!("SN-{id}"));
            device["groupTag"] = body["groupTag"].clone();
            Reply::json(device)
        })
        .await;
        let pacer = pacer("100/20", 4);
        let client = client(&hostile.base_url, &IMPORTED, &pacer);
        let writer = BatchWriter::new(client);
        let ids: Vec<String> = (0..25).map(|i| format!("dev-{i}")).collect();
        let round = writer.write(retag(&IMPORTED, &ids)).await;
        assert_eq!(writer.support(), BatchSupport::Refused);
        for (id, outcome) in ids.iter().zip(&round.items) {
            assert_eq!(outcome.via, Via::Single);
            let record = outcome.result.as_ref().unwrap().as_ref().unwrap();
            assert_eq!(record["groupTag"], format!("tag-{id}"));
        }
        let seen = hostile.seen();
        let batches = seen.iter().filter(|s| s.path_and_query.ends_with("/$batch")).count();
        // Both chunks (20 and 5) tried it at once before either knew; nothing after.
        assert!((1..=2).contains(&batches), "{batches}");
        let patched: Vec<&str> = seen
            .iter()
            .filter(|s| s.method == "PATCH")
            .map(|s| s.path_and_query.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(patched.len(), 25, "each write exactly once, on its own");
        assert_eq!(patched.iter().collect::<HashSet<_>>().len(), 25);
        // Now known: the next round goes straight to single writes.
        let round = writer.write(retag(&IMPORTED, &ids[..3])).await;
        assert!(round.batches.is_empty());
        assert_eq!(hostile.seen().iter().filter(|s| s.path_and_query.ends_with("/$batch")).count(), batches);
    }
}

// A batch answer is server text like any other: one that leaves items out, garbles them or
// answers them twice never makes an item look written.
#[tokio::test(start_paused = true)]
async fn a_broken_batch_answer_leaves_items_unknown_never_written() {
    let hostile = Hostile::start(|seen, _| {
        let batch: Value = serde_json::from_slice(&seen.body).unwrap();
        let mut responses = Vec::new();
        for request in batch["requests"].as_array().unwrap() {
            let id = request["id"].clone();
            match request["url"].as_str().unwrap().rsplit('/').next().unwrap() {
                // Answered twice: the first answer counts.
                "dev-0" => {
                    responses.push(json!({"id": id, "status": 204, "headers": {}}));
                    responses.push(json!({"id": id, "status": 500, "headers": {}}));
                }
                // Left out (a bogus status is no answer).
                "dev-1" => responses.push(json!({"id": id, "status": 1000})),
                // A 2xx that is no record.
                "dev-2" => responses.push(json!({"id": id, "status": 200,
                    "headers": {"Content-Type": "application/json"}, "body": "{\"id\":"})),
                _ => responses.push(json!({"id": id, "status": 400, "headers": {"Content-Type": "application/json"},
                    "body": {"error": {"code": "BadRequest", "message": "no", "innerError": {"request-id": "r-4"}}}})),
            }
        }
        Reply::json(json!({ "responses": responses }))
    })
    .await;
    let pacer = pacer("100/20", 4);
    let mut config = ClientConfig::new(&hostile.base_url, Secret::new(TOKEN));
    config.retry = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let client = GraphClient::new(config).unwrap().with_pacer(pacer);
    let ids: Vec<String> = (0..4).map(|i| format!("dev-{i}")).collect();
    let round = BatchWriter::new(client).write(retag(&IMPORTED, &ids)).await;
    let landing: Vec<Landing> = round.items.iter().map(|o| o.landing()).collect();
    assert_eq!(landing, [Landing::Landed, Landing::Unknown, Landing::Unknown, Landing::NotLanded]);
    assert!(matches!(round.items[1].result, Err(GraphError::Decode(_))));
    assert_eq!(round.items[1].exchange.attempts, 3, "an unanswered item is tried again, by the policy");
    assert_eq!(round.items[3].request_id(), Some("r-4"));
    assert_eq!(round.items[3].exchange.attempts, 1, "a 400 is final");
    // Tokens stay with their origin: the batch went to the base URL's origin only.
    assert!(hostile.seen().iter().all(|s| s.path_and_query == "/v1.0/$batch"));
}

// Reads go in $batches of 20 GETs too: each inner answer is its own record (or error), inner
// faults and 429s are retried as a direct GET would be, and no write budget is taken.
#[tokio::test(start_paused = true)]
async fn reads_are_batched_each_answer_on_its_own_and_take_no_write_budget() {
    let throttle = ThrottleConfig { writes: None, requests: Some(Rate::new(50, Duration::from_secs(10))) };
    let server = serve(70, throttle, FaultConfig::default()).await;
    let pacer = pacer("100/20", 4);
    let client = client(&server.base_url(), &REGISTERED, &pacer);
    let mut ids = all_ids(&client).await;
    ids.push("no-such-device".into());
    let mark = server.journal().len();
    server
        .set_faults(FaultConfig { retry_after: Duration::from_secs(1), ..FaultConfig::every_kind(0.05, 5) })
        .unwrap();
    let round = BatchWriter::new(client.clone()).read(&ids).await;
    server.set_faults(FaultConfig::default()).unwrap();
    assert_eq!(round.items.len(), 71);
    for (id, outcome) in ids.iter().zip(&round.items) {
        if id == "no-such-device" {
            let error = outcome.result.as_ref().unwrap_err();
            assert_eq!(error.service().map(|e| e.status), Some(404), "{error}");
            continue;
        }
        let record = outcome.result.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(record["id"], json!(id));
        assert_eq!(outcome.exchange.method, "GET");
        assert!(outcome.exchange.url.ends_with(&format!("/{id}")), "{}", outcome.exchange.url);
    }
    let journal = &server.journal()[mark..];
    let inner: Vec<_> = journal.iter().filter(|r| r.batch_item.is_some()).collect();
    assert!(inner.iter().all(|r| r.method == "GET"));
    assert!(inner.len() > 71, "faults and 429s were retried inside later batches: {}", inner.len());
    assert!(
        inner.iter().any(|r| r.fault == Some(autopilot_tui::server::faults::FaultKind::Throttled)),
        "the request budget refused some"
    );
    let envelopes = journal.iter().filter(|r| r.path_and_query.ends_with("/$batch")).count();
    assert!(envelopes >= 4 && envelopes == round.batches.len(), "{envelopes}");
    assert_eq!(pacer.status().granted, 0, "reads take no write budget");
    server.shutdown().await;
}
