//! The Graph routes under `/v1.0` and `/beta`, one file per resource (imported identities,
//! registered devices, the Autopilot settings and their sync, `$metadata`), the bearer check,
//! Graph's answer for a segment it does not know, and what the collection handlers share:
//! paging, `$count`, the entity's JSON with its annotations, context URLs.

mod batch;
mod imported;
mod metadata;
mod registered;
pub(super) mod settings;

use super::conventions::{ApiError, RequestIds, etag_of, graph_conventions, json_response, text_response};
use super::oauth::{self, TokenStatus};
use super::odata::{CollectionQuery, Selection};
use super::schema::EntityType;
use super::store::Store;
use super::{AppState, SERVED};
use super::{faults, throttle};
use crate::graph::resource::{Kind, Record};
use axum::Router;
use axum::extract::{Extension, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tower_http::compression::CompressionLayer;

/// The service description, under each version root; Graph serves it without a token.
const METADATA: &str = "/$metadata";

/// The routes, wrapped in the Graph conventions layer. The Graph part is also kept in the state,
/// for `$batch` to hand each of its requests to.
pub(super) fn router(state: Arc<AppState>) -> Router {
    let graph = Router::new()
        .nest("/v1.0", version_root(&state, false))
        .nest("/beta", version_root(&state, true))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), require_token))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), graph_conventions))
        .with_state(Arc::clone(&state));
    state.keep_graph_router(graph.clone());
    // Outermost, so it compresses what the fault and conventions layers produced: an
    // injected truncation cuts the JSON, not the gzip stream. Only when the client asks.
    graph
        .layer(CompressionLayer::new())
        // The sign-in routes bring their own layer: Entra's error shape, redacted journal.
        .merge(oauth::router(state))
}

/// What one version root serves: the resources of both versions, the beta-only ones on beta.
fn version_root(state: &Arc<AppState>, beta: bool) -> Router<Arc<AppState>> {
    let mut api = Router::new().merge(imported::routes()).merge(registered::routes());
    if beta {
        api = api.merge(settings::routes());
    }
    // Faults sit inside the conventions layer, so faulted answers are journaled and shaped
    // like Graph's; `route_layer` keeps them off unknown routes. The throttle is outside the
    // faults: a throttled request draws no fault.
    api.route_layer(middleware::from_fn_with_state(Arc::clone(state), faults::inject))
        .route_layer(middleware::from_fn_with_state(Arc::clone(state), throttle::limit))
        // Added after both layers: the service description and the `$batch` envelope are never
        // faulted or throttled (each request inside a batch is, on its own).
        .route(METADATA, get(metadata::document))
        .route(batch::PATH, post(batch::handle))
}

// ---------------------------------------------------------------------------------------------
// The bearer token

/// Refuses a request without a valid bearer token with 401 (everything but `$metadata` needs one).
async fn require_token(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if needs_token(request.uri())
        && let Err(error) = authenticate(&app, request.headers())
    {
        return error.into_response();
    }
    next.run(request).await
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

// ---------------------------------------------------------------------------------------------
// Unknown routes

/// Graph's answer for a path it has no route for: the first segment it does not know.
async fn unknown_route(uri: Uri) -> ApiError {
    let mut segments = uri.path().trim_start_matches('/').split('/');
    let version = segments.next().unwrap_or("");
    let beta = match version {
        "v1.0" => false,
        "beta" => true,
        _ => return ApiError::bad_request(format!("Invalid version: {version}")),
    };
    segment_not_found(segments, beta).unwrap_or_else(|| {
        ApiError::bad_request(format!("Resource not found for the segment '{}'.", uri.path()))
    })
}

/// The error for the first of `segments` (below a version root) that names nothing served
/// there; a segment after a collection is a key, never the problem.
fn segment_not_found<'a>(segments: impl Iterator<Item = &'a str>, beta: bool) -> Option<ApiError> {
    let mut paths: Vec<&'static str> = Vec::new();
    for resource in SERVED {
        paths.push(resource.path);
        paths.extend(resource.alternate_path.map(|(_, path)| path));
    }
    if beta {
        paths.push(crate::graph::registered::SETTINGS_PATH);
    }
    let known = |segment: &str| paths.iter().any(|p| p.split('/').any(|s| s == segment));
    let collection = |segment: &str| SERVED.iter().any(|r| r.is_collection(segment));
    let mut after_collection = false;
    for segment in segments {
        if after_collection || known(segment) {
            after_collection = !after_collection && collection(segment);
            continue;
        }
        return Some(unknown_segment(segment));
    }
    None
}

