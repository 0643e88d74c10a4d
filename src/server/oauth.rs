//! An imitation of the Microsoft identity platform v2 endpoints the app signs in with
//! (`graph-autopilot.md` section 4): `POST /{tenant}/oauth2/v2.0/devicecode` and
//! `POST /{tenant}/oauth2/v2.0/token` with the `client_credentials`, device code and
//! `refresh_token` grants, answering in Entra ID's shapes. Tokens it issues are accepted by the
//! Graph routes until they expire or are revoked.
//!
//! A pending device code is approved or declined by a test through [`super::RunningServer`], or
//! by a person at `GET/POST /_imitation/devicelogin` (the `verification_uri` it hands out).
//! Secrets never reach the journal or the log: form fields that carry one are redacted.

use super::AppState;
use super::routes::{graph_timestamp, record};
use crate::graph::auth::Secret;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

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
/// Prefixes of what this imitation issues: a token with one of them that it does not know is
/// refused rather than accepted as "any token".
const ACCESS_PREFIX: &str = "imitation-access.";
const REFRESH_PREFIX: &str = "imitation-refresh.";
const DEVICE_CODE_PREFIX: &str = "imitation-devicecode.";
/// Letters of a user code: no 0/O or 1/I, which people mistype.
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

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
}

/// The imitation's memory: device codes and issued tokens.
pub(super) struct OAuthState {
    config: OAuthConfig,
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
    /// Looks like ours but was never issued (or was forgotten).
    Forged,
    /// Not one of ours.
    Foreign,
}

impl OAuthState {
    /// Checks the options and reads the secret file, if any.
    pub(super) fn new(config: OAuthConfig) -> Result<OAuthState, String> {
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
            Some(issued) if Instant::now() >= issued.expires_at => TokenStatus::Expired,
            Some(_) => TokenStatus::Valid,
            None if token.starts_with(ACCESS_PREFIX) => TokenStatus::Forged,
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
        if Instant::now() >= entry.expires_at {
            return Err(DeviceLoginError::Expired(wanted));
        }
        if entry.decision != Decision::Pending {
            return Err(DeviceLoginError::AlreadyDecided(wanted));
        }
        entry.decision = if approve { Decision::Approved } else { Decision::Declined };
        tracing::info!(user_code = %wanted, approve, "device code decided");
        Ok(())
    }

    /// Issues an access token, and a refresh token when `offline_access` was granted.
    fn issue(&mut self, client_id: &str, scope: &str) -> Value {
        let now = Instant::now();
        // Forget what has been dead for an hour, so a long demo does not grow without bound;
        // a forgotten token still fails as "forged" thanks to its prefix.
        self.access_tokens.retain(|_, t| t.expires_at + Duration::from_secs(3600) > now);
        self.device_codes.retain(|_, d| d.expires_at + Duration::from_secs(3600) > now);
        let access = format!("{ACCESS_PREFIX}{}", random_token());
        self.access_tokens.insert(
            access.clone(),
            IssuedAccess { expires_at: now + self.config.token_lifetime, revoked: false },
        );
        let lifetime = self.config.token_lifetime.as_secs();
        let mut answer = json!({
            "token_type": "Bearer",
            "scope": granted_scope(scope),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            let refresh = format!("{REFRESH_PREFIX}{}", random_token());
            self.refresh_tokens.insert(
                refresh.clone(),
                IssuedRefresh { client_id: client_id.to_string(), scope: scope.to_string() },
            );
            answer["refresh_token"] = Value::String(refresh);
        }
        answer
    }
}

/// The scopes a token answer reports: what was asked for, without the OIDC-only ones.
fn granted_scope(asked: &str) -> String {
    let kept: Vec<&str> =
        asked.split_whitespace().filter(|s| !matches!(*s, "offline_access" | "openid" | "profile")).collect();
    if kept.is_empty() { "https://graph.microsoft.com/.default".to_string() } else { kept.join(" ") }
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
pub(super) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code).fallback(only_post))
        .route("/{tenant}/oauth2/v2.0/token", post(token).fallback(only_post))
        .route(DEVICE_LOGIN_PATH, get(device_login_page).post(device_login))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), sign_in_conventions))
        .with_state(state)
}

/// An Entra ID token endpoint error.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, code, description: description.into() }
    }

    fn missing(parameter: &str) -> OAuthError {
        OAuthError::new(
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(std::sync::Arc::new(self));
        response
    }
}

