//! The clean-up after the watch, as `Import-AutopilotCSV` does it: the import records of rows
//! that completed are deleted (the queue is a staging area; the registered device is what
//! remains); failed ones stay unless asked, so `:imported` shows why.

use super::progress::{ImportEvent, Reporter};
use super::results::RowResult;
use super::written::{Answer, Journal};
use crate::graph::client::GraphClient;
use crate::graph::imported::IMPORTED;
use crate::graph::resource::ActionRequest;
use crate::write_log::WriteSource;
use futures_util::StreamExt;
use serde_json::Map;

/// Deletes import records `(row, record id)` (a 404 is one gone already) at the pace of the
/// shared write budget; says so in each row's result. Returns how many are gone. Once the job
/// is cancelled no further delete starts.
pub(super) async fn clean_up(
    writes: &GraphClient,
    records: Vec<(usize, String)>,
    results: &mut [RowResult],
    reporter: &Reporter,
    journal: &Journal,
) -> usize {
    let total = records.len();
    if total == 0 {
        return 0;
    }
    let client = writes.for_resource(&IMPORTED);
    let concurrency = client.pacer().map_or(1, |p| p.config().concurrency);
    let mut deleting = futures_util::stream::iter(records.into_iter().map(|(i, id)| {
        let client = client.clone();
        let reporter = reporter.clone();
        async move {
            if reporter.is_cancelled() {
                return (i, id, None);
            }
            let outcome = client.act(&id, ActionRequest::Delete, None, &[]).await;
            (i, id, Some(outcome))
        }
    }))
    .buffer_unordered(concurrency);
    let mut done = 0;
    let mut deleted = 0;
    reporter.emit(ImportEvent::CleaningUp { done, total });
    while let Some((i, id, outcome)) = deleting.next().await {
        let row = &mut results[i];
        let Some(outcome) = outcome else {
            row.details.push_str(&format!("; its import record {id} was kept: the import was cancelled"));
            continue;
        };
        let answer = Answer::of(&outcome.exchange);
        if answer.journalled() {
            let entry = journal.entry(
                &IMPORTED,
                &id,
                row.serial.as_deref(),
                "DELETE",
                Map::new(),
                Map::new(),
                &answer,
                WriteSource::Cleanup,
            );
            journal.append(&[entry]);
        }
        match outcome.result {
            Err(e) if e.service().is_none_or(|s| s.status != 404) => {
                row.details.push_str(&format!(
                    "; its import record {id} could not be deleted ({e}): delete it in :imported"
                ));
            }
            _ => {
                deleted += 1;
                if row.import_record_id.as_deref() == Some(id.as_str()) {
                    row.import_record_id = None;
                }
                if !row.details.contains("import record deleted") {
                    row.details.push_str("; import record deleted");
                }
            }
        }
        done += 1;
        reporter.emit(ImportEvent::CleaningUp { done, total });
    }
    deleted
}
