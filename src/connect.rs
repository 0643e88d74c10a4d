//! From resolved [`Settings`] to a ready [`GraphClient`]: start the embedded demo server, or
//! sign in (client credentials, device code) and wrap the tokens in a renewing source. The
//! device code flow can also be handed over unfinished ([`Prepared::SignIn`]) so the TUI shows
//! the code on its own screen and builds the client once the user has signed in.

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

/// A device code sign-in that has not started: everything needed to ask for a code, poll, and
/// build the client afterwards. Holds no secret.
#[derive(Debug, Clone)]
pub struct DeviceCodeSignIn {
    http: reqwest::Client,
    authority: Authority,
    client_id: String,
    /// The client's settings; the token source is filled in after sign-in. Boxed: it is large,
    /// and the TUI's session enum holds either this or a client.
    config: Box<ClientConfig>,
    /// What the header shows (the base URL).
    pub target_label: String,
}

impl DeviceCodeSignIn {
    /// A sign-in against `authority` for `client_id`; the client is built from `config`.
    pub fn new(
        http: reqwest::Client,
        authority: Authority,
        client_id: String,
        config: ClientConfig,
    ) -> DeviceCodeSignIn {
        let target_label = config.base_url.clone();
        DeviceCodeSignIn { http, authority, client_id, config: Box::new(config), target_label }
    }

    /// Step 1: a code for the user.
    pub async fn request_code(&self) -> Result<DeviceCodePrompt, AuthError> {
        auth::request_device_code(&self.http, &self.authority, &self.client_id).await
    }

    /// Step 2: polls until the user signs in, then builds the client with a renewing token.
    /// Cancel by dropping the future.
    pub async fn finish(
        &self,
        prompt: &DeviceCodePrompt,
        on_poll: impl FnMut(PollState),
    ) -> Result<GraphClient, AuthError> {
        let first =
            auth::poll_device_code(&self.http, &self.authority, &self.client_id, prompt, on_poll).await?;
        let manager = TokenManager::new(
            self.http.clone(),
            self.authority.clone(),
            self.client_id.clone(),
            Grant::DeviceCode,
            first,
        );
        let mut config = (*self.config).clone();
        config.token = TokenSource::Managed(Arc::new(manager));
        // The URL was checked when the sign-in was prepared, so this only fails if the HTTP
        // stack cannot start; say so in the sign-in's words.
        GraphClient::new(config).map_err(|e| AuthError::Transport(e.to_string()))
    }
}

/// A connection, or a device code sign-in still to run (the TUI runs it on its own screen).
pub enum Prepared {
    /// Ready to talk to Graph.
    Ready(Connection),
    /// The user must sign in first.
    SignIn(DeviceCodeSignIn),
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
    /// The `--ca-file` cannot be read or holds no certificate.
    #[error("{}: {message}", path.display())]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Connects as the settings say. `on_device_code` shows the device code prompt (`list` prints
/// it to stderr) and is told of each poll.
pub async fn connect(
    settings: &Settings,
    mut on_device_code: impl FnMut(SignInProgress<'_>),
) -> Result<Connection, ConnectError> {
    match prepare(settings).await? {
        Prepared::Ready(connection) => Ok(connection),
        Prepared::SignIn(sign_in) => {
            let prompt = sign_in.request_code().await?;
            on_device_code(SignInProgress::Prompt(&prompt));
            let client =
                sign_in.finish(&prompt, |state| on_device_code(SignInProgress::Polled(state))).await?;
            Ok(Connection { client, demo_server: None, target_label: sign_in.target_label })
        }
    }
}

/// Everything up to the device code prompt: the demo server, a static token, client
/// credentials; a device code sign-in is returned unstarted.
pub async fn prepare(settings: &Settings) -> Result<Prepared, ConnectError> {
    let roots = root_certificates(settings)?;
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
            let http = auth_http(settings, &roots)?;
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
            let http = auth_http(settings, &roots)?;
            let authority = Authority { base: settings.authority.clone(), tenant: tenant.clone() };
            let config =
                client_config(settings, base(settings), TokenSource::Static(Secret::new("")), &roots);
            // Check the URL now, before the user signs in for nothing.
            GraphClient::new(config.clone())?;
            return Ok(Prepared::SignIn(DeviceCodeSignIn::new(http, authority, client_id.clone(), config)));
        }
    };
    let client = GraphClient::new(client_config(settings, base_url.clone(), token, &roots))?;
    let target_label = if demo_server.is_some() { format!("DEMO {base_url}") } else { base_url };
    Ok(Prepared::Ready(Connection { client, demo_server, target_label }))
}

fn client_config(
    settings: &Settings,
    base_url: String,
    token: TokenSource,
    roots: &[reqwest::Certificate],
) -> ClientConfig {
    let mut config = ClientConfig::new(base_url, Secret::new(""));
    config.token = token;
    config.root_certificates = roots.to_vec();
    config.collection = settings.collection;
    config.read_only = settings.read_only;
    config.timeout = settings.timeout;
    config.max_response_bytes = settings.max_response_bytes;
    config
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

fn auth_http(settings: &Settings, roots: &[reqwest::Certificate]) -> Result<reqwest::Client, ConnectError> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .tls_certs_merge(roots.iter().cloned())
        // Sign-in posts secrets in the body, which a 307/308 would carry to wherever it points
        // (reqwest drops only headers): the identity platform is never followed elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConnectError::Graph(GraphError::Transport(e.to_string())))
}

/// The certificates of `--ca-file`, trusted beside the system's for the authority and Graph.
fn root_certificates(settings: &Settings) -> Result<Vec<reqwest::Certificate>, ConnectError> {
    let Some(path) = &settings.ca_file else {
        return Ok(Vec::new());
    };
    let invalid = |message: String| ConnectError::CaFile { path: path.clone(), message };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| invalid(format!("not a PEM certificate file: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certificates)
}
