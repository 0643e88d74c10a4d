//! What the identity platform imitation signs, and with what: one RSA key (RS256, like the live
//! service) published in the JWKS with a self-signed certificate, JSON Web Tokens, and the
//! `client_info` blob MSAL asks for.
//!
//! The key is made the first time a token is issued and shared by every server in the process:
//! a 2048-bit RSA key takes a while to generate, and tests start many servers.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::SigningKey as _;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The key that signs every token, with what the JWKS publishes about it.
pub(super) struct SigningKey {
    key: rcgen::KeyPair,
    /// Key id: the base64url SHA-1 thumbprint of the certificate, as Entra uses (also `x5t`).
    kid: String,
    /// The self-signed certificate of the key (DER), the JWKS's `x5c`.
    certificate: Vec<u8>,
    /// Big-endian modulus and exponent, without leading zeros.
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    // The private key stays out of every output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The process's signing key (or why it could not be made), made on first use.
static KEY: OnceLock<Result<SigningKey, String>> = OnceLock::new();

/// The process's signing key, made on first use.
pub(super) fn signing_key() -> Result<&'static SigningKey, String> {
    KEY.get_or_init(SigningKey::generate).as_ref().map_err(Clone::clone)
}

/// The signing key's id, if the key was made already (a token can only be ours if it was).
pub(super) fn existing_key_id() -> Option<&'static str> {
    KEY.get().and_then(|key| key.as_ref().ok()).map(|key| key.kid.as_str())
}

