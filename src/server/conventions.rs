//! The Graph conventions every answer on `/v1.0` and `/beta` follows (`graph-autopilot.md`
//! section 3): Graph's error shape and Intune's message-inside-the-message variant, the request
//! ids and headers, the JSON content type, timestamps, the `Prefer` header, and the layer that
//! journals each request and renders its errors.

use super::AppState;
use super::clock::Clock;
use super::journal::{self, FaultKind};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Content type of every JSON answer, as Graph sends it.
pub(super) const JSON_CONTENT_TYPE: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";
/// Largest request body accepted (an import of a few thousand 4 KB hashes).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The Intune front end the imitated Intune messages name as their `Url`, as the live ones name
/// theirs (`https://fef.msub01.manage.microsoft.com/DeviceEnrollmentFE_2204/...`).
const INTUNE_FRONT_END: &str =
    "https://fef.imitation.manage.microsoft.com/DeviceEnrollmentFE_2511/StatelessDeviceEnrollmentFEService";
/// The `api-version` Intune's front end shows in those URLs.
const INTUNE_API_VERSION: &str = "2025-09-01";

// ---------------------------------------------------------------------------------------------
// Errors

/// A Graph error. Handlers return it; [`graph_conventions`] renders the JSON body, because only
/// it knows the request ids that go into `innerError`.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: String,
    pub(super) message: String,
}

impl ApiError {
    /// An error with this status, Graph `code` and message.
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into() }
    }

    /// 400 `BadRequest`.
    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 `ResourceNotFound` for an entity of this type (`microsoft.graph.x`) and id.
    pub(super) fn not_found(type_name: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The {type_name} with id '{id}' was not found."),
        )
    }

    /// 401 `InvalidAuthenticationToken`.
    pub(super) fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    /// 500 `InternalServerError`: the imitation itself failed.
    pub(super) fn internal(what: &str) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", what)
    }

    /// The live refusal of a route the service does not have for this verb, e.g. PATCH on an
    /// Autopilot collection's item: `400 No method match route template`. `template` is OData's
    /// (`~/singleton/navigation/key`); `request` the service-internal path the live message names.
    pub(super) fn no_route(template: &str, method: &str, request: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "No method match route template",
            format!(
                "No OData route exists that match template {template} with http verb {method} for request {request}."
            ),
        )
    }

    /// An Intune error: its own JSON document inside Graph's `message` (msgraph-sdk-powershell#1260),
    /// naming the activity (the client's request id) and the front end's URL for `path_and_query`
    /// (below the version root, `deviceManagement/...`).
    pub(super) fn intune(
        status: StatusCode,
        code: &str,
        text: &str,
        ids: &RequestIds,
        path_and_query: &str,
    ) -> ApiError {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = if query.is_empty() { String::new() } else { format!("&{query}") };
        let url = format!("{INTUNE_FRONT_END}/{path}?api-version={INTUNE_API_VERSION}{query}");
        let inner = format!(
            "{text} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: {} - Url: {url}",
            ids.client_request_id
        );
        let quoted = serde_json::to_string(&inner).unwrap_or_default();
        let message = format!(
            "{{\r\n  \"_version\": 3,\r\n  \"Message\": {quoted},\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \
             \"RetryAfter\": null,\r\n  \"ErrorSourceService\": \"\",\r\n  \"HttpHeaders\": \"{{}}\"\r\n}}"
        );
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The ids one answer carries: a fresh `request-id`, and the client's `client-request-id` (a copy
/// of `request-id` when it sent none). Handlers can read them as a request extension.
#[derive(Debug, Clone)]
pub(super) struct RequestIds {
    pub(super) request_id: String,
    pub(super) client_request_id: String,
}

/// A record's entity tag (`W/"..."`, weak: the JSON is the same, not its bytes): a hash of its
/// stored JSON, so any change to the record changes it. Only with `serve --etags`.
pub(super) fn etag_of(record: &crate::graph::resource::Record) -> String {
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    // FNV-1a: stable across runs (std's hasher is not).
    let hash =
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    format!("W/\"{hash:016x}\"")
}

/// With `serve --etags`: refuses a write whose `If-Match` names another version of the record
/// (412, as Graph answers where it checks ETags). No `If-Match`, or `*`: the write goes ahead.
pub(super) fn check_if_match(
    etags: bool,
    headers: &HeaderMap,
    record: &crate::graph::resource::Record,
) -> Result<(), ApiError> {
    let Some(wanted) = headers.get(axum::http::header::IF_MATCH).filter(|_| etags) else { return Ok(()) };
    let wanted = wanted.to_str().unwrap_or_default().trim();
    let current = etag_of(record);
    // Weak comparison: `W/"x"` and `"x"` name the same version.
    let bare = |tag: &str| tag.trim_start_matches("W/").to_string();
    if wanted == "*" || wanted.split(',').any(|t| bare(t.trim()) == bare(&current)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        format!("The record has changed since it was read (If-Match {wanted}, current {current})"),
    ))
}

/// Graph's error JSON for an error with these ids (what [`graph_conventions`] renders; `$batch`
/// renders its own requests' errors with it too).
pub(super) fn error_body(error: &ApiError, ids: &RequestIds, clock: &Clock) -> Value {
    json!({"error": {
        "code": error.code,
        "message": error.message,
        "innerError": {
            "date": graph_timestamp(clock.wall()),
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        }
    }})
}

