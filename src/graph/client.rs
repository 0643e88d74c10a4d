//! `GraphClient`: list (pages as a stream), get and write the records of one resource (imported
//! identities, registered devices, ...), as its descriptor says: where they live, how each is
//! checked, how a change is written. Every call gives back an [`Exchange`]: what was sent and
//! what came back, with the `Authorization` header redacted, for the response inspector and the
//! log.

use crate::graph::auth::{REDACTED_BEARER, Secret, TokenSource};
use crate::graph::error::{GraphError, ServiceError, reason_phrase};
use crate::graph::imported::IMPORTED;
use crate::graph::pacer::WritePacer;
use crate::graph::patch::PatchBody;
use crate::graph::record;
use crate::graph::resource::{ActionRequest, Record, Resource, WriteVerb};
use crate::graph::retry::{Failure, RetryPolicy, parse_retry_after};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Which of the two Graph paths of the imported identities to read and patch (a resource
/// with one path ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collection {
    /// `/deviceManagement/importedWindowsAutopilotDeviceIdentities`
    #[default]
    DeviceManagement,
    /// `/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities`
    Upload,
}

impl Collection {
    /// The collection's path below the version root.
    pub fn path(self) -> &'static str {
        match self {
            Collection::DeviceManagement => "/deviceManagement/importedWindowsAutopilotDeviceIdentities",
            Collection::Upload => "/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities",
        }
    }
}

/// How to reach Graph.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Version root, e.g. `https://graph.microsoft.com/v1.0` (no trailing slash needed).
    pub base_url: String,
    /// Where the bearer token comes from.
    pub token: TokenSource,
    /// Which path to use.
    pub collection: Collection,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Refuse every write before it leaves the process.
    pub read_only: bool,
    /// When to try a failed call again.
    pub retry: RetryPolicy,
    /// Certificates to trust beside the system's (`--ca-file`, e.g. `serve --tls`'s own).
    pub root_certificates: Vec<reqwest::Certificate>,
    /// The largest answer body read, in bytes; a larger one is an error, not read.
    pub max_response_bytes: u64,
    /// The most pages one listing follows before it stops with an error.
    pub max_pages: u64,
}

/// The default [`ClientConfig::max_response_bytes`]: 64 MiB, ten times a page of 999 devices
/// with their hashes.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// The default [`ClientConfig::max_pages`]: 100,000 pages (100 million devices at 999 a page).
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// Empty pages in a row, each with a next link, after which a listing stops: a server that
/// makes no progress.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 100;

impl ClientConfig {
    /// A config with the default collection, a 30 s timeout and writes allowed.
    pub fn new(base_url: impl Into<String>, token: Secret) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            token: TokenSource::Static(token),
            collection: Collection::default(),
            timeout: Duration::from_secs(30),
            read_only: false,
            retry: RetryPolicy::default(),
            root_certificates: Vec::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

/// One request and its answer, as the response inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Request headers as sent, `Authorization` redacted.
    pub request_headers: Vec<(String, String)>,
    /// Request body, when there was one.
    pub request_body: Option<String>,
    /// HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// Raw response body.
    pub response_body: String,
    /// Byte offsets in `response_body` where a U+FFFD stands for bytes that were not UTF-8.
    pub invalid_utf8: Vec<usize>,
    /// When the request started.
    pub started_at: SystemTime,
    /// How long until the whole answer was read.
    pub duration: Duration,
    /// The `client-request-id` this client sent.
    pub client_request_id: String,
    /// What went wrong on the wire, when no answer came.
    pub transport_error: Option<String>,
    /// How many times the request was sent (more than 1 after throttling or a lost connection).
    pub attempts: u32,
}

impl Exchange {
    /// `200 OK`, or `no response` when none came.
    pub fn status_line(&self) -> String {
        match self.status {
            Some(code) => format!("{code} {}", reason_phrase(code)),
            None => "no response".to_string(),
        }
    }

    /// A response header by name (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// What was wrong with the answer's text, when it held bytes that are not UTF-8.
    pub fn body_warning(&self) -> Option<String> {
        match self.invalid_utf8.len() {
            0 => None,
            1 => Some("the answer held bytes that are not UTF-8, shown as U+FFFD".to_string()),
            n => Some(format!("the answer held {n} runs of bytes that are not UTF-8, shown as U+FFFD")),
        }
    }

    /// The URL's path and query (what the history list shows).
    pub fn path_and_query(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{}", u.path(), q),
                None => u.path().to_string(),
            },
            Err(_) => self.url.clone(),
        }
    }
}

/// A call's result together with the exchange that produced it.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    /// What was sent and received.
    pub exchange: Exchange,
    /// The decoded answer or the error.
    pub result: Result<T, GraphError>,
}

/// One page of a listing: decoded devices, or (from [`GraphClient::list_raw`]) each device's
/// JSON exactly as the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T = Record> {
    /// The devices on this page.
    pub devices: Vec<T>,
    /// `@odata.nextLink`, when more pages exist.
    pub next_link: Option<String>,
    /// `@odata.count`, when `$count=true` was asked.
    pub count: Option<u64>,
    /// Devices of this page that were left out or altered, each with its id.
    pub warnings: Vec<DeviceWarning>,
}

/// A device of a page that could not be passed on as the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceWarning {
    /// The device's id.
    pub device_id: String,
    /// Its serial number, when it had a readable one.
    pub serial_number: Option<String>,
    /// What was wrong.
    pub problem: DeviceProblem,
}

/// What was wrong with one device of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceProblem {
    /// Left out of the page: it does not read as a device (a property of the wrong type).
    Unreadable(String),
    /// Kept, with U+FFFD where the server sent bytes that are not UTF-8.
    InvalidUtf8,
}

