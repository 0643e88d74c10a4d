//! Registered Autopilot devices in the whole app, in process against the embedded server on
//! 127.0.0.1:0: switching with `:devices`, saving through `updateDeviceProperties`, the actions
//! (assign, unassign, delete with its typed guard), the Autopilot sync with its 409 and 429,
//! the jump between an imported identity and its registered device, and the exact serial
//! lookup. Synchronised by waiting for the model/screen with a deadline, never by sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::server::{DataSet, RunningServer, ServeOptions, start};
use autopilot_tui::tui::model::{Model, Screen};
use common::App;
use crossterm::event::KeyCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn server() -> RunningServer {
    start(ServeOptions { data: DataSet::Demo, ..ServeOptions::default() }).await.unwrap()
}

const DEVICES: &str = "/v1.0/deviceManagement/windowsAutopilotDeviceIdentities";

/// The requests the server received with this method whose path ends with `suffix`.
fn sent(server: &RunningServer, method: &str, suffix: &str) -> Vec<(String, Vec<u8>)> {
    server
        .journal()
        .into_iter()
        .filter(|r| r.method == method && r.path_and_query.split('?').next().unwrap_or("").ends_with(suffix))
        .map(|r| (r.path_and_query, r.body))
        .collect()
}

/// A registered device of the demo set, as the server has it.
async fn device_where(server: &RunningServer, pick: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{}/deviceManagement/windowsAutopilotDeviceIdentities?$top=999", server.base_url());
    let page: Value =
        reqwest::Client::new().get(url).bearer_auth("t").send().await.unwrap().json().await.unwrap();
    page["value"].as_array().unwrap().iter().find(|d| pick(d)).cloned().unwrap()
}

/// The app on registered devices, listed.
async fn on_devices(server: &RunningServer) -> App {
    let model = Model::of(&REGISTERED, false, format!("TEST {}", server.base_url()), false, false);
    let client =
        autopilot_tui::graph::client::GraphClient::new(autopilot_tui::graph::client::ClientConfig::new(
            server.base_url(),
            autopilot_tui::graph::auth::Secret::new("t"),
        ))
        .unwrap();
    let mut app = App::with_model(model, client);
    app.until("the devices", |s| !s.loading && s.rows > 100).await;
    app
}

/// Filters the table to one serial and waits until that row is selected.
async fn select_serial(app: &mut App, serial: &str) {
    app.press(KeyCode::Char('/'));
    app.typing(serial);
    app.press(KeyCode::Enter);
    app.until("the row", |s| s.view == 1 && s.screen_text.contains(serial)).await;
}

