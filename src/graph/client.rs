//! `GraphClient`: list (pages as a stream), get and patch imported Autopilot device identities.
//! Every call gives back an [`Exchange`]: what was sent and what came back, with the
//! `Authorization` header redacted, for the response inspector and the log.

use crate::graph::auth::{REDACTED_BEARER, Secret, TokenSource};
use crate::graph::error::{GraphError, ServiceError};
use crate::graph::model::Device;
use crate::graph::patch::PatchBody;
use crate::graph::retry::{Failure, RetryPolicy, parse_retry_after};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Which of the two Graph paths of the same devices to read and patch.
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
}

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

/// The reason phrase of a status code (`OK`, `Not Found`, ...).
pub fn reason_phrase(code: u16) -> &'static str {
    reqwest::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
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
pub struct Page<T = Device> {
    /// The devices on this page.
    pub devices: Vec<T>,
    /// `@odata.nextLink`, when more pages exist.
    pub next_link: Option<String>,
    /// `@odata.count`, when `$count=true` was asked.
    pub count: Option<u64>,
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
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    observer: Option<RetryObserver>,
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
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .timeout(config.timeout)
            .user_agent(concat!("autopilot-tui/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(config.root_certificates.iter().cloned())
            .build()
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        Ok(GraphClient { http, config: Arc::new(config), observer: None })
    }

    /// The same client, telling `observer` before every retry wait.
    pub fn with_retry_observer(mut self, observer: RetryObserver) -> GraphClient {
        self.observer = Some(observer);
        self
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The collection URL.
    pub fn collection_url(&self) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), self.config.collection.path())
    }

    /// One device's URL.
    pub fn item_url(&self, id: &str) -> String {
        item_url_in(&self.collection_url(), id)
    }

    /// The first page's URL for a query.
    pub fn list_url(&self, query: &ListQuery) -> String {
        let qs = query.to_query_string();
        if qs.is_empty() { self.collection_url() } else { format!("{}?{qs}", self.collection_url()) }
    }

    /// Lists the collection as a stream of pages, following `@odata.nextLink` until the last
    /// page. After an error the stream ends; a next link already followed ends it with
    /// [`GraphError::RepeatedNextLink`] after the page that carried it.
    ///
    /// Pages are fetched ahead by a background task: the next page's request leaves as soon as
    /// this page's next link is known, before this page's devices are decoded, so decoding and
    /// the consumer's work overlap the server's. Dropping the stream stops the task at its next
    /// page; a page already requested ahead is still fetched, then dropped.
    pub fn list(&self, query: &ListQuery) -> BoxStream<'static, Outcome<Page>> {
        self.list_with(query, CheckedPage::whole_array, decode_devices)
    }

    /// [`GraphClient::list`] with each device left as the JSON the server sent: a
    /// [`RawDevice`] is the byte range of one device in the page's
    /// `exchange.response_body` (for exports that pass devices through untouched).
    pub fn list_raw(&self, query: &ListQuery) -> BoxStream<'static, Outcome<Page<RawDevice>>> {
        self.list_with(query, CheckedPage::each_item, |_, items| Ok(items))
    }

    fn list_with<P: Send + 'static, T: Send + 'static>(
        &self,
        query: &ListQuery,
        check: fn(&str) -> Result<CheckedPage<P>, GraphError>,
        finish: fn(&str, P) -> Result<Vec<T>, GraphError>,
    ) -> BoxStream<'static, Outcome<Page<T>>> {
        // Two pages in the channel keep the fetcher ahead without holding more in memory.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let client = self.clone();
        let first = self.list_url(query);
        tokio::spawn(async move { client.fetch_pages(first, check, finish, tx).await });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|page| (page, rx)) })
            .boxed()
    }

    /// The task behind [`GraphClient::list`].
    async fn fetch_pages<P: Send + 'static, T>(
        &self,
        first: String,
        check: fn(&str) -> Result<CheckedPage<P>, GraphError>,
        finish: fn(&str, P) -> Result<Vec<T>, GraphError>,
        tx: tokio::sync::mpsc::Sender<Outcome<Page<T>>>,
    ) {
        let fetch = |url: String| {
            let client = self.clone();
            // The body is checked to be a whole page inside `send`, so a cut-off answer is retried.
            tokio::spawn(async move { client.send("GET", &url, None, check).await })
        };
        let mut seen = HashSet::from([first.clone()]);
        let mut ahead = Some(fetch(first));
        while let Some(fetching) = ahead.take() {
            let Ok(Outcome { exchange, result }) = fetching.await else { return };
            let checked = match result {
                Ok(checked) => checked,
                Err(e) => {
                    let _ = tx.send(Outcome { exchange, result: Err(e) }).await;
                    return;
                }
            };
            let mut repeated = None;
            if let Some(link) = &checked.next_link {
                if seen.insert(link.clone()) {
                    ahead = Some(fetch(link.clone()));
                } else {
                    repeated = Some((link.clone(), exchange.clone()));
                }
            }
            let CheckedPage { next_link, count, payload } = checked;
            let result =
                finish(&exchange.response_body, payload).map(|devices| Page { devices, next_link, count });
            let failed = result.is_err();
            if failed || tx.send(Outcome { exchange, result }).await.is_err() {
                if let Some(fetching) = ahead {
                    fetching.abort();
                }
                return;
            }
            if let Some((link, exchange)) = repeated {
                let _ = tx.send(Outcome { exchange, result: Err(GraphError::RepeatedNextLink(link)) }).await;
                return;
            }
        }
    }

    /// Fetches one device whole (with its hardware hash).
    pub async fn get(&self, id: &str) -> Outcome<Device> {
        self.send("GET", &self.item_url(id), None, parse_device).await
    }

    /// Sends exactly the changed properties. `Ok(None)` when the server answered without a body
    /// (204): the caller should fetch the device again.
    pub async fn patch(&self, id: &str, body: &PatchBody) -> Outcome<Option<Device>> {
        let url = self.item_url(id);
        let json = serde_json::to_string(&body.properties).unwrap_or_default();
        if self.config.read_only {
            let exchange = unsent_exchange("PATCH", &url, Some(json));
            return Outcome { exchange, result: Err(GraphError::ReadOnly(format!("PATCH {url}"))) };
        }
        let decode =
            |text: &str| if text.trim().is_empty() { Ok(None) } else { parse_device(text).map(Some) };
        self.send("PATCH", &url, Some(json), decode).await
    }

    /// Sends one request and reads the whole answer, trying again by the retry policy;
    /// an error status becomes a typed error. The exchange is the last attempt's.
    async fn send<T>(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        decode: impl Fn(&str) -> Result<T, GraphError>,
    ) -> Outcome<T> {
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
            let (mut exchange, text) = self.send_once(method, url, body.clone(), &token).await;
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
                Ok(_) => return Outcome { exchange, result },
                Err(GraphError::Service(e)) => Failure::Status {
                    status: e.status,
                    retry_after: exchange
                        .response_header("retry-after")
                        .and_then(|v| parse_retry_after(v, SystemTime::now())),
                },
                Err(GraphError::Timeout(_)) => Failure::Timeout,
                Err(GraphError::Transport(_)) => Failure::Transport,
                // A truncated or garbled 2xx body is a fault of the wire, not of the request.
                Err(GraphError::Decode(_)) => Failure::Transport,
                Err(_) => return Outcome { exchange, result },
            };
            let Some(wait) = self.config.retry.delay(attempt, &failure, jitter()) else {
                return Outcome { exchange, result };
            };
            let reason = match &result {
                Err(GraphError::Service(_)) => exchange.status_line(),
                Err(e) => e.to_string(),
                Ok(_) => String::new(),
            };
            tracing::info!(method, url = %exchange.path_and_query(), attempt, wait_ms = wait.as_millis() as u64, %reason, "retrying");
            if let Some(observer) = &self.observer {
                observer(RetryNotice {
                    method: method.to_string(),
                    url: url.to_string(),
                    attempt,
                    wait,
                    reason,
                });
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
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
        let mut exchange = Exchange {
            method: method.to_string(),
            url: url.to_string(),
            request_headers,
            request_body: body.clone(),
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
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
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(token.expose())
            .header("client-request-id", client_request_id)
            .header("Accept", "application/json");
        if let Some(b) = body {
            request = request.header("Content-Type", "application/json").body(b);
        }
        let response = request.send().await.map_err(|e| transport_error(e, self.config.timeout, exchange))?;
        let status = response.status().as_u16();
        exchange.status = Some(status);
        exchange.response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let bytes = response.bytes().await.map_err(|e| transport_error(e, self.config.timeout, exchange))?;
        // The body is kept once, in the exchange; decoding reads it from there (pages are MBs).
        exchange.response_body = match String::from_utf8(Vec::from(bytes)) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(GraphError::Service(Box::new(ServiceError::from_response(
                status,
                &exchange.response_headers,
                &exchange.response_body,
            ))))
        }
    }
}

