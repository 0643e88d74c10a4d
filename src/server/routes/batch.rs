//! JSON batching (`graph-registered.md` section 6, docs-contrib `concepts/json-batching.md`):
//! `POST /v1.0/$batch` and `/beta/$batch` with `{"requests": [{id, method, url, headers?, body?,
//! dependsOn?}]}`, answered `200 {"responses": [{id, status, headers, body}]}`.
//!
//! Each request is sent through the server's own Graph routes, with the batch's `Authorization`
//! and `Host`: the same handlers as a direct call, throttled and faulted on its own, journaled on
//! its own (with its `id`, after the batch itself). A fault that would cut a direct answer's
//! connection answers that request `504 GatewayTimeout` (the handler may have run); a garbled
//! body is passed on as a string. `url` is taken in the three forms Microsoft's SDKs write:
//! relative to the version root (`/deviceManagement/...`, with or without the slash), with the
//! version (`/v1.0/deviceManagement/...`), or absolute on this server
//! (`http://127.0.0.1:8080/v1.0/...`).
//!
//! The whole batch is refused with `400` when it is malformed: not JSON, no `requests` array,
//! none or more than 20 requests, an `id` missing or used twice (without case), a method or url
//! missing, a `body` without a `Content-Type` header, a `url` on another host or a batch inside
//! the batch, a `dependsOn` naming an id that is not an earlier request, or a mix of requests
//! with and without `dependsOn` ("Batch should be either fully sequential or fully parallel": all
//! but the first request must name one). Requests without dependencies run at once; a request
//! runs when what it depends on answered, and gets `424 Failed Dependency` without being sent
//! when any of that failed (any status that is not 2xx, 424 included). The responses come in
//! the requests' order (Graph allows any order).

use super::is_beta;
use crate::server::AppState;
use crate::server::conventions::{
    ApiError, JSON_CONTENT_TYPE, RequestIds, error_body, is_json, json_response,
};
use crate::server::journal::BatchItem;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The batch endpoint below a version root.
pub(super) const PATH: &str = "/$batch";
/// The most requests one batch may hold.
pub const MAX_REQUESTS: usize = 20;
/// The largest answer of one request read back into the batch.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The request headers a batch's request does not pass on: the batch's own `Authorization` and
/// `Host` are used, and the transport's are the batch's business.
const NOT_PASSED_ON: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::ACCEPT_ENCODING,
];

/// The answer headers a response in the batch shows, as Graph spells them.
const SHOWN_HEADERS: [(&str, &str); 11] = [
    ("content-type", "Content-Type"),
    ("etag", "ETag"),
    ("retry-after", "Retry-After"),
    ("location", "Location"),
    ("odata-entityid", "OData-EntityId"),
    ("odata-version", "OData-Version"),
    ("preference-applied", "Preference-Applied"),
    ("www-authenticate", "WWW-Authenticate"),
    ("allow", "Allow"),
    ("request-id", "request-id"),
    ("client-request-id", "client-request-id"),
];

/// One request of the batch, checked.
#[derive(Debug)]
struct Item {
    id: String,
    method: Method,
    /// Path and query from the server's root (`/v1.0/deviceManagement/...`).
    target: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// Indexes of the requests it depends on (all earlier).
    depends_on: Vec<usize>,
}