impl DeviceWarning {
    /// True when the device was left out of the page.
    pub fn skipped(&self) -> bool {
        matches!(self.problem, DeviceProblem::Unreadable(_))
    }
}

impl std::fmt::Display for DeviceWarning {
    /// `device ID (serial S) skipped: reason`: the id and serial say which record to look at.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device {}", self.device_id)?;
        if let Some(serial) = &self.serial_number {
            write!(f, " (serial {serial})")?;
        }
        match &self.problem {
            DeviceProblem::Unreadable(reason) => write!(f, " skipped: {reason}"),
            DeviceProblem::InvalidUtf8 => {
                write!(f, ": the server sent bytes that are not UTF-8; they are shown as U+FFFD")
            }
        }
    }
}

/// Query options for a listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// `$select` properties (empty: all).
    pub select: Vec<String>,
    /// `$filter` expression.
    pub filter: Option<String>,
    /// `$top` page size.
    pub top: Option<u32>,
    /// `$orderby`.
    pub order_by: Option<String>,
    /// `$count=true`.
    pub count: bool,
}

/// Characters escaped in a query value: everything but unreserved and a few OData-safe ones.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters escaped in a path segment.
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.add(b'/').add(b'\'').add(b'(').add(b')');

impl ListQuery {
    /// The query string (without `?`), values percent-encoded (spaces as `%20`, not `+`).
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |key: &str, value: &str| {
            parts.push(format!("{key}={}", utf8_percent_encode(value, QUERY_VALUE)));
        };
        if !self.select.is_empty() {
            push("$select", &self.select.join(","));
        }
        if let Some(f) = &self.filter {
            push("$filter", f);
        }
        if let Some(o) = &self.order_by {
            push("$orderby", o);
        }
        if let Some(t) = self.top {
            push("$top", &t.to_string());
        }
        if self.count {
            push("$count", "true");
        }
        parts.join("&")
    }
}

/// A resource's collection URL below a Graph root: its path, or the other path of the same
/// records when `collection` picks it (`--collection upload`).
pub fn collection_url_for(base_url: &str, collection: Collection, resource: &Resource) -> String {
    let path = match (collection, resource.alternate_path) {
        (Collection::Upload, Some((_, alternate))) => alternate,
        _ => resource.path,
    };
    format!("{}{path}", base_url.trim_end_matches('/'))
}

/// Where a write of a record goes, below its collection URL: the record itself (`PATCH`) or its
/// action (`POST .../updateDeviceProperties`); the URL as shown, the id percent-encoded.
pub fn write_url_in(collection_url: &str, id: &str, verb: WriteVerb) -> (&'static str, String) {
    let item = item_url_in(collection_url, id);
    match verb {
        WriteVerb::Patch => ("PATCH", item),
        WriteVerb::Action(action) => ("POST", format!("{item}/{action}")),
    }
}

/// Where an action on a record goes, below the record's URL.
pub fn action_url_in(item_url: &str, request: ActionRequest) -> (&'static str, String) {
    match request {
        ActionRequest::Post(action) => ("POST", format!("{item_url}/{action}")),
        ActionRequest::Delete => ("DELETE", item_url.to_string()),
    }
}

/// The beta root of a Graph version root (`.../v1.0` -> `.../beta`): the Autopilot settings
/// and their sync exist in beta only.
pub fn beta_root(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match base.rsplit_once('/') {
        Some((parent, last)) if last == "beta" || last.starts_with('v') => format!("{parent}/beta"),
        _ => format!("{base}/beta"),
    }
}

/// Replaces the values of secret properties in a recorded request body with `[redacted]`, so
/// a typed password never reaches the inspector, a saved exchange or a log.
pub fn redact_secrets(exchange: &mut Exchange, secrets: &[&str]) {
    let Some(body) = exchange.request_body.as_deref() else { return };
    if secrets.is_empty() {
        return;
    }
    let Ok(mut json) = serde_json::from_str::<Map<String, Value>>(body) else {
        // Not an object: nothing named to redact; a body that cannot be read is dropped whole.
        if secrets.iter().any(|s| body.contains(s)) {
            exchange.request_body = Some("[redacted]".into());
        }
        return;
    };
    let mut changed = false;
    for name in secrets {
        if let Some(value) = json.get_mut(*name).filter(|v| !v.is_null()) {
            *value = Value::String("[redacted]".into());
            changed = true;
        }
    }
    if changed {
        exchange.request_body = serde_json::to_string(&json).ok();
    }
}

/// One device's URL below a collection URL, the id percent-encoded as a path segment.
pub fn item_url_in(collection_url: &str, id: &str) -> String {
    format!("{collection_url}/{}", utf8_percent_encode(id, PATH_SEGMENT))
}

/// Quotes a string as an OData literal: `O'Brien` -> `'O''Brien'`.
pub fn odata_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Told to whoever watches a client before it waits to try a call again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice {
    /// HTTP method of the call.
    pub method: String,
    /// The call's URL.
    pub url: String,
    /// The attempt that failed (1 = the first).
    pub attempt: u32,
    /// How long the client waits now.
    pub wait: Duration,
    /// Why: `429 Too Many Requests`, `no answer within 30 s`, ...
    pub reason: String,
}

/// A callback told of every retry wait (the TUI shows a countdown from it).
pub type RetryObserver = Arc<dyn Fn(RetryNotice) + Send + Sync>;

