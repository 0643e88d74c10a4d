//! JSON batching for writes (`graph-registered.md` section 6): up to 20 writes in one
//! `POST {root}/$batch`, each inner request answered on its own and unpacked into its own
//! [`ItemOutcome`] with an [`Exchange`] of its own (method, url, status, headers, body, ids), so
//! the inspector shows each item as if it had been sent alone.
//!
//! Each write is what [`GraphClient::write`] would send: a `PATCH` of the record or a `POST` to
//! its action (the resource's [`WriteVerb`](crate::graph::resource::WriteVerb)), with a fresh
//! `client-request-id`. Batching saves round trips, not budget: a batch of 20 takes 20 writes
//! from the client's [`WritePacer`](crate::graph::pacer::WritePacer). An inner answer is read
//! exactly as a direct one (a 4xx/5xx is a typed [`GraphError::Service`]); what a direct call
//! would retry (429, 5xx, a garbled body) is retried by the client's retry policy in the next
//! batch, after its `Retry-After` (an inner 429 pauses the pacer, so every writer waits); with
//! [`RetryPolicy::resend_unanswered_writes`](crate::graph::retry::RetryPolicy) off, an item that
//! may have landed comes back [`Landing::Unknown`] instead, for the caller to read back. A server
//! that answers the `$batch` call itself with 400, 404, 405 or 501 does not batch: the writes go
//! one by one, and this [`BatchWriter`] remembers it.

use crate::graph::client::{
    Exchange, GraphClient, Outcome, RetryNotice, decode_written, failure_of, jitter, parse_record,
    pause_for_throttling,
};
use crate::graph::error::{GraphError, ServiceError};
use crate::graph::patch::PatchBody;
use crate::graph::resource::Record;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// The most requests Graph takes in one batch.
pub const MAX_BATCH: usize = 20;

/// One write: a record's id and the changed properties (as for [`GraphClient::write`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteItem {
    /// The record's id.
    pub id: String,
    /// The properties to send.
    pub body: PatchBody,
    /// The version of the record it was made against (`If-Match`), when the server gave one:
    /// a server that checks refuses it (412) if the record changed since.
    pub if_match: Option<String>,
}

/// What a [`BatchWriter`] knows of the server's `$batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSupport {
    /// Not tried yet.
    Unknown,
    /// A batch was answered.
    Supported,
    /// The server refused `$batch` (400/404/405/501): writes go one by one.
    Refused,
}

/// Whether an item's write is in the server's store, as far as its outcome tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// A 2xx answer: written.
    Landed,
    /// Refused (a 4xx, 424 and 429 included) or never sent: not written.
    NotLanded,
    /// No answer, a garbled one or a 5xx: it may or may not be written; read it back.
    Unknown,
}

/// How an item went to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Inside a `$batch` (the last one that carried it).
    Batch {
        /// The `client-request-id` of that `$batch` call.
        client_request_id: String,
        /// Its `request-id`, when an answer came.
        request_id: Option<String>,
    },
    /// On its own (no batching, or the server refused it), or not sent at all.
    Single,
}

/// What one write came to.
#[derive(Debug, Clone)]
pub struct ItemOutcome {
    /// The record's id.
    pub id: String,
    /// This write's own request and answer (an inner request of a batch is shown as if it had
    /// been sent alone: its method, absolute url, headers, body, status and ids).
    pub exchange: Exchange,
    /// The record the server answered (`None` for a 204), or the error.
    pub result: Result<Option<Record>, GraphError>,
    /// How it was sent.
    pub via: Via,
}

impl ItemOutcome {
    /// Whether the write is in the store: what a job journals, and whether to read it back.
    pub fn landing(&self) -> Landing {
        match &self.result {
            Ok(_) => Landing::Landed,
            Err(GraphError::Service(e)) if (400..500).contains(&e.status) => Landing::NotLanded,
            Err(
                GraphError::ReadOnly(_)
                | GraphError::InvalidId(_)
                | GraphError::Url(_)
                | GraphError::Request(_)
                | GraphError::ForeignOrigin { .. }
                | GraphError::Auth(_)
                | GraphError::Connect(_),
            ) => Landing::NotLanded,
            Err(_) => Landing::Unknown,
        }
    }

