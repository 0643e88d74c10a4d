//! An imitation of the Microsoft identity platform v2 (`graph-autopilot.md` section 4), good
//! enough for Microsoft's own auth libraries: `POST /{tenant}/oauth2/v2.0/devicecode` and
//! `POST /{tenant}/oauth2/v2.0/token` with the `client_credentials`, device code and
//! `refresh_token` grants (secrets in the form or as HTTP Basic), the OpenID metadata, JWKS and
//! instance discovery (`oidc.rs`), answering in Entra ID's shapes: JWT access tokens, an
//! `id_token` when `openid` is asked, `client_info` when `client_info=1` is sent, errors with
//! trace and correlation ids. Tokens it issues are accepted by the Graph routes until they
//! expire or are revoked.
//!
//! A pending device code is approved or declined by a test through [`super::RunningServer`], or
//! by a person at `GET/POST /_imitation/devicelogin` (the `verification_uri` it hands out).
//! Secrets never reach the journal or the log: form fields that carry one are redacted.

use super::AppState;
use super::clock::Clock;
use super::conventions::graph_timestamp;
use super::identity::{self, OAuthError, Tenant};
use super::journal;
use super::oidc;
use super::tokens::{self, Issue, Scopes};
use crate::graph::auth::Secret;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Where a person approves or declines a device code on this server.
pub const DEVICE_LOGIN_PATH: &str = "/_imitation/devicelogin";
/// Form fields whose values are secrets; the journal keeps their names only.
const SECRET_FIELDS: [&str; 5] = ["client_secret", "refresh_token", "device_code", "access_token", "code"];
/// What a redacted value is replaced with.
const REDACTED: &str = "[redacted]";
/// The device code grant type.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Largest form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Prefixes of the opaque secrets this imitation issues (access tokens are JWTs).
const REFRESH_PREFIX: &str = "imitation-refresh.";
const DEVICE_CODE_PREFIX: &str = "imitation-devicecode.";
/// Letters of a user code: no 0/O or 1/I, which people mistype.
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Where the identity platform's error pages live, for `error_uri`.
const ERROR_URI: &str = "https://login.microsoftonline.com/error?code=";

/// Where the client secret the imitation requires comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecretSource {
    /// The secret itself (tests).
    Value(Secret),
    /// A file holding it, trailing newline ignored (`serve --oauth-client-secret-file`).
    File(PathBuf),
}

/// How the identity platform imitation behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The only client id accepted; `None` accepts any.
    pub client_id: Option<String>,
    /// The secret `client_credentials` requires; `None` accepts any non-empty secret.
    pub client_secret: Option<ClientSecretSource>,
    /// How long issued access tokens work (`expires_in`, whole seconds).
    pub token_lifetime: Duration,
    /// How long a refresh token works; a refreshed one stays valid until then too.
    pub refresh_token_lifetime: Duration,
    /// How long a device code can be approved and redeemed.
    pub device_code_lifetime: Duration,
    /// The polling `interval` handed out with a device code (whole seconds, at least 1).
    pub poll_interval: Duration,
    /// Answer the first poll of every device code with `slow_down` (tests the client's back-off
    /// without polling too fast on purpose).
    pub slow_down_first_poll: bool,
}

impl Default for OAuthConfig {
    fn default() -> OAuthConfig {
        OAuthConfig {
            client_id: None,
            client_secret: None,
            // Entra gives 60-90 minutes; an hour is the common case.
            token_lifetime: Duration::from_secs(3600),
            // Entra's default for refresh tokens outside single-page apps.
            refresh_token_lifetime: Duration::from_secs(90 * 24 * 3600),
            device_code_lifetime: Duration::from_secs(900),
            poll_interval: Duration::from_secs(5),
            slow_down_first_poll: false,
        }
    }
}

/// Why a device code could not be approved or declined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceLoginError {
    /// No device code has this user code.
    #[error("no sign-in is waiting for the code {0}")]
    UnknownCode(String),
    /// The code ran out.
    #[error("the code {0} has expired")]
    Expired(String),
    /// The code was approved or declined already.
    #[error("the code {0} was already used")]
    AlreadyDecided(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved,
    Declined,
    Redeemed,
}