/// A Graph client for one collection. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    /// For reads: follows redirects; reqwest drops `Authorization` on one to another origin.
    http: reqwest::Client,
    /// For writes: never follows a redirect (a 3xx is an error, not a silent GET elsewhere).
    http_write: reqwest::Client,
    /// `scheme://host:port` of the base URL: the only origin that gets the token.
    origin: url::Origin,
    config: Arc<ClientConfig>,
    observer: Option<RetryObserver>,
    /// The write budget every write of this client passes through, when one is set.
    pacer: Option<WritePacer>,
    /// The kind of record this client reads and writes.
    resource: &'static Resource,
    /// The entity tag its writes send as `If-Match` (the version of the record they were made
    /// against), when the server gave one.
    if_match: Option<String>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").field("config", &self.config).finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds a client; fails only when the HTTP stack cannot start or the URL is not absolute.
    pub fn new(config: ClientConfig) -> Result<GraphClient, GraphError> {
        let base = url::Url::parse(&config.base_url)
            .map_err(|e| GraphError::Url(format!("{}: {e}", config.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(GraphError::Url(format!("{}: not an http(s) URL", config.base_url)));
        }
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10).min(config.timeout))
                .timeout(config.timeout)
                .user_agent(concat!("autopilot-tui/", env!("CARGO_PKG_VERSION")))
                .redirect(redirects)
                .tls_certs_merge(config.root_certificates.iter().cloned())
                .build()
                .map_err(|e| GraphError::Transport(e.to_string()))
        };
        let http = build(reqwest::redirect::Policy::limited(10))?;
        let http_write = build(reqwest::redirect::Policy::none())?;
        Ok(GraphClient {
            http,
            http_write,
            origin: base.origin(),
            config: Arc::new(config),
            observer: None,
            pacer: None,
            resource: &IMPORTED,
            if_match: None,
        })
    }

    /// The same client, telling `observer` before every retry wait.
    pub fn with_retry_observer(mut self, observer: RetryObserver) -> GraphClient {
        self.observer = Some(observer);
        self
    }

    /// The same client, every write (and every retry of one) passing through `pacer`: it waits
    /// for the pacer's leave before it is sent, and a 429 (or a 503 with `Retry-After`) pauses
    /// every writer sharing the pacer. Reads are not paced.
    pub fn with_pacer(mut self, pacer: WritePacer) -> GraphClient {
        self.pacer = Some(pacer);
        self
    }

    /// The same client (same connections, pacer and observer) with other retry rules.
    pub fn with_retry(&self, retry: RetryPolicy) -> GraphClient {
        let mut config = (*self.config).clone();
        config.retry = retry;
        GraphClient { config: Arc::new(config), ..self.clone() }
    }

    /// The write pacer, when one is set.
    pub fn pacer(&self) -> Option<&WritePacer> {
        self.pacer.as_ref()
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The same client (same tenant, token and connections) for another kind of record.
    pub fn for_resource(&self, resource: &'static Resource) -> GraphClient {
        GraphClient { resource, ..self.clone() }
    }

    /// The same client, its writes made conditional on `etag` (`If-Match`): a server that
    /// checks answers 412 when the record changed since it was read.
    pub fn with_if_match(&self, etag: Option<String>) -> GraphClient {
        GraphClient { if_match: etag, ..self.clone() }
    }

    /// The kind of record this client reads and writes.
    pub fn resource(&self) -> &'static Resource {
        self.resource
    }

    /// The collection URL: the resource's path, or the other path of the same records when the
    /// configuration picks it (`--collection upload`).
    pub fn collection_url(&self) -> String {
        collection_url_for(&self.config.base_url, self.config.collection, self.resource)
    }

    /// One device's URL (as shown; [`GraphClient::get`] and [`GraphClient::patch`] also check
    /// that it names exactly that device).
    pub fn item_url(&self, id: &str) -> String {
        item_url_in(&self.collection_url(), id)
    }

    /// One device's URL, or why the id cannot be one path segment below the collection.
    /// `.` and `..` are dot segments however they are encoded (`%2E` too), which URL parsers
    /// resolve away (`.../Identities/..` is `.../deviceManagement/`), so the built URL is
    /// parsed again and must still end in exactly that one segment.
    fn item_request_url(&self, id: &str) -> Result<String, GraphError> {
        let url = self.item_url(id);
        let invalid = || GraphError::InvalidId(id.to_string());
        if id.is_empty() {
            return Err(invalid());
        }
        let collection =
            url::Url::parse(&self.collection_url()).map_err(|e| GraphError::Url(e.to_string()))?;
        let parsed = url::Url::parse(&url).map_err(|_| invalid())?;
        let segments: Vec<&str> = parsed.path_segments().map(Iterator::collect).unwrap_or_default();
        let under: Vec<&str> = collection.path_segments().map(Iterator::collect).unwrap_or_default();
        let exact = segments.len() == under.len() + 1
            && segments[..under.len()] == under[..]
            && segments
                .last()
                .is_some_and(|last| percent_decode_str(last).decode_utf8().is_ok_and(|d| d == id));
        if exact { Ok(url) } else { Err(invalid()) }
    }

    /// The first page's URL for a query.
    pub fn list_url(&self, query: &ListQuery) -> String {
        let qs = query.to_query_string();
        if qs.is_empty() { self.collection_url() } else { format!("{}?{qs}", self.collection_url()) }
    }

    /// Lists the collection as a stream of pages, following `@odata.nextLink` until the last
    /// page. A page is whole or an error: a device that does not read as one is left out with
    /// a [`DeviceWarning`] naming it, and an item that cannot even be named (not an object
    /// with an id) ends the listing with an error. After an error the stream ends. A next link
    /// already followed, one to another origin, more than [`ClientConfig::max_pages`] pages or
    /// [`MAX_EMPTY_PAGES_IN_A_ROW`] empty ones end it with an error after the page that
    /// carried the link.
    ///
    /// Pages are fetched ahead by a background task: the next page's request leaves as soon as
    /// this page's next link is known, before this page's devices are decoded, so decoding and
    /// the consumer's work overlap the server's. Dropping the stream stops the task at its next
    /// page; a page already requested ahead is still fetched, then dropped.
    pub fn list(&self, query: &ListQuery) -> BoxStream<'static, Outcome<Page>> {
        self.list_with(query, decode_records)
    }

    /// [`GraphClient::list`] with each device left as the JSON the server sent: a
    /// [`RawDevice`] is the byte range of one device in the page's
    /// `exchange.response_body` (for exports that pass devices through untouched). Each
    /// device is still checked to read as a device, as in [`GraphClient::list`].
    pub fn list_raw(&self, query: &ListQuery) -> BoxStream<'static, Outcome<Page<RawDevice>>> {
        self.list_with(query, check_raw_devices)
    }

    fn list_with<T: Send + 'static>(
        &self,
        query: &ListQuery,
        finish: FinishPage<T>,
    ) -> BoxStream<'static, Outcome<Page<T>>> {
        // Two pages in the channel keep the fetcher ahead without holding more in memory.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let client = self.clone();
        let first = self.list_url(query);
        tokio::spawn(async move { client.fetch_pages(first, finish, tx).await });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|page| (page, rx)) })
            .boxed()
    }

    /// The task behind [`GraphClient::list`].
    async fn fetch_pages<T>(
        &self,
        first: String,
        finish: FinishPage<T>,
        tx: tokio::sync::mpsc::Sender<Outcome<Page<T>>>,
    ) {
        let fetch = |url: String| {
            let client = self.clone();
            // The body is checked to be a whole page inside `send`, so a cut-off answer is retried.
            tokio::spawn(async move { client.send("GET", &url, None, CheckedPage::parse).await })
        };
        let mut seen = HashSet::from([first.clone()]);
        let mut pages: u64 = 0;
        let mut empty_in_a_row: u32 = 0;
        let mut ahead = Some(fetch(first));
        while let Some(fetching) = ahead.take() {
            let Ok(Outcome { exchange, result }) = fetching.await else { return };
            pages += 1;
            let checked = match result {
                Ok(checked) => checked,
                Err(e) => {
                    let _ = tx.send(Outcome { exchange, result: Err(e) }).await;
                    return;
                }
            };
            let CheckedPage { next_link, count, items } = checked;
            let empty = items.as_ref().is_ok_and(Vec::is_empty);
            empty_in_a_row = if empty { empty_in_a_row + 1 } else { 0 };
            // What ends the listing after this page, if anything.
            let mut stop = None;
            if let Some(link) = &next_link {
                // A relative link is taken relative to the page; any link to another origin is
                // refused by `send` before the token goes anywhere.
                let link = url::Url::parse(&exchange.url)
                    .and_then(|page| page.join(link))
                    .map(String::from)
                    .unwrap_or_else(|_| link.clone());
                if !seen.insert(link.clone()) {
                    stop = Some(GraphError::RepeatedNextLink(link));
                } else if pages >= self.config.max_pages {
                    stop = Some(GraphError::EndlessListing(format!(
                        "{pages} pages and the server still sends a next link (the limit is {})",
                        self.config.max_pages
                    )));
                } else if empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
                    stop = Some(GraphError::EndlessListing(format!(
                        "{empty_in_a_row} empty pages in a row, each with a next link"
                    )));
                } else {
                    ahead = Some(fetch(link));
                }
            }
            let result = match items {
                Ok(items) => finish(self.resource, &exchange.response_body, &items, &exchange.invalid_utf8)
                    .map(|(devices, warnings)| Page { devices, next_link, count, warnings }),
                Err(kind) => {
                    Err(GraphError::Decode(format!("the page's \"value\" is not an array but {kind}")))
                }
            };
            let failed = result.is_err();
            // The error that ends the listing after this page comes with the page's exchange
            // (copied only then: a page is megabytes).
            let stop = stop.map(|e| Outcome { exchange: exchange.clone(), result: Err(e) });
            // A page that fails to decode is delivered as the error that ends the listing.
            if tx.send(Outcome { exchange, result }).await.is_err() || failed {
                if let Some(fetching) = ahead {
                    fetching.abort();
                }
                return;
            }
            if let Some(stopped) = stop {
                let _ = tx.send(stopped).await;
                return;
            }
        }
    }

    /// Fetches one record whole (a device with its hardware hash).
    pub async fn get(&self, id: &str) -> Outcome<Record> {
        let resource = self.resource;
        match self.item_request_url(id) {
            Ok(url) => self.send("GET", &url, None, |text| parse_record(resource, text)).await,
            Err(e) => Outcome { exchange: unsent_exchange("GET", &self.item_url(id), None), result: Err(e) },
        }
    }

    /// Writes exactly the changed properties the way the resource takes a change: a `PATCH` of
    /// the record, or a `POST` to its action (`updateDeviceProperties`). `Ok(None)` when the
    /// server answered without a body (204): the caller should fetch the record again. Saved
    /// means a 2xx answer: a redirect is not followed and is an error.
    pub async fn write(&self, id: &str, body: &PatchBody) -> Outcome<Option<Record>> {
        let mut outcome = self.write_unredacted(id, body).await;
        redact_secrets(&mut outcome.exchange, &self.resource.secret_paths());
        outcome
    }

    async fn write_unredacted(&self, id: &str, body: &PatchBody) -> Outcome<Option<Record>> {
        let json = serde_json::to_string(&body.properties).unwrap_or_default();
        let (method, url) = match self.write_target(id) {
            Ok(target) => target,
            Err(e) => {
                return Outcome {
                    exchange: unsent_exchange(self.write_method(), &self.item_url(id), Some(json)),
                    result: Err(e),
                };
            }
        };
        if self.config.read_only {
            let exchange = unsent_exchange(method, &url, Some(json));
            return Outcome { exchange, result: Err(GraphError::ReadOnly(format!("{method} {url}"))) };
        }
        let resource = self.resource;
        self.send(method, &url, Some(json), move |text: &str| decode_written(resource, text)).await
    }

    /// Runs an action on one record: a `POST` to its bound action (with `body` as JSON, or no
    /// body) or a `DELETE`. Done means a 2xx answer (204, no body, as Graph answers them); a
    /// redirect is not followed. Secret inputs never reach the recorded exchange.
    pub async fn act(
        &self,
        id: &str,
        request: ActionRequest,
        body: Option<&Map<String, Value>>,
        secrets: &[&str],
    ) -> Outcome<()> {
        let json = body.map(|b| serde_json::to_string(b).unwrap_or_default());
        let (method, url) = match self.item_request_url(id) {
            Ok(item) => action_url_in(&item, request),
            Err(e) => {
                let (method, url) = action_url_in(&self.item_url(id), request);
                let mut exchange = unsent_exchange(method, &url, json);
                redact_secrets(&mut exchange, secrets);
                return Outcome { exchange, result: Err(e) };
            }
        };
        let mut outcome = if self.config.read_only {
            let exchange = unsent_exchange(method, &url, json);
            Outcome { exchange, result: Err(GraphError::ReadOnly(format!("{method} {url}"))) }
        } else {
            self.send(method, &url, json, |_| Ok(())).await
        };
        redact_secrets(&mut outcome.exchange, secrets);
        outcome
    }

    /// The tenant's Autopilot settings (`GET /beta/deviceManagement/windowsAutopilotSettings`,
    /// beta whatever the base URL's version: v1.0 has no such resource): when the service last
    /// synced with the Autopilot service, and when a manual sync was last asked for.
    pub async fn autopilot_settings(&self) -> Outcome<Record> {
        let url = format!("{}{}", beta_root(&self.config.base_url), crate::graph::registered::SETTINGS_PATH);
        self.send("GET", &url, None, |text| {
            serde_json::from_str::<Record>(text)
                .map_err(|e| GraphError::Decode(format!("not the settings: {e}")))
        })
        .await
    }

    /// Asks Intune to sync the tenant's devices from the Autopilot service
    /// (`POST /beta/deviceManagement/windowsAutopilotSettings/sync`): 204; 409 while a sync
    /// runs; 429 within 10 minutes of the last one.
    pub async fn sync_autopilot(&self) -> Outcome<()> {
        let url =
            format!("{}{}/sync", beta_root(&self.config.base_url), crate::graph::registered::SETTINGS_PATH);
        if self.config.read_only {
            let exchange = unsent_exchange("POST", &url, None);
            return Outcome { exchange, result: Err(GraphError::ReadOnly(format!("POST {url}"))) };
        }
        // 409 (one runs) and 429 (within ten minutes) are answers, not hiccups: never retried.
        self.with_retry(RetryPolicy::none()).send("POST", &url, None, |_| Ok(())).await
    }

    /// Where a read of one record goes ([`GraphClient::get`]), or why the id cannot be one.
    pub(crate) fn read_target(&self, id: &str) -> Result<String, GraphError> {
        self.item_request_url(id)
    }

    /// The HTTP method of a write.
    pub fn write_method(&self) -> &'static str {
        write_url_in("", "x", self.resource.write).0
    }

    /// Where a write of a record goes: the record itself, or its action.
    pub fn write_target(&self, id: &str) -> Result<(&'static str, String), GraphError> {
        self.item_request_url(id)?;
        Ok(write_url_in(&self.collection_url(), id, self.resource.write))
    }

    /// Sends one request and reads the whole answer, trying again by the retry policy;
    /// an error status becomes a typed error. The exchange is the last attempt's. A URL on
    /// another origin than the base URL is refused before the token is fetched. A write counts
    /// as one write against the pacer.
    async fn send<T>(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        decode: impl Fn(&str) -> Result<T, GraphError>,
    ) -> Outcome<T> {
        let writes = u32::from(!matches!(method, "GET" | "HEAD"));
        self.send_paced(method, url, body, writes, decode).await
    }

    /// [`GraphClient::send`] for a request that stands for `writes` writes against the pacer
    /// (a `$batch` of 20 is 20; 0 is not paced): each attempt waits for the pacer's leave, and
    /// a 429 or a 503 with `Retry-After` pauses every writer sharing it.
    pub(crate) async fn send_paced<T>(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        writes: u32,
        decode: impl Fn(&str) -> Result<T, GraphError>,
    ) -> Outcome<T> {
        let pacer = self.pacer.as_ref().filter(|_| writes > 0);
        if let Err(e) = self.check_origin(url) {
            return Outcome { exchange: unsent_exchange(method, url, body), result: Err(e) };
        }
        let mut attempt = 1;
        let mut renewed = false;
        let mut token = match self.config.token.bearer().await {
            Ok(t) => t,
            Err(e) => {
                return Outcome {
                    exchange: unsent_exchange(method, url, body),
                    result: Err(GraphError::Auth(e)),
                };
            }
        };
        loop {
            let permit = match pacer {
                Some(pacer) => Some(pacer.acquire(writes).await),
                None => None,
            };
            let (mut exchange, text) = self.send_once(method, url, body.clone(), &token).await;
            drop(permit);
            exchange.attempts = attempt;
            let result = text.and_then(|()| decode(&exchange.response_body));
            if exchange.status == Some(401) && !renewed {
                // Renew once and try again at once; a second 401 is the user's to see.
                if let Some(next) = self.config.token.renew(&token).await {
                    renewed = true;
                    match next {
                        Ok(t) => {
                            token = t;
                            attempt += 1;
                            continue;
                        }
                        Err(e) => return Outcome { exchange, result: Err(GraphError::Auth(e)) },
                    }
                }
            }
            let failure = match &result {
                Ok(_) => None,
                Err(e) => failure_of(e, &exchange),
            };
            let Some(failure) = failure else { return Outcome { exchange, result } };
            let delay = if writes > 0 {
                self.config.retry.write_delay(attempt, &failure, jitter())
            } else {
                self.config.retry.delay(attempt, &failure, jitter())
            };
            if let Some(pacer) = pacer {
                pause_for_throttling(pacer, &failure, delay, &self.config.retry);
            }
            let Some(wait) = delay else {
                return Outcome { exchange, result };
            };
            let reason = match &result {
                Err(GraphError::Service(_)) => exchange.status_line(),
                Err(e) => e.to_string(),
                Ok(_) => String::new(),
            };
            tracing::info!(method, url = %exchange.path_and_query(), attempt, wait_ms = wait.as_millis() as u64, %reason, "retrying");
            self.notify_retry(RetryNotice {
                method: method.to_string(),
                url: url.to_string(),
                attempt,
                wait,
                reason,
            });
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Tells the retry observer, if any, of a retry wait.
    pub(crate) fn notify_retry(&self, notice: RetryNotice) {
        if let Some(observer) = &self.observer {
            observer(notice);
        }
    }

    /// The token goes to the base URL's origin only (scheme, host and port).
    fn check_origin(&self, url: &str) -> Result<(), GraphError> {
        let parsed =
            url::Url::parse(url).map_err(|e| GraphError::Url(format!("{}: {e}", shorten_url(url))))?;
        let origin = parsed.origin();
        if origin == self.origin {
            Ok(())
        } else {
            Err(GraphError::ForeignOrigin {
                link_origin: origin.ascii_serialization(),
                origin: self.origin.ascii_serialization(),
            })
        }
    }

    /// One attempt: send, read the whole answer, record the exchange.
    async fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        token: &Secret,
    ) -> (Exchange, Result<(), GraphError>) {
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut request_headers = vec![
            ("Authorization".to_string(), REDACTED_BEARER.to_string()),
            ("client-request-id".to_string(), client_request_id.clone()),
            ("Accept".to_string(), "application/json".to_string()),
        ];
        if body.is_some() {
            request_headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        if let Some(etag) = self.conditional(method) {
            request_headers.push(("If-Match".to_string(), etag.to_string()));
        }
        let mut exchange = Exchange {
            method: method.to_string(),
            url: url.to_string(),
            request_headers,
            request_body: body.clone(),
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            invalid_utf8: Vec::new(),
            started_at: SystemTime::now(),
            duration: Duration::ZERO,
            client_request_id: client_request_id.clone(),
            transport_error: None,
            attempts: 1,
        };
        let started = Instant::now();
        let result = self.round_trip(method, url, body, token, &client_request_id, &mut exchange).await;
        exchange.duration = started.elapsed();
        if let Err(e) = &result {
            tracing::warn!(method, url = %exchange.path_and_query(), error = %e, "graph call failed");
        } else {
            tracing::debug!(method, url = %exchange.path_and_query(), status = ?exchange.status, ms = exchange.duration.as_millis() as u64, "graph call");
        }
        (exchange, result)
    }

    /// The `If-Match` a request carries: writes only.
    fn conditional(&self, method: &str) -> Option<&str> {
        self.if_match.as_deref().filter(|_| !matches!(method, "GET" | "HEAD"))
    }

    async fn round_trip(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        token: &Secret,
        client_request_id: &str,
        exchange: &mut Exchange,
    ) -> Result<(), GraphError> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| GraphError::Url(e.to_string()))?;
        let write = !matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let http = if write { &self.http_write } else { &self.http };
        let mut request = http
            .request(method.clone(), url)
            .bearer_auth(token.expose())
            .header("client-request-id", client_request_id)
            .header("Accept", "application/json");
        if let Some(b) = body {
            request = request.header("Content-Type", "application/json").body(b);
        }
        if let Some(etag) = self.conditional(method.as_str()) {
            request = request.header("If-Match", etag);
        }
        let mut response =
            request.send().await.map_err(|e| transport_error(e, self.config.timeout, exchange))?;
        let status = response.status().as_u16();
        exchange.status = Some(status);
        exchange.response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let limit = self.config.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(GraphError::TooLarge { limit });
        }
        let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) =
            response.chunk().await.map_err(|e| transport_error(e, self.config.timeout, exchange))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(GraphError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        // The body is kept once, in the exchange; decoding reads it from there (pages are MBs).
        (exchange.response_body, exchange.invalid_utf8) = utf8_marking_invalid(bytes);
        if (200..300).contains(&status) {
            Ok(())
        } else if write && (300..400).contains(&status) {
            Err(GraphError::Redirected {
                method: method.to_string(),
                status,
                location: exchange.response_header("location").map(shorten_url),
            })
        } else {
            Err(GraphError::Service(Box::new(ServiceError::from_response(
                status,
                &exchange.response_headers,
                &exchange.response_body,
            ))))
        }
    }
}

