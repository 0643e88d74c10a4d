//! A hostile (or just broken) Graph server on 127.0.0.1:0 for the hardening tests: it answers
//! every request with whatever the test's script says and records what it received, raw.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test helpers

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use std::sync::{Arc, Mutex};

/// One request as the hostile server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as sent (no normalisation).
    pub path_and_query: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body without a Content-Length (chunked).
    pub chunked: bool,
}

impl Reply {
    /// 200 with a JSON document.
    pub fn json(doc: serde_json::Value) -> Reply {
        Reply::raw(200, doc.to_string().into_bytes())
    }

    /// Any status with a JSON body given as bytes (which need not be UTF-8).
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            chunked: false,
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
            chunked: false,
        }
    }

    /// Graph's error shape with this code and message.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::raw(
            status,
            serde_json::json!({"error": {"code": code, "message": message}}).to_string().into_bytes(),
        )
    }
}

/// The script: given what was asked and the server's own base URL (`http://127.0.0.1:P/v1.0`),
/// what to answer.
pub type Script = Arc<dyn Fn(&Seen, &str) -> Reply + Send + Sync>;

struct Shared {
    script: Script,
    base_url: String,
    seen: Mutex<Vec<Seen>>,
}

/// A running hostile server.
pub struct Hostile {
    pub base_url: String,
    /// `http://127.0.0.1:P`
    pub origin: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Hostile {
    /// Starts a server answering by `script`.
    pub async fn start(script: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let base_url = format!("{origin}/v1.0");
        let shared = Arc::new(Shared {
            script: Arc::new(script),
            base_url: base_url.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile { base_url, origin, shared, task }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The collection URL below the base.
    pub fn devices_url(&self) -> String {
        format!("{}{DEVICES}", self.base_url)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The collection path of imported identities.
pub const DEVICES: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";

async fn answer(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default(),
        authorization: header(&parts.headers, "authorization"),
        body: body.to_vec(),
    };
    shared.seen.lock().unwrap().push(seen.clone());
    let reply = (shared.script)(&seen, &shared.base_url);
    let body = if reply.chunked {
        let chunks = reply
            .body
            .chunks(1024)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(reply.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A plausible device with this id and serial (hash included).
pub fn device(id: &str, serial: &str) -> serde_json::Value {
    serde_json::json!({
        "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
        "id": id,
        "groupTag": "Sales",
        "assignedUserPrincipalName": null,
        "hardwareIdentifier": "AAEC",
        "importId": "imp-1",
        "productKey": "",
        "serialNumber": serial,
        "state": {"deviceImportStatus": "complete", "deviceRegistrationId": null,
                  "deviceErrorCode": 0, "deviceErrorName": null}
    })
}

/// A page of `devices` with an optional next link.
pub fn page(devices: Vec<serde_json::Value>, next: Option<String>) -> serde_json::Value {
    let mut doc = serde_json::json!({"@odata.context": "x", "value": devices});
    if let Some(next) = next {
        doc["@odata.nextLink"] = serde_json::Value::String(next);
    }
    doc
}

/// A server of `count` imported identities (`dev-0`, `dev-1`, ...; serial `SN-dev-N`, tag
/// `Sales`) that lists, reads and patches them but answers `$batch` with `refusal`: a server
/// without batching. Returns it and each record's tag as it stands.
pub async fn without_batch(
    count: usize,
    refusal: Reply,
) -> (Hostile, Arc<Mutex<std::collections::HashMap<String, String>>>) {
    use std::collections::HashMap;
    let tags: Arc<Mutex<HashMap<String, String>>> =
        Arc::new(Mutex::new((0..count).map(|i| (format!("dev-{i}"), "Sales".to_string())).collect()));
    let server = Hostile::start({
        let tags = tags.clone();
        move |seen, _| {
            if seen.path_and_query.ends_with("/$batch") {
                return refusal.clone();
            }
            let with_tag = |id: &str, tags: &HashMap<String, String>| {
                let mut record = device(id, &format!("SN-{id}"));
                record["groupTag"] = serde_json::json!(tags[id]);
                record
            };
            let mut tags = tags.lock().unwrap();
            let path = seen.path_and_query.split('?').next().unwrap();
            if path.ends_with(DEVICES) {
                let mut ids: Vec<&String> = tags.keys().collect();
                ids.sort();
                return Reply::json(page(ids.into_iter().map(|id| with_tag(id, &tags)).collect(), None));
            }
            let id = path.rsplit('/').next().unwrap().to_string();
            if seen.method == "PATCH" {
                let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
                tags.insert(id.clone(), body["groupTag"].as_str().unwrap().to_string());
            }
            Reply::json(with_tag(&id, &tags))
        }
    })
    .await;
    (server, tags)
}

/// What [`without_batch`] saw: `$batch` tried once (twice side by side) and not again, and each
/// record read once and patched once, on its own.
pub fn assert_one_by_one(seen: &[Seen], count: usize) {
    let batches = seen.iter().filter(|s| s.path_and_query.ends_with("/$batch")).count();
    assert!((1..=2).contains(&batches), "$batch tried, then not again: {batches}");
    for i in 0..count {
        let at = format!("/dev-{i}");
        let of = |method: &str| {
            seen.iter().filter(|s| s.method == method && s.path_and_query.ends_with(&at)).count()
        };
        assert_eq!((of("GET"), of("PATCH")), (1, 1), "dev-{i}: read once, written once");
    }
}