/// `400 Resource not found for the segment '...'.`
pub(super) fn unknown_segment(segment: &str) -> ApiError {
    ApiError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

// ---------------------------------------------------------------------------------------------
// What the handlers share

/// A collection served from a store.
#[derive(Debug, Clone, Copy)]
pub(super) struct Served {
    /// Its entity type.
    pub(super) entity: EntityType,
    /// Its store.
    pub(super) store: fn(&AppState) -> &RwLock<Store>,
    /// Its collection paths below the version root (the first is the main one).
    pub(super) paths: &'static [&'static str],
    /// What it refuses of the query options OData's grammar allows (the registered devices
    /// take only what the live service is known to take).
    pub(super) check: Option<QueryCheck>,
}

/// Refuses query options a collection does not take; gets the request's ids and URI for the
/// error it answers.
pub(super) type QueryCheck = fn(&CollectionQuery, &RequestIds, &Uri) -> Result<(), ApiError>;

impl Served {
    pub(super) fn read<'a>(&self, app: &'a AppState) -> RwLockReadGuard<'a, Store> {
        (self.store)(app).read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn write<'a>(&self, app: &'a AppState) -> RwLockWriteGuard<'a, Store> {
        (self.store)(app).write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The collection path a request addressed, for links and contexts.
    fn collection(&self, uri: &Uri) -> &'static str {
        let path = uri.path();
        self.paths.iter().copied().find(|p| path.contains(p)).unwrap_or(self.paths[0])
    }

    /// `GET` on the collection.
    pub(super) fn list(self) -> MethodRouter<Arc<AppState>> {
        get(
            move |State(app): State<Arc<AppState>>,
                  OriginalUri(uri): OriginalUri,
                  Extension(ids): Extension<RequestIds>,
                  headers: HeaderMap| async move {
                let query = self.query(&uri, &ids)?;
                list(app, self, query, &uri, &headers).await
            },
        )
    }

    /// `GET .../$count`.
    pub(super) fn count(self) -> MethodRouter<Arc<AppState>> {
        get(
            move |State(app): State<Arc<AppState>>,
                  OriginalUri(uri): OriginalUri,
                  Extension(ids): Extension<RequestIds>| async move {
                let query = self.query(&uri, &ids)?;
                count(app, self, query).await
            },
        )
    }

    /// `GET .../{id}`.
    pub(super) fn get(self) -> MethodRouter<Arc<AppState>> {
        get(
            move |State(app): State<Arc<AppState>>,
                  OriginalUri(uri): OriginalUri,
                  Path(id): Path<String>,
                  headers: HeaderMap| async move { get_one(&app, &self, &id, &uri, &headers) },
        )
    }

    /// The request's query options, parsed for the entity at its version root and checked.
    fn query(&self, uri: &Uri, ids: &RequestIds) -> Result<CollectionQuery, ApiError> {
        let query = CollectionQuery::parse(uri.query().unwrap_or(""), &self.entity, is_beta(uri))?;
        if let Some(check) = self.check {
            check(&query, ids, uri)?;
        }
        Ok(query)
    }

    /// 404 for an id this collection does not have.
    pub(super) fn not_found(&self, id: &str) -> ApiError {
        ApiError::not_found(&self.entity.qualified(), id)
    }
}

/// Whether the request came to the beta root.
pub(super) fn is_beta(uri: &Uri) -> bool {
    uri.path().starts_with("/beta/")
}

/// `http://HOST/v1.0` (or `/beta`; `https://` with TLS), built from the request's Host so links
/// work through any name the client used.
pub(super) fn service_root(app: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let version = uri.path().trim_start_matches('/').split('/').next().unwrap_or("v1.0");
    format!("{}/{version}", app.origin(headers))
}

/// The path and query below the version root, as sent (`deviceManagement/...?$filter=...`).
pub(super) fn below_version_root(uri: &Uri) -> String {
    let path_and_query = uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.to_string());
    let trimmed = path_and_query.trim_start_matches('/');
    trimmed.split_once('/').map_or_else(String::new, |(_, rest)| rest.to_string())
}

