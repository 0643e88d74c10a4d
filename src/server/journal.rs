//! The request journal: every request the server received (Graph and sign-in alike), in arrival
//! order, with secrets redacted and the fault injected into it, if any. Tests read it to see
//! exactly what a client sent.

use crate::graph::resource::Kind;
use axum::http::{HeaderMap, Method, header};
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

/// How many requests the journal keeps; older ones are dropped so a long demo session does not
/// grow without bound.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path and query exactly as sent (`/v1.0/deviceManagement/...?$top=5`).
    pub path_and_query: String,
    /// Request headers in order; `Authorization` is redacted to its scheme.
    pub headers: Vec<(String, String)>,
    /// The request body; secret form fields (sign-in) and secret properties
    /// (`deviceAccountPassword`) are `[redacted]`.
    pub body: Vec<u8>,
    /// The fault injected into this request, if any.
    pub fault: Option<FaultKind>,
    /// When it arrived, on the server's clock, since the server started (paced writes can be
    /// told apart in time; a paused test clock gives exact times).
    pub received: std::time::Duration,
    /// The `id` this request had inside a `$batch` (which is journaled before its requests);
    /// `None` for a request sent on its own.
    pub batch_item: Option<String>,
}

impl RecordedRequest {
    /// Whether the request reached its handler (unfaulted, or faulted only after handling),
    /// i.e. whether a write among them may have changed the store.
    pub fn reached_handler(&self) -> bool {
        self.fault.is_none_or(FaultKind::reached_handler)
    }
}

/// A fault the server injected into one request (what the journal records; `faults.rs` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answered 429 with `Retry-After` before the handler ran (a random fault, or a throttling
    /// bucket of `serve --throttle-*` that was empty).
    Throttled,
    /// Answered 503 before the handler ran; `retry_after` says whether the header was sent.
    Unavailable {
        /// Whether `Retry-After` was sent.
        retry_after: bool,
    },
    /// Answered 500 before the handler ran.
    InternalError,
    /// The connection was closed before the handler ran: nothing changed.
    DroppedBeforeHandling,
    /// The handler ran (a PATCH was applied), then the connection was closed before the answer.
    DroppedAfterHandling,
    /// The handler ran; its 2xx JSON body was cut short.
    TruncatedBody,
    /// The handler ran; its 2xx JSON body was made invalid.
    MalformedBody,
}

impl FaultKind {
    /// Whether the request reached the handler (and so may have changed the store).
    pub fn reached_handler(self) -> bool {
        matches!(self, FaultKind::DroppedAfterHandling | FaultKind::TruncatedBody | FaultKind::MalformedBody)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Throttled => "429 throttled",
            FaultKind::Unavailable { retry_after: true } => "503 unavailable with Retry-After",
            FaultKind::Unavailable { retry_after: false } => "503 unavailable without Retry-After",
            FaultKind::InternalError => "500 internal error",
            FaultKind::DroppedBeforeHandling => "connection dropped before handling",
            FaultKind::DroppedAfterHandling => "connection dropped after handling",
            FaultKind::TruncatedBody => "truncated body",
            FaultKind::MalformedBody => "malformed body",
        })
    }
}

/// The requests in arrival order, each with a sequence number so a fault decided later can be
/// marked on its entry.
#[derive(Debug, Default)]
pub(super) struct Journal {
    entries: VecDeque<RecordedRequest>,
    /// Sequence number of `entries[0]`.
    first_seq: u64,
}

impl Journal {
    fn push(&mut self, entry: RecordedRequest) -> u64 {
        if self.entries.len() >= JOURNAL_CAPACITY {
            self.entries.pop_front();
            self.first_seq += 1;
        }
        self.entries.push_back(entry);
        self.first_seq + self.entries.len() as u64 - 1
    }

    /// Marks the fault injected into the request with this sequence number.
    pub(super) fn mark_fault(&mut self, seq: u64, fault: FaultKind) {
        if let Some(entry) = seq.checked_sub(self.first_seq).and_then(|i| self.entries.get_mut(i as usize)) {
            entry.fault = Some(fault);
        }
    }

    /// Every entry, oldest first.
    pub(super) fn entries(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }
}

/// What a redacted value is replaced with.
const REDACTED: &str = "[redacted]";

/// A JSON body with the value of every secret property (a field of kind `Secret` in a served
/// resource, `deviceAccountPassword`) replaced, so it reaches neither the journal nor the log;
/// anything else is kept as it came.
pub(super) fn redact_secret_properties(body: &[u8]) -> Vec<u8> {
    let is_secret = |name: &str| {
        super::SERVED.iter().flat_map(|r| r.fields).any(|f| f.kind == Kind::Secret && f.path == name)
    };
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else { return body.to_vec() };
    let mut redacted = false;
    for (name, value) in object.iter_mut() {
        if is_secret(name) && !value.is_null() {
            *value = Value::String(REDACTED.into());
            redacted = true;
        }
    }
    if !redacted {
        return body.to_vec();
    }
    serde_json::to_vec(&object).unwrap_or_default()
}

/// Locks the journal, whatever a panicking holder left behind.
pub(super) fn lock(journal: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks a request that `$batch` made from one of its items (a request extension): its `id`.
#[derive(Debug, Clone)]
pub(super) struct BatchItem(pub(super) String);

/// Adds a request to the journal (`Authorization` redacted to its scheme); gives back its
/// sequence number.
pub(super) fn record(
    journal: &Mutex<Journal>,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
    received: std::time::Duration,
    batch_item: Option<&BatchItem>,
) -> u64 {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let text = if *name == header::AUTHORIZATION {
                // Keep the scheme so tests can see a bearer token was sent, never the secret.
                match text.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} [redacted]"),
                    None => "[redacted]".to_string(),
                }
            } else {
                text
            };
            (name.as_str().to_string(), text)
        })
        .collect();
    let entry = RecordedRequest {
        method: method.to_string(),
        path_and_query: path_and_query.to_string(),
        headers,
        body,
        fault: None,
        received,
        batch_item: batch_item.map(|item| item.0.clone()),
    };
    lock(journal).push(entry)
}
