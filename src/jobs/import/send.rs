//! Sending rows to Graph's `import` action in chunks, without importing a row twice.
//!
//! `POST .../importedWindowsAutopilotDeviceIdentities/import` with
//! `{"importedWindowsAutopilotDeviceIdentities": [...]}`, each entry a row with the run's
//! `importId`, at most [`PORTAL_ROW_LIMIT`](crate::graph::csv::PORTAL_ROW_LIMIT) a chunk, one
//! write of the [`WritePacer`](crate::graph::pacer::WritePacer) a request. The client's own
//! retries are off for this request: an import whose answer was lost may be in the queue, and
//! sending it again would make a second set of records that fails with 806. So:
//!
//! - a 429, or no connection at all: nothing was taken; sent again after the wait;
//! - no answer, a cut or garbled one, a 5xx: the queue is read (this run's `importId`, by
//!   serial) after the wait, the rows found there are in, only the others are sent again;
//! - an answer that lists fewer records than were sent: the same re-read;
//! - a 400 or 413: the request was refused as a whole (nothing stored), so it is split in
//!   halves to find the rows at fault, within a budget of splits per run; a row refused alone
//!   fails with Graph's answer;
//! - any other refusal (401, 403, ...) fails the rows with it.
//!
//! The waits follow the client's retry policy (its attempts, back-off and `Retry-After`).

use super::survey::list_queue;
use super::{ImportEvent, reconcile::serial_key};
use crate::graph::client::{GraphClient, failure_of, jitter};
use crate::graph::csv::HardwareHashRow;
use crate::graph::error::GraphError;
use crate::graph::resource::Record;
use crate::graph::retry::{Failure, RetryPolicy};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The `import` action's parameter.
pub const IMPORT_PARAMETER: &str = "importedWindowsAutopilotDeviceIdentities";

/// Splits of refused requests one run makes at most (each split sends two requests).
pub const SPLIT_BUDGET: usize = 32;

/// What became of one row at sending.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// In the queue: the record's id.
    Landed(String),
    /// Refused by Graph: never stored.
    Refused(String),
    /// Not known to be in the queue after every try (the watch still looks for it).
    GaveUp(String),
}

/// The rows of one request and what is known of them.
struct Piece {
    landed: Vec<(usize, String)>,
    gave_up: Vec<(usize, String)>,
    refused: Option<(Vec<usize>, String)>,
}

/// Sends the rows of one run.
pub(super) struct Sender<'a> {
    /// For the `import` request: the caller's client without retries, with the run's pacer.
    pub once: &'a GraphClient,
    /// For reading the queue back.
    pub reads: &'a GraphClient,
    /// When to try again (the caller's client's policy).
    pub policy: RetryPolicy,
    /// The `import` action's URL.
    pub url: String,
    /// This run's `importId`.
    pub import_id: String,
    /// Page size of the re-reads.
    pub page_size: u32,
    /// Splits left.
    pub splits_left: usize,
}