/// `POST /$batch`.
pub(super) async fn handle(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let items = parse(&app, &uri, &headers, &body)?;
    let router = app.graph_router().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", "The server is stopping.")
    })?;
    // A request runs after the requests it depends on: in waves, each wave at once.
    let mut wave_of = vec![0usize; items.len()];
    for (i, item) in items.iter().enumerate() {
        wave_of[i] = item.depends_on.iter().map(|&d| wave_of[d] + 1).max().unwrap_or(0);
    }
    let waves = wave_of.iter().copied().max().map_or(0, |last| last + 1);
    let mut answers: Vec<Option<Answer>> = (0..items.len()).map(|_| None).collect();
    for wave in 0..waves {
        let running: Vec<_> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| wave_of[*i] == wave)
            .map(|(i, item)| {
                let failed = item
                    .depends_on
                    .iter()
                    .find(|&&d| answers[d].as_ref().is_none_or(|a| !a.ok()))
                    .map(|&d| items[d].id.clone());
                let router = router.clone();
                let (app, headers) = (Arc::clone(&app), &headers);
                async move {
                    let answer = match failed {
                        Some(dependency) => failed_dependency(&app, item, &dependency),
                        None => dispatch(&app, router, item, headers).await,
                    };
                    (i, answer)
                }
            })
            .collect();
        for (i, answer) in futures_util::future::join_all(running).await {
            answers[i] = Some(answer);
        }
    }
    let responses: Vec<Value> = items
        .iter()
        .zip(answers)
        .map(|(item, answer)| answer.map_or(Value::Null, |answer| answer.into_json(&item.id)))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"responses": responses})))
}

/// The batch's requests, checked, or the 400 that refuses the whole batch.
fn parse(app: &AppState, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Vec<Item>, ApiError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The batch request body is not valid JSON: {e}.")))?;
    let requests = document
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("The batch request must have a 'requests' array."))?;
    if requests.is_empty() {
        return Err(ApiError::bad_request("The batch request holds no requests."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(format!(
            "The batch request holds {} requests; the limit is {MAX_REQUESTS}.",
            requests.len()
        )));
    }
    let version = if is_beta(uri) { "beta" } else { "v1.0" };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut items = Vec::with_capacity(requests.len());
    for (position, request) in requests.iter().enumerate() {
        let item =
            parse_item(request, position, version, host.as_deref().unwrap_or(""), &app.addr, &index_of)?;
        if index_of.insert(item.id.to_lowercase(), position).is_some() {
            return Err(ApiError::bad_request(format!(
                "The batch request holds the id '{}' more than once (ids are not case-sensitive).",
                item.id
            )));
        }
        items.push(item);
    }
    let sequential = items.iter().any(|item| !item.depends_on.is_empty());
    if sequential && items.iter().skip(1).any(|item| item.depends_on.is_empty()) {
        return Err(ApiError::bad_request("Batch should be either fully sequential or fully parallel."));
    }
    Ok(items)
}

