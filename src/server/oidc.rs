//! The identity platform's discovery documents, imitated: the OpenID configuration of a tenant,
//! its signing keys (JWKS), the instance discovery MSAL asks before anything else, and who a
//! `{tenant}` path segment names (tenant id, issuer, the imitation's one user).

use super::AppState;
use super::tokens;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Tenant names that stand for "whichever tenant the user belongs to".
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];
/// The domain of the imitation's home tenant (the one behind `common` and tenant GUIDs).
const HOME_DOMAIN: &str = "imitation.onmicrosoft.com";
/// The one user who signs in with the device code flow.
pub(super) const USER_DISPLAY_NAME: &str = "Imitation Admin";

/// The directory a `{tenant}` path segment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tenant {
    /// The segment as the client sent it (`contoso.onmicrosoft.com`, a GUID, `common`).
    segment: String,
    /// The tenant id tokens carry (`tid`): the GUID itself, or one derived from the domain, so
    /// the same name always gives the same id.
    pub(super) id: String,
    /// `common`, `organizations` or `consumers`.
    multi: bool,
    /// The domain, when the segment is one or the tenant id was seen with one before.
    pub(super) domain: Option<String>,
}

impl Tenant {
    /// Who `segment` names.
    pub(super) fn from_segment(segment: &str) -> Tenant {
        let lower = segment.to_ascii_lowercase();
        let multi = MULTI_TENANT.contains(&lower.as_str());
        let (id, domain) = match uuid::Uuid::parse_str(segment) {
            Ok(id) => (id.hyphenated().to_string(), None),
            Err(_) if multi => (derived_guid(HOME_DOMAIN), None),
            Err(_) => (derived_guid(&lower), Some(lower)),
        };
        Tenant { segment: segment.to_string(), id, multi, domain }
    }

    /// The segment the endpoints in its metadata use: the tenant id, as the live service
    /// answers for a domain, or `common` and friends as they are.
    fn endpoint_segment(&self) -> &str {
        if self.multi { &self.segment } else { &self.id }
    }

    /// The `iss` of the v2.0 tokens issued for this tenant.
    pub(super) fn issuer(&self, origin: &str) -> String {
        format!("{origin}/{}/v2.0", self.id)
    }

    /// The `iss` of the (v1-shaped, like Graph's) access tokens.
    pub(super) fn access_issuer(&self, origin: &str) -> String {
        format!("{origin}/{}/", self.id)
    }

    /// The issuer the metadata names: multi-tenant documents carry a placeholder, as live.
    fn metadata_issuer(&self, origin: &str) -> String {
        if self.multi { format!("{origin}/{{tenantid}}/v2.0") } else { self.issuer(origin) }
    }

    /// The signed-in user's object id in this tenant.
    pub(super) fn user_object_id(&self) -> String {
        derived_guid(&format!("user|{}", self.id))
    }

    /// The signed-in user's name: `admin@` the tenant's domain.
    pub(super) fn user_name(&self) -> String {
        format!("admin@{}", self.domain.as_deref().unwrap_or(HOME_DOMAIN))
    }
}

/// A stable GUID-shaped id for a name (the first 16 bytes of its SHA-256, as a version 4 UUID).
pub(super) fn derived_guid(name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (and without `v2.0`): the live
/// document's fields, every endpoint on this server.
pub(super) async fn openid_configuration(
    State(app): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = app.origin(&headers);
    let tenant = super::oauth::tenant(&app, &tenant);
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
        "tenant_region_scope": if tenant.multi { Value::Null } else { json!("WW") },
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
) -> Result<Response, super::oauth::OAuthError> {
    let key = tokens::signing_key().map_err(super::oauth::OAuthError::server)?;
    let tenant = Tenant::from_segment(&tenant);
    let issuer = tenant.metadata_issuer(&app.origin(&headers));
    Ok(public_json(&json!({ "keys": [key.jwk(&issuer)] })))
}

/// `GET /{tenant}/discovery/instance?authorization_endpoint=...`: MSAL's instance discovery.
/// This server knows itself only; an authorization endpoint elsewhere is an unknown instance.
pub(super) async fn instance_discovery(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, super::oauth::OAuthError> {
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
                return Err(super::oauth::OAuthError::new(
                    "invalid_instance",
                    50_049,
                    "Unknown or invalid instance.",
                ));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tenants_map_to_stable_ids() {
        let contoso = Tenant::from_segment("Contoso.onmicrosoft.com");
        assert_eq!(contoso.id, Tenant::from_segment("contoso.onmicrosoft.com").id);
        assert_ne!(contoso.id, Tenant::from_segment("fabrikam.onmicrosoft.com").id);
        assert!(uuid::Uuid::parse_str(&contoso.id).is_ok());
        assert_eq!(contoso.endpoint_segment(), contoso.id);
        assert_eq!(contoso.user_name(), "admin@contoso.onmicrosoft.com");
        let guid = Tenant::from_segment("72F988BF-86F1-41AF-91AB-2D7CD011DB47");
        assert_eq!(guid.id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(guid.domain, None);
        let common = Tenant::from_segment("common");
        assert_eq!(common.endpoint_segment(), "common");
        assert_eq!(common.metadata_issuer("https://h"), "https://h/{tenantid}/v2.0");
        assert_eq!(common.issuer("https://h"), format!("https://h/{}/v2.0", common.id));
        assert_eq!(common.user_name(), "admin@imitation.onmicrosoft.com");
    }
}