    /// The answer's `request-id` (what support asks for), from its headers or its error body.
    pub fn request_id(&self) -> Option<&str> {
        self.exchange
            .response_header("request-id")
            .or_else(|| self.result.as_ref().err()?.service()?.request_id.as_deref())
    }
}

/// Everything one [`BatchWriter::write`] did.
#[derive(Debug, Clone, Default)]
pub struct WriteRound {
    /// One outcome per item, in the order given.
    pub items: Vec<ItemOutcome>,
    /// Each `$batch` call made (for the history), in the order made.
    pub batches: Vec<Exchange>,
}

/// Everything one [`BatchWriter::read`] did.
#[derive(Debug, Clone, Default)]
pub struct ReadRound {
    /// One outcome per id, in the order given (each with its own exchange).
    pub items: Vec<Outcome<Record>>,
    /// Each `$batch` call made, in the order made.
    pub batches: Vec<Exchange>,
}

/// Writes records in batches of up to [`MAX_BATCH`] through one [`GraphClient`] (and its
/// pacer), falling back to single writes when the server refuses `$batch`. Cheap to clone;
/// clones share what was learnt about the server.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    client: GraphClient,
    support: Arc<AtomicU8>,
}

const UNKNOWN: u8 = 0;
const SUPPORTED: u8 = 1;
const REFUSED: u8 = 2;

impl BatchWriter {
    /// Batches through `client` (give it a pacer with [`GraphClient::with_pacer`] first).
    pub fn new(client: GraphClient) -> BatchWriter {
        BatchWriter { client, support: Arc::new(AtomicU8::new(UNKNOWN)) }
    }

    /// Never batches: every write on its own (through the same pacer).
    pub fn single(client: GraphClient) -> BatchWriter {
        BatchWriter { client, support: Arc::new(AtomicU8::new(REFUSED)) }
    }

    /// The client it writes through.
    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    /// What is known of the server's `$batch`.
    pub fn support(&self) -> BatchSupport {
        match self.support.load(Ordering::Relaxed) {
            SUPPORTED => BatchSupport::Supported,
            REFUSED => BatchSupport::Refused,
            _ => BatchSupport::Unknown,
        }
    }

    /// Writes every item, each once (retried by the client's policy when a direct call would
    /// be), and gives one outcome per item in the order given. Up to 20 go in one `$batch`;
    /// more are split into batches sent side by side (the pacer bounds how many are in
    /// flight). Items the client refuses locally (read-only, an id that is no URL segment) are
    /// refused as [`GraphClient::write`] refuses them, and never sent.
    ///
    /// Dropping the future sends nothing more, but the items of a batch in flight then may or
    /// may not have landed: a job that stops should stop between calls (a call of 20 at a time
    /// lets the writes in flight finish), or read those items back.
    pub async fn write(&self, items: Vec<WriteItem>) -> WriteRound {
        let chunks: Vec<Vec<WriteItem>> = items.chunks(MAX_BATCH).map(<[WriteItem]>::to_vec).collect();
        let rounds =
            futures_util::future::join_all(chunks.into_iter().map(|chunk| self.write_chunk(chunk))).await;
        let mut all = WriteRound::default();
        for round in rounds {
            all.items.extend(round.items);
            all.batches.extend(round.batches);
        }
        all
    }

    async fn write_chunk(&self, items: Vec<WriteItem>) -> WriteRound {
        let client = &self.client;
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; items.len()];
        let mut pending = Vec::new();
        let batching = self.support() != BatchSupport::Refused && !client.config().read_only;
        for (index, item) in items.iter().enumerate() {
            match client.write_target(&item.id) {
                Ok((method, url)) if batching => {
                    pending.push(Pending::write(index, item, method, url, client))
                }
                _ => {}
            }
        }
        // What is not batched goes alone: everything when batching is off, and what the client
        // refuses before sending (its outcome says why).
        let alone: Vec<usize> =
            (0..items.len()).filter(|i| !pending.iter().any(|p: &Pending| p.index == *i)).collect();
        self.write_singly(&items, &alone, &mut outcomes).await;

