//! The identity platform imitation as Microsoft's auth libraries see it, over real HTTP(S) on
//! 127.0.0.1: `serve --tls`, the OpenID metadata and JWKS, instance discovery, the identity
//! error shape, id tokens, `client_info`, granted scopes, refresh rotation, HTTP Basic client
//! authentication; and the app's own sign-in over TLS, trusting the printed certificate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::cli::ConnectionArgs;
use autopilot_tui::config::Settings;
use autopilot_tui::connect::{ConnectError, SignInProgress, connect};
use autopilot_tui::graph::auth::{AuthError, Secret};
use autopilot_tui::graph::client::ListQuery;
use autopilot_tui::server::oauth::{ClientSecretSource, OAuthConfig};
use autopilot_tui::server::tls::TlsOptions;
use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const TENANT: &str = "contoso.onmicrosoft.com";
const SECRET: &str = "cs~Right:Secret/+8Q";
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn serve(tls: bool, oauth: OAuthConfig) -> RunningServer {
    server::start(ServeOptions {
        data: DataSet::Generated { devices: 30, seed: 5 },
        page_size: 10,
        oauth,
        tls: tls.then(TlsOptions::default),
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn with_secret() -> OAuthConfig {
    OAuthConfig {
        client_secret: Some(ClientSecretSource::Value(Secret::new(SECRET))),
        poll_interval: Duration::from_secs(1),
        ..OAuthConfig::default()
    }
}

/// A client for `server` that trusts its certificate (and nothing else) when it has one.
fn http(server: &RunningServer) -> reqwest::Client {
    let builder = reqwest::Client::builder();
    let builder = match server.certificate_pem() {
        Some(pem) => builder.tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()]),
        None => builder,
    };
    builder.build().unwrap()
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.unwrap()
}

/// Posts a form to the token endpoint of `TENANT`; the status, `x-ms-request-id` and body.
async fn post_form(
    http: &reqwest::Client,
    server: &RunningServer,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Value) {
    let url = format!("{}/{TENANT}/oauth2/v2.0/{endpoint}", server.authority_base());
    let response = http.post(url).form(form).send().await.unwrap();
    let status = response.status();
    let request_id = response.headers()["x-ms-request-id"].to_str().unwrap().to_string();
    (status, request_id, response.json().await.unwrap())
}

/// A device code sign-in by hand, approved at once; the token answer.
async fn device_code_tokens(
    http: &reqwest::Client,
    server: &RunningServer,
    scope: &str,
    client_info: bool,
) -> Value {
    let (_, _, code) =
        post_form(http, server, "devicecode", &[("client_id", CLIENT_ID), ("scope", scope)]).await;
    server.approve_device_code(code["user_code"].as_str().unwrap()).unwrap();
    let device_code = code["device_code"].as_str().unwrap();
    let mut form =
        vec![("grant_type", DEVICE_CODE_GRANT), ("client_id", CLIENT_ID), ("device_code", device_code)];
    if client_info {
        form.push(("client_info", "1"));
    }
    let (status, _, answer) = post_form(http, server, "token", &form).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The header and claims of a JWT whose RS256 signature verifies with a key of `jwks`.
fn verified(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let header = decode_part(parts[0]);
    assert_eq!(header["alg"], "RS256");
    let key =
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("kid in the JWKS");
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    aws_lc_rs::signature::RsaPublicKeyComponents { n: &n[..], e: &e[..] }
        .verify(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
        .expect("the signature verifies with the published key");
    (header, decode_part(parts[1]))
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn metadata_names_every_endpoint_on_this_server_over_https() {
    let server = serve(true, with_secret()).await;
    let http = http(&server);
    let origin = server.authority_base();
    assert!(origin.starts_with("https://127.0.0.1:"), "{origin}");
    let v2 = get_json(&http, &format!("{origin}/{TENANT}/v2.0/.well-known/openid-configuration")).await;
    let v1_path = get_json(&http, &format!("{origin}/{TENANT}/.well-known/openid-configuration")).await;
    assert_eq!(v2, v1_path);

    // A domain's document names its tenant id, as the live one does.
    let issuer = v2["issuer"].as_str().unwrap();
    let tenant_id = issuer.strip_prefix(&format!("{origin}/")).unwrap().strip_suffix("/v2.0").unwrap();
    assert!(uuid::Uuid::parse_str(tenant_id).is_ok(), "{issuer}");
    for (field, path) in [
        ("token_endpoint", "oauth2/v2.0/token"),
        ("authorization_endpoint", "oauth2/v2.0/authorize"),
        ("device_authorization_endpoint", "oauth2/v2.0/devicecode"),
        ("end_session_endpoint", "oauth2/v2.0/logout"),
        ("jwks_uri", "discovery/v2.0/keys"),
    ] {
        assert_eq!(v2[field], format!("{origin}/{tenant_id}/{path}"), "{field}");
    }
    for (field, wanted) in [
        ("token_endpoint_auth_methods_supported", json!(["client_secret_post", "client_secret_basic"])),
        ("id_token_signing_alg_values_supported", json!(["RS256"])),
        ("scopes_supported", json!(["openid", "profile", "email", "offline_access"])),
        ("grant_types_supported", json!(["client_credentials", DEVICE_CODE_GRANT, "refresh_token"])),
        ("response_types_supported", json!(["code", "id_token", "code id_token", "id_token token"])),
        ("subject_types_supported", json!(["pairwise"])),
    ] {
        assert_eq!(v2[field], wanted, "{field}");
    }
    for claim in ["iss", "sub", "aud", "exp", "iat", "preferred_username", "name", "tid", "ver"] {
        assert!(v2["claims_supported"].as_array().unwrap().contains(&json!(claim)), "{claim}");
    }
    // Every URL it hands out is https and on this server.
    let text = v2.to_string();
    assert!(!text.contains("http://") && !text.contains("microsoftonline.com/"), "{text}");

    // The JWKS at the URL it names, with the live document's fields.
    let jwks = get_json(&http, v2["jwks_uri"].as_str().unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["use"].as_str(), key["e"].as_str()),
        (Some("RSA"), Some("sig"), Some("AQAB"))
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len(), 256, "2048-bit modulus");
    assert_eq!(key["kid"], key["x5t"]);
    let certificate = STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
    let thumbprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &certificate);
    assert_eq!(
        key["x5t"],
        URL_SAFE_NO_PAD.encode(thumbprint.as_ref()),
        "x5t is the certificate's thumbprint"
    );
    assert_eq!(key["issuer"], issuer);

    // The multi-tenant document keeps `common` in its endpoints and a placeholder issuer.
    let common = get_json(&http, &format!("{origin}/common/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(common["issuer"], format!("{origin}/{{tenantid}}/v2.0"));
    assert_eq!(common["token_endpoint"], format!("{origin}/common/oauth2/v2.0/token"));

    // The token endpoint it names works.
    let token = http
        .post(v2["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", GRAPH_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn instance_discovery_answers_what_msal_asks() {
    let server = serve(true, with_secret()).await;
    let http = http(&server);
    let origin = server.authority_base();
    let host = origin.trim_start_matches("https://");
    let discovery = |authorization_endpoint: String| {
        let url = url::Url::parse_with_params(
            &format!("{origin}/common/discovery/instance"),
            [("api-version", "1.0"), ("authorization_endpoint", authorization_endpoint.as_str())],
        )
        .unwrap();
        http.get(url).send()
    };
    let answer: Value =
        discovery(format!("{origin}/{TENANT}/oauth2/v2.0/authorize")).await.unwrap().json().await.unwrap();
    let endpoint = answer["tenant_discovery_endpoint"].as_str().unwrap();
    assert_eq!(endpoint, format!("{origin}/{TENANT}/v2.0/.well-known/openid-configuration"));
    assert_eq!(
        answer["metadata"],
        json!([{"preferred_network": host, "preferred_cache": host, "aliases": [host]}])
    );
    assert!(get_json(&http, endpoint).await["token_endpoint"].is_string());
    // Another host is an instance this server does not know, in the live words.
    let foreign = discovery("https://login.example.com/x/oauth2/v2.0/authorize".into()).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    let foreign: Value = foreign.json().await.unwrap();
    assert_eq!(foreign["error"], "invalid_instance");
    assert!(foreign["error_description"].as_str().unwrap().starts_with("AADSTS50049: "));
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_identity_paths_answer_in_the_identity_shape() {
    let server = serve(false, with_secret()).await;
    let http = http(&server);
    let origin = server.authority_base();
    for path in [
        "/contoso/oauth2/v2.0/nope",
        "/contoso/oauth2/authorize",
        "/contoso/v2.0/.well-known/other",
        "/common/discovery/v9/keys",
        "/contoso/.well-known/anything",
        "/_imitation/nope",
    ] {
        let response = http.get(format!("{origin}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let request_id = response.headers()["x-ms-request-id"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
        assert_eq!(body["error_codes"], json!([90023]), "{path}");
        assert_eq!(body["trace_id"], request_id, "{path}");
        assert!(body.get("code").is_none() && body.get("innerError").is_none(), "not Graph's shape: {body}");
    }
    let authorize = http.get(format!("{origin}/{TENANT}/oauth2/v2.0/authorize")).send().await.unwrap();
    assert_eq!(authorize.status(), StatusCode::BAD_REQUEST);
    assert_eq!(authorize.json::<Value>().await.unwrap()["error"], "unsupported_response_type");
    // Graph's own unknown paths keep Graph's shape.
    let graph: Value =
        http.get(format!("{origin}/v1.0/nope")).bearer_auth("t").send().await.unwrap().json().await.unwrap();
    assert_eq!(graph["error"]["code"], "BadRequest");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Token shapes

#[tokio::test]
async fn device_code_gives_id_token_client_info_and_granted_scope() {
    let server = serve(true, with_secret()).await;
    let http = http(&server);
    let origin = server.authority_base();
    let metadata = get_json(&http, &format!("{origin}/{TENANT}/v2.0/.well-known/openid-configuration")).await;
    let jwks = get_json(&http, metadata["jwks_uri"].as_str().unwrap()).await;

    // What MSAL asks for: the resource, offline_access, openid, profile; client_info=1.
    let scope = format!("{GRAPH_DEFAULT} offline_access openid profile");
    let answer = device_code_tokens(&http, &server, &scope, true).await;
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], format!("{GRAPH_DEFAULT} openid profile"), "what was granted");
    assert!(answer["refresh_token"].is_string());
    assert_eq!(answer["expires_in"], 3600);

    let (_, id) = verified(answer["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id["iss"], metadata["issuer"]);
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["ver"], "2.0");
    assert_eq!(id["preferred_username"], "admin@contoso.onmicrosoft.com");
    assert_eq!(id["name"], "Imitation Admin");
    let tenant_id = id["tid"].as_str().unwrap();
    assert!(metadata["issuer"].as_str().unwrap().contains(tenant_id));
    let oid = id["oid"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(oid).is_ok());
    assert!(id["sub"].as_str().is_some_and(|s| s.len() >= 43 && s != oid), "a pairwise subject");
    let (iat, nbf, exp) =
        (id["iat"].as_u64().unwrap(), id["nbf"].as_u64().unwrap(), id["exp"].as_u64().unwrap());
    assert!(iat <= nbf && exp == iat + 3600, "{id}");

    let client_info = decode_part(answer["client_info"].as_str().unwrap());
    assert_eq!(client_info, json!({"uid": oid, "utid": tenant_id}));

    // The access token is a JWT like Graph's, for the same user.
    let (_, access) = verified(answer["access_token"].as_str().unwrap(), &jwks);
    assert_eq!(access["aud"], "https://graph.microsoft.com");
    assert_eq!(access["scp"], "DeviceManagementServiceConfig.ReadWrite.All");
    assert_eq!(
        (access["oid"].as_str(), access["tid"].as_str(), access["appid"].as_str()),
        (Some(oid), Some(tenant_id), Some(CLIENT_ID))
    );
    assert_eq!(access["upn"], "admin@contoso.onmicrosoft.com");
    let listed = http
        .get(format!(
            "{}/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=1",
            server.base_url()
        ))
        .bearer_auth(answer["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    // Without openid no id token; without client_info=1 no client_info.
    let plain = device_code_tokens(&http, &server, &format!("{GRAPH_DEFAULT} offline_access"), false).await;
    assert!(plain.get("id_token").is_none() && plain.get("client_info").is_none(), "{plain}");
    assert_eq!(plain["scope"], GRAPH_DEFAULT);
    server.shutdown().await;
}

#[tokio::test]
async fn client_credentials_by_basic_or_form_give_an_app_token_only() {
    let server = serve(false, with_secret()).await;
    let http = http(&server);
    let url = format!("{}/{TENANT}/oauth2/v2.0/token", server.authority_base());
    let jwks = get_json(&http, &format!("{}/{TENANT}/discovery/v2.0/keys", server.authority_base())).await;
    // RFC 6749 2.3.1: id and secret are form-encoded, then joined and base64-encoded.
    let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let basic = |id: &str, secret: &str| {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(id), encode(secret))))
    };
    // MSAL adds the OpenID scopes to every request; an app gets none of what they stand for.
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "https://graph.microsoft.com/.default openid profile offline_access"),
    ];

    let by_basic =
        http.post(&url).header("authorization", basic(CLIENT_ID, SECRET)).form(&form).send().await.unwrap();
    assert_eq!(by_basic.status(), StatusCode::OK);
    let answer: Value = by_basic.json().await.unwrap();
    let keys: Vec<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["token_type", "expires_in", "ext_expires_in", "access_token"],
        "the live answer's fields"
    );
    let (_, claims) = verified(answer["access_token"].as_str().unwrap(), &jwks);
    assert_eq!(claims["roles"], json!(["DeviceManagementServiceConfig.ReadWrite.All"]));
    assert_eq!(claims["appidacr"], "1");
    assert!(claims.get("scp").is_none() && claims.get("upn").is_none());

    let by_form = http
        .post(&url)
        .form(&[form[0], form[1], ("client_id", CLIENT_ID), ("client_secret", SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), StatusCode::OK);

    let wrong =
        http.post(&url).header("authorization", basic(CLIENT_ID, "wrong")).form(&form).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.headers()["www-authenticate"], "Basic");
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(
        (wrong["error"].as_str(), wrong["error_codes"].clone()),
        (Some("invalid_client"), json!([7000215]))
    );

    let differing = http
        .post(&url)
        .header("authorization", basic(CLIENT_ID, SECRET))
        .form(&[form[0], form[1], ("client_id", "someone-else")])
        .send()
        .await
        .unwrap();
    assert_eq!(differing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(differing.json::<Value>().await.unwrap()["error"], "invalid_request");
    // The journal keeps the form, never the secret.
    assert!(server.journal().iter().all(|r| !String::from_utf8_lossy(&r.body).contains("Secret")));
    server.shutdown().await;
}

// Paused time: the lifetime passes on tokio's clock, which the server's clock follows.
#[tokio::test(start_paused = true)]
async fn refresh_rotates_and_the_old_token_works_until_it_expires() {
    let lifetime = Duration::from_secs(2);
    let server = serve(false, OAuthConfig { refresh_token_lifetime: lifetime, ..with_secret() }).await;
    let http = http(&server);
    let scope = format!("{GRAPH_DEFAULT} offline_access openid profile");
    let first = device_code_tokens(&http, &server, &scope, true).await;
    let issued = tokio::time::Instant::now();
    let old = first["refresh_token"].as_str().unwrap();
    let refresh = |token: String| {
        let (http, server) = (&http, &server);
        async move {
            post_form(
                http,
                server,
                "token",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", CLIENT_ID),
                    ("refresh_token", &token),
                    ("client_info", "1"),
                ],
            )
            .await
        }
    };
    let (status, _, second) = refresh(old.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old, "rotated");
    assert_ne!(second["access_token"], first["access_token"]);
    assert!(
        second["id_token"].is_string() && second["client_info"].is_string(),
        "openid was in the original grant"
    );
    let (status, _, again) = refresh(old.to_string()).await;
    assert_eq!(status, StatusCode::OK, "the replaced token stays valid: {again}");
    assert!(issued.elapsed() < lifetime, "checked within its lifetime");

    // Once its lifetime is over it is refused, in the live words.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let expired = loop {
        let (status, _, answer) = refresh(old.to_string()).await;
        if status != StatusCode::OK {
            break answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "the refresh token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(issued.elapsed() >= lifetime);
    assert_eq!(expired["error"], "invalid_grant");
    assert!(expired["error_description"].as_str().unwrap().starts_with("AADSTS700082: "), "{expired}");
    server.shutdown().await;
}

#[tokio::test]
async fn errors_carry_trace_and_correlation_ids_in_the_live_layout() {
    let server = serve(false, with_secret()).await;
    let http = http(&server);
    let correlation = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let response = http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", server.authority_base()))
        .header("client-request-id", correlation)
        .form(&[("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("scope", GRAPH_DEFAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let request_id = response.headers()["x-ms-request-id"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["client-request-id"], correlation);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["trace_id"], request_id, "x-ms-request-id is the trace id");
    assert_eq!(body["correlation_id"], correlation);
    let timestamp = body["timestamp"].as_str().unwrap();
    assert_eq!(timestamp.len(), "2024-01-31 12:34:56Z".len(), "{timestamp}");
    assert_eq!(
        body["error_description"],
        format!(
            "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' \
             grant type.\r\nTrace ID: {request_id}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
        )
    );
    assert_eq!(body["error_uri"], "https://login.microsoftonline.com/error?code=7000216");
    // Successful answers carry a request id too.
    let (status, ok_id, _) = post_form(
        &http,
        &server,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", GRAPH_DEFAULT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(uuid::Uuid::parse_str(&ok_id).is_ok() && ok_id != request_id);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The app's own sign-in over TLS

/// Connection settings for `server` as a user gives them, with an empty profiles file.
fn settings_for(server: &RunningServer, ca_file: Option<&std::path::Path>, secret: Option<&str>) -> Settings {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let args = ConnectionArgs {
        base_url: Some(server.base_url()),
        authority: Some(server.authority_base()),
        tenant: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        ca_file: ca_file.map(std::path::Path::to_path_buf),
        config: Some(config),
        timeout: 30,
        ..ConnectionArgs::default()
    };
    Settings::resolve(&args.overrides(), secret.map(String::from)).unwrap()
}

#[tokio::test]
async fn the_app_signs_in_over_tls_trusting_the_ca_file() {
    let server = serve(true, with_secret()).await;
    let certificate = server.certificate_path().unwrap().to_path_buf();
    assert!(server.base_url().starts_with("https://"));

    // Client credentials, then every page of the listing over TLS (next links are https).
    let connection = connect(&settings_for(&server, Some(&certificate), Some(SECRET)), |_| {}).await.unwrap();
    let pages: Vec<_> = connection.client.list(&ListQuery::default()).collect().await;
    assert_eq!(pages.len(), 3, "30 devices, 10 a page");
    assert!(pages.iter().all(|p| p.result.is_ok()), "{:?}", pages.last().map(|p| &p.result));

    // Device code: the prompt points at the https page, approved there.
    let mut verification_uri = String::new();
    let connection = connect(&settings_for(&server, Some(&certificate), None), |progress| {
        if let SignInProgress::Prompt(prompt) = progress {
            verification_uri = prompt.verification_uri.clone();
            server.approve_device_code(&prompt.user_code).unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(verification_uri, format!("{}/_imitation/devicelogin", server.authority_base()));
    assert!(connection.client.list(&ListQuery::default()).next().await.unwrap().result.is_ok());
    let grants: Vec<String> = server
        .journal()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/oauth2/v2.0/token"))
        .filter_map(|r| {
            url::form_urlencoded::parse(&r.body).find(|(k, _)| k == "grant_type").map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(grants, ["client_credentials", DEVICE_CODE_GRANT]);

    // Without the CA file the certificate is not trusted and nothing is signed in.
    let untrusted = connect(&settings_for(&server, None, Some(SECRET)), |_| {}).await;
    assert!(matches!(untrusted, Err(ConnectError::Auth(AuthError::Transport(_)))), "{:?}", untrusted.err());
    // A CA file that is no certificate says so, naming the file.
    let bogus = std::env::temp_dir().join(format!("autopilot-tui-identity-{}/bogus.pem", std::process::id()));
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let error =
        connect(&settings_for(&server, Some(&bogus), Some(SECRET)), |_| {}).await.err().unwrap().to_string();
    assert!(
        error.starts_with(&bogus.display().to_string()) && error.contains("no PEM certificate"),
        "{error}"
    );
    server.shutdown().await;
}

/// The spawned server, killed if the test fails before it stops it.
struct ServeProcess(std::process::Child);

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn serve_binary_prints_the_certificate_and_list_trusts_it() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("autopilot-tui-identity-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = ServeProcess(
        Command::new(env!("CARGO_BIN_EXE_autopilot-tui"))
            .args(["serve", "--tls", "--addr", "127.0.0.1:0", "--log-file"])
            .arg(dir.join("serve.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    stdout.read_line(&mut first).unwrap();
    stdout.read_line(&mut second).unwrap();
    let base = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{first:?}")).to_string();
    assert!(base.starts_with("https://127.0.0.1:") && base.ends_with("/v1.0"), "{base}");
    let certificate = std::path::PathBuf::from(
        second.trim().strip_prefix("certificate ").unwrap_or_else(|| panic!("{second:?}")),
    );
    assert!(std::fs::read_to_string(&certificate).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    let authority = base.trim_end_matches("/v1.0");
    let output = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"))
        .args([
            "list",
            "--base-url",
            &base,
            "--authority",
            authority,
            "--tenant",
            TENANT,
            "--client-id",
            CLIENT_ID,
        ])
        .args(["--page-size", "100", "--ca-file"])
        .arg(&certificate)
        .env("AUTOPILOT_TUI_CLIENT_SECRET", "any-secret")
        .env("XDG_STATE_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .env_remove("AUTOPILOT_TUI_PROFILE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let devices: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(devices.len(), 250, "every demo device, three pages over https");

    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!certificate.exists(), "the temp certificate goes with the server");
    std::fs::remove_dir_all(&dir).ok();
}