/// What went wrong, as far as trying again is concerned (`None`: nothing to try again for).
pub(crate) fn failure_of(error: &GraphError, exchange: &Exchange) -> Option<Failure> {
    Some(match error {
        GraphError::Service(e) => Failure::Status {
            status: e.status,
            retry_after: exchange
                .response_header("retry-after")
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        GraphError::Timeout(_) => Failure::Timeout,
        GraphError::Transport(_) => Failure::Transport,
        GraphError::Connect(_) => Failure::Connect,
        // A truncated or garbled 2xx body is a fault of the wire, not of the request.
        GraphError::Decode(_) => Failure::Transport,
        _ => return None,
    })
}

/// What a write's answer holds: the record, or `None` for an answer without a body (204).
pub(crate) fn decode_written(resource: &Resource, text: &str) -> Result<Option<Record>, GraphError> {
    if text.trim().is_empty() { Ok(None) } else { parse_record(resource, text).map(Some) }
}

/// What a failed write tells the pacer: a 429, or a 503 with `Retry-After`, pauses every writer
/// for the server's wait (or, without one, the back-off this client would wait anyway).
pub(crate) fn pause_for_throttling(
    pacer: &WritePacer,
    failure: &Failure,
    delay: Option<Duration>,
    retry: &RetryPolicy,
) {
    let wait = match failure {
        Failure::Status { status: 429, retry_after } => retry_after.or(delay).unwrap_or(retry.base_delay),
        Failure::Status { status: 503, retry_after: Some(wait) } => *wait,
        _ => return,
    };
    pacer.pause_for(wait.min(retry.max_delay));
}

/// Bytes as text, with U+FFFD for each run of bytes that are not UTF-8, and where those are.
fn utf8_marking_invalid(bytes: Vec<u8>) -> (String, Vec<usize>) {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return (text, Vec::new()),
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(bytes.len() + 8);
    let mut invalid = Vec::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            invalid.push(text.len());
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    (text, invalid)
}

/// The longest URL the HTTP stack sends (the `http` crate's limit).
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// A URL short enough for a message: a 1 MB search URL is not repeated whole.
fn shorten_url(url: &str) -> String {
    const KEEP: usize = 160;
    if url.len() <= KEEP + 40 {
        return url.to_string();
    }
    let mut cut = KEEP;
    while !url.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &url[..cut], url.len())
}