        let mut round = WriteRound::default();
        let resource = client.resource();
        let batched =
            self.send_batched(pending, true, |text| decode_written(resource, text), &mut round.batches).await;
        for answer in batched.answered {
            outcomes[answer.index] = Some(ItemOutcome {
                id: items[answer.index].id.clone(),
                exchange: answer.exchange,
                result: answer.result,
                via: answer.via,
            });
        }
        self.write_singly(&items, &batched.refused, &mut outcomes).await;
        round.items = outcomes
            .into_iter()
            .zip(&items)
            .map(|(outcome, item)| outcome.unwrap_or_else(|| never_reached(item, client)))
            .collect();
        round
    }

    /// Reads records (a `GET` of each, as [`GraphClient::get`] sends it) in `$batch` requests of
    /// up to 20, side by side, one outcome per id in the order given. Each inner answer is read
    /// as a direct one and retried as a direct `GET` would be (after its `Retry-After`); one by
    /// one when the server does not batch. Reads take nothing from the write budget.
    pub async fn read(&self, ids: &[String]) -> ReadRound {
        let rounds =
            futures_util::future::join_all(ids.chunks(MAX_BATCH).map(|chunk| self.read_chunk(chunk))).await;
        let mut all = ReadRound::default();
        for round in rounds {
            all.items.extend(round.items);
            all.batches.extend(round.batches);
        }
        all
    }

    async fn read_chunk(&self, ids: &[String]) -> ReadRound {
        let client = &self.client;
        let mut outcomes: Vec<Option<Outcome<Record>>> = vec![None; ids.len()];
        let mut pending = Vec::new();
        if self.support() != BatchSupport::Refused {
            for (index, id) in ids.iter().enumerate() {
                if let Ok(url) = client.read_target(id) {
                    pending.push(Pending::read(index, url, client));
                }
            }
        }
        let mut alone: Vec<usize> =
            (0..ids.len()).filter(|i| !pending.iter().any(|p: &Pending| p.index == *i)).collect();
        let mut round = ReadRound::default();
        let resource = client.resource();
        let batched =
            self.send_batched(pending, false, |text| parse_record(resource, text), &mut round.batches).await;
        for answer in batched.answered {
            outcomes[answer.index] = Some(Outcome { exchange: answer.exchange, result: answer.result });
        }
        alone.extend(batched.refused);
        let reads = alone.iter().map(|&i| async move { (i, client.get(&ids[i]).await) });
        for (i, outcome) in futures_util::future::join_all(reads).await {
            outcomes[i] = Some(outcome);
        }
        round.items = outcomes
            .into_iter()
            .zip(ids)
            .map(|(outcome, id)| {
                outcome.unwrap_or_else(|| {
                    let error = GraphError::Request("the read was not attempted".to_string());
                    let mut exchange =
                        crate::graph::client::unsent_exchange("GET", &client.item_url(id), None);
                    exchange.transport_error = Some(error.to_string());
                    Outcome { exchange, result: Err(error) }
                })
            })
            .collect();
        round
    }

    /// The batch loop of writes and reads alike: the pending requests go in one `$batch` (a
    /// write batch takes one write per request from the pacer), then again those to retry, until
    /// each has its answer. What the server's refusal to batch leaves is handed back to go one
    /// by one; when the batch call itself fails, each request shares its fate.
    async fn send_batched<T>(
        &self,
        mut pending: Vec<Pending>,
        writes: bool,
        decode: impl Fn(&str) -> Result<T, GraphError>,
        batches: &mut Vec<Exchange>,
    ) -> Batched<T> {
        let client = &self.client;
        let retry = &client.config().retry;
        let mut done = Batched { answered: Vec::new(), refused: Vec::new() };
        while !pending.is_empty() {
            let paced = if writes { pending.len() as u32 } else { 0 };
            let outcome = client
                .send_paced("POST", &self.batch_url(), Some(batch_body(&pending)), paced, parse_answer)
                .await;
            let via = Via::Batch {
                client_request_id: outcome.exchange.client_request_id.clone(),
                request_id: outcome.exchange.response_header("request-id").map(str::to_string),
            };
            batches.push(outcome.exchange.clone());
            let answer = match outcome.result {
                Ok(answer) => answer,
                Err(GraphError::Service(e)) if refuses_batching(e.status) => {
                    if self
                        .support
                        .compare_exchange(UNKNOWN, REFUSED, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        tracing::info!(status = e.status, "the server does not batch; sending one by one");
                    }
                    done.refused = pending.iter().map(|p| p.index).collect();
                    break;
                }
                Err(error) => {
                    // The batch itself failed after the client's retries: each item shares its fate.
                    for p in pending.drain(..) {
                        let mut exchange = p.exchange(&outcome.exchange);
                        exchange.transport_error = Some(error.to_string());
                        done.answered.push(Answered {
                            index: p.index,
                            exchange,
                            result: Err(error.clone()),
                            via: via.clone(),
                        });
                    }
                    break;
                }
            };
            let _ = self.support.compare_exchange(UNKNOWN, SUPPORTED, Ordering::Relaxed, Ordering::Relaxed);
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            for (position, mut p) in pending.drain(..).enumerate() {
                let (exchange, status) =
                    p.unpack(answer.responses.get(&batch_id(position)), &outcome.exchange);
                let result = status.and_then(|()| decode(&exchange.response_body));
                let failure = result.as_ref().err().and_then(|e| failure_of(e, &exchange));
                let delay = failure.as_ref().and_then(|f| {
                    if writes {
                        retry.write_delay(p.attempts, f, jitter())
                    } else {
                        retry.delay(p.attempts, f, jitter())
                    }
                });
                if let (Some(pacer), Some(failure), true) = (client.pacer(), &failure, writes) {
                    pause_for_throttling(pacer, failure, delay, retry);
                }
                match delay {
                    Some(delay) => {
                        client.notify_retry(RetryNotice {
                            method: p.method.to_string(),
                            url: p.url.clone(),
                            attempt: p.attempts,
                            wait: delay,
                            reason: exchange.status_line(),
                        });
                        tracing::info!(method = p.method, url = %exchange.path_and_query(), attempt = p.attempts, wait_ms = delay.as_millis() as u64, reason = %exchange.status_line(), "retrying in the next batch");
                        wait = wait.max(delay);
                        p.attempts += 1;
                        again.push(p);
                    }
                    None => {
                        done.answered.push(Answered { index: p.index, exchange, result, via: via.clone() })
                    }
                }
            }
            pending = again;
            if !pending.is_empty() {
                tokio::time::sleep(wait).await;
            }
        }
        done
    }

    /// Writes the items at `indexes` one by one (side by side; the pacer bounds them).
    async fn write_singly(
        &self,
        items: &[WriteItem],
        indexes: &[usize],
        outcomes: &mut [Option<ItemOutcome>],
    ) {
        let client = &self.client;
        let writes = indexes.iter().map(|&i| async move {
            let item = &items[i];
            let client = if item.if_match.is_some() {
                client.with_if_match(item.if_match.clone())
            } else {
                client.clone()
            };
            (i, client.write(&item.id, &item.body).await)
        });
        for (i, outcome) in futures_util::future::join_all(writes).await {
            outcomes[i] = Some(ItemOutcome {
                id: items[i].id.clone(),
                exchange: outcome.exchange,
                result: outcome.result,
                via: Via::Single,
            });
        }
    }
    /// `{root}/$batch`.
    fn batch_url(&self) -> String {
        format!("{}/$batch", self.client.config().base_url.trim_end_matches('/'))
    }
}