/// One request of the batch, checked; `earlier` holds the ids before it (lower case).
fn parse_item(
    request: &Value,
    position: usize,
    version: &str,
    host: &str,
    addr: &std::net::SocketAddr,
    earlier: &HashMap<String, usize>,
) -> Result<Item, ApiError> {
    let number = position + 1;
    let request =
        request.as_object().ok_or_else(|| bad(format!("Request {number} of the batch is not an object.")))?;
    let text = |name: &str| request.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let id = text("id")
        .ok_or_else(|| bad(format!("Request {number} of the batch has no 'id' (a string).")))?
        .to_string();
    let method = text("method")
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| bad(format!("The request '{id}' has no valid 'method'.")))?;
    let url = text("url").ok_or_else(|| bad(format!("The request '{id}' has no 'url'.")))?;
    let target =
        target_of(url, version, host, addr).map_err(|why| bad(format!("The request '{id}': {why}")))?;

    let mut headers = HeaderMap::new();
    match request.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
                else {
                    return Err(bad(format!("The request '{id}' has a header that is not valid: '{name}'.")));
                };
                if !NOT_PASSED_ON.contains(&name) {
                    headers.append(name, value);
                }
            }
        }
        Some(_) => return Err(bad(format!("The request '{id}' has 'headers' that are not an object."))),
    }
    let body = match request.get("body") {
        None | Some(Value::Null) => None,
        Some(body) => {
            if !headers.contains_key(header::CONTENT_TYPE) {
                return Err(bad(format!(
                    "The request '{id}' has a body but no Content-Type header; a body needs one."
                )));
            }
            Some(body_bytes(body, &headers).map_err(|why| bad(format!("The request '{id}': {why}")))?)
        }
    };
    let depends_on = match request.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(names)) => names
            .iter()
            .map(|name| {
                let name = name.as_str().unwrap_or("");
                earlier.get(&name.to_lowercase()).copied().ok_or_else(|| {
                    bad(format!(
                        "The request '{id}' depends on '{name}', which is not a request before it in the batch."
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad(format!("The request '{id}' has a 'dependsOn' that is not an array of ids."))),
    };
    Ok(Item { id, method, target, headers, body, depends_on })
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

/// The path and query a request's `url` names from the server's root: relative to the batch's
/// version root, with a version, or absolute on this server.
fn target_of(url: &str, version: &str, host: &str, addr: &std::net::SocketAddr) -> Result<String, String> {
    let path_and_query = if url.starts_with("http://") || url.starts_with("https://") {
        let parsed = url::Url::parse(url).map_err(|e| format!("the url '{url}' is not valid: {e}"))?;
        let named = match (parsed.host_str(), parsed.port_or_known_default()) {
            (Some(h), Some(port)) => format!("{h}:{port}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let here = [host.to_string(), addr.to_string(), format!("localhost:{}", addr.port())];
        if !here.iter().any(|h| h.eq_ignore_ascii_case(&named)) {
            return Err(format!(
                "the url names another host ({named}); it must be relative to the service root"
            ));
        }
        match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_string(),
        }
    } else {
        let relative = if url.starts_with('/') { url.to_string() } else { format!("/{url}") };
        let versioned = ["/v1.0", "/beta"].iter().any(|v| {
            relative.strip_prefix(v).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        });
        if versioned { relative } else { format!("/{version}{relative}") }
    };
    let below_version = path_and_query.splitn(3, '/').nth(2).unwrap_or("");
    if !["/v1.0/", "/beta/"].iter().any(|v| path_and_query.starts_with(v)) {
        return Err(format!("the url '{url}' is not below /v1.0 or /beta"));
    }
    if below_version.split(['?', '/']).next() == Some("$batch") {
        return Err("a batch cannot hold a batch".to_string());
    }
    Ok(path_and_query)
}

/// What a URI cannot hold as written, percent-encoded: Graph takes a batch's urls as people
/// write them (its own example sends `$filter=city eq null` with the spaces). `%` stays, so
/// what was encoded already is kept.
const NOT_IN_A_URI: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

fn encoded(target: &str) -> String {
    utf8_percent_encode(target, NOT_IN_A_URI).to_string()
}

/// A request's body as bytes: JSON as JSON; a string under another content type is base64
/// (standard or url-safe), as Graph takes binary bodies.
fn body_bytes(body: &Value, headers: &HeaderMap) -> Result<Vec<u8>, String> {
    match body {
        Value::String(text) if !is_json(headers) => STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| "its body is not JSON and not base64".to_string()),
        other => serde_json::to_vec(other).map_err(|e| e.to_string()),
    }
}

/// One response of the batch.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: Map<String, Value>,
    body: Option<Value>,
}

impl Answer {
    fn ok(&self) -> bool {
        self.status.is_success()
    }

    fn into_json(self, id: &str) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(id.to_string()));
        out.insert("status".into(), Value::from(self.status.as_u16()));
        out.insert("headers".into(), Value::Object(self.headers));
        if let Some(body) = self.body {
            out.insert("body".into(), body);
        }
        Value::Object(out)
    }

    /// An error answer made here (not by a handler), in Graph's shape.
    fn error(app: &AppState, error: &ApiError, ids: &RequestIds) -> Answer {
        let mut headers = Map::new();
        headers.insert("Content-Type".into(), Value::String(JSON_CONTENT_TYPE.into()));
        headers.insert("request-id".into(), Value::String(ids.request_id.clone()));
        headers.insert("client-request-id".into(), Value::String(ids.client_request_id.clone()));
        Answer { status: error.status, headers, body: Some(error_body(error, ids, &app.clock)) }
    }
}

/// `424 Failed Dependency` for a request whose dependency failed; it is not sent.
fn failed_dependency(app: &AppState, item: &Item, dependency: &str) -> Answer {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = item
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_string);
    let error = ApiError::new(
        StatusCode::FAILED_DEPENDENCY,
        "FailedDependency",
        format!("The request depends on the request '{dependency}', which failed; it was not run."),
    );
    Answer::error(app, &error, &RequestIds { request_id, client_request_id })
}

