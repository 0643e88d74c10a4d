//! The endpoints of `graph-autopilot.md` section 2, under `/v1.0` and `/beta`, and the Graph
//! conventions every response follows (headers, error shape, authentication, journal).

mod metadata;

use super::faults::{self, FaultKind};
use super::oauth::{self, TokenStatus};
use super::odata::{CollectionQuery, Selection};
use super::store::StoreError;
use super::{AppState, RecordedRequest};
use crate::graph::model::{
    DEVICE_ODATA_TYPE, Device, FIELDS, FieldKind, FieldPlace, ImportStatus, STATE_ODATA_TYPE,
};
use crate::graph::patch::merge;
use crate::graph::validate::{decode_binary, encode_binary};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tower_http::compression::CompressionLayer;

/// Content type of every JSON answer, as Graph sends it.
const JSON_CONTENT_TYPE: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";
/// Largest request body accepted (an import of a few thousand 4 KB hashes).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

const DEVICES: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
const UPLOAD_DEVICES: &str = "/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities";
/// The service description, under each version root; Graph serves it without a token.
const METADATA: &str = "/$metadata";
const STATE_TYPE_NAME: &str = "microsoft.graph.importedWindowsAutopilotDeviceIdentityState";
const STATUS_TYPE_NAME: &str = "microsoft.graph.importedWindowsAutopilotDeviceIdentityImportStatus";

fn device_type_name() -> &'static str {
    DEVICE_ODATA_TYPE.trim_start_matches('#')
}

/// The routes, wrapped in the Graph conventions layer.
pub(super) fn router(state: Arc<AppState>) -> Router {
    // Faults sit inside the conventions layer, so faulted answers are journaled and shaped
    // like Graph's; `route_layer` keeps them off unknown routes.
    let api = Router::new()
        .route(DEVICES, get(list).post(create))
        .route(&format!("{DEVICES}/$count"), get(count))
        .route(&format!("{DEVICES}/import"), post(import))
        .route(&format!("{DEVICES}/microsoft.graph.import"), post(import))
        .route(&format!("{DEVICES}/{{id}}"), get(get_one).patch(patch).delete(delete))
        .route(UPLOAD_DEVICES, get(list))
        .route(&format!("{UPLOAD_DEVICES}/{{id}}"), get(get_one).patch(patch).delete(delete))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), faults::inject))
        // Added after the fault layer: the service description is never faulted.
        .route(METADATA, get(metadata_document));
    Router::new()
        .nest("/v1.0", api.clone())
        .nest("/beta", api)
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), graph_conventions))
        // Outermost, so it compresses what the fault and conventions layers produced: an
        // injected truncation cuts the JSON, not the gzip stream. Only when the client asks.
        .layer(CompressionLayer::new())
        .with_state(Arc::clone(&state))
        // The sign-in routes bring their own layer: Entra's error shape, redacted journal.
        .merge(oauth::router(state))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A Graph error. Handlers return it; [`graph_conventions`] renders the JSON body, because only
/// it knows the request ids that go into `innerError`.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    /// An error with this status, Graph `code` and message.
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The {} with id '{id}' was not found.", device_type_name()),
        )
    }

    fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<super::odata::QueryError> for ApiError {
    fn from(error: super::odata::QueryError) -> ApiError {
        ApiError::bad_request(error.0)
    }
}

/// The ids a response carries: a fresh `request-id`, and the client's `client-request-id`.
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

fn error_body(error: &ApiError, ids: &RequestIds) -> Value {
    json!({"error": {
        "code": error.code,
        "message": error.message,
        "innerError": {
            "date": graph_timestamp(SystemTime::now()),
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        }
    }})
}

/// `2026-11-28T10:00:00`: the UTC timestamp format of `innerError.date`.
pub(super) fn graph_timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

// ---------------------------------------------------------------------------------------------
// The conventions layer

