//! The imported identities (`graph-autopilot.md` section 2): the collection and its upload twin
//! path, get, PATCH (the update page's behaviour; `--strict` gives the live refusal), delete,
//! create and the `import` action. What the import and create put in the queue is processed by
//! `server::imports`.

use super::{Served, context, entity_json, entity_response, is_beta, service_root, with_etag, with_location};
use crate::graph::imported::{IMPORTED, TYPE_NAMES};
use crate::graph::patch::merge;
use crate::graph::resource::Record;
use crate::server::AppState;
use crate::server::conventions::{
    ApiError, RequestIds, check_if_match, etag_of, json_response, minimal_response, prefers_minimal_return,
};
use crate::server::imports;
use crate::server::schema::{EntityType, KeyRule, checked_entity, json_object, unknown_parameter};
use crate::server::store::{Store, StoreError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const DEVICES: &str = IMPORTED.path;
const UPLOAD: &str = match IMPORTED.alternate_path {
    Some((_, path)) => path,
    None => IMPORTED.path,
};
/// The parameter of the `import` action.
const IMPORT_LIST: &str = "importedWindowsAutopilotDeviceIdentities";

/// The imported identities' collection.
pub(super) const SERVED: Served = Served {
    entity: EntityType::of(&IMPORTED, &TYPE_NAMES),
    store: |app| &app.imported,
    paths: &[DEVICES, UPLOAD],
    // Every option and every filter the OData grammar has (the update page's behaviour).
    check: None,
};

/// The routes of this resource, below a version root.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(DEVICES, SERVED.list().post(create))
        .route(&format!("{DEVICES}/$count"), SERVED.count())
        .route(&format!("{DEVICES}/import"), post(import))
        .route(&format!("{DEVICES}/microsoft.graph.import"), post(import))
        .route(&format!("{DEVICES}/{{id}}"), SERVED.get().patch(patch).delete(delete))
        .route(UPLOAD, SERVED.list())
        .route(&format!("{UPLOAD}/{{id}}"), SERVED.get().patch(patch).delete(delete))
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
        return Err(ApiError::no_route(
            "~/singleton/navigation/key",
            "PATCH",
            &format!(
                "/DeviceManagement_2511/StatelessDeviceManagementFEService/deviceManagement/\
                 importedWindowsAutopilotDeviceIdentities('{id}')"
            ),
        ));
    }
    let beta = is_beta(&uri);
    let properties = json_object(&headers, &body)?;
    let changes = checked_entity(&SERVED.entity, beta, &properties, KeyRule::Unchanged(&id))?;
    let updated = {
        let mut store = SERVED.write(&app);
        let mut record = store.get(&id, None).ok_or_else(|| SERVED.not_found(&id))?;
        check_if_match(app.etags, &headers, &record)?;
        merge(&mut record, &changes);
        // A complex value replaced by a partial one answers its other properties as Graph would.
        SERVED.entity.complete(&mut record);
        store.replace(record.clone()).map_err(|_| SERVED.not_found(&id))?;
        record
    };
    if prefers_minimal_return(&headers) {
        return Ok(minimal_response());
    }
    let context = context(&service_root(&app, &headers, &uri), SERVED.collection(&uri), None, true);
    let etag = app.etags.then(|| etag_of(&updated));
    Ok(with_etag(
        entity_response(StatusCode::OK, context, &SERVED.entity, beta, updated, None),
        etag.as_deref(),
    ))
}

async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    SERVED.write(&app).delete(&id).map_err(|_| SERVED.not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let beta = is_beta(&uri);
    let properties = json_object(&headers, &body)?;
    let checked = checked_entity(&SERVED.entity, beta, &properties, KeyRule::Keep)?;
    // A record that names its own state is the client's (a test staging a failed import, say);
    // any other is a new import for the service to process.
    let processed = !checked.contains_key("state");
    let record = {
        let mut queue = imports::lock(&app);
        let mut store = SERVED.write(&app);
        let record = new_record(checked, &store);
        let id = record["id"].as_str().unwrap_or_default().to_string();
        store.insert(record.clone()).map_err(|e| match e {
            StoreError::Duplicate => ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!("An entity with the key '{id}' already exists."),
            ),
            StoreError::NotFound => ApiError::internal("insert reported not found"),
        })?;
        if processed {
            queue.push(id, app.clock.now(), false);
        }
        record
    };
    let root = service_root(&app, &headers, &uri);
    let location = format!("{root}{DEVICES}/{}", record["id"].as_str().unwrap_or_default());
    let response = if prefers_minimal_return(&headers) {
        minimal_response()
    } else {
        let context = context(&root, DEVICES, None, true);
        entity_response(StatusCode::CREATED, context, &SERVED.entity, beta, record, None)
    };
    Ok(with_location(response, &location))
}