fn transport_error(e: reqwest::Error, timeout: Duration, exchange: &mut Exchange) -> GraphError {
    // reqwest's Display includes the URL but never headers, so the token cannot leak here;
    // the URL is put back shortened.
    let url_len = e.url().map_or(0, |u| u.as_str().len());
    let url = e.url().map(|u| shorten_url(u.as_str())).unwrap_or_default();
    let (timeout_hit, builder, connect) = (e.is_timeout(), e.is_builder(), e.is_connect());
    let text = if builder && url_len > MAX_URI_LEN {
        format!("{url}: the URL is longer than HTTP's limit of {MAX_URI_LEN} bytes (a shorter search?)")
    } else {
        format!("{url}: {}", error_chain(&e.without_url()))
    };
    exchange.transport_error = Some(text.clone());
    if timeout_hit {
        GraphError::Timeout(timeout)
    } else if builder {
        // Nothing left the process (a URL too long for HTTP, say): trying again cannot help.
        GraphError::Request(text)
    } else if connect {
        GraphError::Connect(text)
    } else {
        GraphError::Transport(text)
    }
}

/// The error with its sources, `a: b: c`, which is what says "connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The exchange of a request that was never sent (refused here, or no token).
pub(crate) fn unsent_exchange(method: &str, url: &str, body: Option<String>) -> Exchange {
    Exchange {
        method: method.to_string(),
        url: url.to_string(),
        request_headers: Vec::new(),
        request_body: body,
        status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
        invalid_utf8: Vec::new(),
        started_at: SystemTime::now(),
        duration: Duration::ZERO,
        client_request_id: String::new(),
        transport_error: Some("not sent".to_string()),
        attempts: 0,
    }
}

