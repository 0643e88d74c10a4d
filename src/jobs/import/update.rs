//! Rows registered already with another group tag or user: the registered device is updated
//! (`updateDeviceProperties`, exactly the changed properties) instead of importing the row, at
//! the pace of the shared write budget.

use super::progress::{ImportEvent, Reporter};
use super::reconcile::{ImportPlan, Step};
use super::results::{Outcome, RowResult};
use super::written::{Answer, Journal};
use crate::graph::client::GraphClient;
use crate::graph::registered::REGISTERED;
use crate::write_log::WriteSource;
use futures_util::StreamExt;
use serde_json::Map;

/// Updates the registered devices of the plan's update steps; each row's result says how it
/// went. Once the job is cancelled no further update starts (those rows are not sent).
pub(super) async fn update_registered(
    writes: &GraphClient,
    plan: &ImportPlan,
    results: &mut [RowResult],
    reporter: &Reporter,
    journal: &Journal,
) {
    let updates: Vec<(usize, String, crate::graph::patch::PatchBody)> = plan
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| match &row.step {
            Step::Update { device_id, body, .. } => Some((i, device_id.clone(), body.clone())),
            _ => None,
        })
        .collect();
    if updates.is_empty() {
        return;
    }
    let client = writes.for_resource(&REGISTERED);
    let concurrency = client.pacer().map_or(1, |p| p.config().concurrency);
    let total = updates.len();
    let mut done = 0;
    let mut writing = futures_util::stream::iter(updates.into_iter().map(|(i, device_id, body)| {
        let client = client.clone();
        let reporter = reporter.clone();
        async move {
            if reporter.is_cancelled() {
                return (i, device_id, body, None);
            }
            let outcome = client.write(&device_id, &body).await;
            (i, device_id, body, Some(outcome))
        }
    }))
    .buffer_unordered(concurrency);
    reporter.emit(ImportEvent::Updating { done, total });
    let verb = REGISTERED.write.describe();
    while let Some((i, device_id, body, outcome)) = writing.next().await {
        let row = &mut results[i];
        let Some(outcome) = outcome else {
            row.outcome = Outcome::NotSent;
            row.details = "not updated: the import was cancelled first".into();
            continue;
        };
        let answer = Answer::of(&outcome.exchange);
        if answer.journalled() {
            let before: Map<_, _> =
                body.changes.iter().map(|c| (c.field.path.to_string(), c.old.clone())).collect();
            let entry = journal.entry(
                &REGISTERED,
                &device_id,
                row.serial.as_deref(),
                &verb,
                before,
                body.properties.clone(),
                &answer,
                WriteSource::Import,
            );
            journal.append(&[entry]);
        }
        match outcome.result {
            Ok(_) => {
                row.outcome = Outcome::UpdatedInstead;
                row.details =
                    row.details.replacen("registered already; update", "registered already; updated", 1);
            }
            Err(e) => {
                row.outcome = Outcome::Failed;
                row.details = format!("updating the registered device failed: {e}");
            }
        }
        done += 1;
        reporter.emit(ImportEvent::Updating { done, total });
    }
}