/// `2026-11-28T10:00:00`: the UTC timestamp of `innerError.date` (an `Edm.DateTimeOffset`
/// without its `Z`).
pub(super) fn graph_timestamp(at: SystemTime) -> String {
    let mut text = crate::graph::timestamp::format(at);
    text.pop();
    text
}

// ---------------------------------------------------------------------------------------------
// The conventions layer

/// Journals the request, gives the handlers its ids, then stamps Graph's headers on the answer
/// and renders errors (ours and axum's own 405/400 answers) in Graph's JSON shape.
pub(super) async fn graph_conventions(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_string);
    let ids = RequestIds { request_id, client_request_id };

    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path_and_query =
        parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |p| p.to_string());
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let recorded_body = body.as_ref().map(|b| journal::redact_secret_properties(b)).unwrap_or_default();
    if !recorded_body.is_empty() {
        // Bodies only at debug level: hashes make them large.
        tracing::debug!(%method, path = %path_and_query, body = %String::from_utf8_lossy(&recorded_body), "request body");
    }
    let journal_seq = journal::record(
        &app.journal,
        &parts.method,
        &path_and_query,
        &parts.headers,
        recorded_body,
        app.clock.elapsed(),
        parts.extensions.get::<journal::BatchItem>(),
    );
    parts.extensions.insert(ids.clone());

    let mut response = match body {
        Err(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
        .into_response(),
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };

    let fault = response.extensions_mut().remove::<FaultKind>();
    if let Some(fault) = fault {
        journal::lock(&app.journal).mark_fault(journal_seq, fault);
    }
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => Some(error),
        None if !response.status().is_success() && !is_json(response.headers()) => {
            Some(framework_error(response.status(), &method))
        }
        None => None,
    };
    if let Some(error) = error {
        let keep: Vec<(HeaderName, HeaderValue)> = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                *name == header::ALLOW || *name == header::WWW_AUTHENTICATE || *name == header::RETRY_AFTER
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        response = json_response(error.status, &error_body(&error, &ids, &app.clock));
        response.headers_mut().extend(keep);
        if error.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                ),
            );
        }
    }

    let headers = response.headers_mut();
    for (name, value) in [
        ("request-id", ids.request_id.as_str()),
        ("client-request-id", ids.client_request_id.as_str()),
        ("odata-version", "4.0"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(app.clock.wall())) {
        headers.insert(header::DATE, date);
    }
    tracing::info!(
        %method,
        path = %path_and_query,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        request_id = %ids.request_id,
        fault = fault.map(|f| f.to_string()),
        "request"
    );
    response
}

/// An error axum produced itself (wrong method, undecodable path), in Graph's words.
fn framework_error(status: StatusCode, method: &Method) -> ApiError {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "MethodNotAllowed",
            format!("The HTTP method '{method}' is not allowed on this resource."),
        ),
        StatusCode::NOT_FOUND => ApiError::new(status, "ResourceNotFound", "Resource not found."),
        _ if status.is_client_error() => ApiError::bad_request("The request is invalid."),
        _ => ApiError::new(status, "InternalServerError", "An internal server error occurred."),
    }
}

// ---------------------------------------------------------------------------------------------
// Headers and bodies

/// Whether the content type is JSON (any `application/json`, with or without parameters).
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON answer with Graph's content type.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// A `text/plain` answer (`/$count`).
pub(super) fn text_response(text: String) -> Response {
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Whether a `Prefer` header asks for `return=minimal` (RFC 7240: preferences are comma
/// separated, names case-insensitive, `=` may have spaces around it, the value may be quoted).
pub(super) fn prefers_minimal_return(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|preference| preference.split(';').next()?.split_once('='))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("return")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("minimal")
        })
}

/// 204 with `Preference-Applied: return=minimal`: what a write answers when the client preferred
/// no representation.
pub(super) fn minimal_response() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_graph_shaped() {
        assert_eq!(graph_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00");
        // 2026-11-28T10:00:00Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_860_000);
        assert_eq!(graph_timestamp(t), "2026-11-28T10:00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(graph_timestamp(leap), "2000-02-29T00:00:00");
    }

    #[test]
    fn intune_messages_carry_a_json_document() {
        let ids = RequestIds { request_id: "r".into(), client_request_id: "c-1".into() };
        let error = ApiError::intune(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "An error has occurred",
            &ids,
            "deviceManagement/windowsAutopilotDeviceIdentities?$filter=serialNumber+eq+%27X%27",
        );
        let inner: Value = serde_json::from_str(&error.message).unwrap();
        assert_eq!(inner["_version"], 3);
        let message = inner["Message"].as_str().unwrap();
        assert!(
            message.starts_with("An error has occurred - Operation ID (for customer support): "),
            "{message}"
        );
        assert!(message.contains("Activity ID: c-1 - Url: https://fef."), "{message}");
        assert!(
            message.ends_with(
                "/deviceManagement/windowsAutopilotDeviceIdentities?api-version=2025-09-01&$filter=serialNumber+eq+%27X%27"
            ),
            "{message}"
        );
        assert!(inner["RetryAfter"].is_null());
        assert!(error.message.contains("\r\n  \"CustomApiErrorPhrase\": \"\""));
    }
}