struct PendingSignIn {
    user_code: String,
    client_id: String,
    scope: String,
    /// The directory the code was asked for; the tokens are for it.
    tenant: Tenant,
    expires_at: Instant,
    /// The interval this code must be polled at; grows by 5 s with every `slow_down`.
    interval: Duration,
    last_poll: Option<Instant>,
    decision: Decision,
}

struct IssuedAccess {
    expires_at: Instant,
    revoked: bool,
}

struct IssuedRefresh {
    client_id: String,
    scope: String,
    tenant: Tenant,
    expires_at: Instant,
}

/// The imitation's memory: device codes and issued tokens.
pub(super) struct OAuthState {
    config: OAuthConfig,
    /// Lifetimes and timestamps follow the server's clock.
    clock: Clock,
    /// The required secret, read from its source at start.
    secret: Option<Secret>,
    device_codes: HashMap<String, PendingSignIn>,
    access_tokens: HashMap<String, IssuedAccess>,
    refresh_tokens: HashMap<String, IssuedRefresh>,
}

impl fmt::Debug for OAuthState {
    // Codes and tokens are secrets: show how many there are, never what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthState")
            .field("config", &self.config)
            .field("device_codes", &self.device_codes.len())
            .field("access_tokens", &self.access_tokens.len())
            .field("refresh_tokens", &self.refresh_tokens.len())
            .finish()
    }
}

/// What the Graph routes learn about a bearer token from the imitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenStatus {
    /// Issued here and still good.
    Valid,
    /// Issued here; its lifetime is over.
    Expired,
    /// Issued here and revoked.
    Revoked,
    /// Signed with this imitation's key but never issued here (or forgotten).
    Forged,
    /// Not one of ours.
    Foreign,
}

/// A token request's grant, as far as issuing goes.
struct Grant<'a> {
    client_id: &'a str,
    /// The scopes asked for (or, on refresh, those of the original grant).
    scope: &'a str,
    tenant: &'a Tenant,
    /// A user signed in (device code, refresh); otherwise the app on its own.
    delegated: bool,
    /// The app proved itself with a secret.
    confidential: bool,
    /// The client sent `client_info=1`.
    client_info: bool,
}