fn transport_error(e: reqwest::Error, timeout: Duration, exchange: &mut Exchange) -> GraphError {
    // reqwest's Display includes the URL but never headers, so the token cannot leak here.
    let text = error_chain(&e);
    exchange.transport_error = Some(text.clone());
    if e.is_timeout() { GraphError::Timeout(timeout) } else { GraphError::Transport(text) }
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

fn unsent_exchange(method: &str, url: &str, body: Option<String>) -> Exchange {
    Exchange {
        method: method.to_string(),
        url: url.to_string(),
        request_headers: Vec::new(),
        request_body: body,
        status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
        started_at: SystemTime::now(),
        duration: Duration::ZERO,
        client_request_id: String::new(),
        transport_error: Some("not sent".to_string()),
        attempts: 0,
    }
}

/// A number in [0, 1) for back-off jitter, from the OS random source that uuid already uses.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// One device of [`GraphClient::list_raw`]: the byte range of its JSON object in the page's
/// `exchange.response_body`.
pub type RawDevice = std::ops::Range<usize>;

/// A page's skeleton, parsed in one pass without decoding a device.
#[derive(serde::Deserialize)]
struct PageSkeleton<V> {
    value: V,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
}

/// What a page says besides its devices, and where its devices are; having one means the
/// body is a well-formed page.
struct CheckedPage<P> {
    next_link: Option<String>,
    count: Option<u64>,
    payload: P,
}

impl CheckedPage<RawDevice> {
    /// Checks the page; the payload is the range of the whole `value` array.
    fn whole_array(body: &str) -> Result<Self, GraphError> {
        let page: PageSkeleton<&RawValue> = skeleton(body)?;
        Ok(CheckedPage { next_link: page.next_link, count: page.count, payload: range_in(body, page.value) })
    }
}

impl CheckedPage<Vec<RawDevice>> {
    /// Checks the page; the payload is the range of each device.
    fn each_item(body: &str) -> Result<Self, GraphError> {
        let page: PageSkeleton<Vec<&RawValue>> = skeleton(body)?;
        let payload = page.value.iter().map(|item| range_in(body, item)).collect();
        Ok(CheckedPage { next_link: page.next_link, count: page.count, payload })
    }
}

fn skeleton<'a, V: serde::Deserialize<'a>>(body: &'a str) -> Result<PageSkeleton<V>, GraphError> {
    serde_json::from_str(body).map_err(|e| GraphError::Decode(format!("not a page: {e}")))
}

/// Where a borrowed piece of `body` lies in it.
fn range_in(body: &str, part: &RawValue) -> RawDevice {
    let start = part.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + part.get().len()
}

fn decode_devices(body: &str, array: RawDevice) -> Result<Vec<Device>, GraphError> {
    let text = body.get(array).unwrap_or("[]");
    serde_json::from_str(text).map_err(|e| GraphError::Decode(format!("page \"value\": {e}")))
}

fn parse_device(body: &str) -> Result<Device, GraphError> {
    let mut device: Device =
        serde_json::from_str(body).map_err(|e| GraphError::Decode(format!("not a device: {e}")))?;
    // `@odata.context` describes the response, not the device; keeping it would echo it back.
    device.extra.remove("@odata.context");
    Ok(device)
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
