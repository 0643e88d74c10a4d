//! The embedded imitation of Graph's Autopilot endpoints (imported identities, registered
//! devices, the Autopilot settings and their sync) and of the Microsoft identity platform (axum),
//! used by demo mode and by every test, over plain HTTP or TLS. See `graph-autopilot.md` and
//! `graph-registered.md` for the behaviour.
//!
//! Who owns what: `conventions` (Graph's error shape, headers, the request layer), `journal`,
//! `clock`, `schema` (EDM checks of bodies), `odata` (query options), `store` (records per
//! resource), `data` (demo and generated records), `imports` (the Autopilot service's processing
//! of the import queue), `routes/` (one file per resource, and `$batch`), `throttle` (token
//! buckets per tenant), `faults`, `oauth` with `oidc` and `tokens` (the identity platform), `tls`.

mod clock;
mod conventions;
pub mod data;
pub mod faults;
mod identity;
mod imports;
mod journal;
pub mod oauth;
mod odata;
mod oidc;
mod routes;
mod schema;
mod store;
pub mod throttle;
pub mod tls;
mod tokens;

pub use clock::Clock;
pub use imports::{DEFAULT_IMPORT_DELAY, ImportOptions};
pub use journal::{JOURNAL_CAPACITY, RecordedRequest};

use faults::FaultConfig;
use journal::Journal;
use oauth::{DeviceLoginError, OAuthConfig, OAuthState};
use routes::settings::AutopilotSettings;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use store::{Base, Listed, Store};
use throttle::{Throttle, ThrottleConfig};
use tls::TlsOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The collections this server serves, by descriptor.
const SERVED: [&crate::graph::resource::Resource; 2] =
    [&crate::graph::imported::IMPORTED, &crate::graph::registered::REGISTERED];

/// Default number of records per page when the client sends no `$top`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Which records the server starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSet {
    /// The demo tenant: 250 imported identities from `assets/demo-devices.json` and about 400
    /// registered devices consistent with them.
    Demo,
    /// `devices` deterministic imported identities and as many registered devices, derived from
    /// `seed` and produced on demand.
    Generated {
        /// How many of each.
        devices: u64,
        /// Which data set (same seed, same devices).
        seed: u64,
    },
}

/// How to run the server.
#[derive(Clone)]
pub struct ServeOptions {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// When set, the only bearer token accepted; otherwise any non-empty token is.
    pub token: Option<String>,
    /// Reproduce the live service: PATCH on an item answers 400 "No method match route template".
    pub strict: bool,
    /// Give records an `ETag` and refuse a write whose `If-Match` names an older version (412).
    pub etags: bool,
    /// The initial devices.
    pub data: DataSet,
    /// Devices per page without `$top` (1 to 999).
    pub page_size: usize,
    /// Opt-in faults on the Graph routes (off by default).
    pub faults: FaultConfig,
    /// Token buckets per tenant for writes and for all requests (off by default).
    pub throttle: ThrottleConfig,
    /// The identity platform imitation (clients, secret, lifetimes).
    pub oauth: OAuthConfig,
    /// Serve over TLS with a certificate generated at start; `None` is plain HTTP.
    pub tls: Option<TlsOptions>,
    /// The server's time (lifetimes, the sync rules, dates, latency); tests pass one they drive.
    pub clock: Clock,
    /// How imports are processed (the delay, the serials registered in another tenant).
    pub imports: ImportOptions,
}