/// Journals the request, checks the bearer token, then stamps Graph's headers on the answer and
/// renders errors (ours and axum's own 405/400 answers) in Graph's JSON shape.
async fn graph_conventions(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_string);
    let ids = RequestIds { request_id, client_request_id };

    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path_and_query =
        parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |p| p.to_string());
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let recorded_body = body.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    if !recorded_body.is_empty() {
        // Bodies only at debug level: hashes make them large.
        tracing::debug!(%method, path = %path_and_query, body = %String::from_utf8_lossy(&recorded_body), "request body");
    }
    let journal_seq = record(&app, &parts.method, &path_and_query, &parts.headers, recorded_body);

    let authenticated = if needs_token(&parts.uri) { authenticate(&app, &parts.headers) } else { Ok(()) };
    let mut response = match (body, authenticated) {
        (Err(_), _) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
        .into_response(),
        (Ok(_), Err(error)) => error.into_response(),
        (Ok(bytes), Ok(())) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };

    let fault = response.extensions_mut().remove::<FaultKind>();
    if let Some(fault) = fault {
        app.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).mark_fault(journal_seq, fault);
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
        response = json_response(error.status, &error_body(&error, &ids));
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
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
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

/// Adds a request to the journal (`Authorization` redacted); gives back its sequence number.
pub(super) fn record(
    app: &AppState,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> u64 {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let text = if *name == header::AUTHORIZATION {
                // Keep the scheme so tests can see a bearer token was sent, never the secret.
                match text.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} [redacted]"),
                    None => "[redacted]".to_string(),
                }
            } else {
                text
            };
            (name.as_str().to_string(), text)
        })
        .collect();
    let entry = RecordedRequest {
        method: method.to_string(),
        path_and_query: path_and_query.to_string(),
        headers,
        body,
        fault: None,
    };
    app.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry)
}

/// Whether a request must carry a bearer token: everything but a version's `$metadata`.
fn needs_token(uri: &Uri) -> bool {
    let path = uri.path();
    !["/v1.0", "/beta"].iter().any(|version| path.strip_prefix(version) == Some(METADATA))
}

fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ if value.is_empty() || value.eq_ignore_ascii_case("bearer") => "",
        _ => return Err(ApiError::unauthorized("Access token validation failure. Invalid scheme.")),
    };
    if token.is_empty() {
        return Err(ApiError::unauthorized("Access token is empty."));
    }
    if app.token.as_deref() == Some(token) {
        return Ok(());
    }
    // Tokens the sign-in imitation issued work until they expire or are revoked, whether or not
    // a fixed token was configured.
    let status = app.oauth.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).token_status(token);
    match status {
        TokenStatus::Valid => Ok(()),
        TokenStatus::Expired => {
            Err(ApiError::unauthorized("Lifetime validation failed, the token is expired."))
        }
        TokenStatus::Revoked => {
            Err(ApiError::unauthorized("Access token validation failure. The token was revoked."))
        }
        TokenStatus::Forged => {
            Err(ApiError::unauthorized("Access token validation failure. Invalid signature."))
        }
        TokenStatus::Foreign if app.token.is_some() => {
            Err(ApiError::unauthorized("Access token validation failure. Invalid audience."))
        }
        TokenStatus::Foreign => Ok(()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

// ---------------------------------------------------------------------------------------------
// Where a request is: version root, collection

/// `http://HOST/v1.0` (or `/beta`; `https://` with TLS), built from the request's Host so links
/// work through any name the client used.
fn service_root(app: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let version = uri.path().trim_start_matches('/').split('/').next().unwrap_or("v1.0");
    format!("{}/{version}", app.origin(headers))
}

/// The collection path a request addressed (without version), for links and contexts.
fn collection_path(uri: &Uri) -> &'static str {
    if uri.path().contains(UPLOAD_DEVICES) { UPLOAD_DEVICES } else { DEVICES }
}

fn context(root: &str, uri: &Uri, select: Option<&Selection>, entity: bool) -> String {
    let mut context = format!("{root}/$metadata#{}", collection_path(uri).trim_start_matches('/'));
    if let Some(names) = select.and_then(Selection::names) {
        context.push('(');
        context.push_str(&names.join(","));
        context.push(')');
    }
    if entity {
        context.push_str("/$entity");
    }
    context
}

/// A device as Graph shows it: `@odata.type`, then the properties, `state` last; only the
/// selected top-level properties (`id` always).
fn entity_json(device: Device, select: Option<&Selection>) -> Map<String, Value> {
    let shown = |name: &str| select.is_none_or(|s| s.includes(name));
    let mut out = Map::new();
    out.insert("@odata.type".into(), Value::String(DEVICE_ODATA_TYPE.into()));
    let mut doc = match serde_json::to_value(device) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(id) = doc.remove("id") {
        out.insert("id".into(), id);
    }
    for spec in FIELDS.iter().filter(|f| f.place == FieldPlace::Device && f.json != "id") {
        if let Some(value) = doc.remove(spec.json)
            && shown(spec.json)
        {
            out.insert(spec.json.into(), value);
        }
    }
    if let Some(Value::Object(state)) = doc.remove("state")
        && shown("state")
    {
        let mut typed = Map::new();
        typed.insert("@odata.type".into(), Value::String(STATE_ODATA_TYPE.into()));
        typed.extend(state);
        out.insert("state".into(), Value::Object(typed));
    }
    // Whatever else a record carries (nothing today) goes out unchanged.
    for (key, value) in doc {
        if shown(&key) {
            out.insert(key, value);
        }
    }
    out
}

fn read_store(app: &AppState) -> std::sync::RwLockReadGuard<'_, super::store::Store> {
    app.store.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_store(app: &AppState) -> std::sync::RwLockWriteGuard<'_, super::store::Store> {
    app.store.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn list(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = CollectionQuery::parse(uri.query().unwrap_or(""))?;
    let root = service_root(&app, &headers, &uri);
    // A filtered or sorted page of a large set scans it: keep that off the async workers.
    let worker_app = Arc::clone(&app);
    let worker_query = query.clone();
    let page = tokio::task::spawn_blocking(move || {
        read_store(&worker_app).page(&worker_query, worker_app.page_size)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", e.to_string()))?;

    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context(&root, &uri, query.select.as_ref(), false)));
    if let Some(count) = page.count {
        body.insert("@odata.count".into(), Value::from(count));
    }
    let select = query.select.as_ref();
    let value: Vec<Value> = page.devices.into_iter().map(|d| Value::Object(entity_json(d, select))).collect();
    body.insert("value".into(), Value::Array(value));
    if let Some(cursor) = page.next {
        let link = format!("{root}{}?$skiptoken={}", collection_path(&uri), query.skiptoken(cursor));
        body.insert("@odata.nextLink".into(), Value::String(link));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

async fn count(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let query = CollectionQuery::parse(uri.query().unwrap_or(""))?;
    let worker_app = Arc::clone(&app);
    let count =
        tokio::task::spawn_blocking(move || read_store(&worker_app).count(&query)).await.map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", e.to_string())
        })?;
    let mut response = (StatusCode::OK, count.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn get_one(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = CollectionQuery::parse(uri.query().unwrap_or(""))?;
    let device = read_store(&app).get(&id, query.shows_hash()).ok_or_else(|| ApiError::not_found(&id))?;
    let root = service_root(&app, &headers, &uri);
    Ok(entity_response(StatusCode::OK, &root, &uri, device, query.select.as_ref()))
}

fn entity_response(
    status: StatusCode,
    root: &str,
    uri: &Uri,
    device: Device,
    select: Option<&Selection>,
) -> Response {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context(root, uri, select, true)));
    body.extend(entity_json(device, select));
    json_response(status, &Value::Object(body))
}

async fn patch(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if app.strict {
        // The live service has no PATCH route for this entity; it fails before looking at
        // the id or the body.
        return Err(ApiError::bad_request(String::new()).with_code_and_message(
            "No method match route template",
            format!(
                "No OData route exists that match template ~/singleton/navigation/key with http verb PATCH \
                 for request /DeviceManagement_2511/StatelessDeviceManagementFEService/deviceManagement/\
                 importedWindowsAutopilotDeviceIdentities('{id}')."
            ),
        ));
    }
    let properties = json_object(&headers, &body)?;
    let changes = checked_device_properties(&properties, Some(&id))?;
    let updated = {
        let mut store = write_store(&app);
        let current = store.get(&id, true).ok_or_else(|| ApiError::not_found(&id))?;
        let mut doc = match serde_json::to_value(&current) {
            Ok(Value::Object(map)) => map,
            _ => return Err(internal("cannot serialise the stored device")),
        };
        merge(&mut doc, &changes);
        let updated: Device =
            serde_json::from_value(Value::Object(doc)).map_err(|e| ApiError::bad_request(e.to_string()))?;
        store.replace(updated.clone()).map_err(|_| ApiError::not_found(&id))?;
        updated
    };
    if prefers_minimal_return(&headers) {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
        return Ok(response);
    }
    let root = service_root(&app, &headers, &uri);
    Ok(entity_response(StatusCode::OK, &root, &uri, updated, None))
}

/// Whether a `Prefer` header asks for `return=minimal` (RFC 7240: preferences are comma
/// separated, names case-insensitive, `=` may have spaces around it, the value may be quoted).
fn prefers_minimal_return(headers: &HeaderMap) -> bool {
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

async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    write_store(&app).delete(&id).map_err(|_| ApiError::not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let properties = json_object(&headers, &body)?;
    let checked = checked_device_properties(&properties, None)?;
    let device = {
        let mut store = write_store(&app);
        let device = new_device(&checked, &store, true)?;
        store.insert(device.clone()).map_err(|e| match e {
            StoreError::Duplicate => ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!("An entity with the key '{}' already exists.", device.id),
            ),
            StoreError::NotFound => internal("insert reported not found"),
        })?;
        device
    };
    let root = service_root(&app, &headers, &uri);
    let location = format!("{root}{DEVICES}/{}", device.id);
    let mut response = entity_response(StatusCode::CREATED, &root, &uri, device, None);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn import(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const LIST: &str = "importedWindowsAutopilotDeviceIdentities";
    let parameters = json_object(&headers, &body)?;
    if let Some(other) = parameters.keys().find(|k| *k != LIST && !k.starts_with('@')) {
        return Err(ApiError::bad_request(format!(
            "The parameter '{other}' in the request payload is not a valid parameter for the operation 'import'."
        )));
    }
    let Some(Value::Array(entries)) = parameters.get(LIST) else {
        return Err(ApiError::bad_request(format!("The parameter '{LIST}' must be an array of devices.")));
    };
    // Check everything before storing anything: a rejected import changes nothing.
    let mut checked = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Object(properties) = entry else {
            return Err(ApiError::bad_request(format!("Each entry of '{LIST}' must be a JSON object.")));
        };
        checked.push(checked_device_properties(properties, None)?);
    }
    let imported = {
        let mut store = write_store(&app);
        let mut imported = Vec::with_capacity(checked.len());
        for properties in &checked {
            let mut device = new_device(properties, &store, false)?;
            // A fresh import has not been processed by the Autopilot service yet.
            device.state = Default::default();
            store.insert(device.clone()).map_err(|_| internal("fresh id already in use"))?;
            imported.push(device);
        }
        imported
    };
    let root = service_root(&app, &headers, &uri);
    let value: Vec<Value> = imported.into_iter().map(|d| Value::Object(entity_json(d, None))).collect();
    let body = json!({
        "@odata.context": format!("{root}/$metadata#Collection({})", device_type_name()),
        "value": value,
    });
    Ok(json_response(StatusCode::OK, &body))
}

async fn metadata_document() -> Response {
    let mut response = (StatusCode::OK, metadata::csdl()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

async fn unknown_route(uri: Uri) -> ApiError {
    let mut segments = uri.path().trim_start_matches('/').split('/');
    let version = segments.next().unwrap_or("");
    if version != "v1.0" && version != "beta" {
        return ApiError::bad_request(format!("Invalid version: {version}"));
    }
    const KNOWN: [&str; 4] = [
        "deviceManagement",
        "importedWindowsAutopilotDeviceIdentities",
        "importedWindowsAutopilotDeviceIdentityUpload",
        "deviceIdentities",
    ];
    let mut after_collection = false;
    for segment in segments {
        if after_collection || KNOWN.contains(&segment) {
            // The segment after a collection is a key; it was not the problem.
            after_collection = !after_collection && segment.ends_with("Identities");
            continue;
        }
        return ApiError::bad_request(format!("Resource not found for the segment '{segment}'."));
    }
    ApiError::bad_request(format!("Resource not found for the segment '{}'.", uri.path()))
}

fn internal(what: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", what)
}

impl ApiError {
    fn with_code_and_message(mut self, code: &str, message: String) -> ApiError {
        self.code = code.to_string();
        self.message = message;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// The body as a JSON object, after the content-type check (any `application/json`, with or
/// without parameters).
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if !is_json(headers) {
        let sent = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("The content type '{sent}' is not supported; send 'application/json'."),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => {
            let node = match other {
                Value::Array(_) => "StartArray",
                _ => "PrimitiveValue",
            };
            Err(ApiError::bad_request(format!(
                "An unexpected '{node}' node was found when reading from the JSON reader. A 'StartObject' node was expected."
            )))
        }
    }
}

fn unknown_property(name: &str, type_name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use property names that are \
         defined by the type or mark the type as open type."
    ))
}

fn null_not_allowed(name: &str, edm_type: &str) -> ApiError {
    ApiError::bad_request(format!(
        "A null value was found for the property named '{name}', which has the expected type \
         '{edm_type}[Nullable=False]'. The expected type '{edm_type}[Nullable=False]' does not allow null values."
    ))
}

fn cannot_convert(value: &Value, edm_type: &str) -> ApiError {
    let literal = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ApiError::bad_request(format!(
        "Cannot convert the literal '{literal}' to the expected type '{edm_type}'."
    ))
}

/// Checks an instance annotation such as `@odata.type` (which must name the expected type);
/// returns true when `key` is an annotation and so not a property.
fn check_annotation(key: &str, value: &Value, expected_type: &str) -> Result<bool, ApiError> {
    if !key.contains('@') {
        return Ok(false);
    }
    if key == "@odata.type" {
        let named = value.as_str().unwrap_or("").trim_start_matches('#');
        if named != expected_type {
            return Err(ApiError::bad_request(format!(
                "A type named '{named}' could not be resolved by the model. When a model is available, each type name \
                 must resolve to a valid type."
            )));
        }
    }
    Ok(true)
}

/// Checks the properties of a device body (PATCH, POST, import entry) against the field table
/// and returns them without annotations. `current_id` is the addressed id for a PATCH: `id`
/// may be sent only unchanged.
fn checked_device_properties(
    properties: &Map<String, Value>,
    current_id: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    let mut checked = Map::new();
    for (key, value) in properties {
        if check_annotation(key, value, device_type_name())? {
            continue;
        }
        if key == "state" {
            checked.insert(key.clone(), checked_state(value)?);
            continue;
        }
        let Some(spec) = FIELDS.iter().find(|f| f.place == FieldPlace::Device && f.json == key) else {
            return Err(unknown_property(key, device_type_name()));
        };
        let text = match value {
            Value::Null if spec.nullable => None,
            Value::Null => return Err(null_not_allowed(key, "Edm.String")),
            Value::String(text) => Some(text.as_str()),
            other => return Err(cannot_convert(other, "Edm.String")),
        };
        match (spec.kind, text) {
            (FieldKind::Key, Some(id)) => {
                if let Some(current) = current_id
                    && !id.eq_ignore_ascii_case(current)
                {
                    return Err(ApiError::bad_request(format!(
                        "The key property 'id' cannot be changed (from '{current}' to '{id}')."
                    )));
                }
                if current_id.is_some() {
                    // The same id, perhaps in other case: nothing to merge, keep the stored spelling.
                    continue;
                }
            }
            (FieldKind::Binary, Some(hash)) => {
                // Edm.Binary is bytes: keep them, not the spelling. Graph answers standard
                // padded base64 whichever alphabet or padding the client sent.
                let bytes = decode_binary(hash).map_err(|_| cannot_convert(value, "Edm.Binary"))?;
                checked.insert(key.clone(), Value::String(encode_binary(&bytes)));
                continue;
            }
            _ => {}
        }
        checked.insert(key.clone(), value.clone());
    }
    Ok(checked)
}

/// Checks a whole `state` object (it replaces the stored one as a unit).
fn checked_state(value: &Value) -> Result<Value, ApiError> {
    let state = match value {
        Value::Object(state) => state,
        Value::Null => return Err(null_not_allowed("state", STATE_TYPE_NAME)),
        other => return Err(cannot_convert(other, STATE_TYPE_NAME)),
    };
    let mut checked = Map::new();
    for (key, value) in state {
        if check_annotation(key, value, STATE_TYPE_NAME)? {
            continue;
        }
        let Some(spec) = FIELDS.iter().find(|f| f.place == FieldPlace::State && f.json == key) else {
            return Err(unknown_property(key, STATE_TYPE_NAME));
        };
        match (spec.kind, value) {
            (FieldKind::ImportStatus, Value::String(text)) if ImportStatus::parse(text).is_some() => {}
            (FieldKind::ImportStatus, Value::Null) => return Err(null_not_allowed(key, STATUS_TYPE_NAME)),
            (FieldKind::ImportStatus, other) => return Err(cannot_convert(other, STATUS_TYPE_NAME)),
            (FieldKind::Int32, Value::Number(n)) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {}
            (FieldKind::Int32, Value::Null) => return Err(null_not_allowed(key, "Edm.Int32")),
            (FieldKind::Int32, other) => return Err(cannot_convert(other, "Edm.Int32")),
            (_, Value::Null | Value::String(_)) => {}
            (_, other) => return Err(cannot_convert(other, "Edm.String")),
        }
        checked.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(checked))
}

/// A new device from checked properties; the id is the sent one when `keep_id`, else fresh.
fn new_device(
    properties: &Map<String, Value>,
    store: &super::store::Store,
    keep_id: bool,
) -> Result<Device, ApiError> {
    let mut doc = properties.clone();
    let sent_id = doc.get("id").and_then(Value::as_str).filter(|id| keep_id && !id.is_empty());
    if sent_id.is_none() {
        doc.insert("id".into(), Value::String(store.fresh_id()));
    }
    serde_json::from_value(Value::Object(doc)).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn body_checks() {
        let ok = json!({"@odata.type": DEVICE_ODATA_TYPE, "groupTag": null, "hardwareIdentifier": "-_8",
                        "state": {"@odata.type": STATE_ODATA_TYPE, "deviceErrorCode": 806, "deviceImportStatus": "error"}});
        let checked = checked_device_properties(ok.as_object().unwrap(), Some("x")).unwrap();
        assert!(!checked.contains_key("@odata.type"));
        assert_eq!(checked["hardwareIdentifier"], "+/8=", "stored as standard padded base64");
        assert!(!checked["state"].as_object().unwrap().contains_key("@odata.type"));
        let bad = [
            (
                json!({"foo": 1}),
                "The property 'foo' does not exist on type 'microsoft.graph.importedWindowsAutopilotDeviceIdentity'",
            ),
            (
                json!({"state": {"bar": 1}}),
                "'bar' does not exist on type 'microsoft.graph.importedWindowsAutopilotDeviceIdentityState'",
            ),
            (json!({"groupTag": 5}), "Edm.String"),
            (
                json!({"hardwareIdentifier": "%%%"}),
                "Cannot convert the literal '%%%' to the expected type 'Edm.Binary'.",
            ),
            (json!({"state": {"deviceErrorCode": null}}), "does not allow null"),
            (json!({"state": {"deviceErrorCode": 2_147_483_648_i64}}), "Edm.Int32"),
            (json!({"state": {"deviceErrorCode": 1.5}}), "Edm.Int32"),
            (json!({"state": {"deviceImportStatus": "Complete"}}), "ImportStatus"),
            (json!({"state": null}), "does not allow null"),
            (json!({"id": "y"}), "cannot be changed"),
            (json!({"@odata.type": "#microsoft.graph.user"}), "could not be resolved"),
        ];
        for (body, fragment) in bad {
            let err = checked_device_properties(body.as_object().unwrap(), Some("x")).unwrap_err();
            assert!(err.message.contains(fragment), "{body}: {}", err.message);
            assert_eq!(err.code, "BadRequest");
        }
    }
}