/// Sends one request through the Graph routes and reads its answer back.
async fn dispatch(app: &AppState, router: axum::Router, item: &Item, batch_headers: &HeaderMap) -> Answer {
    let mut request = Request::new(Body::from(item.body.clone().unwrap_or_default()));
    *request.method_mut() = item.method.clone();
    match encoded(&item.target).parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => {
            let ids =
                RequestIds { request_id: uuid::Uuid::new_v4().to_string(), client_request_id: String::new() };
            return Answer::error(app, &ApiError::bad_request("The request's url is not valid."), &ids);
        }
    }
    *request.headers_mut() = item.headers.clone();
    for name in [header::AUTHORIZATION, header::HOST] {
        if let Some(value) = batch_headers.get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    request.extensions_mut().insert(BatchItem(item.id.clone()));
    let Ok(response) = router.oneshot(request).await;
    let (parts, body) = response.into_parts();
    let mut headers = Map::new();
    for (name, shown) in SHOWN_HEADERS {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(shown.into(), Value::String(value.to_string()));
        }
    }
    let bytes = match axum::body::to_bytes(body, MAX_ANSWER_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            // The answer broke off (an injected dropped connection): the handler may have run.
            let text =
                |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let ids =
                RequestIds { request_id: text("request-id"), client_request_id: text("client-request-id") };
            let error = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "The service did not answer this request in time; it may or may not have been applied.",
            );
            return Answer::error(app, &error, &ids);
        }
    };
    let body = if bytes.is_empty() {
        None
    } else if is_json(&parts.headers) {
        // A garbled JSON answer (an injected fault) goes as the text it is.
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())),
        )
    } else {
        Some(Value::String(STANDARD.encode(&bytes)))
    };
    Answer { status: parts.status, headers, body }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_the_three_forms() {
        let addr: std::net::SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let host = "127.0.0.1:4000";
        let path = "/deviceManagement/windowsAutopilotDeviceIdentities/x/updateDeviceProperties";
        let expected = format!("/v1.0{path}");
        assert_eq!(target_of(path, "v1.0", host, &addr).unwrap(), expected);
        assert_eq!(target_of(&path[1..], "v1.0", host, &addr).unwrap(), expected);
        assert_eq!(target_of(&expected, "v1.0", host, &addr).unwrap(), expected);
        assert_eq!(target_of(&format!("http://{host}{expected}"), "v1.0", host, &addr).unwrap(), expected);
        assert_eq!(
            target_of(&format!("https://localhost:4000{expected}"), "v1.0", host, &addr).unwrap(),
            expected
        );
        assert_eq!(
            target_of("/beta/deviceManagement?$top=1", "v1.0", host, &addr).unwrap(),
            "/beta/deviceManagement?$top=1"
        );
        assert_eq!(target_of("/v1.0x/y", "beta", host, &addr).unwrap(), "/beta/v1.0x/y");
        assert!(target_of(&format!("https://graph.microsoft.com{expected}"), "v1.0", host, &addr).is_err());
        assert!(target_of("http://127.0.0.1:4000/common/oauth2/v2.0/token", "v1.0", host, &addr).is_err());
        assert!(target_of("/$batch", "v1.0", host, &addr).is_err());
        assert!(target_of("/beta/$batch?x", "v1.0", host, &addr).is_err());
    }
}
