//! The registered Autopilot devices (`graph-registered.md`): the collection with the query options
//! the live service is known to take, get, delete (refused for an enrolled device), the actions
//! `updateDeviceProperties`, `assignUserToDevice` and `unassignUserFromDevice` (bare or
//! `microsoft.graph.`-prefixed), and the live refusals of PATCH and of POST on the collection.
//!
//! `$filter`: the live service takes `contains(serialNumber,'...')` and answers `eq` with its
//! generic Intune 400 (msgraph-sdk-powershell#1260, docs-contrib#3693); a hyphenated GUID inside
//! `contains` was refused too (msgraph-sdk-powershell#2464). Nothing else is verified, so
//! everything else gets the same 400: a client tried here will not lean on what the live service
//! may refuse. `$orderby` and `$skip` are refused for the same reason.

use super::{Served, unknown_segment};
use crate::graph::registered::{REGISTERED, TYPE_NAMES};
use crate::graph::resource::{Field, Kind};
use crate::server::AppState;
use crate::server::conventions::{ApiError, RequestIds, check_if_match};
use crate::server::odata::{CollectionQuery, Filter, StringFn};
use crate::server::schema::{EntityType, action_body, checked_parameters};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use std::sync::Arc;

const DEVICES: &str = REGISTERED.path;
/// Where the live service's messages say the registered devices live.
const SERVICE_PATH: &str = "/DeviceEnrollmentFE_2511/StatelessDeviceEnrollmentFEService/deviceManagement/windowsAutopilotDeviceIdentities";
/// The Intune account the imitated messages name (the live ones name the tenant's).
const ACCOUNT_ID: &str = "9c4f3a5e-0d7b-4e51-8f26-3b1a7c0e4d92";
/// Intune's generic failure text, which is all the live service says about an unsupported filter.
const AN_ERROR: &str = "An error has occurred";

/// The registered devices' collection.
pub(super) const SERVED: Served = Served {
    entity: EntityType::of(&REGISTERED, &TYPE_NAMES),
    store: |app| &app.registered,
    paths: &[DEVICES],
    check: Some(check_query),
};

/// The parameters of `assignUserToDevice`, by field.
const ASSIGN_USER: &[&str] = &["userPrincipalName", "addressableUserName"];
/// The actions bound to a device.
pub(super) const ACTIONS: [&str; 3] =
    ["updateDeviceProperties", "assignUserToDevice", "unassignUserFromDevice"];

/// The parameters of an action at a version root (`None`: no such action).
pub(super) fn action_parameters(name: &str, beta: bool) -> Option<Vec<&'static Field>> {
    let entity = &SERVED.entity;
    Some(match name {
        // What the form edits is what the action takes.
        "updateDeviceProperties" => entity.fields_at(beta).filter(|f| f.editable).collect(),
        "assignUserToDevice" => ASSIGN_USER.iter().filter_map(|p| entity.field(p, beta)).collect(),
        "unassignUserFromDevice" => Vec::new(),
        _ => return None,
    })
}

/// The routes of this resource, below a version root.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(DEVICES, SERVED.list().post(create))
        .route(&format!("{DEVICES}/$count"), SERVED.count())
        .route(&format!("{DEVICES}/{{id}}"), SERVED.get().patch(patch).delete(delete))
        .route(&format!("{DEVICES}/{{id}}/{{action}}"), post(action))
}

/// The query options this collection takes (see the module's note), checked after parsing.
fn check_query(query: &CollectionQuery, ids: &RequestIds, uri: &Uri) -> Result<(), ApiError> {
    for option in ["$orderby", "$skip"] {
        if query.sent(option) {
            return Err(ApiError::bad_request(format!(
                "The query parameter '{option}' is not supported on this resource."
            )));
        }
    }
    let Some(filter) = &query.filter else { return Ok(()) };
    let accepted = matches!(
        filter,
        Filter::Call(StringFn::Contains, field, needle)
            if field.path == "serialNumber" && !is_hyphenated_guid(needle)
    );
    if accepted {
        return Ok(());
    }
    Err(ApiError::intune(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        AN_ERROR,
        ids,
        &super::below_version_root(uri),
    ))
}

fn is_hyphenated_guid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::parse_str(text).is_ok()
}

/// PATCH fails live before the service looks at the id or the body
/// (microsoft-graph-docs#10749, msgraph-sdk-powershell#892); changes go through the actions.
async fn patch(Path(id): Path<String>) -> ApiError {
    ApiError::no_route("~/singleton/navigation/key", "PATCH", &format!("{SERVICE_PATH}('{id}')"))
}

/// POST on the collection fails live (docs-contrib#98): devices are registered by importing them.
async fn create() -> ApiError {
    ApiError::no_route("~/singleton/navigation", "POST", SERVICE_PATH)
}

/// DELETE: 204; a device still enrolled in Intune cannot be deleted ("You can delete Windows
/// Autopilot devices that aren't enrolled into Intune", memdocs). The live error for it is not
/// known; this one is Intune's shape with a plausible text. An unknown id gets the 400 the live
/// service was seen to answer (microsoft-graph-docs#7128), not a 404.
async fn delete(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Extension(ids): Extension<RequestIds>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let at = super::below_version_root(&uri);
    let mut store = SERVED.write(&app);
    let Some(device) = store.get(&id, Some(&["enrollmentState"])) else {
        let text = format!("Cannot find device with ztd Id {id} and accountId {ACCOUNT_ID} to delete");
        return Err(ApiError::intune(StatusCode::BAD_REQUEST, "BadRequest", &text, &ids, &at));
    };
    if device.get("enrollmentState").and_then(Value::as_str) == Some("enrolled") {
        let text = format!(
            "Device with ztd Id {id} is enrolled in Intune and cannot be deleted from Windows Autopilot; \
             delete or retire the Intune device first"
        );
        return Err(ApiError::intune(StatusCode::BAD_REQUEST, "BadRequest", &text, &ids, &at));
    }
    store.delete(&id).map_err(|_| SERVED.not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The actions bound to a device; 204 without a body. The parameters are type-checked like
/// Graph's, a beta-only one is unknown on v1.0.
async fn action(
    State(app): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    Extension(ids): Extension<RequestIds>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let beta = super::is_beta(&uri);
    let name = action.strip_prefix("microsoft.graph.").unwrap_or(&action);
    let entity = &SERVED.entity;
    let Some(parameters) = action_parameters(name, beta) else { return Err(unknown_segment(&action)) };
    let body = action_body(&headers, &body)?;
    let mut changes = checked_parameters(entity, name, &parameters, &body)?;
    match name {
        "assignUserToDevice" => {
            let upn = changes.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
            if upn.trim().is_empty() {
                let text = "A user principal name is required to assign a user to the device";
                return Err(ApiError::intune(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    text,
                    &ids,
                    &super::below_version_root(&uri),
                ));
            }
            changes.entry("addressableUserName").or_insert_with(|| Value::String(String::new()));
        }
        "unassignUserFromDevice" => {
            for name in ASSIGN_USER {
                changes.insert((*name).into(), Value::String(String::new()));
            }
        }
        _ => {}
    }
    let mut store = SERVED.write(&app);
    let mut device = store.get(&id, None).ok_or_else(|| SERVED.not_found(&id))?;
    check_if_match(app.etags, &headers, &device)?;
    for (name, value) in changes {
        // The imitation keeps no secret: a device account password is accepted and dropped.
        if entity.field(&name, beta).is_some_and(|f| f.kind == Kind::Secret) {
            continue;
        }
        device.insert(name, value);
    }
    store.replace(device).map_err(|_| SERVED.not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
