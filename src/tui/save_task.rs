//! One save from the form, as a task: read the record again, rebase the change onto it (or stop
//! at a field someone else changed), write it (with `If-Match` when the server gave an ETag,
//! read again on a 412), read it back after a 204, and log the write. The pure parts are in
//! `graph::conflict`; this file only sequences requests.

use crate::graph::client::{Exchange, GraphClient};
use crate::graph::conflict::{Rebased, rebase};
use crate::graph::error::GraphError;
use crate::graph::patch::PatchBody;
use crate::graph::resource::Record;
use crate::tui::event::Msg;
use crate::write_log::{WriteEntry, WriteLog, WriteSource};
use serde_json::{Map, Value};

/// How many times a write refused with 412 (the record changed between the re-read and the
/// write) is checked again before the save gives up.
const PRECONDITION_ROUNDS: usize = 3;

/// What one save needs.
pub struct SaveJob {
    /// The save's request id.
    pub request_id: u64,
    /// The record.
    pub device_id: String,
    /// The change, made against `original`.
    pub body: PatchBody,
    /// The record the change was made against.
    pub original: Record,
    /// What made it.
    pub source: WriteSource,
    /// The write log entry it undoes (its key), for an undo.
    pub undoes: Option<String>,
}

/// Runs the save; the message says how it ended.
pub async fn run(client: GraphClient, job: SaveJob, log: Option<WriteLog>) -> Msg {
    let SaveJob { request_id, device_id, body, original, source, undoes } = job;
    let resource = client.resource();
    let mut exchanges: Vec<Exchange> = Vec::new();
    let patched = |exchanges, result: Result<Record, GraphError>, written: Option<WriteEntry>| Msg::Patched {
        request_id,
        device_id: device_id.clone(),
        exchanges,
        result: Box::new(result),
        written: written.map(Box::new),
    };
    for _ in 0..PRECONDITION_ROUNDS {
        let read = client.get(&device_id).await;
        let etag = read.exchange.response_header("etag").map(str::to_string);
        exchanges.push(read.exchange);
        let server = match read.result {
            Ok(server) => server,
            Err(e) => return patched(exchanges, Err(GraphError::Reread(Box::new(e))), None),
        };
        let send = match rebase(resource, &original, &server, &body.changes) {
            Rebased::Conflicts(conflicts) => {
                return Msg::Conflicted {
                    request_id,
                    device_id: device_id.clone(),
                    exchanges,
                    server: Box::new(server),
                    conflicts,
                };
            }
            // The server holds every value already: nothing to write.
            Rebased::Send(send) if send.is_empty() => return patched(exchanges, Ok(server), None),
            Rebased::Send(send) => send,
        };
        let outcome = client.with_if_match(etag).write(&device_id, &send).await;
        let written = outcome.exchange.status.map(|status| WriteEntry {
            undoes: undoes.clone(),
            ..entry(&client, &device_id, &server, &send, status, &outcome.exchange, source)
        });
        exchanges.push(outcome.exchange);
        if let (Some(entry), Some(log)) = (written.as_ref(), log.as_ref()) {
            append(log, entry.clone()).await;
        }
        let result = match outcome.result {
            Ok(Some(record)) => Ok(record),
            // 204: the server kept its answer to itself; ask for the record.
            Ok(None) => {
                let again = client.get(&device_id).await;
                exchanges.push(again.exchange);
                again.result
            }
            // Changed between the re-read and the write: check again.
            Err(GraphError::Service(e)) if e.status == 412 => continue,
            Err(e) => Err(e),
        };
        let written = written.filter(WriteEntry::succeeded);
        return patched(exchanges, result, written);
    }
    patched(exchanges, Err(GraphError::KeptChanging(PRECONDITION_ROUNDS)), None)
}

/// The write log's entry of a write that got an answer: the values it replaced are the ones
/// the re-read showed.
pub fn entry(
    client: &GraphClient,
    id: &str,
    before: &Record,
    body: &PatchBody,
    status: u16,
    exchange: &Exchange,
    source: WriteSource,
) -> WriteEntry {
    let resource = client.resource();
    let value = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    let verb = resource.write.describe();
    WriteEntry {
        serial: before.get("serialNumber").and_then(Value::as_str).map(str::to_string),
        before: body.changes.iter().map(|c| (c.field.path.to_string(), value(c.field.get(before)))).collect(),
        after: body.changes.iter().map(|c| (c.field.path.to_string(), c.new.clone())).collect(),
        ..answered(client, id, verb, status, exchange, source)
    }
}

/// The parts of a write log entry every write has: when, where, which record, the answer.
pub fn answered(
    client: &GraphClient,
    id: &str,
    verb: String,
    status: u16,
    exchange: &Exchange,
    source: WriteSource,
) -> WriteEntry {
    let resource = client.resource();
    WriteEntry {
        time: crate::graph::timestamp::format(std::time::SystemTime::now()),
        target: crate::write_log::target_of(&client.config().base_url),
        collection: resource.collection_name().to_string(),
        id: id.to_string(),
        serial: None,
        verb,
        before: Map::new(),
        after: Map::new(),
        status,
        request_id: exchange.response_header("request-id").map(str::to_string),
        source,
        job: None,
        undoes: None,
    }
}

/// Appends an entry off the async workers; a log that cannot be written is logged, not fatal
/// (the write happened either way).
pub async fn append(log: &WriteLog, entry: WriteEntry) {
    let log = log.clone();
    let appended = tokio::task::spawn_blocking(move || log.append(&[entry])).await;
    if let Ok(Err(e)) = appended {
        tracing::warn!(error = %e, "write log not appended");
    }
}
