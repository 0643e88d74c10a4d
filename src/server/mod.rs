//! The embedded imitation of the Graph endpoints for `importedWindowsAutopilotDeviceIdentity`
//! (axum), used by demo mode and by every test. See `graph-autopilot.md` for the behaviour.

pub mod data;
pub mod odata;
mod routes;
pub mod store;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Default number of devices per page when the client sends no `$top`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// How many requests the journal keeps; older ones are dropped so a long demo session does not
/// grow without bound.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// Which devices the server starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSet {
    /// About 250 realistic devices from `assets/demo-devices.json`.
    Demo,
    /// `devices` deterministic devices derived from `seed`, produced on demand.
    Generated {
        /// How many devices.
        devices: u64,
        /// Which data set (same seed, same devices).
        seed: u64,
    },
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// When set, the only bearer token accepted; otherwise any non-empty token is.
    pub token: Option<String>,
    /// Reproduce the live service: PATCH on an item answers 400 "No method match route template".
    pub strict: bool,
    /// The initial devices.
    pub data: DataSet,
    /// Devices per page without `$top` (1 to 999).
    pub page_size: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            token: None,
            strict: false,
            data: DataSet::Demo,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path and query exactly as sent (`/v1.0/deviceManagement/...?$top=5`).
    pub path_and_query: String,
    /// Request headers in order; `Authorization` is redacted to its scheme.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The options make no sense.
    #[error("invalid server options: {0}")]
    InvalidOptions(String),
    /// The embedded demo data does not parse (a build problem).
    #[error("the embedded demo data is invalid: {0}")]
    DemoData(String),
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// What every request handler shares.
#[derive(Debug)]
struct AppState {
    store: RwLock<Store>,
    journal: Mutex<VecDeque<RecordedRequest>>,
    token: Option<String>,
    strict: bool,
    page_size: usize,
    addr: SocketAddr,
}

/// A server running on a tokio task. Dropping it starts a graceful shutdown too.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The v1.0 root, e.g. `http://127.0.0.1:PORT/v1.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// Every request received so far (up to [`JOURNAL_CAPACITY`]), oldest first.
    pub fn journal(&self) -> Vec<RecordedRequest> {
        let journal = self.state.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        journal.iter().cloned().collect()
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "server stopped with an error"),
            Err(error) => tracing::warn!(%error, "server task failed"),
        }
    }

    /// Waits until the server task ends (after [`RunningServer::shutdown`] from elsewhere or
    /// an I/O error); for the `serve` command.
    pub async fn wait_with_shutdown(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        tokio::select! {
            () = signal => {
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(());
                }
                (&mut self.task).await.map_err(|e| ServerError::Io(std::io::Error::other(e)))??;
            }
            result = &mut self.task => {
                result.map_err(|e| ServerError::Io(std::io::Error::other(e)))??;
            }
        }
        Ok(())
    }
}

/// Binds (port 0 picks a free port), spawns the server on the current tokio runtime, and returns
/// once it accepts connections.
pub async fn start(opts: ServeOptions) -> Result<RunningServer, ServerError> {
    if !(1..=odata::MAX_TOP).contains(&opts.page_size) {
        return Err(ServerError::InvalidOptions(format!(
            "page size must be from 1 to {}, not {}",
            odata::MAX_TOP,
            opts.page_size
        )));
    }
    if opts.token.as_deref().is_some_and(str::is_empty) {
        return Err(ServerError::InvalidOptions("the token must not be empty".into()));
    }
    let store = Store::new(&opts.data)?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServerError::Bind { addr: opts.addr, source })?;
    let mut addr = listener.local_addr()?;
    // A wildcard bind is reachable on loopback; base URLs must name a connectable host.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let state = Arc::new(AppState {
        store: RwLock::new(store),
        journal: Mutex::new(VecDeque::new()),
        token: opts.token,
        strict: opts.strict,
        page_size: opts.page_size,
        addr,
    });
    let app = routes::router(Arc::clone(&state));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means stop.
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, strict = state.strict, "embedded Graph server listening");
    Ok(RunningServer { addr, state, stop: Some(stop), task })
}
