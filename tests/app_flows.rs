//! The whole app in process: the real run loop with a test event source and a `TestBackend`,
//! talking real HTTP to the embedded Graph server on 127.0.0.1:0. Synchronised by waiting for
//! the model/screen with a deadline, never by sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::server::faults::{FaultConfig, LatencyRange};
use autopilot_tui::server::{DataSet, RunningServer, ServeOptions, start};
use autopilot_tui::tui::model::Screen;
use common::{App, open_by_filter, retag_and_confirm};
use crossterm::event::{Event, KeyCode};

async fn server(strict: bool) -> RunningServer {
    start(ServeOptions { strict, data: DataSet::Demo, ..ServeOptions::default() }).await.unwrap()
}

#[tokio::test]
async fn filter_open_edit_save_confirm_sends_exactly_the_changed_field() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let (id, _serial) = open_by_filter(&mut app).await;

    // Focus starts on the assigned user; the group tag is next.
    let confirm = retag_and_confirm(&mut app, "Lab-42").await;
    assert!(confirm.screen_text.contains("PATCH"), "{}", confirm.screen_text);
    assert!(confirm.screen_text.contains(r#""groupTag": "Lab-42""#), "{}", confirm.screen_text);
    app.press(KeyCode::Enter);
    let saved = app.until("the save", |s| !s.confirm && !s.saving && s.toast.starts_with("Saved")).await;
    assert_eq!(saved.dirty, 0, "the form is clean after a 2xx");
    app.press(KeyCode::Esc);
    let table = app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    assert_eq!(table.selected, Some((id.clone(), Some("Lab-42".into()))));
    assert!(table.screen_text.contains("Lab-42"), "{}", table.screen_text);

    let patches: Vec<_> = server.journal().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].path_and_query.ends_with(&id), "{}", patches[0].path_and_query);
    let body: serde_json::Value = serde_json::from_slice(&patches[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"groupTag": "Lab-42"}));
    // The listing asked for the table's properties only, in big pages.
    let list = server.journal().into_iter().find(|r| r.method == "GET").unwrap();
    assert!(list.path_and_query.contains("$select=") && list.path_and_query.contains("$top=999"));

    app.press(KeyCode::Char('q'));
    let model = app.finish().await;
    assert!(model.quit);
    assert!(model.history.iter().any(|h| h.exchange.method == "PATCH"));
    server.shutdown().await;
}

#[tokio::test]
async fn refused_patch_keeps_the_draft_and_quit_asks_first() {
    let server = server(true).await;
    let mut app = App::start(&server);
    let (_id, _) = open_by_filter(&mut app).await;
    app.press(KeyCode::Tab);
    app.typing("-x");
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await;
    app.press(KeyCode::Enter);
    let failed = app.until("the refusal", |s| !s.saving && s.problem.is_some()).await;
    assert_eq!(failed.problem.as_deref(), Some("Updates refused by this Graph service"));
    assert!(failed.screen_text.contains("does not accept updates"), "{}", failed.screen_text);
    assert_eq!(failed.dirty, 1, "the draft is kept");
    // The inspector shows the refused PATCH.
    app.ctrl('o');
    let insp = app.until("the inspector", |s| s.screen == Some(Screen::Inspector)).await;
    assert!(insp.screen_text.contains("400 Bad Request"), "{}", insp.screen_text);
    app.press(KeyCode::Esc);
    app.press(KeyCode::Esc);
    app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('n'));
    app.until("no question", |s| !s.quit_question).await;
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('y'));
    let model = app.finish().await;
    assert!(model.quit);
    assert_eq!(model.unsaved_count(), 1);
    let draft = model.drafts.values().next().unwrap();
    assert!(draft.text(IMPORTED.field("groupTag").unwrap()).ends_with("-x"));
    server.shutdown().await;
}

#[tokio::test]
async fn paste_into_the_filter_and_resize_redraws() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let listed = app.until("the listing", |s| !s.loading && s.rows > 20).await;
    let serial = listed.sample[5].1.clone();
    app.press(KeyCode::Char('/'));
    app.keys.send(Ok(Event::Paste(serial.clone()))).unwrap();
    app.until("the pasted filter", |s| s.view >= 1 && s.view < listed.rows).await;
    app.keys.send(Ok(Event::Resize(60, 20))).unwrap();
    app.until("a redraw", |s| s.screen_text.contains(&serial)).await;
    app.press(KeyCode::Esc);
    app.until("the filter cleared", |s| s.view == listed.rows).await;
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in inside the app, and secrets never on screen