impl std::fmt::Debug for ServeOptions {
    // The accepted token is a secret: say whether there is one, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("strict", &self.strict)
            .field("data", &self.data)
            .field("page_size", &self.page_size)
            .field("faults", &self.faults)
            .field("throttle", &self.throttle)
            .field("oauth", &self.oauth)
            .field("tls", &self.tls)
            .field("clock", &self.clock)
            .field("imports", &self.imports)
            .finish()
    }
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            token: None,
            strict: false,
            etags: false,
            data: DataSet::Demo,
            page_size: DEFAULT_PAGE_SIZE,
            faults: FaultConfig::default(),
            throttle: ThrottleConfig::default(),
            oauth: OAuthConfig::default(),
            tls: None,
            clock: Clock::new(),
            imports: ImportOptions::default(),
        }
    }
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
    /// The certificate could not be made, written or served.
    #[error("TLS: {0}")]
    Tls(String),
    /// The embedded demo data does not parse (a build problem).
    #[error("the embedded demo data is invalid: {0}")]
    DemoData(String),
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// What every request handler shares. Lock order, when more than one is held: `imports`, then
/// `imported`, then `registered`, then `settings`.
struct AppState {
    /// The records waiting for the Autopilot service.
    imports: Mutex<imports::ImportQueue>,
    /// The import queue.
    imported: RwLock<Store>,
    /// The registered Autopilot devices.
    registered: RwLock<Store>,
    /// The Autopilot account settings and their sync (beta).
    settings: Mutex<AutopilotSettings>,
    journal: Mutex<Journal>,
    clock: Clock,
    token: Option<String>,
    strict: bool,
    /// `--etags`: records carry an `ETag`, writes honour `If-Match` (412).
    etags: bool,
    page_size: usize,
    addr: SocketAddr,
    /// `http` or `https`: the scheme of every absolute URL handed out.
    scheme: &'static str,
    faults: RwLock<FaultConfig>,
    /// Requests seen by the fault layer: the index of each request's fault draw.
    fault_counter: AtomicU64,
    /// The throttling buckets of every tenant.
    throttle: Mutex<Throttle>,
    /// The Graph routes with their layers, for `$batch` to send its requests through; taken
    /// out when the server is dropped (the router holds this state: a cycle otherwise).
    graph_router: RwLock<Option<axum::Router>>,
    oauth: Mutex<OAuthState>,
    /// The domains seen for tenant ids (the identity platform imitation's memory of names).
    tenants: Mutex<identity::Tenants>,
}

impl std::fmt::Debug for AppState {
    // Leaves out the token and the devices; the sign-in state shows counts only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("addr", &self.addr)
            .field("scheme", &self.scheme)
            .field("strict", &self.strict)
            .field("page_size", &self.page_size)
            .field("faults", &self.faults)
            .field("throttle", &self.throttle)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Keeps the Graph routes for `$batch`.
    fn keep_graph_router(&self, router: axum::Router) {
        *self.graph_router.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(router);
    }

    /// The Graph routes, while the server runs.
    fn graph_router(&self) -> Option<axum::Router> {
        self.graph_router.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// `scheme://host` as the client addressed this server (its `Host` header), so absolute
    /// URLs work through whatever name it used; the bound address without one.
    fn origin(&self, headers: &axum::http::HeaderMap) -> String {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| self.addr.to_string(), str::to_string);
        format!("{}://{host}", self.scheme)
    }
}

/// A server running on a tokio task. Dropping it starts a graceful shutdown too.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// With TLS: the certificate served (its temp file goes with the server).
    certificate: Option<tls::ServerCertificate>,
}

impl RunningServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The v1.0 root, e.g. `http://127.0.0.1:PORT/v1.0` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        format!("{}://{}/v1.0", self.state.scheme, self.addr)
    }

    /// With TLS, the file holding the certificate the server presents (PEM), for clients to trust.
    pub fn certificate_path(&self) -> Option<&Path> {
        self.certificate.as_ref().map(|c| c.path.as_path())
    }

    /// With TLS, the certificate the server presents, in PEM.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate.as_ref().map(|c| c.pem.as_str())
    }

    /// Every request received so far (up to [`JOURNAL_CAPACITY`]), oldest first.
    pub fn journal(&self) -> Vec<RecordedRequest> {
        journal::lock(&self.state.journal).entries()
    }

    /// The identity platform root to sign in against: `http://127.0.0.1:PORT` (`https://` with
    /// TLS; the authority base, endpoints are `{base}/{tenant}/oauth2/v2.0/...`).
    pub fn authority_base(&self) -> String {
        format!("{}://{}", self.state.scheme, self.addr)
    }

    /// Replaces the fault settings (and restarts the fault sequence of the seed).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), ServerError> {
        faults.validate().map_err(ServerError::InvalidOptions)?;
        *self.state.faults.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = faults;
        self.state.fault_counter.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Replaces the throttling buckets (every tenant starts again with full buckets).
    pub fn set_throttle(&self, throttle: ThrottleConfig) {
        *self.state.throttle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Throttle::new(throttle);
    }

    /// Approves the pending device code sign-in with this user code (as the user would at the
    /// verification page).
    pub fn approve_device_code(&self, user_code: &str) -> Result<(), DeviceLoginError> {
        self.oauth().decide(user_code, true)
    }

    /// Declines the pending device code sign-in with this user code.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), DeviceLoginError> {
        self.oauth().decide(user_code, false)
    }

    /// Revokes every access token issued so far: Graph answers 401 to them. Refresh tokens and
    /// client credentials still work, so a client can renew.
    pub fn revoke_tokens(&self) {
        self.oauth().revoke_access_tokens();
    }

    /// Revokes every refresh token issued so far: renewal by refresh fails with `invalid_grant`.
    pub fn revoke_refresh_tokens(&self) {
        self.oauth().revoke_refresh_tokens();
    }

    /// The server's clock: [`Clock::advance`] it to let tokens expire or a sync cool-down end.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    fn oauth(&self) -> std::sync::MutexGuard<'_, OAuthState> {
        self.state.oauth.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// Serves until `signal` resolves, then shuts down gracefully (the `serve` command passes
    /// Ctrl-C/SIGTERM); returns early with the error if the server stops on its own.
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