/// `{root}/$metadata#{path}` with the selected properties and `/$entity` for a single one.
pub(super) fn context(root: &str, path: &str, select: Option<&Selection>, entity: bool) -> String {
    let mut context = format!("{root}/$metadata#{}", path.trim_start_matches('/'));
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

/// A record as Graph shows it at this version root: `@odata.type`, the key, the properties in
/// the field table's order (complex values with their own `@odata.type`), only the selected
/// top-level ones; beta-only properties on beta only, secrets never.
pub(super) fn entity_json(
    entity: &EntityType,
    beta: bool,
    mut record: Record,
    select: Option<&Selection>,
) -> Map<String, Value> {
    let shown = |name: &str| select.is_none_or(|s| s.includes(name));
    let mut out = Map::new();
    out.insert("@odata.type".into(), Value::String(entity.odata_type()));
    for name in entity.top_level(beta) {
        let Some(value) = record.remove(name) else { continue };
        if !shown(name) {
            continue;
        }
        let value = match (entity.complex_type(name), value) {
            (Some(complex), Value::Object(inner)) => {
                let mut typed = Map::new();
                typed.insert("@odata.type".into(), Value::String(complex));
                for field in entity.fields_at(beta).filter(|f| f.parent() == Some(name)) {
                    if let Some(value) = inner.get(field.name()) {
                        typed.insert(field.name().into(), value.clone());
                    }
                }
                Value::Object(typed)
            }
            (_, value) => match entity.field(name, beta) {
                Some(field) if field.kind == Kind::Secret => Value::Null,
                _ => value,
            },
        };
        out.insert(name.into(), value);
    }
    out
}

/// One record as an answer: `@odata.context ...$entity`, then the entity.
pub(super) fn entity_response(
    status: StatusCode,
    context: String,
    entity: &EntityType,
    beta: bool,
    record: Record,
    select: Option<&Selection>,
) -> Response {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    body.extend(entity_json(entity, beta, record, select));
    json_response(status, &Value::Object(body))
}

/// `GET` on a collection: one page of the query, with `@odata.count` and an absolute next link.
async fn list(
    app: Arc<AppState>,
    served: Served,
    query: CollectionQuery,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let root = service_root(&app, headers, uri);
    let beta = is_beta(uri);
    // A filtered or sorted page of a large set scans it: keep that off the async workers.
    let worker_query = query.clone();
    let page = tokio::task::spawn_blocking(move || served.read(&app).page(&worker_query, app.page_size))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    let collection = served.collection(uri);
    let select = query.select.as_ref();
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context(&root, collection, select, false)));
    if let Some(count) = page.count {
        body.insert("@odata.count".into(), Value::from(count));
    }
    let value: Vec<Value> = page
        .records
        .into_iter()
        .map(|r| Value::Object(entity_json(&served.entity, beta, r, select)))
        .collect();
    body.insert("value".into(), Value::Array(value));
    if let Some(cursor) = page.next {
        let link = format!("{root}{collection}?$skiptoken={}", query.skiptoken(cursor));
        body.insert("@odata.nextLink".into(), Value::String(link));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// `GET .../$count`: the number of matching records, as `text/plain`.
async fn count(app: Arc<AppState>, served: Served, query: CollectionQuery) -> Result<Response, ApiError> {
    let count = tokio::task::spawn_blocking(move || served.read(&app).count(&query))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(text_response(count.to_string()))
}

/// `GET .../{id}`: the bare entity.
fn get_one(
    app: &AppState,
    served: &Served,
    id: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let query = CollectionQuery::parse(uri.query().unwrap_or(""), &served.entity, is_beta(uri))?;
    let select = query.select.as_ref();
    let (record, etag) = {
        let store = served.read(app);
        let record = store.get(id, select.and_then(Selection::names)).ok_or_else(|| served.not_found(id))?;
        // The tag is of the whole record, whatever `$select` leaves out.
        let etag = app.etags.then(|| store.get(id, None).map(|r| etag_of(&r))).flatten();
        (record, etag)
    };
    let context = context(&service_root(app, headers, uri), served.collection(uri), select, true);
    let response = entity_response(StatusCode::OK, context, &served.entity, is_beta(uri), record, select);
    Ok(with_etag(response, etag.as_deref()))
}

/// Sets `ETag`, when there is one.
pub(super) fn with_etag(mut response: Response, etag: Option<&str>) -> Response {
    if let Some(value) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Sets `Location` (and `OData-EntityId`) to the created record's URL.
pub(super) fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value.clone());
        response.headers_mut().insert("odata-entityid", value);
    }
    response
}