/// Statuses of the `$batch` call that mean "this server does not batch".
fn refuses_batching(status: u16) -> bool {
    matches!(status, 400 | 404 | 405 | 501)
}

/// An outcome no branch gave (cannot happen; said plainly rather than panicking).
fn never_reached(item: &WriteItem, client: &GraphClient) -> ItemOutcome {
    let error = GraphError::Request("the write was not attempted".to_string());
    let mut exchange =
        crate::graph::client::unsent_exchange(client.write_method(), &client.item_url(&item.id), None);
    exchange.transport_error = Some(error.to_string());
    ItemOutcome { id: item.id.clone(), exchange, result: Err(error), via: Via::Single }
}

/// The id of the request at `position` in a batch.
fn batch_id(position: usize) -> String {
    (position + 1).to_string()
}

/// What [`BatchWriter::send_batched`] came to.
struct Batched<T> {
    /// The requests answered (or given up on), by their place among the items.
    answered: Vec<Answered<T>>,
    /// The items left to send one by one: the server does not batch.
    refused: Vec<usize>,
}

/// One request of a batch, answered.
struct Answered<T> {
    index: usize,
    exchange: Exchange,
    result: Result<T, GraphError>,
    via: Via,
}

/// One request of a batch (a write, or a read) waiting for its answer.
#[derive(Debug)]
struct Pending {
    /// Its place among the items.
    index: usize,
    method: &'static str,
    /// The absolute URL (as shown).
    url: String,
    /// The URL below the version root, as the batch names it.
    relative: String,
    /// The body as shown, and as the batch carries it (writes only).
    body: Option<(String, Value)>,
    /// `If-Match` (writes only).
    if_match: Option<String>,
    /// The attempt this is (1 = the first).
    attempts: u32,
    /// This attempt's `client-request-id`.
    client_request_id: String,
}

