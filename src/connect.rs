//! From resolved [`Settings`] to a ready [`GraphClient`]: start the embedded demo server, or
//! sign in (client credentials, device code) and wrap the tokens in a renewing source.

use crate::config::{Settings, SignIn};
use crate::graph::auth::{
    self, AuthError, Authority, DeviceCodePrompt, Grant, PollState, Secret, TokenManager, TokenSource,
};
use crate::graph::client::{ClientConfig, GraphClient};
use crate::graph::error::GraphError;
use crate::server::{self, DataSet, RunningServer, ServeOptions, ServerError};
use std::sync::Arc;

/// A client and, in demo mode, the embedded server it talks to (stopped when dropped).
pub struct Connection {
    /// The Graph client.
    pub client: GraphClient,
    /// The embedded server of demo mode.
    pub demo_server: Option<RunningServer>,
    /// What the header shows: `DEMO http://127.0.0.1:PORT/v1.0` or the base URL.
    pub target_label: String,
}

impl Connection {
    /// True in demo mode.
    pub fn is_demo(&self) -> bool {
        self.demo_server.is_some()
    }
}

/// Why no connection could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The embedded demo server did not start.
    #[error("demo server: {0}")]
    Server(#[from] ServerError),
    /// Sign-in failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The client could not be built (bad URL).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Connects as the settings say. `on_device_code` shows the device code prompt (the TUI draws
/// it; `list` prints it to stderr) and is told of each poll.
pub async fn connect(
    settings: &Settings,
    mut on_device_code: impl FnMut(SignInProgress<'_>),
) -> Result<Connection, ConnectError> {
    let (base_url, token, demo_server) = match &settings.sign_in {
        SignIn::Demo => {
            // A random token per run: the embedded server is on loopback, but other local users
            // should still not be able to drive it.
            let token = uuid::Uuid::new_v4().simple().to_string();
            let running = server::start(ServeOptions {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                token: Some(token.clone()),
                data: DataSet::Demo,
                page_size: settings.page_size as usize,
                ..ServeOptions::default()
            })
            .await?;
            (running.base_url(), TokenSource::Static(Secret::new(token)), Some(running))
        }
        SignIn::Token(token) => (base(settings), TokenSource::Static(token.clone()), None),
        SignIn::ClientSecret { tenant, client_id, secret } => {
            let http = auth_http(settings)?;
            let authority = Authority { base: settings.authority.clone(), tenant: tenant.clone() };
            let first = auth::client_credentials(&http, &authority, client_id, secret).await?;
            let manager = TokenManager::new(
                http,
                authority,
                client_id.clone(),
                Grant::ClientSecret(secret.clone()),
                first,
            );
            (base(settings), TokenSource::Managed(Arc::new(manager)), None)
        }
        SignIn::DeviceCode { tenant, client_id } => {
            let http = auth_http(settings)?;
            let authority = Authority { base: settings.authority.clone(), tenant: tenant.clone() };
            let prompt = auth::request_device_code(&http, &authority, client_id).await?;
            on_device_code(SignInProgress::Prompt(&prompt));
            let first = auth::poll_device_code(&http, &authority, client_id, &prompt, |state| {
                on_device_code(SignInProgress::Polled(state))
            })
            .await?;
            let manager = TokenManager::new(http, authority, client_id.clone(), Grant::DeviceCode, first);
            (base(settings), TokenSource::Managed(Arc::new(manager)), None)
        }
    };
    let mut config = ClientConfig::new(base_url.clone(), Secret::new(""));
    config.token = token;
    config.collection = settings.collection;
    config.read_only = settings.read_only;
    config.timeout = settings.timeout;
    let client = GraphClient::new(config)?;
    let target_label = if demo_server.is_some() { format!("DEMO {base_url}") } else { base_url };
    Ok(Connection { client, demo_server, target_label })
}

/// What the device code flow reports while it waits for the user.
#[derive(Debug, Clone, Copy)]
pub enum SignInProgress<'a> {
    /// Show this code and URL.
    Prompt(&'a DeviceCodePrompt),
    /// A poll answered "not yet".
    Polled(PollState),
}

fn base(settings: &Settings) -> String {
    settings.base_url.clone().unwrap_or_else(|| crate::config::GRAPH_V1.to_string())
}

fn auth_http(settings: &Settings) -> Result<reqwest::Client, ConnectError> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .build()
        .map_err(|e| ConnectError::Graph(GraphError::Transport(e.to_string())))
}
