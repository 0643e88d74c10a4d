//! Where a bearer token comes from: a static token, client credentials, or the device code flow
//! of the Microsoft identity platform v2 (with refresh); and the wrapper that keeps secrets out
//! of logs, screens and error messages. The flows follow Microsoft's documented protocol; the
//! `oauth2` crate would bring a second reqwest, so this is a small module of our own.

use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A secret string (token, client secret). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What every shown or logged `Authorization` header value is replaced with.
pub const REDACTED_BEARER: &str = "Bearer [redacted]";

/// Default identity platform authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Scope for Graph with a refresh token (device code flow).
pub const GRAPH_DELEGATED_SCOPE: &str = "https://graph.microsoft.com/.default offline_access";
/// Scope for Graph as an application (client credentials).
pub const GRAPH_APP_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Renew this long before the access token expires.
pub const RENEW_MARGIN: Duration = Duration::from_secs(300);

/// Where the identity platform lives for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// e.g. `https://login.microsoftonline.com` (or the embedded imitation in tests).
    pub base: String,
    /// Tenant id or domain.
    pub tenant: String,
}

impl Authority {
    /// `{base}/{tenant}/oauth2/v2.0/{endpoint}`.
    fn url(&self, endpoint: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{endpoint}", self.base.trim_end_matches('/'), self.tenant)
    }
}

/// An access token and what comes with it.
#[derive(Clone)]
pub struct TokenSet {
    /// The bearer token.
    pub access_token: Secret,
    /// Present when `offline_access` was granted; replaces the previous one on every refresh.
    pub refresh_token: Option<Secret>,
    /// When the access token stops working.
    pub expires_at: Instant,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_at.saturating_duration_since(Instant::now()))
            .finish()
    }
}

/// What the user is shown to sign in with the device code flow.
#[derive(Clone)]
pub struct DeviceCodePrompt {
    /// The code to type at the verification page.
    pub user_code: String,
    /// The page, e.g. `https://microsoft.com/devicelogin`.
    pub verification_uri: String,
    /// The identity platform's own sentence about both.
    pub message: String,
    /// When the code stops working.
    pub expires_at: Instant,
    /// How long to wait between polls.
    pub interval: Duration,
    device_code: Secret,
}

impl fmt::Debug for DeviceCodePrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodePrompt")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Why signing in failed, in words for the user. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The user declined the sign-in at the verification page.
    #[error("sign-in was declined at the verification page")]
    Declined,
    /// The device code ran out before the user finished.
    #[error("the sign-in code expired before sign-in finished; start again")]
    Expired,
    /// The identity platform did not recognise the device code.
    #[error("the identity platform did not recognise the sign-in code; start again")]
    BadVerificationCode,
    /// Any other answer of the token endpoint (`invalid_client`, `invalid_grant`, ...).
    #[error("sign-in failed: {error}: {description}")]
    Token {
        /// The OAuth `error` code.
        error: String,
        /// `error_description` (`AADSTS7000215: Invalid client secret provided...`).
        description: String,
    },
    /// The identity platform could not be reached.
    #[error("cannot reach the identity platform: {0}")]
    Transport(String),
    /// An answer that is not what the protocol says.
    #[error("unreadable answer from the identity platform: {0}")]
    Decode(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: u64,
    #[serde(default = "default_interval")]
    interval: u64,
    #[serde(default)]
    message: String,
}

fn default_interval() -> u64 {
    5
}

/// Posts a form to the identity platform; a 2xx body decodes as `T`, an error body as
/// `ErrorAnswer`.
async fn post_form<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Result<T, ErrorAnswer>, AuthError> {
    let response = http.post(url).form(form).send().await.map_err(|e| AuthError::Transport(e.to_string()))?;
    let ok = response.status().is_success();
    let text = response.text().await.map_err(|e| AuthError::Transport(e.to_string()))?;
    if ok {
        serde_json::from_str(&text).map(Ok).map_err(|e| AuthError::Decode(e.to_string()))
    } else {
        serde_json::from_str(&text)
            .map(Err)
            .map_err(|e| AuthError::Decode(format!("{e}: {}", text.chars().take(200).collect::<String>())))
    }
}

fn token_set(answer: TokenAnswer) -> TokenSet {
    TokenSet {
        access_token: Secret::new(answer.access_token),
        refresh_token: answer.refresh_token.map(Secret::new),
        expires_at: Instant::now() + Duration::from_secs(answer.expires_in),
    }
}

fn token_error(e: ErrorAnswer) -> AuthError {
    match e.error.as_str() {
        "authorization_declined" => AuthError::Declined,
        "expired_token" => AuthError::Expired,
        "bad_verification_code" => AuthError::BadVerificationCode,
        _ => AuthError::Token { error: e.error, description: e.error_description },
    }
}

/// Client credentials: an application token for automation.
pub async fn client_credentials(
    http: &reqwest::Client,
    authority: &Authority,
    client_id: &str,
    secret: &Secret,
) -> Result<TokenSet, AuthError> {
    let form = [
        ("client_id", client_id),
        ("client_secret", secret.expose()),
        ("scope", GRAPH_APP_SCOPE),
        ("grant_type", "client_credentials"),
    ];
    post_form(http, &authority.url("token"), &form).await?.map(token_set).map_err(token_error)
}

/// Refresh: a new access token (and a new refresh token that replaces the old).
pub async fn refresh(
    http: &reqwest::Client,
    authority: &Authority,
    client_id: &str,
    refresh_token: &Secret,
) -> Result<TokenSet, AuthError> {
    let form = [
        ("client_id", client_id),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("scope", GRAPH_DELEGATED_SCOPE),
    ];
    post_form(http, &authority.url("token"), &form).await?.map(token_set).map_err(token_error)
}