impl SigningKey {
    fn generate() -> Result<SigningKey, String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .map_err(|e| format!("cannot generate the signing key: {e}"))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| format!("cannot describe the signing certificate: {e}"))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "autopilot-tui imitation token signing");
        let certificate = params
            .self_signed(&key)
            .map_err(|e| format!("cannot sign the signing certificate: {e}"))?
            .der()
            .to_vec();
        let (modulus, exponent) = rsa_public_numbers(key.public_key_raw())
            .map_err(|e| format!("cannot read the signing key's public numbers: {e}"))?;
        let thumbprint =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &certificate);
        let kid = URL_SAFE_NO_PAD.encode(thumbprint.as_ref());
        Ok(SigningKey { key, kid, certificate, modulus, exponent })
    }

    /// The key's entry in the JWKS, in the live document's fields.
    pub(super) fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.modulus),
            "e": URL_SAFE_NO_PAD.encode(&self.exponent),
            "x5c": [STANDARD.encode(&self.certificate)],
            "issuer": issuer,
        })
    }

    /// A JWT of `claims`, signed RS256.
    pub(super) fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let input = format!("{}.{}", encode_json(&header), encode_json(claims));
        let signature = self.key.sign(input.as_bytes()).map_err(|e| format!("cannot sign a token: {e}"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// `n` and `e` out of an RFC 8017 `RSAPublicKey` (`SEQUENCE { INTEGER, INTEGER }`).
fn rsa_public_numbers(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), yasna::ASN1Error> {
    let (modulus, exponent) = yasna::parse_der(der, |reader| {
        reader.read_sequence(|reader| {
            let (n, _) = reader.next().read_bigint_bytes()?;
            let (e, _) = reader.next().read_bigint_bytes()?;
            Ok((n, e))
        })
    })?;
    let trim =
        |bytes: Vec<u8>| bytes.iter().position(|&b| b != 0).map_or_else(Vec::new, |i| bytes[i..].to_vec());
    Ok((trim(modulus), trim(exponent)))
}

/// The key id in a JWT's header, if `token` is a JWT at all.
pub(super) fn key_id_of(token: &str) -> Option<String> {
    jwt_string(token, 0, "kid")
}

/// A string claim of a JWT's payload, unverified: only for telling apart the tenants of tokens
/// the Graph routes already accepted (`tid`).
pub(super) fn claim_of(token: &str, name: &str) -> Option<String> {
    jwt_string(token, 1, name)
}

/// A string property of a JWT's header (`part` 0) or payload (1).
fn jwt_string(token: &str, part: usize, name: &str) -> Option<String> {
    let encoded = token.split('.').nth(part)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let object: Value = serde_json::from_slice(&bytes).ok()?;
    object.get(name)?.as_str().map(str::to_string)
}

/// MSAL's `client_info`: base64url JSON naming the user (`uid`) and their home tenant (`utid`).
pub(super) fn client_info(object_id: &str, tenant_id: &str) -> String {
    encode_json(&json!({"uid": object_id, "utid": tenant_id}))
}

/// A pairwise subject: the same user looks different to every app, as Entra's `sub` does.
pub(super) fn pairwise_subject(object_id: &str, client_id: &str) -> String {
    let input = format!("{object_id}|{}", client_id.to_ascii_lowercase());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

// ---------------------------------------------------------------------------------------------
// What the tokens say

/// What `.default` grants here: the permission the app needs (delegated `scp` or app `roles`).
pub(super) const DEFAULT_PERMISSION: &str = "DeviceManagementServiceConfig.ReadWrite.All";
/// The resource a scope without one is for, and the audience of Graph tokens.
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Scopes about the sign-in itself rather than a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A `scope` parameter, split.
#[derive(Debug, Clone)]
pub(super) struct Scopes<'a> {
    asked: Vec<&'a str>,
}

impl<'a> Scopes<'a> {
    /// The scopes of a space-separated `scope` parameter.
    pub(super) fn parse(text: &'a str) -> Scopes<'a> {
        Scopes { asked: text.split_whitespace().collect() }
    }

    /// Whether `scope` was asked for (`openid`, `offline_access`, ...).
    pub(super) fn has(&self, scope: &str) -> bool {
        self.asked.iter().any(|s| s.eq_ignore_ascii_case(scope))
    }

    /// The scopes of a resource (not the sign-in's own), as asked.
    pub(super) fn resource_scopes(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.asked.iter().copied().filter(|s| !OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)))
    }

    /// What the answer's `scope` lists: the resource scopes asked and the OpenID ones granted
    /// (`offline_access` shows as the refresh token, not in the list, as live).
    pub(super) fn granted(&self) -> String {
        let oidc = self.asked.iter().copied().filter(|s| matches!(*s, "openid" | "profile" | "email"));
        self.resource_scopes().chain(oidc).collect::<Vec<_>>().join(" ")
    }

    /// The resource the token is for: that of the first resource scope, Graph without one.
    fn audience(&self) -> String {
        match self.resource_scopes().next().and_then(|s| s.rsplit_once('/')) {
            Some((resource, _)) if !resource.is_empty() => resource.to_string(),
            _ => GRAPH_RESOURCE.to_string(),
        }
    }

    /// The permissions by name (`User.Read`), `.default` standing for [`DEFAULT_PERMISSION`].
    fn permissions(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for scope in self.resource_scopes() {
            let name = scope.rsplit_once('/').map_or(scope, |(_, name)| name);
            let name = if name == ".default" { DEFAULT_PERMISSION } else { name };
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        if names.is_empty() {
            names.push(DEFAULT_PERMISSION.to_string());
        }
        names
    }
}

/// Who a token is issued to, and when.
pub(super) struct Issue<'a> {
    /// This server's `scheme://host`, for the issuer.
    pub(super) origin: &'a str,
    /// The app.
    pub(super) client_id: &'a str,
    /// The directory.
    pub(super) tenant: &'a super::identity::Tenant,
    /// A user signed in (device code, refresh); otherwise the app on its own.
    pub(super) delegated: bool,
    /// The app proved itself with a secret.
    pub(super) confidential: bool,
    /// Seconds since the Unix epoch.
    pub(super) now: u64,
    /// Seconds the token works.
    pub(super) lifetime: u64,
}

/// Claims of an access token for Graph, shaped like Graph's own (v1.0 tokens: `scp` for a user,
/// `roles` for an app), with a random `uti` so no two tokens are alike.
pub(super) fn access_claims(issue: &Issue<'_>, scopes: &Scopes<'_>) -> Value {
    let issuer = issue.tenant.access_issuer(issue.origin);
    let mut claims = json!({
        "aud": scopes.audience(),
        "iss": issuer,
        "iat": issue.now,
        "nbf": issue.now,
        "exp": issue.now + issue.lifetime,
        "appid": issue.client_id,
        "appidacr": if issue.confidential { "1" } else { "0" },
    });
    if issue.delegated {
        let user = issue.tenant.user_object_id();
        claims["amr"] = json!(["pwd"]);
        claims["name"] = json!(super::identity::USER_DISPLAY_NAME);
        claims["oid"] = json!(user);
        claims["scp"] = json!(scopes.permissions().join(" "));
        claims["sub"] = json!(pairwise_subject(&user, issue.client_id));
        claims["unique_name"] = json!(issue.tenant.user_name());
        claims["upn"] = json!(issue.tenant.user_name());
    } else {
        let app = super::identity::derived_guid(&format!(
            "app|{}|{}",
            issue.tenant.id,
            issue.client_id.to_ascii_lowercase()
        ));
        claims["idp"] = json!(issuer);
        claims["oid"] = json!(app);
        claims["roles"] = json!(scopes.permissions());
        claims["sub"] = json!(app);
    }
    claims["tid"] = json!(issue.tenant.id);
    claims["uti"] = json!(random_id());
    claims["ver"] = json!("1.0");
    claims
}

/// Claims of a v2.0 id token for the signed-in user.
pub(super) fn id_token_claims(issue: &Issue<'_>) -> Value {
    let user = issue.tenant.user_object_id();
    json!({
        "aud": issue.client_id,
        "iss": issue.tenant.issuer(issue.origin),
        "iat": issue.now,
        "nbf": issue.now,
        "exp": issue.now + issue.lifetime,
        "name": super::identity::USER_DISPLAY_NAME,
        "oid": user,
        "preferred_username": issue.tenant.user_name(),
        "sub": pairwise_subject(&user, issue.client_id),
        "tid": issue.tenant.id,
        "uti": random_id(),
        "ver": "2.0",
    })
}

/// 22 random base64url characters, like Entra's `uti`.
fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}