impl OAuthState {
    /// Checks the options and reads the secret file, if any.
    pub(super) fn new(config: OAuthConfig, clock: Clock) -> Result<OAuthState, String> {
        if config.poll_interval < Duration::from_secs(1) {
            return Err("the device code polling interval must be at least 1 second".into());
        }
        if config.client_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err("the OAuth client id must not be empty".into());
        }
        let secret = match &config.client_secret {
            None => None,
            Some(ClientSecretSource::Value(secret)) => Some(secret.clone()),
            Some(ClientSecretSource::File(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the client secret file {}: {e}", path.display()))?;
                Some(Secret::new(text.trim_end_matches(['\r', '\n'])))
            }
        };
        if secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            return Err("the OAuth client secret must not be empty".into());
        }
        Ok(OAuthState {
            config,
            clock,
            secret,
            device_codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
        })
    }

    /// Whether a bearer token was issued here, and whether it still works.
    pub(super) fn token_status(&self, token: &str) -> TokenStatus {
        match self.access_tokens.get(token) {
            Some(issued) if issued.revoked => TokenStatus::Revoked,
            Some(issued) if self.clock.now() >= issued.expires_at => TokenStatus::Expired,
            Some(_) => TokenStatus::Valid,
            None if tokens::existing_key_id()
                .is_some_and(|kid| tokens::key_id_of(token).as_deref() == Some(kid)) =>
            {
                TokenStatus::Forged
            }
            None => TokenStatus::Foreign,
        }
    }

    /// Revokes every access token issued so far (refresh tokens keep working).
    pub(super) fn revoke_access_tokens(&mut self) {
        for issued in self.access_tokens.values_mut() {
            issued.revoked = true;
        }
    }

    /// Forgets every refresh token issued so far: renewal by refresh fails from now on.
    pub(super) fn revoke_refresh_tokens(&mut self) {
        self.refresh_tokens.clear();
    }

    /// Approves or declines the pending sign-in with this user code.
    pub(super) fn decide(&mut self, user_code: &str, approve: bool) -> Result<(), DeviceLoginError> {
        let wanted = normalise_user_code(user_code);
        let entry = self
            .device_codes
            .values_mut()
            .find(|entry| entry.user_code == wanted)
            .ok_or_else(|| DeviceLoginError::UnknownCode(wanted.clone()))?;
        if self.clock.now() >= entry.expires_at {
            return Err(DeviceLoginError::Expired(wanted));
        }
        if entry.decision != Decision::Pending {
            return Err(DeviceLoginError::AlreadyDecided(wanted));
        }
        entry.decision = if approve { Decision::Approved } else { Decision::Declined };
        tracing::info!(user_code = %wanted, approve, "device code decided");
        Ok(())
    }

    /// Issues an access token (a JWT), and for a user a refresh token when `offline_access`
    /// was granted, an id token when `openid` was, and `client_info` when asked.
    fn issue(&mut self, origin: &str, grant: &Grant<'_>) -> Result<Value, OAuthError> {
        let key = tokens::signing_key().map_err(OAuthError::server)?;
        let now = self.clock.now();
        // Forget what has been dead for an hour, so a long demo does not grow without bound;
        // a forgotten token still fails as "forged" thanks to its signature.
        self.access_tokens.retain(|_, t| t.expires_at + Duration::from_secs(3600) > now);
        self.device_codes.retain(|_, d| d.expires_at + Duration::from_secs(3600) > now);
        self.refresh_tokens.retain(|_, t| t.expires_at > now);
        let lifetime = self.config.token_lifetime.as_secs();
        let issue = Issue {
            origin,
            client_id: grant.client_id,
            tenant: grant.tenant,
            delegated: grant.delegated,
            confidential: grant.confidential,
            now: self.clock.wall().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            lifetime,
        };
        let scopes = Scopes::parse(grant.scope);
        let access = key.sign(&tokens::access_claims(&issue, &scopes)).map_err(OAuthError::server)?;
        self.access_tokens.insert(
            access.clone(),
            IssuedAccess { expires_at: now + self.config.token_lifetime, revoked: false },
        );
        // Live answers client credentials with no `scope`; user grants list what was granted.
        let mut answer = json!({"token_type": "Bearer"});
        if grant.delegated {
            answer["scope"] = json!(scopes.granted());
        }
        answer["expires_in"] = json!(lifetime);
        answer["ext_expires_in"] = json!(lifetime);
        answer["access_token"] = json!(access);
        if !grant.delegated {
            return Ok(answer);
        }
        if scopes.has("offline_access") {
            let refresh = format!("{REFRESH_PREFIX}{}", random_token());
            self.refresh_tokens.insert(
                refresh.clone(),
                IssuedRefresh {
                    client_id: grant.client_id.to_string(),
                    scope: grant.scope.to_string(),
                    tenant: grant.tenant.clone(),
                    expires_at: now + self.config.refresh_token_lifetime,
                },
            );
            answer["refresh_token"] = json!(refresh);
        }
        if scopes.has("openid") {
            answer["id_token"] =
                json!(key.sign(&tokens::id_token_claims(&issue)).map_err(OAuthError::server)?);
        }
        if grant.client_info {
            answer["client_info"] =
                json!(tokens::client_info(&grant.tenant.user_object_id(), &grant.tenant.id));
        }
        Ok(answer)
    }
}

/// A user code as typed: upper case, without spaces or dashes.
fn normalise_user_code(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Nine letters from the unambiguous alphabet, like Entra's `GJ4KQ8X2B`.
fn random_user_code() -> String {
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..9).map(|i| char::from(USER_CODE_ALPHABET[((bits >> (i * 5)) & 31) as usize])).collect()
}

fn lock(app: &AppState) -> MutexGuard<'_, OAuthState> {
    app.oauth.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The identity platform routes and the device login page, with their own journal layer.
/// Anything else under an identity prefix answers in the identity platform's error shape.
pub(super) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code).fallback(only_post))
        .route("/{tenant}/oauth2/v2.0/token", post(token).fallback(only_post))
        .route("/{tenant}/oauth2/v2.0/authorize", any(authorize))
        .route("/{tenant}/oauth2/v2.0/logout", any(logout))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oidc::openid_configuration))
        .route("/{tenant}/.well-known/openid-configuration", get(oidc::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(oidc::keys))
        .route("/{tenant}/discovery/keys", get(oidc::keys))
        .route("/{tenant}/discovery/instance", get(oidc::instance_discovery))
        .route(DEVICE_LOGIN_PATH, get(device_login_page).post(device_login))
        .route("/{tenant}/oauth2/{*rest}", any(unknown_endpoint))
        .route("/{tenant}/v2.0/{*rest}", any(unknown_endpoint))
        .route("/{tenant}/discovery/{*rest}", any(unknown_endpoint))
        .route("/{tenant}/.well-known/{*rest}", any(unknown_endpoint))
        .route("/_imitation/{*rest}", any(unknown_endpoint))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), sign_in_conventions))
        .with_state(state)
}