fn error_json(error: &OAuthError, correlation: &str) -> Value {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let timestamp = format!("{}Z", graph_timestamp(SystemTime::now()).replace('T', " "));
    json!({
        "error": error.error,
        "error_description": format!(
            "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation} Timestamp: {timestamp}",
            error.code, error.description
        ),
        "error_codes": [error.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={}", error.code),
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
    let started = Instant::now();
    let correlation = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |u| u.to_string());
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await;
    let recorded = bytes.as_ref().map(|b| redact_form(b)).unwrap_or_default();
    record(&app, &parts.method, &path, &parts.headers, recorded);
    let request = Request::from_parts(parts, Body::from(bytes.unwrap_or_default()));
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<Arc<OAuthError>>() {
        response = json_answer(error.status, &error_json(&error, &correlation));
        if error.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    if let Ok(value) = HeaderValue::from_str(&correlation) {
        headers.insert("client-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-ms-request-id", value);
    }
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
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

async fn only_post() -> OAuthError {
    OAuthError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: "invalid_request",
        code: 900_561,
        description: "The endpoint only accepts POST requests.".into(),
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`: a device code and the user code to show.
async fn device_code(
    State(app): State<Arc<AppState>>,
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
    state.device_codes.insert(
        device_code.clone(),
        PendingSignIn {
            user_code: user_code.clone(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            expires_at: Instant::now() + lifetime,
            interval,
            last_poll: None,
            decision: Decision::Pending,
        },
    );
    drop(state);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| app.addr.to_string(), str::to_string);
    let verification_uri = format!("http://{host}{DEVICE_LOGIN_PATH}");
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let fields = form(&headers, &body)?;
    let grant_type = field(&fields, "grant_type")?;
    let client_id = field(&fields, "client_id")?;
    let mut state = lock(&app);
    check_client(&state, client_id)?;
    let answer = match grant_type {
        "client_credentials" => client_credentials_grant(&mut state, &fields, client_id)?,
        DEVICE_CODE_GRANT => device_code_grant(&mut state, &fields, client_id)?,
        "refresh_token" => refresh_token_grant(&mut state, &fields, client_id)?,
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

fn client_credentials_grant(
    state: &mut OAuthState,
    fields: &HashMap<String, String>,
    client_id: &str,
) -> Result<Value, OAuthError> {
    let Ok(secret) = field(fields, "client_secret") else {
        return Err(OAuthError::new(
            "invalid_client",
            7_000_216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    };
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
    let scope = field(fields, "scope")?;
    if !scope.split_whitespace().all(|s| s.ends_with("/.default")) {
        return Err(OAuthError::new(
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value \
                 with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    Ok(state.issue(client_id, scope))
}

fn device_code_grant(
    state: &mut OAuthState,
    fields: &HashMap<String, String>,
    client_id: &str,
) -> Result<Value, OAuthError> {
    let code = field(fields, "device_code")?;
    let slow_down_first = state.config.slow_down_first_poll;
    let bad_code = || {
        OAuthError::new(
            "bad_verification_code",
            70_000,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    };
    let entry = state.device_codes.get_mut(code).ok_or_else(bad_code)?;
    if !entry.client_id.eq_ignore_ascii_case(client_id) {
        return Err(bad_code());
    }
    let now = Instant::now();
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
    let scope = entry.scope.clone();
    Ok(state.issue(client_id, &scope))
}

fn refresh_token_grant(
    state: &mut OAuthState,
    fields: &HashMap<String, String>,
    client_id: &str,
) -> Result<Value, OAuthError> {
    let presented = field(fields, "refresh_token")?;
    let invalid = || {
        OAuthError::new(
            "invalid_grant",
            70_000,
            "Provided grant is invalid or malformed: the refresh token was replaced by a newer one or revoked.",
        )
    };
    let issued = state.refresh_tokens.get(presented).ok_or_else(invalid)?;
    if !issued.client_id.eq_ignore_ascii_case(client_id) {
        return Err(invalid());
    }
    // Rotation: the presented token stops working once the new one is issued.
    let scope = fields.get("scope").cloned().unwrap_or_else(|| issued.scope.clone());
    let scope = if scope.split_whitespace().any(|s| s == "offline_access") {
        scope
    } else {
        format!("{scope} offline_access")
    };
    state.refresh_tokens.remove(presented);
    Ok(state.issue(client_id, &scope))
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
    fn debug_shows_no_token() {
        let mut state = OAuthState::new(OAuthConfig::default()).unwrap();
        let answer = state.issue("c", "https://graph.microsoft.com/.default offline_access");
        let debug = format!("{state:?}");
        assert!(!debug.contains(answer["access_token"].as_str().unwrap()));
        assert!(!debug.contains(answer["refresh_token"].as_str().unwrap()));
        assert_eq!(state.token_status(answer["access_token"].as_str().unwrap()), TokenStatus::Valid);
        assert_eq!(state.token_status("imitation-access.nope"), TokenStatus::Forged);
        assert_eq!(state.token_status("someone-elses"), TokenStatus::Foreign);
        state.revoke_access_tokens();
        assert_eq!(state.token_status(answer["access_token"].as_str().unwrap()), TokenStatus::Revoked);
    }
}