/// A number in [0, 1) for back-off jitter, from the OS random source that uuid already uses.
pub(crate) fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// One device of [`GraphClient::list_raw`]: the byte range of its JSON object in the page's
/// `exchange.response_body`.
pub type RawDevice = std::ops::Range<usize>;

/// How a listing turns a checked page into its records: the resource, the body, the range of
/// each item of its `value`, and where the body held bytes that were not UTF-8.
type FinishPage<T> =
    fn(&Resource, &str, &[RawDevice], &[usize]) -> Result<(Vec<T>, Vec<DeviceWarning>), GraphError>;

/// What a page says besides its devices, and where each of them is; having one means the body
/// is a well-formed page. Parsed in one pass, without decoding a device.
#[derive(serde::Deserialize)]
struct PageSkeleton<'a> {
    #[serde(borrow)]
    value: PageValue<'a>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
}

/// A page's `value`: each item left as JSON text, or what it was instead of an array (a
/// well-formed answer, so not worth trying again, but not a page of devices either).
enum PageValue<'a> {
    Items(Vec<&'a RawValue>),
    NotAnArray(&'static str),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for PageValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PageValue<'a>, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = PageValue<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of devices")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<PageValue<'a>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(PageValue::Items(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PageValue<'a>, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(PageValue::NotAnArray("an object"))
            }
            fn visit_str<E>(self, _: &str) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("a number"))
            }
            fn visit_unit<E>(self) -> Result<PageValue<'a>, E> {
                Ok(PageValue::NotAnArray("null"))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// A page's skeleton, with where each device is.