impl Sender<'_> {
    /// Sends one chunk; one result per row, in order.
    pub(super) async fn send_chunk(
        &mut self,
        rows: &[&HardwareHashRow],
        chunk: usize,
        chunks: usize,
        on_event: &mut (dyn FnMut(ImportEvent) + Send),
    ) -> Vec<Sent> {
        let mut results: Vec<Option<Sent>> = vec![None; rows.len()];
        let mut pieces: Vec<Vec<usize>> = vec![(0..rows.len()).collect()];
        while let Some(piece) = pieces.pop() {
            let done = self.send_piece(rows, piece, chunk, chunks, on_event).await;
            for (i, id) in done.landed {
                results[i] = Some(Sent::Landed(id));
            }
            for (i, why) in done.gave_up {
                results[i] = Some(Sent::GaveUp(why));
            }
            let Some((refused, why)) = done.refused else { continue };
            if refused.len() > 1 && self.splits_left > 0 {
                self.splits_left -= 1;
                on_event(ImportEvent::ChunkSplit { chunk, rows: refused.len(), reason: why });
                let (first, second) = refused.split_at(refused.len() / 2);
                pieces.push(second.to_vec());
                pieces.push(first.to_vec());
            } else {
                for i in refused {
                    results[i] = Some(Sent::Refused(why.clone()));
                }
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Sent::GaveUp("not sent".into()))).collect()
    }

    /// Sends some rows of a chunk until each is in the queue, refused, or given up.
    async fn send_piece(
        &self,
        rows: &[&HardwareHashRow],
        mut pending: Vec<usize>,
        chunk: usize,
        chunks: usize,
        on_event: &mut (dyn FnMut(ImportEvent) + Send),
    ) -> Piece {
        let mut piece = Piece { landed: Vec::new(), gave_up: Vec::new(), refused: None };
        let mut wait = Duration::ZERO;
        // The last request may have been stored: read the queue before sending again.
        let mut uncertain = false;
        let mut may_send = true;
        let mut sends = 0;
        let mut last_error = String::new();
        loop {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if uncertain {
                match self.find_ours(rows, &pending).await {
                    Ok(found) => {
                        pending.retain(|i| match found.get(&serial_key(&rows[*i].serial_number)) {
                            Some(id) => {
                                piece.landed.push((*i, id.clone()));
                                false
                            }
                            None => true,
                        });
                        uncertain = false;
                    }
                    Err(e) => {
                        let why = format!(
                            "{last_error}; the import queue could not be read to see whether it landed ({e}): \
                             look the serial up in the queue before importing it again"
                        );
                        piece.gave_up.extend(pending.iter().map(|i| (*i, why.clone())));
                        return piece;
                    }
                }
            }
            if pending.is_empty() || !may_send || sends >= self.policy.max_attempts.max(1) {
                break;
            }
            sends += 1;
            on_event(ImportEvent::Sending { chunk, chunks, rows: pending.len(), attempt: sends });
            let body = self.body(rows, &pending);
            let outcome = self.once.send_paced("POST", &self.url, Some(body), 1, decode_answer).await;
            let error = match outcome.result {
                Ok(records) => {
                    let mut answered: HashMap<String, String> = HashMap::new();
                    for record in &records {
                        let text = |key: &str| record.get(key).and_then(Value::as_str);
                        if let (Some(serial), Some(id)) = (text("serialNumber"), text("id")) {
                            answered.entry(serial_key(serial)).or_insert_with(|| id.to_string());
                        }
                    }
                    pending.retain(|i| match answered.get(&serial_key(&rows[*i].serial_number)) {
                        Some(id) => {
                            piece.landed.push((*i, id.clone()));
                            false
                        }
                        None => true,
                    });
                    if !pending.is_empty() {
                        last_error =
                            format!("the import's answer did not list {} of the rows sent", pending.len());
                        uncertain = true;
                        wait = Duration::ZERO;
                    }
                    continue;
                }
                Err(error) => error,
            };
            last_error = error.to_string();
            let status = error.service().map(|s| s.status);
            if matches!(status, Some(400 | 413)) {
                piece.refused = Some((pending, last_error));
                return piece;
            }
            let Some(failure) = failure_of(&error, &outcome.exchange).filter(Failure::is_retryable) else {
                // Refused for a reason every row shares (sign-in, permission, read-only, ...).
                piece.gave_up.extend(pending.iter().map(|i| (*i, last_error.clone())));
                return piece;
            };
            // A 429 or a refused connection took nothing; anything else may have been stored.
            uncertain = !matches!(failure, Failure::Status { status: 429, .. } | Failure::Connect);
            match self.policy.delay(sends, &failure, jitter()) {
                Some(delay) => {
                    wait = delay;
                    on_event(ImportEvent::ChunkRetry {
                        chunk,
                        attempt: sends,
                        wait,
                        reason: last_error.clone(),
                        rechecking: uncertain,
                    });
                }
                None => {
                    may_send = false;
                    wait = Duration::ZERO;
                }
            }
        }
        piece
            .gave_up
            .extend(pending.iter().map(|i| (*i, format!("{last_error} (gave up after {sends} tries)"))));
        piece
    }

    /// The request body for these rows, each with the run's `importId`.
    fn body(&self, rows: &[&HardwareHashRow], pending: &[usize]) -> String {
        let entries: Vec<Value> = pending
            .iter()
            .map(|i| {
                let mut entry = rows[*i].to_import_json();
                entry.insert("importId".into(), Value::String(self.import_id.clone()));
                Value::Object(entry)
            })
            .collect();
        serde_json::json!({ IMPORT_PARAMETER: entries }).to_string()
    }

    /// The records of this run in the queue for these rows' serials: serial key -> record id.
    async fn find_ours(
        &self,
        rows: &[&HardwareHashRow],
        pending: &[usize],
    ) -> Result<HashMap<String, String>, GraphError> {
        let wanted: HashSet<String> = pending.iter().map(|i| serial_key(&rows[*i].serial_number)).collect();
        let mut found = HashMap::new();
        for record in list_ours(self.reads, &self.import_id, self.page_size).await? {
            let key = serial_key(&record.serial);
            if wanted.contains(&key) {
                found.entry(key).or_insert(record.id);
            }
        }
        Ok(found)
    }
}

/// Every record of the queue with this `importId`: the queue listed whole and filtered here,
/// since the live service refuses `eq` in `$filter`.
pub(super) async fn list_ours(
    reads: &GraphClient,
    import_id: &str,
    page_size: u32,
) -> Result<Vec<super::reconcile::QueueRecord>, GraphError> {
    let mut pages = list_queue(reads, page_size);
    let mut ours = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.result?;
        ours.extend(
            page.devices
                .iter()
                .filter(|r| r.get("importId").and_then(Value::as_str) == Some(import_id))
                .filter_map(super::reconcile::QueueRecord::from_record),
        );
    }
    Ok(ours)
}

/// The `import` action's answer: `{"value": [records]}`.
fn decode_answer(text: &str) -> Result<Vec<Record>, GraphError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        value: Vec<Record>,
    }
    serde_json::from_str::<Answer>(text)
        .map(|answer| answer.value)
        .map_err(|e| GraphError::Decode(format!("not the import's answer: {e}")))
}
