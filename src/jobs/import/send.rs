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
//! The waits follow the client's retry policy (its attempts, back-off and `Retry-After`); a
//! 429 pauses every writer of the shared pacer. A cancel stops at the next wait or before the
//! next request, never in the middle of one: a request whose answer is not read would leave
//! its rows' fate unknown.

use super::progress::{ImportEvent, Reporter};
use super::reconcile::serial_key;
use super::survey::list_queue;
use super::written::{Answer, Journal, import_after};
use crate::graph::client::{GraphClient, failure_of, jitter, pause_for_throttling};
use crate::graph::csv::HardwareHashRow;
use crate::graph::error::GraphError;
use crate::graph::imported::IMPORTED;
use crate::graph::resource::Record;
use crate::graph::retry::{Failure, RetryPolicy};
use crate::write_log::{WriteEntry, WriteSource};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The `import` action's parameter.
pub const IMPORT_PARAMETER: &str = "importedWindowsAutopilotDeviceIdentities";

/// Splits of refused requests one run makes at most (each split sends two requests).
pub const SPLIT_BUDGET: usize = 32;

/// The write log's verb of an import request.
const VERB: &str = "POST import";

/// What became of one row at sending.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// In the queue: the record's id.
    Landed(String),
    /// Refused by Graph: never stored.
    Refused(String),
    /// Not known to be in the queue after every try (the watch still looks for it).
    GaveUp(String),
    /// Not in the queue: the job was cancelled before it went (or before it went again).
    NotSent,
}

/// The rows of one request and what is known of them.
#[derive(Default)]
struct Piece {
    landed: Vec<(usize, String)>,
    gave_up: Vec<(usize, String)>,
    refused: Option<(Vec<usize>, String)>,
    not_sent: Vec<usize>,
}

/// Sends the rows of one run.
pub(super) struct Sender<'a> {
    /// For the `import` request: the caller's client without retries or pacer (this sender
    /// takes the pacer's leave itself, so a cancel never drops a request in flight).
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
    /// Events, the cancel, the pacer.
    pub reporter: &'a Reporter,
    /// The write log.
    pub journal: &'a Journal,
}