/// Device code, step 1: ask for a code to show the user.
pub async fn request_device_code(
    http: &reqwest::Client,
    authority: &Authority,
    client_id: &str,
) -> Result<DeviceCodePrompt, AuthError> {
    let form = [("client_id", client_id), ("scope", GRAPH_DELEGATED_SCOPE)];
    let answer: DeviceCodeAnswer =
        post_form(http, &authority.url("devicecode"), &form).await?.map_err(token_error)?;
    Ok(DeviceCodePrompt {
        user_code: answer.user_code,
        verification_uri: answer.verification_uri,
        message: answer.message,
        expires_at: Instant::now() + Duration::from_secs(answer.expires_in),
        interval: Duration::from_secs(answer.interval.max(1)),
        device_code: Secret::new(answer.device_code),
    })
}

/// What one poll of the device code flow learned, for the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollState {
    /// The user has not finished yet; polling again after `interval`.
    Pending {
        /// The wait before the next poll.
        interval: Duration,
    },
    /// The platform asked to poll less often; the interval grew by 5 s.
    SlowedDown {
        /// The new wait.
        interval: Duration,
    },
}

/// Device code, step 2: poll until the user signs in, declines, or the code expires.
/// `on_poll` is told after each pending answer. Cancel by dropping the future.
pub async fn poll_device_code(
    http: &reqwest::Client,
    authority: &Authority,
    client_id: &str,
    prompt: &DeviceCodePrompt,
    mut on_poll: impl FnMut(PollState),
) -> Result<TokenSet, AuthError> {
    let mut interval = prompt.interval;
    loop {
        if Instant::now() >= prompt.expires_at {
            return Err(AuthError::Expired);
        }
        tokio::time::sleep(interval).await;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", prompt.device_code.expose()),
        ];
        match post_form::<TokenAnswer>(http, &authority.url("token"), &form).await? {
            Ok(answer) => return Ok(token_set(answer)),
            Err(e) if e.error == "authorization_pending" => on_poll(PollState::Pending { interval }),
            Err(e) if e.error == "slow_down" => {
                interval += Duration::from_secs(5);
                on_poll(PollState::SlowedDown { interval });
            }
            Err(e) => return Err(token_error(e)),
        }
    }
}

/// How renewed tokens are obtained.
#[derive(Debug, Clone)]
pub enum Grant {
    /// Client credentials with this secret.
    ClientSecret(Secret),
    /// Device code sign-in; renewal uses the refresh token.
    DeviceCode,
}

/// Keeps a current access token for a client, renewing it before it expires.
#[derive(Debug)]
pub struct TokenManager {
    http: reqwest::Client,
    authority: Authority,
    client_id: String,
    grant: Grant,
    current: Mutex<TokenSet>,
}

impl TokenManager {
    /// Wraps a first token set (from sign-in).
    pub fn new(
        http: reqwest::Client,
        authority: Authority,
        client_id: String,
        grant: Grant,
        first: TokenSet,
    ) -> TokenManager {
        TokenManager { http, authority, client_id, grant, current: Mutex::new(first) }
    }

    /// The access token to send now, renewed first when it expires within [`RENEW_MARGIN`].
    pub async fn bearer(&self) -> Result<Secret, AuthError> {
        let mut current = self.current.lock().await;
        if current.expires_at.saturating_duration_since(Instant::now()) <= RENEW_MARGIN {
            *current = self.obtain(&current).await?;
        }
        Ok(current.access_token.clone())
    }

    /// Renews now unless someone already replaced `rejected` (after a 401).
    pub async fn renew_after_rejection(&self, rejected: &Secret) -> Result<Secret, AuthError> {
        let mut current = self.current.lock().await;
        if current.access_token == *rejected {
            *current = self.obtain(&current).await?;
        }
        Ok(current.access_token.clone())
    }

    async fn obtain(&self, current: &TokenSet) -> Result<TokenSet, AuthError> {
        tracing::info!(tenant = %self.authority.tenant, "renewing the access token");
        match &self.grant {
            Grant::ClientSecret(secret) => {
                client_credentials(&self.http, &self.authority, &self.client_id, secret).await
            }
            Grant::DeviceCode => {
                let refresh_token = current.refresh_token.as_ref().ok_or_else(|| AuthError::Token {
                    error: "no_refresh_token".into(),
                    description: "the sign-in gave no refresh token; sign in again".into(),
                })?;
                let mut next = refresh(&self.http, &self.authority, &self.client_id, refresh_token).await?;
                // Keep the old refresh token if the platform did not send a new one.
                if next.refresh_token.is_none() {
                    next.refresh_token = current.refresh_token.clone();
                }
                Ok(next)
            }
        }
    }
}

/// Where a client gets its bearer token.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A token given on the command line or in the environment; never renewed.
    Static(Secret),
    /// A signed-in session that renews itself.
    Managed(Arc<TokenManager>),
}

impl TokenSource {
    /// The token to send now.
    pub async fn bearer(&self) -> Result<Secret, AuthError> {
        match self {
            TokenSource::Static(s) => Ok(s.clone()),
            TokenSource::Managed(m) => m.bearer().await,
        }
    }

    /// After a 401: a renewed token, or `None` when this source cannot renew.
    pub async fn renew(&self, rejected: &Secret) -> Option<Result<Secret, AuthError>> {
        match self {
            TokenSource::Static(_) => None,
            TokenSource::Managed(m) => Some(m.renew_after_rejection(rejected).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("eyJ0eXAiOiJKV1Qi.secret");
        assert!(!format!("{s:?} {s}").contains("eyJ"));
        assert_eq!(s.expose(), "eyJ0eXAiOiJKV1Qi.secret");
    }
}
