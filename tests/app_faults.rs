//! The whole app, in process, against an embedded server with every fault switched on at a high
//! rate: 429 with Retry-After, 503, 500, dropped connections (before and after handling),
//! truncated and malformed bodies, and latency. The listing must complete with every device
//! exactly once; every save must land with exactly its body or be reported failed with the
//! draft kept; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod records;

mod common;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient, ListQuery};
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::server::faults::{FaultConfig, LatencyRange};
use autopilot_tui::server::{DataSet, ServeOptions, start};
use autopilot_tui::tui::model::{Model, Screen};
use common::{App, retag_and_confirm};
use crossterm::event::KeyCode;
use futures_util::StreamExt;
use records::RecordExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn every_fault(seed: u64) -> FaultConfig {
    FaultConfig::every_kind(0.1, seed)
}

fn patient_client(base_url: String) -> GraphClient {
    let mut config = ClientConfig::new(base_url, Secret::new("fault-token"));
    config.retry = RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    config.timeout = Duration::from_secs(10);
    GraphClient::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_app_under_every_fault() {
    let server = start(ServeOptions {
        token: Some("fault-token".into()),
        data: DataSet::Generated { devices: 2500, seed: 7 },
        page_size: 100,
        faults: every_fault(std::env::var("FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11)),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let mut model = Model::new("FAULTS", false, false);
    model.page_size = 100;
    let mut app = App::with_model(model, patient_client(server.base_url()));
    let listed = app.until("the listing", |s| !s.loading && s.rows >= 2500).await;
    assert!(listed.listing_error.is_none(), "{}", listed.screen_text);
    assert!(listed.screen_text.contains("Loaded 2500 devices in 25 pages"), "{}", listed.screen_text);

    // A series of edits and saves, each on another device.
    let mut outcomes: Vec<(String, String, bool)> = Vec::new();
    for k in 0..6 {
        let (id, serial) = listed.sample[k * 7 + 1].clone();
        app.press(KeyCode::Char('/'));
        app.ctrl('u');
        app.typing(&serial);
        app.press(KeyCode::Enter);
        app.until("the one row", |s| s.view == 1 && s.selected.as_ref().is_some_and(|x| x.0 == id)).await;
        app.press(KeyCode::Enter);
        let form = app.until("the form", |s| s.form_ready || s.problem.is_some()).await;
        assert!(form.problem.is_none(), "fetching failed after every retry: {}", form.screen_text);
        let tag = format!("Fault-{k}");
        retag_and_confirm(&mut app, &tag).await;
        app.press(KeyCode::Enter);
        let done = app
            .until("the save's end", |s| {
                !s.confirm && !s.saving && (s.toast.starts_with("Saved") || s.problem.is_some())
            })
            .await;
        let saved = done.toast.starts_with("Saved");
        if !saved {
            assert_eq!(done.dirty, 1, "a failed save keeps its draft: {}", done.screen_text);
        } else {
            assert_eq!(done.dirty, 0);
        }
        outcomes.push((id, tag, saved));
        app.press(KeyCode::Esc);
        app.until("the table", |s| s.screen == Some(Screen::Table)).await;
        app.press(KeyCode::Esc); // clear the filter
        app.until("all rows", |s| s.view == 2500).await;
    }
    app.press(KeyCode::Char('q'));
    if app.seen.borrow().quit_question {
        app.press(KeyCode::Char('y'));
    }
    let screens = app.screens.lock().unwrap().clone();
    let model = app.finish().await;
    assert!(
        screens.iter().any(|s| s.contains(", retrying in ") && s.contains("Esc cancels")),
        "the retry waits were shown"
    );

    // Every device exactly once, compared with the server's own ids (asked without faults).
    server.set_faults(FaultConfig::default()).unwrap();
    let client = patient_client(server.base_url());
    let mut server_ids = Vec::new();
    let mut pages = client.list(&ListQuery { top: Some(999), ..ListQuery::default() });
    while let Some(page) = pages.next().await {
        server_ids.extend(page.result.unwrap().devices.into_iter().map(|d| d.id()));
    }
    let app_ids: Vec<String> = (0..model.table.rows.len()).map(|row| model.table.rows.id(row)).collect();
    let unique: HashSet<&String> = app_ids.iter().collect();
    assert_eq!(unique.len(), app_ids.len(), "a device appeared twice");
    assert_eq!(unique, server_ids.iter().collect::<HashSet<_>>());

    // Each save landed with exactly its body (a retried PATCH repeats the same body), or failed
    // and changed nothing the app did not report.
    let journal = server.journal();
    let faulted = journal.iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 20, "the faults were on: {faulted}");
    let mut landed: HashMap<&str, Vec<serde_json::Value>> = HashMap::new();
    for r in journal.iter().filter(|r| r.method == "PATCH" && r.reached_handler()) {
        let id = r.path_and_query.rsplit('/').next().unwrap();
        landed.entry(id).or_default().push(serde_json::from_slice(&r.body).unwrap());
    }
    for (id, tag, saved) in &outcomes {
        let bodies = landed.get(id.as_str()).cloned().unwrap_or_default();
        let expected = serde_json::json!({ "groupTag": tag });
        assert!(bodies.iter().all(|b| *b == expected), "{id}: {bodies:?}");
        let now = client.get(id).await.result.unwrap();
        if *saved {
            assert!(!bodies.is_empty(), "{id} was reported saved but no PATCH reached the server");
            assert_eq!(now.text("groupTag"), Some(tag.as_str()));
            let row = model.table.rows.find(id).unwrap();
            assert_eq!(
                model.table.field_text(row, "groupTag").as_deref(),
                Some(tag.as_str()),
                "the row shows the saved value"
            );
        } else {
            assert!(model.has_unsaved(id), "{id}: a failed save keeps its draft");
        }
    }
    assert!(outcomes.iter().filter(|o| o.2).count() >= 5, "retries should carry most saves: {outcomes:?}");
    server.shutdown().await;
}

fn throttle_everything() -> FaultConfig {
    FaultConfig { throttle: 1.0, retry_after: Duration::from_secs(30), ..FaultConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_cancels_a_throttled_listing_and_a_throttled_save() {
    let server = start(ServeOptions {
        token: Some("fault-token".into()),
        data: DataSet::Generated { devices: 1000, seed: 3 },
        page_size: 100,
        faults: FaultConfig {
            latency: Some(LatencyRange { min: Duration::from_millis(40), max: Duration::from_millis(40) }),
            ..FaultConfig::default()
        },
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let client = GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("fault-token"))).unwrap();
    let mut model = Model::new("FAULTS", false, false);
    model.page_size = 100;
    let mut app = App::with_model(model, client);

    // Throttle the listing part-way: the countdown shows; Esc stops it and keeps the rows.
    app.until("some rows", |s| s.rows >= 100).await;
    server.set_faults(throttle_everything()).unwrap();
    let waiting = app.until("the countdown", |s| s.retrying).await;
    assert!(
        waiting.screen_text.contains("throttled (429 Too Many Requests), retrying in"),
        "{}",
        waiting.screen_text
    );
    app.press(KeyCode::Esc);
    let stopped = app.until("the cancel", |s| !s.loading && !s.retrying).await;
    assert!(stopped.rows >= 100 && stopped.rows < 1000, "{}", stopped.rows);
    assert!(stopped.toast.starts_with("Listing cancelled"), "{}", stopped.toast);
    assert!(stopped.screen_text.contains("(listing incomplete)"), "{}", stopped.screen_text);

    // r lists again from the start once the throttling ends.
    server.set_faults(FaultConfig::default()).unwrap();
    app.press(KeyCode::Char('r'));
    let again = app.until("the whole listing", |s| !s.loading && s.rows == 1000).await;

    // A throttled save: Esc cancels it, the draft stays, and it says nothing was applied.
    let (id, serial) = again.sample[4].clone();
    app.press(KeyCode::Char('/'));
    app.typing(&serial);
    app.press(KeyCode::Enter);
    app.until("the row", |s| s.selected.as_ref().is_some_and(|x| x.0 == id)).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    app.press(KeyCode::Tab);
    app.typing("-cancelled");
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await;
    server.set_faults(throttle_everything()).unwrap();
    app.press(KeyCode::Enter);
    app.until("the save's countdown", |s| s.saving && s.retrying).await;
    app.press(KeyCode::Esc);
    let cancelled = app.until("the cancel", |s| !s.saving && !s.retrying).await;
    assert!(cancelled.toast.contains("nothing was applied"), "{}", cancelled.toast);
    assert_eq!(cancelled.dirty, 1, "the draft is kept");
    assert_eq!(cancelled.screen, Some(Screen::Form));
    let reached = server.journal().iter().filter(|r| r.method == "PATCH" && r.reached_handler()).count();
    assert_eq!(reached, 0);
    app.ctrl('c');
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('y'));
    app.finish().await;
    server.shutdown().await;
}
