//! What the server tests share: a server with an HTTP client, Graph answers read back, and the
//! checks every Graph error passes.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test helpers

use autopilot_tui::server::{DataSet, RunningServer, ServeOptions, start};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const DEVICES: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
pub const UPLOAD: &str = "/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities";
pub const JSON_TYPE: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

pub struct Api {
    pub server: RunningServer,
    pub http: reqwest::Client,
}

pub async fn api_with(opts: ServeOptions) -> Api {
    let server = start(opts).await.expect("server starts");
    Api { server, http: reqwest::Client::new() }
}

pub async fn demo() -> Api {
    api_with(ServeOptions::default()).await
}

/// The server `serve` would run with these flags (after `serve`), on 127.0.0.1:0.
pub async fn serve_with_flags(flags: &[&str]) -> Api {
    use clap::Parser;
    let mut argv = vec!["autopilot-tui", "serve", "--addr", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    let cli = autopilot_tui::cli::Cli::try_parse_from(argv).unwrap();
    let Some(autopilot_tui::cli::Command::Serve(args)) = cli.command else { panic!("serve expected") };
    api_with(args.to_options()).await
}

pub async fn generated(devices: u64, seed: u64) -> Api {
    api_with(ServeOptions { data: DataSet::Generated { devices, seed }, ..ServeOptions::default() }).await
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    /// Asserts a Graph error with this status and code; returns the message.
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{}", self.text);
        let inner = &body["error"]["innerError"];
        assert_eq!(inner["request-id"], self.header("request-id"));
        assert_eq!(inner["client-request-id"], self.header("client-request-id"));
        assert_eq!(inner["date"].as_str().unwrap().len(), "2026-11-28T10:00:00".len());
        assert_eq!(self.header("content-type"), JSON_TYPE);
        body["error"]["message"].as_str().unwrap().to_string()
    }

    /// Asserts an Intune error (Graph's shape, with Intune's JSON document as the message, its
    /// activity the client's request id); returns the document's `Message`.
    pub fn intune_error(&self, status: StatusCode, code: &str) -> String {
        let message = self.error(status, code);
        let document: Value = serde_json::from_str(&message)
            .unwrap_or_else(|e| panic!("not Intune's document ({e}): {message}"));
        assert_eq!(document["_version"], 3, "{message}");
        let text = document["Message"].as_str().unwrap().to_string();
        let activity = format!("Activity ID: {} - Url: https://", self.header("client-request-id"));
        assert!(
            text.contains(" - Operation ID (for customer support): ") && text.contains(&activity),
            "{text}"
        );
        text
    }
}

impl Api {
    /// `path` is relative to `/v1.0` unless it is an absolute URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.server.base_url()) }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, String)>) -> Answer {
        let mut request = self.http.request(method, self.url(path)).bearer_auth("test-token");
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        answer(request).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        answer.json()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PATCH, path, Some(("application/json", body.to_string()))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(("application/json", body.to_string()))).await
    }

    /// Every device of a query, following `@odata.nextLink` only.
    pub async fn all(&self, first: &str) -> Vec<Value> {
        let mut devices = Vec::new();
        let mut next = Some(self.url(first));
        let mut pages = 0;
        while let Some(url) = next {
            let page = self.get_json(&url).await;
            devices.extend(page["value"].as_array().unwrap().iter().cloned());
            next = page["@odata.nextLink"].as_str().map(str::to_string);
            pages += 1;
            assert!(pages < 10_000, "next links loop");
        }
        devices
    }

    pub async fn first_id(&self) -> String {
        self.get_json(&format!("{DEVICES}?$top=1")).await["value"][0]["id"].as_str().unwrap().to_string()
    }
}

pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer { status, headers, text }
}

pub fn ids(devices: &[Value]) -> Vec<String> {
    devices.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect()
}

pub fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Asserts a `$select`ed page: its context names the selection, each record has exactly `keys`
/// (sorted; `@odata.type` included).
pub fn assert_selected(page: &Value, context_suffix: &str, keys: &[&str]) {
    let context = page["@odata.context"].as_str().unwrap();
    assert!(context.ends_with(context_suffix), "{context}");
    for d in page["value"].as_array().unwrap() {
        let mut got: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys);
    }
}