use autopilot_tui::connect::DeviceCodeSignIn;
use autopilot_tui::graph::auth::{self, Authority, Grant, Secret, TokenManager, TokenSource};
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::server::oauth::{ClientSecretSource, OAuthConfig};
use autopilot_tui::tui::model::Model;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// What the identity platform imitation's tokens and device codes start with (access tokens
/// are JWTs: `{"typ":"JWT",...` in base64url).
const SECRET_PREFIXES: [&str; 3] = ["eyJ0eXAiOiJKV1Qi", "imitation-refresh.", "imitation-devicecode."];

async fn oauth_server(oauth: OAuthConfig) -> RunningServer {
    start(ServeOptions { data: DataSet::Demo, oauth, ..ServeOptions::default() }).await.unwrap()
}

fn authority(server: &RunningServer) -> Authority {
    Authority { base: server.authority_base(), tenant: TENANT.to_string() }
}

fn device_code_sign_in(server: &RunningServer) -> DeviceCodeSignIn {
    let config = ClientConfig::new(server.base_url(), Secret::new(""));
    DeviceCodeSignIn::new(reqwest::Client::new(), authority(server), CLIENT_ID.to_string(), config)
}

/// No secret (or anything shaped like one) on any screen drawn, in the inspector's exchanges,
/// or in the model's debug form.
fn assert_no_secret(screens: &[String], model: &Model, secrets: &[&str]) {
    let mut seen = screens.join("\n");
    for h in &model.history {
        seen.push_str(&format!("{:?}", h.exchange));
        seen.push_str(h.request_pretty().as_deref().unwrap_or(""));
        seen.push_str(&h.response_pretty());
    }
    seen.push_str(&format!("{:?}", model.sign_in));
    for s in SECRET_PREFIXES.iter().chain(secrets) {
        assert!(!seen.contains(s), "{s} appeared on screen or in the inspector");
    }
    assert!(screens.len() > 3, "the screens were observed");
}

#[tokio::test]
async fn device_code_sign_in_on_its_own_screen_then_the_table_loads() {
    let server =
        oauth_server(OAuthConfig { poll_interval: Duration::from_secs(1), ..OAuthConfig::default() }).await;
    let mut app = App::with_session(&server, device_code_sign_in(&server));
    let shown = app.until("the code", |s| s.user_code.is_some()).await;
    let code = shown.user_code.clone().unwrap();
    assert_eq!(shown.screen, Some(Screen::SignIn));
    assert!(shown.screen_text.contains(&code), "{}", shown.screen_text);
    assert!(shown.screen_text.contains("Esc/q cancel and quit"), "{}", shown.screen_text);
    let polling = app.until("a poll", |s| s.screen_text.contains("waiting for you to sign in")).await;
    assert!(polling.screen_text.contains("code expires in 1"), "{}", polling.screen_text);
    server.approve_device_code(&code).unwrap();
    let table =
        app.until("the table", |s| s.screen == Some(Screen::Table) && !s.loading && s.rows > 20).await;
    assert!(table.screen_text.contains("Loaded"), "{}", table.screen_text);
    // The device code and the tokens went only to the identity platform and Graph.
    let sign_in_requests = server.journal().iter().filter(|r| r.path_and_query.contains("/oauth2/")).count();
    assert!(sign_in_requests >= 2);
    app.press(KeyCode::Char('q'));
    let screens = app.screens.lock().unwrap().clone();
    let model = app.finish().await;
    assert!(
        model.history.iter().all(|h| !h.exchange.url.contains("/oauth2/")),
        "sign-in stays out of the inspector"
    );
    assert_no_secret(&screens, &model, &[]);
    server.shutdown().await;
}