/// The ids one answer carries: `trace_id` (also `x-ms-request-id`) and `correlation_id`
/// (the client's `client-request-id` when it sent a GUID).
struct RequestIds {
    trace: String,
    correlation: String,
}

fn error_json(error: &OAuthError, ids: &RequestIds, now: SystemTime) -> Value {
    let timestamp = format!("{}Z", graph_timestamp(now).replace('T', " "));
    json!({
        "error": error.error,
        "error_description": format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
            error.code, error.description, ids.trace, ids.correlation
        ),
        "error_codes": [error.code],
        "timestamp": timestamp,
        "trace_id": ids.trace,
        "correlation_id": ids.correlation,
        "error_uri": format!("{ERROR_URI}{}", error.code),
    })
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// Journals the request with secrets redacted, renders errors in Entra's shape, and stamps the
/// headers the identity platform sends. Bodies are never logged: they carry secrets.
async fn sign_in_conventions(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let ids = RequestIds {
        trace: uuid::Uuid::new_v4().to_string(),
        correlation: request
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| uuid::Uuid::parse_str(v).ok())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |u| u.to_string()),
    };
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await;
    let recorded = bytes.as_ref().map(|b| redact_form(b)).unwrap_or_default();
    journal::record(&app.journal, &parts.method, &path, &parts.headers, recorded, app.clock.elapsed(), None);
    let request = Request::from_parts(parts, Body::from(bytes.unwrap_or_default()));
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<Arc<OAuthError>>() {
        response = json_answer(error.status, &error_json(&error, &ids, app.clock.wall()));
        if error.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
    }
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    }
    for (name, value) in [("client-request-id", &ids.correlation), ("x-ms-request-id", &ids.trace)] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        trace_id = %ids.trace,
        "sign-in request"
    );
    response
}

/// The form with every secret field's value replaced; anything that is not a form is kept
/// only as its length, since it cannot be redacted field by field.
fn redact_form(body: &[u8]) -> Vec<u8> {
    if body.is_empty() {
        return Vec::new();
    }
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(body) {
        if SECRET_FIELDS.contains(&key.as_ref()) {
            out.append_pair(&key, REDACTED);
        } else {
            out.append_pair(&key, &value);
        }
    }
    out.finish().into_bytes()
}

/// The form fields (the first of each name), after checking the content type.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::missing("grant_type"));
    }
    let mut fields = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    Ok(fields)
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    fields
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| OAuthError::missing(name))
}

/// The client's id and secret: from HTTP Basic (`client_secret_basic`, RFC 6749 2.3.1: both
/// form-encoded, then base64) or from the form (`client_secret_post`).
fn client_credentials_of(
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<(String, Option<String>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| {
            let invalid = || {
                OAuthError::new(
                    "invalid_client",
                    7_000_215,
                    "Invalid client secret provided: the Authorization header is not client_id:client_secret in base64.",
                )
            };
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
            let decode = |text: &str| -> String {
                url::form_urlencoded::parse(format!("v={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
            };
            Ok::<_, OAuthError>((decode(id), decode(secret)))
        })
        .transpose()?;
    let form_id = fields.get("client_id").map(String::as_str).filter(|v| !v.trim().is_empty());
    match basic {
        Some((id, secret)) => {
            if form_id.is_some_and(|form_id| !form_id.eq_ignore_ascii_case(&id)) {
                return Err(OAuthError::new(
                    "invalid_request",
                    90_023,
                    "The client_id in the Authorization header and the one in the request body differ.",
                ));
            }
            Ok((id, Some(secret).filter(|s| !s.is_empty())))
        }
        None => {
            let id = form_id.ok_or_else(|| OAuthError::missing("client_id"))?;
            Ok((id.to_string(), fields.get("client_secret").cloned().filter(|s| !s.trim().is_empty())))
        }
    }
}

fn check_client(state: &OAuthState, client_id: &str) -> Result<(), OAuthError> {
    match &state.config.client_id {
        Some(known) if !known.eq_ignore_ascii_case(client_id) => Err(OAuthError::new(
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory. This can happen if the \
                 application has not been installed by the administrator of the tenant."
            ),
        )),
        _ => Ok(()),
    }
}

/// A secret the client presented, checked against the configured one.
fn check_secret(state: &OAuthState, client_id: &str, secret: &str) -> Result<(), OAuthError> {
    if state.secret.as_ref().is_some_and(|expected| expected.expose() != secret) {
        return Err(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code: 7_000_215,
            description: format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                 value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        });
    }
    Ok(())
}