struct CheckedPage {
    next_link: Option<String>,
    count: Option<u64>,
    /// The byte range of each item of `value` in the body, or what `value` was instead.
    items: Result<Vec<RawDevice>, &'static str>,
}

impl CheckedPage {
    fn parse(body: &str) -> Result<CheckedPage, GraphError> {
        let page: PageSkeleton =
            serde_json::from_str(body).map_err(|e| GraphError::Decode(format!("not a page: {e}")))?;
        let items = match page.value {
            PageValue::Items(items) => Ok(items.iter().map(|item| range_in(body, item)).collect()),
            PageValue::NotAnArray(kind) => Err(kind),
        };
        Ok(CheckedPage { next_link: page.next_link, count: page.count, items })
    }
}

/// Where a borrowed piece of `body` lies in it.
fn range_in(body: &str, part: &RawValue) -> RawDevice {
    let start = part.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + part.get().len()
}

/// One item of a page read as a record of the resource; one that is not, but has an id, is a
/// warning (it is left out); one without even an id ends the listing.
fn read_item(
    resource: &Resource,
    body: &str,
    item: &RawDevice,
    index: usize,
) -> Result<Result<Record, DeviceWarning>, GraphError> {
    let text = body.get(item.clone()).unwrap_or("");
    let reason = match record::parse(resource, text) {
        Ok(record) => return Ok(Ok(record)),
        Err(reason) => reason,
    };
    let doc: Option<Map<String, Value>> = serde_json::from_str(text).ok();
    let text_of = |key: &str| doc.as_ref().and_then(|d| d.get(key)).and_then(Value::as_str).map(String::from);
    match text_of("id") {
        Some(device_id) => Ok(Err(DeviceWarning {
            device_id,
            serial_number: text_of("serialNumber"),
            problem: DeviceProblem::Unreadable(reason),
        })),
        None => Err(GraphError::Decode(format!(
            "item {} of the page is not a device (it is {}): {reason}",
            index + 1,
            json_kind(text)
        ))),
    }
}

