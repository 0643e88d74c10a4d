//! Who the identity platform imitation is: the tenant a `{tenant}` path segment names (its id,
//! issuer, its one user), the domains seen for tenant ids, and the platform's error answer.
//! Shared by the token endpoints (`oauth`), the discovery documents (`oidc`) and the tokens.

use super::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

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

    /// Whether the segment is `common`, `organizations` or `consumers`.
    pub(super) fn is_multi(&self) -> bool {
        self.multi
    }

    /// The segment the endpoints in its metadata use: the tenant id, as the live service
    /// answers for a domain, or `common` and friends as they are.
    pub(super) fn endpoint_segment(&self) -> &str {
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
    pub(super) fn metadata_issuer(&self, origin: &str) -> String {
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

/// The domains seen for tenant ids: MSAL signs in by domain, then calls endpoints by the
/// tenant id the metadata names, and the user's name keeps the domain.
#[derive(Debug, Default)]
pub(super) struct Tenants {
    domains: HashMap<String, String>,
}

impl Tenants {
    /// Who `segment` names, with the domain it was seen with before when it is a tenant id.
    pub(super) fn resolve(&mut self, segment: &str) -> Tenant {
        let mut tenant = Tenant::from_segment(segment);
        match &tenant.domain {
            Some(domain) => {
                self.domains.entry(tenant.id.clone()).or_insert_with(|| domain.clone());
            }
            None => tenant.domain = self.domains.get(&tenant.id).cloned(),
        }
        tenant
    }
}

/// Who `segment` names on this server.
pub(super) fn tenant(app: &AppState, segment: &str) -> Tenant {
    app.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).resolve(segment)
}

/// An Entra ID token endpoint error.
#[derive(Debug)]
pub(super) struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) code: u32,
    pub(super) description: String,
}

impl OAuthError {
    /// A 400 with this OAuth `error`, AADSTS code and description.
    pub(super) fn new(error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, code, description: description.into() }
    }

    pub(super) fn missing(parameter: &str) -> OAuthError {
        OAuthError::new(
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// The imitation itself failed (it could not make its signing key, say).
    pub(super) fn server(problem: String) -> OAuthError {
        tracing::error!(%problem, "the identity platform imitation failed");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            code: 90_033,
            description: "A transient error has occurred. Please try again.".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(std::sync::Arc::new(self));
        response
    }
}

#[cfg(test)]
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

    #[test]
    fn a_tenant_id_keeps_the_domain_it_was_seen_with() {
        let mut tenants = Tenants::default();
        let by_domain = tenants.resolve("contoso.onmicrosoft.com");
        let by_id = tenants.resolve(&by_domain.id);
        assert_eq!(by_id.user_name(), "admin@contoso.onmicrosoft.com");
        let unseen = tenants.resolve("72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(unseen.user_name(), "admin@imitation.onmicrosoft.com");
    }
}