impl Pending {
    fn write(
        index: usize,
        item: &WriteItem,
        method: &'static str,
        url: String,
        client: &GraphClient,
    ) -> Pending {
        let json = serde_json::to_string(&item.body.properties).unwrap_or_default();
        let properties = Value::Object(item.body.properties.clone());
        Pending {
            body: Some((json, properties)),
            if_match: item.if_match.clone(),
            ..Pending::read(index, url, client)
        }
        .with_method(method)
    }

    fn read(index: usize, url: String, client: &GraphClient) -> Pending {
        let root = client.config().base_url.trim_end_matches('/');
        let relative = url.strip_prefix(root).map_or_else(|| url.clone(), str::to_string);
        Pending {
            index,
            method: "GET",
            url,
            relative,
            body: None,
            if_match: None,
            attempts: 1,
            client_request_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn with_method(self, method: &'static str) -> Pending {
        Pending { method, ..self }
    }

    /// The headers this request carries inside the batch.
    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(2);
        if self.body.is_some() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        headers.push(("client-request-id".to_string(), self.client_request_id.clone()));
        if let Some(etag) = &self.if_match {
            headers.push(("If-Match".to_string(), etag.clone()));
        }
        headers
    }

    /// This request's exchange before its answer is known, timed as the batch that carried it.
    fn exchange(&self, batch: &Exchange) -> Exchange {
        Exchange {
            method: self.method.to_string(),
            url: self.url.clone(),
            request_headers: self.headers(),
            request_body: self.body.as_ref().map(|(json, _)| json.clone()),
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            invalid_utf8: Vec::new(),
            started_at: batch.started_at,
            duration: batch.duration,
            client_request_id: self.client_request_id.clone(),
            transport_error: None,
            attempts: self.attempts,
        }
    }

    /// This request's answer in the batch, read as a direct answer is read: `Ok` for a 2xx
    /// (its body in the exchange, to decode), else the typed error.
    fn unpack(
        &mut self,
        answer: Option<&InnerAnswer>,
        batch: &Exchange,
    ) -> (Exchange, Result<(), GraphError>) {
        let mut exchange = self.exchange(batch);
        // The next attempt, if any, is a new request.
        self.client_request_id = uuid::Uuid::new_v4().to_string();
        let Some(answer) = answer else {
            let error = GraphError::Decode("the $batch answer has no response for this request".to_string());
            exchange.transport_error = Some(error.to_string());
            return (exchange, Err(error));
        };
        exchange.status = Some(answer.status);
        exchange.response_headers = answer.headers.clone();
        exchange.response_body = answer.body.clone();
        let result = match answer.status {
            200..=299 => Ok(()),
            300..=399 => Err(GraphError::Redirected {
                method: self.method.to_string(),
                status: answer.status,
                location: exchange.response_header("location").map(str::to_string),
            }),
            status => Err(GraphError::Service(Box::new(ServiceError::from_response(
                status,
                &answer.headers,
                &answer.body,
            )))),
        };
        (exchange, result)
    }
}

/// `{"requests": [...]}` for the pending requests, ids `1`, `2`, ... in order.
fn batch_body(pending: &[Pending]) -> String {
    let requests: Vec<Value> = pending
        .iter()
        .enumerate()
        .map(|(position, p)| {
            let headers: Map<String, Value> =
                p.headers().into_iter().map(|(name, value)| (name, Value::String(value))).collect();
            let mut request = json!({
                "id": batch_id(position),
                "method": p.method,
                "url": p.relative,
                "headers": headers,
            });
            if let (Some((_, body)), Some(object)) = (&p.body, request.as_object_mut()) {
                object.insert("body".to_string(), body.clone());
            }
            request
        })
        .collect();
    json!({ "requests": requests }).to_string()
}
/// A `$batch` answer: each response by its id (lower case).
#[derive(Debug)]
struct BatchAnswer {
    responses: HashMap<String, InnerAnswer>,
}

/// One response of a batch, as text.
#[derive(Debug)]
struct InnerAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Reads `{"responses": [{id, status, headers, body}]}`. A response that cannot be read (no
/// id, no status from 100 to 599) is left out, so its request counts as unanswered; the first
/// of two with one id wins.
fn parse_answer(text: &str) -> Result<BatchAnswer, GraphError> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| GraphError::Decode(format!("not a $batch answer: {e}")))?;
    let responses = document
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::Decode("the $batch answer has no \"responses\" array".to_string()))?;
    let mut by_id = HashMap::new();
    for response in responses {
        let id = match response.get("id") {
            Some(Value::String(id)) => id.to_lowercase(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let Some(status) = response
            .get("status")
            .and_then(Value::as_u64)
            .filter(|s| (100..600).contains(s))
            .map(|s| s as u16)
        else {
            continue;
        };
        let headers: Vec<(String, String)> = response
            .get("headers")
            .and_then(Value::as_object)
            .map(|headers| {
                headers
                    .iter()
                    .map(|(name, value)| {
                        let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                        (name.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = body_text(response.get("body"), &headers);
        by_id.entry(id).or_insert(InnerAnswer { status, headers, body });
    }
    Ok(BatchAnswer { responses: by_id })
}

/// A response's body as the text a direct answer would have had: JSON as JSON; a string is
/// the text itself under a JSON content type (a garbled answer) and base64 under another.
fn body_text(body: Option<&Value>, headers: &[(String, String)]) -> String {
    let json_type = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type")
            && value.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    match body {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) if !json_type => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|_| text.clone()),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_whatever_their_order_and_bad_entries_are_left_out() {
        let text = r#"{"responses":[
            {"id":"2","status":429,"headers":{"Retry-After":"3","Content-Type":"application/json"},"body":{"error":{"code":"TooManyRequests","message":"m"}}},
            {"id":"1","status":204,"headers":{}},
            {"id":"3","status":"200"},
            {"status":200},
            {"id":"4","status":200,"headers":{"content-type":"application/json; charset=utf-8"},"body":"{\"id\":"},
            {"id":"5","status":200,"headers":{"Content-Type":"text/plain"},"body":"NDI="},
            {"id":"1","status":500}
        ]}"#;
        let answer = parse_answer(text).unwrap();
        assert_eq!(answer.responses.len(), 4);
        assert_eq!(answer.responses["1"].status, 204, "the first of two with one id wins");
        assert_eq!(answer.responses["1"].body, "");
        let throttled = &answer.responses["2"];
        assert_eq!(throttled.headers[0], ("Retry-After".to_string(), "3".to_string()));
        let error = ServiceError::from_response(429, &throttled.headers, &throttled.body);
        assert_eq!(error.code, "TooManyRequests");
        assert_eq!(answer.responses["4"].body, "{\"id\":", "a garbled body stays as it came");
        assert_eq!(answer.responses["5"].body, "42", "base64 under another type");
        assert!(!answer.responses.contains_key("3"));
        assert!(matches!(parse_answer("{}"), Err(GraphError::Decode(_))));
        assert!(matches!(parse_answer("{\"responses\":"), Err(GraphError::Decode(_))));
    }
}