impl Drop for RunningServer {
    // Breaks the cycle between the state and the router `$batch` uses, so the state goes once
    // the server task ends.
    fn drop(&mut self) {
        self.state.graph_router.write().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
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
    opts.faults.validate().map_err(ServerError::InvalidOptions)?;
    let faults_on = opts.faults.is_active();
    let oauth = OAuthState::new(opts.oauth, opts.clock.clone()).map_err(ServerError::InvalidOptions)?;
    let ([imported, registered], elsewhere) = bases(&opts.data, &opts.clock)?;
    let queue = imports::ImportQueue::new(&opts.imports, elsewhere).map_err(ServerError::InvalidOptions)?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServerError::Bind { addr: opts.addr, source })?;
    let mut addr = listener.local_addr()?;
    // A wildcard bind is reachable on loopback; base URLs must name a connectable host.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let tls = opts.tls.as_ref().map(|options| tls::prepare(addr, options)).transpose()?;
    let state = Arc::new(AppState {
        imports: Mutex::new(queue),
        imported: RwLock::new(Store::new("id", imported)),
        registered: RwLock::new(Store::new("id", registered)),
        settings: Mutex::new(AutopilotSettings::new(&opts.clock)),
        journal: Mutex::new(Journal::default()),
        clock: opts.clock,
        token: opts.token,
        strict: opts.strict,
        etags: opts.etags,
        page_size: opts.page_size,
        addr,
        scheme: if tls.is_some() { "https" } else { "http" },
        faults: RwLock::new(opts.faults),
        fault_counter: AtomicU64::new(0),
        throttle: Mutex::new(Throttle::new(opts.throttle)),
        graph_router: RwLock::new(None),
        oauth: Mutex::new(oauth),
        tenants: Mutex::new(identity::Tenants::default()),
    });
    // Outermost: whatever a request asks, the imports due by then have been processed.
    let app = routes::router(Arc::clone(&state))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), imports::settle_first));
    let (stop, stopped) = oneshot::channel::<()>();
    // A dropped sender also means stop.
    let stopped = async move {
        let _ = stopped.await;
    };
    let (task, certificate) = match tls {
        None => {
            (tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future()), None)
        }
        Some((certificate, config)) => {
            let listener = tls::TlsListener::new(listener, config)?;
            (
                tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future()),
                Some(certificate),
            )
        }
    };
    let throttled = opts.throttle.is_active();
    tracing::info!(%addr, scheme = state.scheme, strict = state.strict, faults_on, throttled, "embedded Graph server listening");
    Ok(RunningServer { addr, state, stop: Some(stop), task, certificate })
}

/// The imported and registered records a data set starts with (generated dates count back
/// from the clock's start), and where its serials registered in another tenant come from.
fn bases(
    data: &DataSet,
    clock: &Clock,
) -> Result<([Box<dyn Base>; 2], imports::DataSetElsewhere), ServerError> {
    let now = clock.wall();
    Ok(match *data {
        DataSet::Demo => {
            let imported = data::demo_imported().map_err(ServerError::DemoData)?;
            let registered = data::demo_registered(&imported, now);
            let elsewhere = data::serials_failed_with(&imported, data::OTHER_TENANT);
            (
                [Box::new(Listed::new(imported, "id")), Box::new(Listed::new(registered, "id"))],
                imports::DataSetElsewhere::Listed(elsewhere),
            )
        }
        DataSet::Generated { devices, seed } => {
            let generated = data::GeneratedImported { devices, seed };
            (
                [Box::new(generated), Box::new(data::GeneratedRegistered { devices, seed, now })],
                imports::DataSetElsewhere::Generated(generated),
            )
        }
    })
}