/// The `import` action: every entry checked like Graph (types, `Edm.Binary`) and for its serial
/// before anything is stored; the entries stored as sent (their `importId` included, `state`
/// left to the service) and queued; answered as Graph does, `200 {"value": [...]}` in the order
/// sent, each `unknown`.
async fn import(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let beta = is_beta(&uri);
    let parameters = json_object(&headers, &body)?;
    if let Some(other) = parameters.keys().find(|k| *k != IMPORT_LIST && !k.starts_with('@')) {
        return Err(unknown_parameter(other, "import"));
    }
    let Some(Value::Array(entries)) = parameters.get(IMPORT_LIST) else {
        return Err(ApiError::bad_request(format!(
            "The parameter '{IMPORT_LIST}' must be an array of devices."
        )));
    };
    // Check everything before storing anything: a rejected import changes nothing.
    let mut checked = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(properties) = entry else {
            return Err(ApiError::bad_request(format!(
                "Each entry of '{IMPORT_LIST}' must be a JSON object."
            )));
        };
        let mut entry = checked_entity(&SERVED.entity, beta, properties, KeyRule::Drop)?;
        if entry.get("serialNumber").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            let text =
                format!("A serial number is required to import a device ({IMPORT_LIST}[{index}] has none)");
            let at = super::below_version_root(&uri);
            return Err(ApiError::intune(StatusCode::BAD_REQUEST, "BadRequest", &text, &ids, &at));
        }
        // A fresh import has not been processed by the Autopilot service yet.
        entry.shift_remove("state");
        checked.push(entry);
    }
    // Hashes sent more than once in this call (compared as bytes: the checked text is canonical).
    let mut sent: HashMap<&str, usize> = HashMap::new();
    for hash in checked.iter().filter_map(hash_of) {
        *sent.entry(hash).or_default() += 1;
    }
    let duplicated: Vec<bool> =
        checked.iter().map(|e| hash_of(e).is_some_and(|h| sent.get(h).is_some_and(|n| *n > 1))).collect();
    let imported = {
        let mut queue = imports::lock(&app);
        let mut store = SERVED.write(&app);
        let created = app.clock.now();
        let mut imported = Vec::with_capacity(checked.len());
        for (properties, duplicate) in checked.into_iter().zip(duplicated) {
            let record = new_record(properties, &store);
            store.insert(record.clone()).map_err(|_| ApiError::internal("fresh id already in use"))?;
            queue.push(record["id"].as_str().unwrap_or_default().to_string(), created, duplicate);
            imported.push(record);
        }
        imported
    };
    let root = service_root(&app, &headers, &uri);
    let value: Vec<Value> =
        imported.into_iter().map(|r| Value::Object(entity_json(&SERVED.entity, beta, r, None))).collect();
    let body = json!({
        "@odata.context": format!("{root}/$metadata#Collection({})", SERVED.entity.qualified()),
        "value": value,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// A record's hash, when it has one.
fn hash_of(record: &Record) -> Option<&str> {
    record.get("hardwareIdentifier").and_then(Value::as_str).filter(|h| !h.is_empty())
}

/// A new record from checked properties: the sent id when there is one, else a fresh one; what
/// was not sent as Graph would answer it (`state` as a new import's).
fn new_record(properties: Record, store: &Store) -> Record {
    let mut record = Record::new();
    let sent_id =
        properties.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_string);
    record.insert("id".into(), Value::String(sent_id.unwrap_or_else(|| store.fresh_id())));
    for (key, value) in properties {
        if key != "id" {
            record.insert(key, value);
        }
    }
    SERVED.entity.complete(&mut record);
    record
}