/// What a JSON text is, in words.
fn json_kind(text: &str) -> &'static str {
    match text.trim_start().chars().next() {
        Some('{') => "an object without a string \"id\"",
        Some('[') => "an array",
        Some('"') => "a string",
        Some('n') => "null",
        Some('t' | 'f') => "a boolean",
        Some(c) if c == '-' || c.is_ascii_digit() => "a number",
        _ => "not JSON",
    }
}

/// Warnings for the devices that hold one of the `invalid` offsets (kept, with U+FFFD).
fn invalid_utf8_warnings(body: &str, items: &[RawDevice], invalid: &[usize]) -> Vec<DeviceWarning> {
    items
        .iter()
        .filter(|item| invalid.iter().any(|at| item.contains(at)))
        .filter_map(|item| {
            let doc: Map<String, Value> = serde_json::from_str(body.get(item.clone())?).ok()?;
            let text = |key: &str| doc.get(key).and_then(Value::as_str).map(String::from);
            Some(DeviceWarning {
                serial_number: text("serialNumber"),
                device_id: text("id")?,
                problem: DeviceProblem::InvalidUtf8,
            })
        })
        .collect()
}

/// The records of a page, each checked and read; one that does not read is left out and named
/// (or ends the listing when it cannot even be named).
fn decode_records(
    resource: &Resource,
    body: &str,
    items: &[RawDevice],
    invalid: &[usize],
) -> Result<(Vec<Record>, Vec<DeviceWarning>), GraphError> {
    let mut devices = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match read_item(resource, body, item, i)? {
            Ok(device) => devices.push(device),
            Err(warning) => warnings.push(warning),
        }
    }
    warnings.extend(invalid_utf8_warnings(body, items, invalid));
    Ok((devices, warnings))
}

/// The records of a page as byte ranges, each checked against the resource. The check builds
/// nothing ([`record::check`]); only a record that fails it is read, to say which it is.
fn check_raw_devices(
    resource: &Resource,
    body: &str,
    items: &[RawDevice],
    invalid: &[usize],
) -> Result<(Vec<RawDevice>, Vec<DeviceWarning>), GraphError> {
    let mut devices = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = body.get(item.clone()).unwrap_or("");
        if record::check(resource, text).is_ok() {
            devices.push(item.clone());
            continue;
        }
        match read_item(resource, body, item, i)? {
            Ok(_) => devices.push(item.clone()),
            Err(warning) => warnings.push(warning),
        }
    }
    warnings.extend(invalid_utf8_warnings(body, items, invalid));
    Ok((devices, warnings))
}

pub(crate) fn parse_record(resource: &Resource, body: &str) -> Result<Record, GraphError> {
    let mut record =
        record::parse(resource, body).map_err(|e| GraphError::Decode(format!("not a record: {e}")))?;
    // `@odata.context` describes the response, not the record; keeping it would echo it back.
    record.remove("@odata.context");
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_encodes_values() {
        let q = ListQuery {
            select: vec!["id".into(), "serialNumber".into()],
            filter: Some(format!("contains(serialNumber,{})", odata_literal("O'B 1+2"))),
            top: Some(999),
            order_by: None,
            count: true,
        };
        assert_eq!(
            q.to_query_string(),
            "$select=id,serialNumber&$filter=contains(serialNumber,'O''B%201%2B2')&$top=999&$count=true"
        );
    }

    #[test]
    fn urls_per_collection() {
        let mut config = ClientConfig::new("http://127.0.0.1:1/v1.0/", Secret::new("t"));
        config.collection = Collection::Upload;
        let c = GraphClient::new(config).unwrap();
        assert_eq!(
            c.item_url("a/b"),
            "http://127.0.0.1:1/v1.0/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities/a%2Fb"
        );
    }
}