#[tokio::test]
async fn declined_sign_in_says_so_and_r_starts_again_esc_quits() {
    let server =
        oauth_server(OAuthConfig { poll_interval: Duration::from_secs(1), ..OAuthConfig::default() }).await;
    let mut app = App::with_session(&server, device_code_sign_in(&server));
    let first = app.until("the code", |s| s.user_code.is_some()).await.user_code.unwrap();
    server.decline_device_code(&first).unwrap();
    let failed = app.until("the refusal", |s| s.sign_in_failed.is_some()).await;
    assert!(failed.screen_text.contains("declined at the verification page"), "{}", failed.screen_text);
    assert!(failed.screen_text.contains("r starts the sign-in again"), "{}", failed.screen_text);
    app.press(KeyCode::Char('r'));
    let again = app.until("a new code", |s| s.user_code.as_ref().is_some_and(|c| *c != first)).await;
    assert!(again.sign_in_failed.is_none());
    app.press(KeyCode::Esc);
    let screens = app.screens.lock().unwrap().clone();
    let model = app.finish().await;
    assert!(model.quit && model.table.rows.is_empty());
    assert_no_secret(&screens, &model, &[]);
    server.shutdown().await;
}

#[tokio::test]
async fn expired_sign_in_code_says_so() {
    let oauth = OAuthConfig {
        poll_interval: Duration::from_secs(1),
        device_code_lifetime: Duration::from_secs(2),
        ..OAuthConfig::default()
    };
    let server = oauth_server(oauth).await;
    let mut app = App::with_session(&server, device_code_sign_in(&server));
    let failed = app.until("the expiry", |s| s.sign_in_failed.is_some()).await;
    assert!(failed.screen_text.contains("The code expired"), "{}", failed.screen_text);
    app.press(KeyCode::Char('q'));
    assert!(app.finish().await.quit);
    server.shutdown().await;
}

