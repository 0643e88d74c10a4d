//! The identity platform's discovery documents, imitated: the OpenID configuration of a tenant,
//! its signing keys (JWKS), the instance discovery MSAL asks before anything else, and who a
//! `{tenant}` path segment names (tenant id, issuer, the imitation's one user).

use super::AppState;
use super::identity::{self, OAuthError};
use super::tokens;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (and without `v2.0`): the live
/// document's fields, every endpoint on this server.
pub(super) async fn openid_configuration(
    State(app): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = app.origin(&headers);
    let tenant = identity::tenant(&app, &tenant);
    let endpoint = |path: &str| format!("{origin}/{}/{path}", tenant.endpoint_segment());
    let host = origin.split_once("://").map_or(origin.as_str(), |(_, host)| host);
    let document = json!({
        "token_endpoint": endpoint("oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": endpoint("discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "grant_types_supported": [
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token"
        ],
        "issuer": tenant.metadata_issuer(&origin),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": endpoint("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": endpoint("oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": endpoint("oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "tenant_region_scope": if tenant.is_multi() { Value::Null } else { json!("WW") },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        // Graph is served here too.
        "msgraph_host": host,
    });
    public_json(&document)
}

/// `GET /{tenant}/discovery/v2.0/keys` (and `/discovery/keys`): the key that signs tokens.
pub(super) async fn keys(
    State(app): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let key = tokens::signing_key().map_err(OAuthError::server)?;
    let tenant = identity::tenant(&app, &tenant);
    let issuer = tenant.metadata_issuer(&app.origin(&headers));
    Ok(public_json(&json!({ "keys": [key.jwk(&issuer)] })))
}

/// `GET /{tenant}/discovery/instance?authorization_endpoint=...`: MSAL's instance discovery.
/// This server knows itself only; an authorization endpoint elsewhere is an unknown instance.
pub(super) async fn instance_discovery(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let origin = app.origin(&headers);
    let host = origin.split_once("://").map_or(origin.as_str(), |(_, host)| host).to_string();
    let tenant = match query.get("authorization_endpoint") {
        None => "common".to_string(),
        Some(endpoint) => {
            let url = url::Url::parse(endpoint).ok();
            let named_host = url.as_ref().and_then(|u| {
                u.host_str().map(|h| u.port().map_or_else(|| h.to_string(), |p| format!("{h}:{p}")))
            });
            if named_host.as_deref().is_none_or(|h| !h.eq_ignore_ascii_case(&host)) {
                return Err(OAuthError::new("invalid_instance", 50_049, "Unknown or invalid instance."));
            }
            url.as_ref()
                .and_then(|u| u.path_segments()?.find(|s| !s.is_empty()).map(str::to_string))
                .unwrap_or_else(|| "common".to_string())
        }
    };
    let answer = json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }],
    });
    Ok(public_json(&answer))
}

/// A JSON document anyone may read and cache, with the headers the live service sends.
fn public_json(body: &Value) -> Response {
    let mut response = (StatusCode::OK, serde_json::to_vec(body).unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400, private"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