async fn only_post() -> OAuthError {
    OAuthError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: "invalid_request",
        code: 900_561,
        description: "The endpoint only accepts POST requests.".into(),
    }
}

/// Any path under an identity prefix that is not one of the endpoints above.
async fn unknown_endpoint(uri: Uri) -> OAuthError {
    let path: String = uri.path().chars().take(200).collect();
    OAuthError {
        status: StatusCode::NOT_FOUND,
        error: "invalid_request",
        code: 90_023,
        description: format!("The request is not valid: there is no identity platform endpoint at '{path}'."),
    }
}

/// The browser flows are not imitated; say so in the platform's words.
async fn authorize() -> OAuthError {
    OAuthError::new(
        "unsupported_response_type",
        90_023,
        "This imitation does not sign in through a browser; use the device code flow or client credentials.",
    )
}

/// `GET /{tenant}/oauth2/v2.0/logout`: nothing to end (the imitation keeps no browser session).
async fn logout() -> Response {
    html(StatusCode::OK, "You are signed out.")
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`: a device code and the user code to show.
async fn device_code(
    State(app): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let fields = form(&headers, &body)?;
    let client_id = field(&fields, "client_id")?;
    let scope = field(&fields, "scope")?;
    let mut state = lock(&app);
    check_client(&state, client_id)?;
    let device_code = format!("{DEVICE_CODE_PREFIX}{}", random_token());
    let mut user_code = random_user_code();
    while state.device_codes.values().any(|d| d.user_code == user_code) {
        user_code = random_user_code();
    }
    let interval = state.config.poll_interval;
    let lifetime = state.config.device_code_lifetime;
    let tenant = identity::tenant(&app, &tenant);
    let expires_at = state.clock.now() + lifetime;
    state.device_codes.insert(
        device_code.clone(),
        PendingSignIn {
            user_code: user_code.clone(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            tenant,
            expires_at,
            interval,
            last_poll: None,
            decision: Decision::Pending,
        },
    );
    drop(state);
    let verification_uri = format!("{}{DEVICE_LOGIN_PATH}", app.origin(&headers));
    let answer = json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": lifetime.as_secs(),
        "interval": interval.as_secs(),
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
    });
    Ok(json_answer(StatusCode::OK, &answer))
}

/// `POST /{tenant}/oauth2/v2.0/token`: the three grants.
async fn token(
    State(app): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let fields = form(&headers, &body)?;
    let grant_type = field(&fields, "grant_type")?;
    let (client_id, secret) = client_credentials_of(&headers, &fields)?;
    let origin = app.origin(&headers);
    let tenant = identity::tenant(&app, &tenant);
    let mut state = lock(&app);
    let request = TokenRequest {
        origin: &origin,
        tenant,
        client_id: &client_id,
        secret: secret.as_deref(),
        client_info: fields.get("client_info").is_some_and(|v| v == "1"),
        fields: &fields,
    };
    check_client(&state, &client_id)?;
    let answer = match grant_type {
        "client_credentials" => client_credentials_grant(&mut state, &request)?,
        DEVICE_CODE_GRANT => device_code_grant(&mut state, &request)?,
        "refresh_token" => refresh_token_grant(&mut state, &request)?,
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                70_003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };
    Ok(json_answer(StatusCode::OK, &answer))
}

/// What a token request brought, parsed once for the three grants.
struct TokenRequest<'a> {
    origin: &'a str,
    /// The directory of the request's path.
    tenant: Tenant,
    client_id: &'a str,
    /// From the form or HTTP Basic.
    secret: Option<&'a str>,
    client_info: bool,
    fields: &'a HashMap<String, String>,
}

impl<'a> TokenRequest<'a> {
    /// The grant of a signed-in user for `scope` in `tenant`.
    fn user_grant<'g>(&'g self, scope: &'g str, tenant: &'g Tenant, confidential: bool) -> Grant<'g>
    where
        'a: 'g,
    {
        Grant {
            client_id: self.client_id,
            scope,
            tenant,
            delegated: true,
            confidential,
            client_info: self.client_info,
        }
    }

    /// A presented secret must be the right one (public clients send none).
    fn check_secret_if_any(&self, state: &OAuthState) -> Result<bool, OAuthError> {
        match self.secret {
            Some(secret) => check_secret(state, self.client_id, secret).map(|()| true),
            None => Ok(false),
        }
    }
}

fn client_credentials_grant(state: &mut OAuthState, request: &TokenRequest<'_>) -> Result<Value, OAuthError> {
    let Some(secret) = request.secret else {
        return Err(OAuthError::new(
            "invalid_client",
            7_000_216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    };
    check_secret(state, request.client_id, secret)?;
    let scope = field(request.fields, "scope")?;
    // MSAL adds the OpenID scopes to every request; an app token ignores them, as live does.
    let scopes = Scopes::parse(scope);
    let mut resource_scopes = scopes.resource_scopes().peekable();
    if resource_scopes.peek().is_none() || !resource_scopes.all(|s| s.ends_with("/.default")) {
        return Err(OAuthError::new(
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value \
                 with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let scope = scopes.resource_scopes().collect::<Vec<_>>().join(" ");
    let grant = Grant {
        client_id: request.client_id,
        scope: &scope,
        tenant: &request.tenant,
        delegated: false,
        confidential: true,
        client_info: false,
    };
    state.issue(request.origin, &grant)
}

fn device_code_grant(state: &mut OAuthState, request: &TokenRequest<'_>) -> Result<Value, OAuthError> {
    let confidential = request.check_secret_if_any(state)?;
    let code = field(request.fields, "device_code")?;
    let slow_down_first = state.config.slow_down_first_poll;
    let bad_code = || {
        OAuthError::new(
            "bad_verification_code",
            70_000,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    };
    let entry = state.device_codes.get_mut(code).ok_or_else(bad_code)?;
    if !entry.client_id.eq_ignore_ascii_case(request.client_id) {
        return Err(bad_code());
    }
    let now = state.clock.now();
    if now >= entry.expires_at {
        return Err(OAuthError::new(
            "expired_token",
            70_020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ));
    }
    match entry.decision {
        Decision::Declined => {
            return Err(OAuthError::new(
                "authorization_declined",
                70_000,
                "The end user denied the authorization request.",
            ));
        }
        Decision::Redeemed => {
            return Err(OAuthError::new(
                "invalid_grant",
                54_005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code.",
            ));
        }
        Decision::Pending | Decision::Approved => {}
    }
    let too_soon = entry.last_poll.is_some_and(|last| now.duration_since(last) < entry.interval);
    let forced = slow_down_first && entry.last_poll.is_none();
    entry.last_poll = Some(now);
    if too_soon || forced {
        // RFC 8628: the client must add 5 s to its interval; hold it to the longer one too.
        entry.interval += Duration::from_secs(5);
        return Err(OAuthError::new(
            "slow_down",
            70_016,
            format!(
                "OAuth 2.0 device flow error. Polling too fast; wait at least {} seconds between requests.",
                entry.interval.as_secs()
            ),
        ));
    }
    if entry.decision == Decision::Pending {
        return Err(OAuthError::new(
            "authorization_pending",
            70_016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ));
    }
    entry.decision = Decision::Redeemed;
    let (scope, tenant) = (entry.scope.clone(), entry.tenant.clone());
    state.issue(request.origin, &request.user_grant(&scope, &tenant, confidential))
}

fn refresh_token_grant(state: &mut OAuthState, request: &TokenRequest<'_>) -> Result<Value, OAuthError> {
    let confidential = request.check_secret_if_any(state)?;
    let presented = field(request.fields, "refresh_token")?;
    let invalid = |why: &str| {
        OAuthError::new("invalid_grant", 70_000, format!("Provided grant is invalid or malformed: {why}."))
    };
    let issued = state
        .refresh_tokens
        .get(presented)
        .ok_or_else(|| invalid("the refresh token is unknown or revoked"))?;
    if !issued.client_id.eq_ignore_ascii_case(request.client_id) {
        return Err(invalid("the refresh token was issued to another client"));
    }
    if state.clock.now() >= issued.expires_at {
        return Err(OAuthError::new(
            "invalid_grant",
            700_082,
            "The refresh token has expired due to inactivity.",
        ));
    }
    // A refresh token may be traded for other scopes; it always renews itself. The presented
    // one stays valid until it expires, as the live service documents.
    let scope = request.fields.get("scope").cloned().unwrap_or_else(|| issued.scope.clone());
    let scope =
        if Scopes::parse(&scope).has("offline_access") { scope } else { format!("{scope} offline_access") };
    let tenant = issued.tenant.clone();
    state.issue(request.origin, &request.user_grant(&scope, &tenant, confidential))
}

// ---------------------------------------------------------------------------------------------
// The device login page

/// `GET /_imitation/devicelogin`: a form to type the code into.
async fn device_login_page() -> Response {
    html(
        StatusCode::OK,
        "<form method=\"post\"><label>Code <input name=\"user_code\" autofocus></label> \
         <button name=\"action\" value=\"approve\">Sign in</button> \
         <button name=\"action\" value=\"decline\">Decline</button></form>",
    )
}

/// `POST /_imitation/devicelogin` with `user_code` and `action=approve|decline` (default approve).
async fn device_login(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let mut user_code = String::new();
    let mut approve = true;
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "user_code" => user_code = value.into_owned(),
            "action" => approve = !value.eq_ignore_ascii_case("decline"),
            _ => {}
        }
    }
    // The message may name the code: normalised, it holds letters and digits only (no markup).
    match lock(&app).decide(&user_code, approve) {
        Ok(()) if approve => html(StatusCode::OK, "Signed in. You may close this window."),
        Ok(()) => html(StatusCode::OK, "Sign-in declined. You may close this window."),
        Err(error) => html(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

fn html(status: StatusCode, content: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>autopilot-tui sign-in (imitation)</title></head>\
         <body><h1>Sign in (imitation)</h1><p>{content}</p></body></html>\n"
    );
    let mut response = (status, page).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_redacted_field_by_field() {
        let body = b"grant_type=refresh_token&client_id=c1&refresh_token=rt-SECRET&client_secret=cs%2BSECRET&device_code=dc-SECRET";
        let text = String::from_utf8(redact_form(body)).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("grant_type=refresh_token") && text.contains("client_id=c1"), "{text}");
        assert!(text.contains("refresh_token=%5Bredacted%5D"), "{text}");
    }

    #[test]
    fn user_codes_are_nine_unambiguous_letters() {
        for _ in 0..100 {
            let code = random_user_code();
            assert_eq!(code.len(), 9);
            assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert_eq!(normalise_user_code(" gj4k-q8x2b "), "GJ4KQ8X2B");
    }

    #[test]
    fn debug_shows_no_token_and_forged_tokens_are_told_apart() {
        let mut state = OAuthState::new(OAuthConfig::default(), Clock::new()).unwrap();
        let tenant = Tenant::from_segment("contoso.onmicrosoft.com");
        let grant = Grant {
            client_id: "c",
            scope: "https://graph.microsoft.com/.default offline_access",
            tenant: &tenant,
            delegated: true,
            confidential: false,
            client_info: false,
        };
        let answer = state.issue("https://127.0.0.1:1", &grant).unwrap();
        let access = answer["access_token"].as_str().unwrap();
        let debug = format!("{state:?}");
        assert!(!debug.contains(access));
        assert!(!debug.contains(answer["refresh_token"].as_str().unwrap()));
        assert_eq!(state.token_status(access), TokenStatus::Valid);
        // Signed with our key but never issued here: forged. Anything else is someone else's.
        let forged = tokens::signing_key().unwrap().sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(state.token_status(&forged), TokenStatus::Forged);
        assert_eq!(state.token_status("someone-elses"), TokenStatus::Foreign);
        state.revoke_access_tokens();
        assert_eq!(state.token_status(access), TokenStatus::Revoked);
    }
}