impl Sender<'_> {
    /// Sends one chunk; one result per row, in order.
    pub(super) async fn send_chunk(
        &mut self,
        rows: &[&HardwareHashRow],
        chunk: usize,
        chunks: usize,
    ) -> Vec<Sent> {
        let mut results: Vec<Option<Sent>> = vec![None; rows.len()];
        let mut pieces: Vec<Vec<usize>> = vec![(0..rows.len()).collect()];
        while let Some(piece) = pieces.pop() {
            let done = self.send_piece(rows, piece, chunk, chunks).await;
            for (i, id) in done.landed {
                results[i] = Some(Sent::Landed(id));
            }
            for (i, why) in done.gave_up {
                results[i] = Some(Sent::GaveUp(why));
            }
            for i in done.not_sent {
                results[i] = Some(Sent::NotSent);
            }
            let Some((refused, why)) = done.refused else { continue };
            if refused.len() > 1 && self.splits_left > 0 && !self.reporter.is_cancelled() {
                self.splits_left -= 1;
                self.reporter.emit(ImportEvent::ChunkSplit { chunk, rows: refused.len(), reason: why });
                let (first, second) = refused.split_at(refused.len() / 2);
                pieces.push(second.to_vec());
                pieces.push(first.to_vec());
            } else {
                for i in refused {
                    results[i] = Some(Sent::Refused(why.clone()));
                }
            }
        }
        results.into_iter().map(|r| r.unwrap_or(Sent::NotSent)).collect()
    }

    /// Sends some rows of a chunk until each is in the queue, refused, or given up.
    async fn send_piece(
        &self,
        rows: &[&HardwareHashRow],
        mut pending: Vec<usize>,
        chunk: usize,
        chunks: usize,
    ) -> Piece {
        let mut piece = Piece::default();
        let mut wait = Duration::ZERO;
        // The last request may have been stored: read the queue before sending again. Its
        // answer (if any) and rows are kept for the write log.
        let mut uncertain: Option<(Answer, Vec<usize>)> = None;
        let mut may_send = true;
        let mut sends = 0;
        let mut last_error = String::new();
        loop {
            if !wait.is_zero() && !self.reporter.sleep(wait).await {
                may_send = false;
            }
            if let Some((answer, carried)) = uncertain.take() {
                match self.find_ours(rows, &pending).await {
                    Ok(found) => {
                        let mut entries = Vec::new();
                        pending.retain(|i| {
                            let id = found.get(&serial_key(&rows[*i].serial_number));
                            if carried.contains(i) && (id.is_some() || answer.journalled()) {
                                entries.push(self.entry(rows[*i], id.map_or("", String::as_str), &answer));
                            }
                            match id {
                                Some(id) => {
                                    piece.landed.push((*i, id.clone()));
                                    false
                                }
                                None => true,
                            }
                        });
                        self.journal.append(&entries);
                    }
                    Err(e) => {
                        if answer.journalled() {
                            let entries: Vec<WriteEntry> =
                                carried.iter().map(|i| self.entry(rows[*i], "", &answer)).collect();
                            self.journal.append(&entries);
                        }
                        let why = format!(
                            "{last_error}; the import queue could not be read to see whether it landed ({e}): \
                             look the serial up in the queue before importing it again"
                        );
                        piece.gave_up.extend(pending.iter().map(|i| (*i, why.clone())));
                        return piece;
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            if self.reporter.is_cancelled() {
                // What is pending is known not to be in the queue: it was never taken.
                piece.not_sent.append(&mut pending);
                return piece;
            }
            if !may_send || sends >= self.policy.max_attempts.max(1) {
                break;
            }
            // The pacer's leave, or the cancel: nothing has gone yet, so dropping it is safe.
            let permit = tokio::select! {
                biased;
                _ = self.reporter.token().cancelled() => continue,
                permit = self.reporter.pacer().acquire(1) => permit,
            };
            sends += 1;
            self.reporter.emit(ImportEvent::Sending { chunk, chunks, rows: pending.len(), attempt: sends });
            let body = self.body(rows, &pending);
            let outcome = self.once.send_paced("POST", &self.url, Some(body), 0, decode_answer).await;
            drop(permit);
            let answer = Answer::of(&outcome.exchange);
            let error = match outcome.result {
                Ok(records) => {
                    let mut answered: HashMap<String, String> = HashMap::new();
                    for record in &records {
                        let text = |key: &str| record.get(key).and_then(Value::as_str);
                        if let (Some(serial), Some(id)) = (text("serialNumber"), text("id")) {
                            answered.entry(serial_key(serial)).or_insert_with(|| id.to_string());
                        }
                    }
                    let mut entries = Vec::new();
                    pending.retain(|i| match answered.get(&serial_key(&rows[*i].serial_number)) {
                        Some(id) => {
                            entries.push(self.entry(rows[*i], id, &answer));
                            piece.landed.push((*i, id.clone()));
                            false
                        }
                        None => true,
                    });
                    self.journal.append(&entries);
                    if !pending.is_empty() {
                        last_error =
                            format!("the import's answer did not list {} of the rows sent", pending.len());
                        uncertain = Some((answer, pending.clone()));
                        wait = Duration::ZERO;
                    }
                    continue;
                }
                Err(error) => error,
            };
            last_error = error.to_string();
            let status = error.service().map(|s| s.status);
            let failure = failure_of(&error, &outcome.exchange);
            let delay = failure.as_ref().and_then(|f| self.policy.delay(sends, f, jitter()));
            if let Some(failure) = &failure {
                // A 429 (or a 503 with Retry-After) pauses every writer of the pacer.
                pause_for_throttling(self.reporter.pacer(), failure, delay, &self.policy);
            }
            if matches!(status, Some(400 | 413)) {
                let entries: Vec<WriteEntry> =
                    pending.iter().map(|i| self.entry(rows[*i], "", &answer)).collect();
                self.journal.append(&entries);
                piece.refused = Some((pending, last_error));
                return piece;
            }
            let Some(failure) = failure.filter(Failure::is_retryable) else {
                // Refused for a reason every row shares (sign-in, permission, ...).
                if answer.journalled() {
                    let entries: Vec<WriteEntry> =
                        pending.iter().map(|i| self.entry(rows[*i], "", &answer)).collect();
                    self.journal.append(&entries);
                }
                piece.gave_up.extend(pending.iter().map(|i| (*i, last_error.clone())));
                return piece;
            };
            // A 429 or a refused connection took nothing; anything else may have been stored.
            if !matches!(failure, Failure::Status { status: 429, .. } | Failure::Connect) {
                uncertain = Some((answer, pending.clone()));
            }
            match delay {
                Some(delay) => {
                    wait = delay;
                    self.reporter.emit(ImportEvent::ChunkRetry {
                        chunk,
                        attempt: sends,
                        wait,
                        reason: last_error.clone(),
                        rechecking: uncertain.is_some(),
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

    /// The write log's entry of one row of an import request.
    fn entry(&self, row: &HardwareHashRow, id: &str, answer: &Answer) -> WriteEntry {
        let after = import_after(row, &self.import_id);
        self.journal.entry(
            &IMPORTED,
            id,
            Some(&row.serial_number),
            VERB,
            Map::new(),
            after,
            answer,
            WriteSource::Import,
        )
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