#[tokio::test]
async fn client_credentials_and_static_token_never_show_their_secrets() {
    let secret = "s3cr3t-client-value-xyz";
    let oauth = OAuthConfig {
        client_secret: Some(ClientSecretSource::Value(Secret::new(secret))),
        ..OAuthConfig::default()
    };
    let server = start(ServeOptions {
        data: DataSet::Demo,
        oauth,
        token: Some("fixed-static-token-abc".into()),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let first =
        auth::client_credentials(&http, &authority(&server), CLIENT_ID, &Secret::new(secret)).await.unwrap();
    let manager = TokenManager::new(
        http,
        authority(&server),
        CLIENT_ID.into(),
        Grant::ClientSecret(Secret::new(secret)),
        first,
    );
    let mut config = ClientConfig::new(server.base_url(), Secret::new(""));
    config.token = TokenSource::Managed(Arc::new(manager));
    let managed = GraphClient::new(config).unwrap();
    let fixed = GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("fixed-static-token-abc")))
        .unwrap();
    for client in [managed, fixed] {
        let mut app = App::with_session(&server, client);
        app.until("the listing", |s| !s.loading && s.rows > 20).await;
        app.press(KeyCode::Char('i'));
        app.until("the inspector", |s| s.screen == Some(Screen::Inspector)).await;
        app.press(KeyCode::Char('q'));
        let screens = app.screens.lock().unwrap().clone();
        let model = app.finish().await;
        assert!(
            screens.iter().any(|s| s.contains("Bearer [redacted]")),
            "the inspector shows the header redacted"
        );
        assert_no_secret(&screens, &model, &[secret, "fixed-static-token-abc"]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn colon_serial_runs_a_server_filter_and_esc_lists_everything_again() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let listed = app.until("the listing", |s| !s.loading && s.rows > 20).await;
    let serial = listed.sample[3].1.clone();
    let part = &serial[1..5];
    app.press(KeyCode::Char(':'));
    app.typing(&format!("serial {part}"));
    app.press(KeyCode::Enter);
    let expr = format!("contains(serialNumber,'{part}')");
    let found = app
        .until("the server's matches", |s| {
            s.server_filter.as_deref() == Some(&expr) && !s.loading && s.rows < listed.rows
        })
        .await;
    assert!(found.screen_text.contains(&format!("server filter: {expr}")), "{}", found.screen_text);
    assert!(found.screen_text.contains(&serial), "{}", found.screen_text);
    assert!(
        last_get(&server).contains(&format!("$filter=contains(serialNumber,'{part}')")),
        "{}",
        last_get(&server)
    );
    app.press(KeyCode::Esc);
    let all = app
        .until("everything again", |s| s.server_filter.is_none() && !s.loading && s.rows == listed.rows)
        .await;
    assert!(!all.screen_text.contains("server filter"));
    // :status error asks for failed imports only.
    app.press(KeyCode::Char(':'));
    app.typing("status error");
    app.press(KeyCode::Enter);
    let errors = app.until("the failed imports", |s| s.server_filter.is_some() && !s.loading).await;
    assert!(errors.rows > 0 && errors.rows < listed.rows, "{}", errors.screen_text);
    assert!(
        last_get(&server).contains("$filter=state/deviceImportStatus eq 'error'"),
        "{}",
        last_get(&server)
    );
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}

/// The last GET the server received, its path and query percent-decoded.
fn last_get(server: &RunningServer) -> String {
    let asked = server.journal().into_iter().rfind(|r| r.method == "GET").unwrap();
    percent_encoding::percent_decode_str(&asked.path_and_query).decode_utf8_lossy().into_owned()
}

#[tokio::test]
async fn ctrl_c_while_a_save_is_in_flight_says_it_may_have_reached_the_server() {
    let server = server(false).await;
    let mut app = App::start(&server);
    open_by_filter(&mut app).await;
    app.press(KeyCode::Tab);
    app.typing("-slow");
    // From here on every request waits: the PATCH stays in flight while the user quits.
    server
        .set_faults(FaultConfig {
            latency: Some(LatencyRange { min: Duration::from_secs(30), max: Duration::from_secs(30) }),
            ..FaultConfig::default()
        })
        .unwrap();
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await;
    app.press(KeyCode::Enter);
    app.until("the save in flight", |s| s.saving).await;
    app.ctrl('c');
    let asked = app.until("the quit question", |s| s.quit_question).await;
    assert!(asked.screen_text.contains("may have reached the server"), "{}", asked.screen_text);
    assert!(!asked.screen_text.contains("Quitting drops them"), "{}", asked.screen_text);
    app.ctrl('c');
    let model = app.finish().await;
    assert!(model.quit);
    // The server is dropped, not shut down: its graceful stop would wait out the latency.
    drop(server);
}

#[tokio::test]
async fn a_refused_search_keeps_what_is_shown_and_r_runs_an_accepted_one_again_on_the_same_row() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let listed = app.until("the listing", |s| !s.loading && s.rows > 20).await;
    // A $filter the server cannot parse: 400. The table and its header stay as they were.
    app.press(KeyCode::Char(':'));
    app.typing("filter serialNumber eq");
    app.press(KeyCode::Enter);
    let refused = app.until("the refusal", |s| !s.loading && s.toast.contains("failed")).await;
    assert!(refused.toast.contains("Still showing every device"), "{}", refused.toast);
    assert_eq!(refused.server_filter, None);
    assert_eq!(refused.rows, listed.rows);
    assert!(
        !refused.screen_text.lines().next().unwrap().contains("server filter"),
        "{}",
        refused.screen_text
    );

    // An accepted search, a row picked, then r: the same search runs again, the row stays picked.
    app.press(KeyCode::Char(':'));
    app.typing("serial 5CG");
    app.press(KeyCode::Enter);
    let found = app.until("the search", |s| s.server_filter.is_some() && !s.loading).await;
    assert!(found.rows > 3 && found.rows < listed.rows, "{}", found.rows);
    for _ in 0..3 {
        app.press(KeyCode::Down);
    }
    let picked = app.until("the fourth row", |s| s.screen_text.lines().next().unwrap().contains(" 4/")).await;
    let gets = |server: &RunningServer| server.journal().iter().filter(|r| r.method == "GET").count();
    let before = gets(&server);
    app.press(KeyCode::Char('r'));
    let again = app
        .until("the search again", |s| !s.loading && s.toast.starts_with("Loaded") && gets(&server) > before)
        .await;
    assert_eq!(gets(&server), before + 1);
    assert!(last_get(&server).contains("$filter=contains(serialNumber,'5CG')"), "{}", last_get(&server));
    assert_eq!(again.server_filter, found.server_filter);
    assert_eq!(again.selected, picked.selected, "the cursor stays on its device");
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}
