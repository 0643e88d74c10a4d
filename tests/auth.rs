//! Sign-in end to end: the client side (`graph::auth`, `GraphClient`) against the embedded
//! imitation of the identity platform, over real HTTP on 127.0.0.1. Every test also checks that
//! its secrets reach neither the server journal, the log, error messages nor `Debug` output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::auth::{
    self, AuthError, Authority, Grant, PollState, Secret, TokenManager, TokenSet, TokenSource,
};
use autopilot_tui::graph::client::{ClientConfig, GraphClient, ListQuery};
use autopilot_tui::graph::error::GraphError;
use autopilot_tui::server::oauth::{ClientSecretSource, DeviceLoginError, OAuthConfig};
use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const TENANT: &str = "contoso.onmicrosoft.com";

// ---------------------------------------------------------------------------------------------
// The log, captured for the whole test binary

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_log() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn log_text() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn serve(oauth: OAuthConfig, token: Option<&str>) -> RunningServer {
    capture_log();
    server::start(ServeOptions {
        token: token.map(String::from),
        data: DataSet::Generated { devices: 30, seed: 4 },
        page_size: 10,
        oauth,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn fast_device_codes() -> OAuthConfig {
    OAuthConfig { poll_interval: Duration::from_secs(1), ..OAuthConfig::default() }
}

fn authority(server: &RunningServer) -> Authority {
    Authority { base: server.authority_base(), tenant: TENANT.to_string() }
}

fn graph(server: &RunningServer, token: TokenSource) -> GraphClient {
    let mut config = ClientConfig::new(server.base_url(), Secret::new("unused"));
    config.token = token;
    GraphClient::new(config).unwrap()
}

/// Asserts that none of `secrets` appears in the journal, the log, or any of `texts`.
fn assert_hidden(server: &RunningServer, secrets: &[&str], texts: &[String]) {
    let journal = server.journal();
    let mut seen = format!("{journal:?} {server:?}");
    for entry in &journal {
        seen.push_str(&String::from_utf8_lossy(&entry.body));
    }
    let log = log_text();
    assert!(log.contains("sign-in request"), "the log is captured");
    seen.push_str(&log);
    for text in texts {
        seen.push_str(text);
    }
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!seen.contains(secret), "a secret leaked: {secret}");
    }
}

/// Token endpoint requests the server received, as their `grant_type`s.
fn grants(server: &RunningServer) -> Vec<String> {
    server
        .journal()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/oauth2/v2.0/token"))
        .filter_map(|r| {
            url::form_urlencoded::parse(&r.body).find(|(k, _)| k == "grant_type").map(|(_, v)| v.into_owned())
        })
        .collect()
}

/// Signs in with the device code flow, approving after the first pending answer.
async fn device_code_sign_in(server: &RunningServer) -> TokenSet {
    let http = reqwest::Client::new();
    let authority = authority(server);
    let prompt = auth::request_device_code(&http, &authority, CLIENT_ID).await.unwrap();
    let (polls, mut polled) = mpsc::unbounded_channel();
    let polling = tokio::spawn({
        let prompt = prompt.clone();
        async move {
            auth::poll_device_code(&http, &authority, CLIENT_ID, &prompt, |state| {
                let _ = polls.send(state);
            })
            .await
        }
    });
    assert!(matches!(polled.recv().await, Some(PollState::Pending { .. })));
    server.approve_device_code(&prompt.user_code).unwrap();
    polling.await.unwrap().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Client credentials

#[tokio::test(start_paused = true)]
async fn client_credentials_success_wrong_secret_and_fixed_token() {
    const SECRET: &str = "cs~Right.Secret-8Q";
    const WRONG: &str = "cs~Wrong.Secret-3Z";
    let oauth = OAuthConfig {
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(ClientSecretSource::Value(Secret::new(SECRET))),
        ..OAuthConfig::default()
    };
    let server = serve(oauth, Some("fixed-token-T")).await;
    let http = reqwest::Client::new();

    let tokens =
        auth::client_credentials(&http, &authority(&server), CLIENT_ID, &Secret::new(SECRET)).await.unwrap();
    assert!(tokens.refresh_token.is_none(), "client credentials give no refresh token");
    let access = tokens.access_token.expose().to_string();
    let client = graph(&server, TokenSource::Static(tokens.access_token.clone()));
    let page = client.list(&ListQuery::default()).next().await.unwrap();
    assert_eq!(page.exchange.status, Some(200), "an issued token opens Graph");
    // The fixed token stays accepted beside issued ones; anything else does not.
    let fixed = graph(&server, TokenSource::Static(Secret::new("fixed-token-T")));
    assert!(fixed.list(&ListQuery::default()).next().await.unwrap().result.is_ok());
    let other = graph(&server, TokenSource::Static(Secret::new("made-up")));
    assert_eq!(other.list(&ListQuery::default()).next().await.unwrap().exchange.status, Some(401));

    let wrong = auth::client_credentials(&http, &authority(&server), CLIENT_ID, &Secret::new(WRONG)).await;
    let Err(AuthError::Token { error, description }) = &wrong else { panic!("{wrong:?}") };
    assert_eq!(error, "invalid_client");
    assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."), "{description}");
    let unknown =
        auth::client_credentials(&http, &authority(&server), "someone-else", &Secret::new(SECRET)).await;
    assert!(
        matches!(&unknown, Err(AuthError::Token { error, .. }) if error == "unauthorized_client"),
        "{unknown:?}"
    );

    let texts =
        [format!("{tokens:?}"), format!("{wrong:?}"), wrong.unwrap_err().to_string(), format!("{client:?}")];
    assert_hidden(&server, &[SECRET, WRONG, &access], &texts);
    assert_eq!(grants(&server), ["client_credentials"; 3]);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Device code

#[tokio::test(start_paused = true)]
async fn device_code_pending_then_approved() {
    let server = serve(fast_device_codes(), None).await;
    let http = reqwest::Client::new();
    let prompt = auth::request_device_code(&http, &authority(&server), CLIENT_ID).await.unwrap();
    assert_eq!(prompt.user_code.len(), 9);
    assert!(prompt.verification_uri.starts_with(&server.authority_base()), "{}", prompt.verification_uri);
    assert!(prompt.message.contains(&prompt.user_code) && prompt.message.contains(&prompt.verification_uri));
    assert_eq!(prompt.interval, Duration::from_secs(1));
    // The page a person would open answers with a form.
    let page = http.get(&prompt.verification_uri).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"user_code\""));

    let tokens = device_code_sign_in(&server).await;
    let refresh_token = tokens.refresh_token.clone().expect("offline_access gives a refresh token");
    let manager = Arc::new(TokenManager::new(
        http.clone(),
        authority(&server),
        CLIENT_ID.into(),
        Grant::DeviceCode,
        tokens.clone(),
    ));
    let client = graph(&server, TokenSource::Managed(Arc::clone(&manager)));
    assert!(client.list(&ListQuery::default()).next().await.unwrap().result.is_ok());
    assert_eq!(
        grants(&server),
        ["urn:ietf:params:oauth:grant-type:device_code"; 2],
        "pending, then the token"
    );
    // The first prompt is still pending; once approved, it cannot be decided again.
    server.approve_device_code(&prompt.user_code).unwrap();
    assert!(matches!(
        server.decline_device_code(&prompt.user_code),
        Err(DeviceLoginError::AlreadyDecided(_))
    ));
    assert!(matches!(server.approve_device_code("NOSUCHCODE"), Err(DeviceLoginError::UnknownCode(_))));

    let texts = [format!("{tokens:?}"), format!("{prompt:?}"), format!("{manager:?}")];
    assert_hidden(&server, &[tokens.access_token.expose(), refresh_token.expose()], &texts);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn device_code_slow_down_adds_five_seconds() {
    let server = serve(OAuthConfig { slow_down_first_poll: true, ..fast_device_codes() }, None).await;
    let http = reqwest::Client::new();
    let authority = authority(&server);
    let prompt = auth::request_device_code(&http, &authority, CLIENT_ID).await.unwrap();
    let (polls, mut polled) = mpsc::unbounded_channel();
    let polling = tokio::spawn({
        let prompt = prompt.clone();
        async move {
            auth::poll_device_code(&http, &authority, CLIENT_ID, &prompt, |state| {
                let _ = polls.send(state);
            })
            .await
        }
    });
    assert_eq!(polled.recv().await, Some(PollState::SlowedDown { interval: Duration::from_secs(6) }));
    server.approve_device_code(&prompt.user_code).unwrap();
    // The next poll comes 6 s later, which the server accepts.
    let tokens = polling.await.unwrap().unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(grants(&server).len(), 2);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn device_code_declined_at_the_verification_page() {
    let server = serve(fast_device_codes(), None).await;
    let http = reqwest::Client::new();
    let prompt = auth::request_device_code(&http, &authority(&server), CLIENT_ID).await.unwrap();
    // As a person would, through the page the prompt points at (code typed in lower case).
    let answer = http
        .post(&prompt.verification_uri)
        .form(&[("user_code", prompt.user_code.to_lowercase().as_str()), ("action", "decline")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let result = auth::poll_device_code(&http, &authority(&server), CLIENT_ID, &prompt, |_| {}).await;
    assert_eq!(result.unwrap_err(), AuthError::Declined);
    assert!(matches!(
        server.approve_device_code(&prompt.user_code),
        Err(DeviceLoginError::AlreadyDecided(_))
    ));
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn device_code_expires() {
    let oauth = OAuthConfig { device_code_lifetime: Duration::from_secs(2), ..fast_device_codes() };
    let server = serve(oauth, None).await;
    let http = reqwest::Client::new();
    let prompt = auth::request_device_code(&http, &authority(&server), CLIENT_ID).await.unwrap();
    let mut states = Vec::new();
    let result =
        auth::poll_device_code(&http, &authority(&server), CLIENT_ID, &prompt, |s| states.push(s)).await;
    assert_eq!(result.unwrap_err(), AuthError::Expired);
    assert!(!states.is_empty(), "pending before it expired");
    assert!(matches!(server.approve_device_code(&prompt.user_code), Err(DeviceLoginError::Expired(_))));
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn device_code_unknown_to_the_platform() {
    let issuing = serve(fast_device_codes(), None).await;
    let other = serve(fast_device_codes(), None).await;
    let http = reqwest::Client::new();
    let prompt = auth::request_device_code(&http, &authority(&issuing), CLIENT_ID).await.unwrap();
    let result = auth::poll_device_code(&http, &authority(&other), CLIENT_ID, &prompt, |_| {}).await;
    assert_eq!(result.unwrap_err(), AuthError::BadVerificationCode);
    issuing.shutdown().await;
    other.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Renewal

#[tokio::test(start_paused = true)]
async fn renewal_before_expiry_for_both_grants() {
    const SECRET: &str = "renewal-secret-9";
    let oauth = OAuthConfig {
        client_secret: Some(ClientSecretSource::Value(Secret::new(SECRET))),
        token_lifetime: Duration::from_secs(2),
        ..fast_device_codes()
    };
    let server = serve(oauth, None).await;
    let http = reqwest::Client::new();

    // Client credentials: a 2 s token is within the renewal margin, so bearer() asks again.
    let first =
        auth::client_credentials(&http, &authority(&server), CLIENT_ID, &Secret::new(SECRET)).await.unwrap();
    let manager = TokenManager::new(
        http.clone(),
        authority(&server),
        CLIENT_ID.into(),
        Grant::ClientSecret(Secret::new(SECRET)),
        first.clone(),
    );
    let renewed = manager.bearer().await.unwrap();
    assert_ne!(renewed, first.access_token);
    assert_eq!(grants(&server), ["client_credentials"; 2]);

    // Device code: renewal is a refresh, which rotates the refresh token; the old one stays
    // valid until it expires, as the live service documents.
    let signed_in = device_code_sign_in(&server).await;
    let manager = TokenManager::new(
        http.clone(),
        authority(&server),
        CLIENT_ID.into(),
        Grant::DeviceCode,
        signed_in.clone(),
    );
    let refreshed = manager.bearer().await.unwrap();
    assert_ne!(refreshed, signed_in.access_token);
    assert_eq!(grants(&server).last().map(String::as_str), Some("refresh_token"));
    let old_refresh = signed_in.refresh_token.clone().unwrap();
    let reused = auth::refresh(&http, &authority(&server), CLIENT_ID, &old_refresh).await;
    let reused_tokens = reused.as_ref().expect("the replaced refresh token still works");
    assert_ne!(reused_tokens.refresh_token.as_ref(), Some(&old_refresh), "and is rotated again");

    // The server enforces the lifetime: once 2 s are over, the first token is refused.
    let stale = graph(&server, TokenSource::Static(first.access_token.clone()));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = stale.list(&ListQuery::default()).next().await.unwrap();
    let error = outcome.result.unwrap_err();
    assert_eq!(error.service().map(|e| e.status), Some(401));
    assert!(error.to_string().contains("expired"), "{error}");

    let texts = [format!("{manager:?}"), format!("{reused:?}"), format!("{signed_in:?}")];
    let secrets = [
        SECRET,
        first.access_token.expose(),
        renewed.expose(),
        refreshed.expose(),
        old_refresh.expose(),
        reused_tokens.access_token.expose(),
    ];
    assert_hidden(&server, &secrets, &texts);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_401_renews_once_and_a_second_401_is_an_error() {
    let server = serve(OAuthConfig::default(), None).await;
    let http = reqwest::Client::new();
    let secret = Secret::new("any-secret-works-here");
    let first = auth::client_credentials(&http, &authority(&server), CLIENT_ID, &secret).await.unwrap();
    let manager = Arc::new(TokenManager::new(
        http.clone(),
        authority(&server),
        CLIENT_ID.into(),
        Grant::ClientSecret(secret.clone()),
        first,
    ));
    let client = graph(&server, TokenSource::Managed(manager));
    // One page holds the whole demo set, so the listing fetches nothing ahead.
    let one_page = ListQuery { top: Some(999), ..ListQuery::default() };
    assert!(client.list(&one_page).next().await.unwrap().result.is_ok());

    server.revoke_tokens();
    let outcome = client.list(&one_page).next().await.unwrap();
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.exchange.attempts, 2, "the 401, then the retry with a renewed token");
    let statuses: Vec<String> = server
        .journal()
        .iter()
        .rev()
        .take(3)
        .map(|r| format!("{} {}", r.method, r.path_and_query.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            "GET importedWindowsAutopilotDeviceIdentities?$top=999",
            "POST token",
            "GET importedWindowsAutopilotDeviceIdentities?$top=999"
        ]
    );

    // A platform whose tokens are dead on arrival: the renewed token is refused too.
    let dead = serve(OAuthConfig { token_lifetime: Duration::ZERO, ..OAuthConfig::default() }, None).await;
    let first = auth::client_credentials(&http, &authority(&dead), CLIENT_ID, &secret).await.unwrap();
    let manager = TokenManager::new(
        http.clone(),
        authority(&dead),
        CLIENT_ID.into(),
        Grant::ClientSecret(secret.clone()),
        first,
    );
    let client = graph(&dead, TokenSource::Managed(Arc::new(manager)));
    let outcome = client.list(&one_page).next().await.unwrap();
    assert_eq!(
        outcome.result.unwrap_err().service().map(|e| (e.status, e.code.clone())),
        Some((401, "InvalidAuthenticationToken".into()))
    );
    let gets = dead.journal().iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 2, "renewed once, not in a loop");
    dead.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_revoked_session_fails_renewal_with_an_auth_error() {
    let server = serve(fast_device_codes(), None).await;
    let http = reqwest::Client::new();
    let tokens = device_code_sign_in(&server).await;
    let manager =
        TokenManager::new(http, authority(&server), CLIENT_ID.into(), Grant::DeviceCode, tokens.clone());
    let client = graph(&server, TokenSource::Managed(Arc::new(manager)));
    server.revoke_tokens();
    server.revoke_refresh_tokens();
    let outcome = client.list(&ListQuery::default()).next().await.unwrap();
    let error = outcome.result.unwrap_err();
    assert!(
        matches!(&error, GraphError::Auth(AuthError::Token { error, .. }) if error == "invalid_grant"),
        "{error:?}"
    );
    let texts = [error.to_string(), format!("{error:?}"), format!("{:?}", outcome.exchange)];
    assert_hidden(
        &server,
        &[tokens.access_token.expose(), tokens.refresh_token.as_ref().unwrap().expose()],
        &texts,
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The protocol itself, by hand

#[tokio::test(start_paused = true)]
async fn token_endpoint_speaks_entra() {
    let server = serve(fast_device_codes(), None).await;
    let http = reqwest::Client::new();
    let url = |endpoint: &str| format!("{}/{TENANT}/oauth2/v2.0/{endpoint}", server.authority_base());
    let post = |endpoint: &str, form: Vec<(&'static str, String)>| {
        http.post(url(endpoint))
            .header("client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
            .form(&form)
            .send()
    };

    let answer: Value = post(
        "devicecode",
        vec![("client_id", CLIENT_ID.into()), ("scope", auth::GRAPH_DELEGATED_SCOPE.into())],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let device_code = answer["device_code"].as_str().unwrap().to_string();
    assert_eq!(answer["interval"], 1);
    assert_eq!(answer["expires_in"], 900);
    let poll = || {
        post(
            "token",
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".into()),
                ("client_id", CLIENT_ID.into()),
                ("device_code", device_code.clone()),
            ],
        )
    };
    let first = poll().await.unwrap();
    assert_eq!(first.status(), 400);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["error"], "authorization_pending");
    assert!(first["error_description"].as_str().unwrap().starts_with("AADSTS70016: "));
    assert_eq!(first["error_codes"], serde_json::json!([70016]));
    assert_eq!(first["correlation_id"], "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert!(first["trace_id"].is_string() && first["timestamp"].as_str().unwrap().ends_with('Z'));
    // Polling again at once is too fast.
    let second: Value = poll().await.unwrap().json().await.unwrap();
    assert_eq!(second["error"], "slow_down");

    let bad: Value = post(
        "token",
        vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".into()),
            ("client_id", CLIENT_ID.into()),
            ("device_code", "not-a-code".into()),
        ],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(bad["error"], "bad_verification_code");
    let missing: Value =
        post("token", vec![("client_id", CLIENT_ID.into())]).await.unwrap().json().await.unwrap();
    assert_eq!(missing["error"], "invalid_request");
    assert!(missing["error_description"].as_str().unwrap().contains("'grant_type'"));
    let unsupported: Value =
        post("token", vec![("grant_type", "password".into()), ("client_id", CLIENT_ID.into())])
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(unsupported["error"], "unsupported_grant_type");
    let scope: Value = post(
        "token",
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", CLIENT_ID.into()),
            ("client_secret", "x".into()),
            ("scope", "User.Read".into()),
        ],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(scope["error"], "invalid_scope");
    assert_eq!(http.get(url("token")).send().await.unwrap().status(), 405);

    // The device code went out in the answer, but the journal keeps it redacted.
    let polls: Vec<String> = server
        .journal()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/token"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(polls[0].contains("device_code=%5Bredacted%5D"), "{}", polls[0]);
    assert_hidden(&server, &[&device_code], &[]);
    server.shutdown().await;
}