#[tokio::test]
async fn switch_to_devices_filter_to_a_serial_change_the_group_tag_and_save_sends_exactly_one_update() {
    let server = server().await;
    let mut app = App::start(&server);
    app.until("the import queue", |s| !s.loading && s.rows > 100).await;
    app.press(KeyCode::Char(':'));
    app.typing("devices");
    app.press(KeyCode::Enter);
    let shown = app.until("the devices", |s| !s.loading && s.screen_text.contains("ENROLLMENT")).await;
    assert!(shown.screen_text.lines().next().unwrap().contains(" devices "), "the header names them");
    let device = device_where(&server, |d| d["groupTag"] == "Sales-NA").await;
    let (id, serial) = (device["id"].as_str().unwrap(), device["serialNumber"].as_str().unwrap());
    select_serial(&mut app, serial).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    // The group tag is the first field the form edits.
    app.ctrl('u');
    app.typing("Lab-7");
    app.until("one change", |s| s.dirty == 1).await;
    app.ctrl('s');
    let confirm = app.until("the confirmation", |s| s.confirm).await;
    assert!(confirm.screen_text.contains("POST"), "{}", confirm.screen_text);
    assert!(confirm.screen_text.contains("updateDeviceProperties"), "{}", confirm.screen_text);
    app.press(KeyCode::Char('y'));
    let saved = app.until("the save", |s| !s.saving && s.toast.starts_with("Saved")).await;
    assert_eq!(saved.dirty, 0, "the record read back shows the change: nothing left to send");
    app.press(KeyCode::Esc);
    let table = app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    assert_eq!(table.selected, Some((id.to_string(), Some("Lab-7".into()))), "the row follows");

    let updates = sent(&server, "POST", "/updateDeviceProperties");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].0, format!("{DEVICES}/{id}/updateDeviceProperties"));
    let body: Value = serde_json::from_slice(&updates[0].1).unwrap();
    assert_eq!(body, json!({"groupTag": "Lab-7"}), "exactly the changed field");
    assert!(sent(&server, "PATCH", "").is_empty(), "registered devices are never PATCHed");
    // The 204 had no body: the device was read again after it.
    assert!(!sent(&server, "GET", &format!("/windowsAutopilotDeviceIdentities/{id}")).is_empty());
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn assign_and_unassign_a_user_from_the_table() {
    let server = server().await;
    let device = device_where(&server, |d| {
        d["userPrincipalName"].as_str().is_none_or(str::is_empty) && d["groupTag"].is_string()
    })
    .await;
    let (id, serial) = (device["id"].as_str().unwrap(), device["serialNumber"].as_str().unwrap());
    let mut app = on_devices(&server).await;
    select_serial(&mut app, serial).await;

    app.press(KeyCode::Char('a'));
    app.until("the dialog", |s| s.screen_text.contains("assignUserToDevice")).await;
    app.typing("not-a-upn");
    app.press(KeyCode::Tab);
    app.typing("Ana Lopez");
    app.press(KeyCode::Enter);
    let refused = app.until("the refusal", |s| s.screen_text.contains("Not sent: assign user")).await;
    assert!(refused.screen_text.contains("User (UPN)"), "{}", refused.screen_text);
    assert!(sent(&server, "POST", "/assignUserToDevice").is_empty(), "nothing left with a bad UPN");
    // The bad line has the keys again, its text kept: fix it and send.
    app.ctrl('u');
    app.typing("ana.lopez@contoso.com");
    app.press(KeyCode::Enter);
    app.press(KeyCode::Enter);
    let done = app.until("the assignment", |s| s.toast.starts_with("User assigned to")).await;
    assert!(
        done.screen_text.contains("ana.lopez@contoso.com"),
        "the row shows the user:\n{}",
        done.screen_text
    );
    let posts = sent(&server, "POST", "/assignUserToDevice");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, format!("{DEVICES}/{id}/assignUserToDevice"));
    let body: Value = serde_json::from_slice(&posts[0].1).unwrap();
    assert_eq!(
        body,
        json!({"userPrincipalName": "ana.lopez@contoso.com", "addressableUserName": "Ana Lopez"})
    );

    app.press(KeyCode::Char('u'));
    app.until("the question", |s| s.screen_text.contains("Unassign user on")).await;
    app.press(KeyCode::Char('n'));
    app.until("closed", |s| !s.screen_text.contains("Unassign user on")).await;
    assert!(sent(&server, "POST", "/unassignUserFromDevice").is_empty(), "n sends nothing");
    app.press(KeyCode::Char('u'));
    app.until("the question", |s| s.screen_text.contains("Unassign user on")).await;
    app.press(KeyCode::Char('y'));
    let gone = app.until("the unassignment", |s| s.toast.starts_with("User unassigned from")).await;
    assert!(!gone.screen_text.contains("ana.lopez@contoso.com"), "{}", gone.screen_text);
    let posts = sent(&server, "POST", "/unassignUserFromDevice");
    assert_eq!(posts.len(), 1);
    assert!(posts[0].1.is_empty(), "no body");
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn delete_asks_for_the_serial_and_explains_an_enrolled_device() {
    let server = server().await;
    let enrolled = device_where(&server, |d| d["enrollmentState"] == "enrolled").await;
    let free = device_where(&server, |d| d["enrollmentState"] == "notContacted").await;
    let mut app = on_devices(&server).await;
    let before = app.seen.borrow().rows;

    // Enrolled: Intune refuses, the dialog says why and what to do.
    let serial = enrolled["serialNumber"].as_str().unwrap();
    select_serial(&mut app, serial).await;
    app.press(KeyCode::Char('d'));
    app.until("the dialog", |s| s.screen_text.contains("Serial, to confirm")).await;
    app.typing(&serial[..serial.len() - 1]);
    app.press(KeyCode::Enter);
    app.until("the guard", |s| s.screen_text.contains(&format!("type the serial number {serial}"))).await;
    assert!(sent(&server, "DELETE", "").is_empty(), "a wrong serial sends nothing");
    app.typing(&serial[serial.len() - 1..]);
    app.press(KeyCode::Enter);
    let refused = app.until("the refusal", |s| s.screen_text.contains("Delete on")).await;
    assert!(refused.screen_text.contains("400 BadRequest"), "{}", refused.screen_text);
    assert!(refused.screen_text.contains("Devices > All devices first"), "{}", refused.screen_text);
    assert_eq!(sent(&server, "DELETE", "").len(), 1);
    app.press(KeyCode::Esc);

    // Not enrolled: deleted, and the row leaves.
    let serial = free["serialNumber"].as_str().unwrap();
    app.press(KeyCode::Esc);
    app.until("the filter cleared", |s| s.view == before).await;
    select_serial(&mut app, serial).await;
    app.press(KeyCode::Delete);
    app.until("the dialog", |s| s.screen_text.contains("Serial, to confirm")).await;
    app.typing(&serial.to_lowercase());
    app.press(KeyCode::Enter);
    let deleted = app.until("the deletion", |s| s.toast.starts_with("Deleted the registration of")).await;
    assert_eq!(deleted.view, 0, "the filtered row is gone");
    let deletes = sent(&server, "DELETE", "");
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[1].0, format!("{DEVICES}/{}", free["id"].as_str().unwrap()));
    app.press(KeyCode::Esc);
    let all = app.until("every row", |s| s.view == before - 1).await;
    assert!(all.screen_text.contains(&format!("{} devices", before - 1)), "{}", all.screen_text);
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn sync_answers_started_then_running_then_too_soon_with_the_time_of_the_next() {
    let server = server().await;
    let mut app = on_devices(&server).await;
    let sync = |app: &App| {
        app.press(KeyCode::Char(':'));
        app.typing("sync");
        app.press(KeyCode::Enter);
    };
    sync(&app);
    app.until("started", |s| s.toast.starts_with("Autopilot sync started")).await;
    sync(&app);
    app.until("running", |s| s.toast.contains("already running")).await;
    // The sync is over after a minute; within ten minutes of it Intune says 429.
    server.clock().advance(Duration::from_secs(120));
    sync(&app);
    let too_soon = app.until("too soon", |s| s.toast.contains("the next is allowed in")).await;
    // Counted from this machine's clock (the server's ran two minutes ahead here).
    assert!(too_soon.toast.contains(" UTC)"), "{}", too_soon.toast);
    // Asked again before then, the app answers itself: no request.
    let posts = sent(&server, "POST", "/windowsAutopilotSettings/sync").len();
    sync(&app);
    app.until("still too soon", |s| s.toast.contains("the next is allowed in")).await;
    assert_eq!(sent(&server, "POST", "/windowsAutopilotSettings/sync").len(), posts);
    assert_eq!(posts, 3);
    // The sync is beta only, whatever the app's version root; the settings were read after the 429.
    assert!(
        server
            .journal()
            .iter()
            .any(|r| r.path_and_query == "/beta/deviceManagement/windowsAutopilotSettings")
    );
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn l_jumps_between_an_import_and_its_registered_device_and_exact_finds_one_serial() {
    let server = server().await;
    let device = device_where(&server, |d| d["groupTag"] == "HR-London").await;
    let serial = device["serialNumber"].as_str().unwrap().to_string();
    let mut app = App::start(&server);
    app.until("the import queue", |s| !s.loading && s.rows > 100).await;
    select_serial(&mut app, &serial).await;
    // Not loaded yet: the registered device is looked up on the server, exactly.
    app.press(KeyCode::Char('l'));
    let there =
        app.until("the registered device", |s| !s.loading && s.toast.starts_with("Registered device")).await;
    assert_eq!(there.selected.as_ref().map(|s| s.0.as_str()), device["id"].as_str());
    assert!(there.screen_text.contains(&format!("serial exactly {serial}")), "{}", there.screen_text);
    assert!(server.journal().iter().any(|r| r.path_and_query.contains("contains(serialNumber")));
    // And back: the import queue is loaded whole, so the jump is found here.
    let requests = server.journal().len();
    app.press(KeyCode::Char('l'));
    let back = app.until("the import", |s| s.toast.starts_with("Imported identity")).await;
    assert!(back.screen_text.contains(&serial));
    let after: Vec<String> = server.journal().into_iter().skip(requests).map(|r| r.path_and_query).collect();
    assert!(after.is_empty(), "no request for a table loaded whole: {after:?}");

    // :exact keeps only the exact serial of what contains finds.
    app.press(KeyCode::Char(':'));
    app.typing("devices");
    app.press(KeyCode::Enter);
    app.until("the devices", |s| s.screen_text.contains("ENROLLMENT")).await;
    let part = &serial[..serial.len() - 2];
    app.press(KeyCode::Char(':'));
    app.typing(&format!("exact {part}"));
    app.press(KeyCode::Enter);
    let none = app.until("no exact match", |s| !s.loading && s.toast.contains("exactly")).await;
    assert!(
        none.toast.starts_with(&format!("No registered device has serial number exactly {part}")),
        "{}",
        none.toast
    );
    app.press(KeyCode::Char(':'));
    app.typing(&format!("exact {}", serial.to_lowercase()));
    app.press(KeyCode::Enter);
    let one = app.until("the exact match", |s| !s.loading && s.rows == 1).await;
    assert_eq!(one.selected.as_ref().map(|s| s.0.as_str()), device["id"].as_str());
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn on_beta_the_device_account_password_is_typed_blind_sent_once_and_never_shown_or_recorded() {
    let server = server().await;
    let beta = server.base_url().replace("/v1.0", "/beta");
    let device = device_where(&server, |d| d["groupTag"] == "Kiosk").await;
    let serial = device["serialNumber"].as_str().unwrap();
    let model = Model::of(&REGISTERED, false, format!("TEST {beta}"), false, false);
    let client =
        autopilot_tui::graph::client::GraphClient::new(autopilot_tui::graph::client::ClientConfig::new(
            beta.clone(),
            autopilot_tui::graph::auth::Secret::new("t"),
        ))
        .unwrap();
    let mut app = App::with_model(model, client);
    app.until("the devices", |s| !s.loading && s.rows > 100).await;
    select_serial(&mut app, serial).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    // Beta fields are in the form: group tag, user, user's name, display name, device account,
    // then the password.
    for _ in 0..5 {
        app.press(KeyCode::Tab);
    }
    let form = app.until("the password field", |s| s.screen_text.contains("▸  Account password")).await;
    assert!(form.screen_text.contains("Friendly name"), "{}", form.screen_text);
    const PASSWORD: &str = "Hunter2-Secret!";
    app.typing(PASSWORD);
    app.until("one change", |s| s.dirty == 1).await;
    app.ctrl('s');
    let confirm = app.until("the confirmation", |s| s.confirm).await;
    assert!(confirm.screen_text.contains("deviceAccountPassword"), "{}", confirm.screen_text);
    app.press(KeyCode::Char('y'));
    app.until("the save", |s| !s.saving && s.toast.starts_with("Saved")).await;
    let posts = sent(&server, "POST", "/updateDeviceProperties");
    assert_eq!(posts.len(), 1);
    assert!(posts[0].0.starts_with("/beta/"), "{}", posts[0].0);
    let screens = app.screens.lock().unwrap().clone();
    assert!(screens.iter().all(|s| !s.contains(PASSWORD)), "the password reached a screen");
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('q'));
    let model = app.finish().await;
    let recorded: Vec<&str> =
        model.history.iter().filter_map(|h| h.exchange.request_body.as_deref()).collect();
    assert!(recorded.iter().any(|b| b.contains(r#""deviceAccountPassword":"[redacted]""#)), "{recorded:?}");
    assert!(recorded.iter().all(|b| !b.contains(PASSWORD)), "the password reached the inspector");
    let journal = server.journal();
    assert!(journal.iter().all(|r| !String::from_utf8_lossy(&r.body).contains(PASSWORD)));
    server.shutdown().await;
}

#[tokio::test]
async fn save_all_in_the_drafts_view_writes_every_draft_as_one_job_and_they_leave_the_store() {
    let server = server().await;
    let mut app = on_devices(&server).await;
    // Two drafts: the group tag of the first two devices.
    for (down, tag) in [(0, "Saved-All-1"), (1, "Saved-All-2")] {
        for _ in 0..down {
            app.press(KeyCode::Down);
        }
        app.press(KeyCode::Enter);
        app.until("the form", |s| s.form_ready).await;
        app.ctrl('u');
        app.typing(tag);
        app.until("one change", |s| s.dirty == 1).await;
        app.press(KeyCode::Esc);
        app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    }
    app.press(KeyCode::Char(':'));
    app.typing("drafts");
    app.press(KeyCode::Enter);
    app.until("the drafts", |s| s.screen_text.contains("Unsaved drafts: 2")).await;
    app.press(KeyCode::Char('S'));
    let preview = app.until("the plan", |s| s.screen_text.contains("Bulk change of")).await;
    assert!(
        preview.screen_text.contains("\"Saved-All-1\"") && preview.screen_text.contains("2 writes"),
        "{}",
        preview.screen_text
    );
    assert!(
        sent(&server, "POST", "/updateDeviceProperties").is_empty()
            && sent(&server, "POST", "/$batch").is_empty()
    );
    app.press(KeyCode::Enter);
    app.until("the job's end", |s| s.screen_text.contains("Job ended: 2 done")).await;
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('q'));
    let model = app.finish().await;
    assert_eq!(model.unsaved_count(), 0, "saved drafts left the store");
    // Both tags are on the server.
    for tag in ["Saved-All-1", "Saved-All-2"] {
        device_where(&server, |d| d["groupTag"] == tag).await;
    }
    server.shutdown().await;
}
