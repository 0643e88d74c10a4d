//! One import as a job with steps (check, survey, run, sync), a progress channel and a cancel
//! token: what the app's `:import` and `autopilot-tui import` both drive.

use super::cleanup::clean_up;
use super::progress::{ImportEvent, ImportProgress, Reporter};
use super::reconcile::{ImportPlan, Step, Tenant, serial_key};
use super::results::{self, Outcome, RowResult};
use super::send::{self, Sender, Sent};
use super::update::update_registered;
use super::watch::{self, RowState, WatchedRow};
use super::written::Journal;
use super::{ImportError, ImportRun, RunOptions, SyncOutcome};
use crate::graph::client::{Collection, GraphClient, collection_url_for};
use crate::graph::csv::{self, HardwareHashRow, PORTAL_ROW_LIMIT, Report};
use crate::graph::imported::IMPORTED;
use crate::graph::pacer::WritePacer;
use crate::graph::retry::RetryPolicy;
use crate::write_log::WriteLog;
use std::collections::HashMap;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_util::sync::CancellationToken;

/// An import on one connection. Cheap to clone (clones share the channel, the token, the
/// pacer), so each step can run in its own task.
#[derive(Clone)]
pub struct ImportJob {
    client: GraphClient,
    reporter: Reporter,
    write_log: Option<WriteLog>,
}

impl ImportJob {
    /// A job on `client` whose every write passes through `pacer` (share the app's, so the
    /// import and any other writer keep to one budget and a 429 pauses them all), stopped by
    /// `cancel`, journalling its writes to `write_log` (none: not journalled). Its progress
    /// comes out of the receiver.
    pub fn new(
        client: &GraphClient,
        pacer: WritePacer,
        cancel: CancellationToken,
        write_log: Option<WriteLog>,
    ) -> (ImportJob, UnboundedReceiver<ImportProgress>) {
        let (tx, rx) = unbounded_channel();
        let client = client.clone().with_pacer(pacer.clone());
        (ImportJob { client, reporter: Reporter::new(Some(tx), cancel, pacer), write_log }, rx)
    }

    /// The token that stops this job.
    pub fn cancel_token(&self) -> &CancellationToken {
        self.reporter.token()
    }

    /// Checks the file's bytes (pure; told as [`ImportEvent::Checked`]).
    pub fn check(&self, bytes: &[u8]) -> Report {
        let report = csv::check(bytes);
        self.reporter.emit(ImportEvent::Checked {
            rows: report.data_rows,
            valid: report.rows.len(),
            problems: report.problems.len(),
        });
        report
    }

    /// Reads what the tenant holds for the valid rows' serials (both collections, `$select`ed,
    /// listed whole once); nothing to read for a file without valid rows. Feed it to
    /// [`plan`](super::plan), as often as the user changes the plan's options.
    pub async fn survey(&self, report: &Report, page_size: u32) -> Result<Tenant, ImportError> {
        if report.rows.is_empty() {
            return Ok(Tenant::default());
        }
        super::survey::survey(&self.client, &super::serials_of(report), page_size, &self.reporter).await
    }

    /// Carries out a plan: registered devices updated, new rows imported in chunks under one
    /// `importId`, watched until done, the timeout or a cancel, completed records cleaned up.
    /// Every write goes through the job's pacer; every write answered is journalled.
    pub async fn run(&self, plan: &ImportPlan, options: &RunOptions) -> Result<ImportRun, ImportError> {
        if self.client.config().read_only {
            return Err(ImportError::ReadOnly);
        }
        if self.reporter.is_cancelled() {
            return Err(ImportError::Cancelled);
        }
        tokio::select! {
            run = self.run_plan(plan, options) => run,
            never = self.reporter.tell_pauses() => match never {},
        }
    }

    /// Asks Intune to sync with the Autopilot service, once (told as [`ImportEvent::Synced`]).
    pub async fn sync(&self) -> SyncOutcome {
        let outcome = super::sync::sync(&self.client).await;
        self.reporter.emit(ImportEvent::Synced(outcome.clone()));
        outcome
    }

    async fn run_plan(&self, plan: &ImportPlan, options: &RunOptions) -> Result<ImportRun, ImportError> {
        let reporter = &self.reporter;
        let reads = self.client.for_resource(&IMPORTED);
        let once = {
            let mut config = self.client.config().clone();
            config.retry = RetryPolicy::none();
            GraphClient::new(config).map_err(ImportError::Client)?.for_resource(&IMPORTED)
        };
        let import_id = options.import_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let journal = Journal::new(
            self.write_log.clone(),
            reporter.clone(),
            self.client.config().base_url.clone(),
            import_id.clone(),
        );
        let mut results: Vec<RowResult> =
            plan.rows.iter().map(|row| results::planned(row, Outcome::NotSent, Outcome::NotSent)).collect();

        // Registered devices first: a handful of quick writes.
        update_registered(&self.client, plan, &mut results, reporter, &journal).await;

        // New rows, in chunks.
        let imports: Vec<usize> =
            (0..plan.rows.len()).filter(|i| plan.rows[*i].step == Step::Import).collect();
        let chunk_size = options.chunk_size.clamp(1, PORTAL_ROW_LIMIT);
        let chunks = imports.len().div_ceil(chunk_size);
        let mut sender = Sender {
            once: &once,
            reads: &reads,
            policy: self.client.config().retry.clone(),
            url: format!(
                "{}/import",
                collection_url_for(&self.client.config().base_url, Collection::DeviceManagement, &IMPORTED)
            ),
            import_id: import_id.clone(),
            page_size: options.page_size,
            splits_left: send::SPLIT_BUDGET,
            reporter,
            journal: &journal,
        };
        let mut watched: HashMap<String, WatchedRow> = HashMap::new();
        let mut row_of_key: HashMap<String, usize> = HashMap::new();
        for (n, chunk) in imports.chunks(chunk_size).enumerate() {
            let rows: Vec<&HardwareHashRow> =
                chunk.iter().filter_map(|i| plan.rows[*i].row.as_ref()).collect();
            let sent = if reporter.is_cancelled() {
                vec![Sent::NotSent; rows.len()]
            } else {
                sender.send_chunk(&rows, n + 1, chunks).await
            };
            let mut landed = 0;
            for (i, outcome) in chunk.iter().zip(sent) {
                let key = plan.rows[*i].serial.as_deref().map(serial_key).unwrap_or_default();
                let result = &mut results[*i];
                match outcome {
                    Sent::Landed(id) => {
                        landed += 1;
                        result.import_record_id = Some(id);
                        row_of_key.insert(key.clone(), *i);
                        watched.insert(key, WatchedRow::new(true));
                    }
                    Sent::Refused(why) => {
                        result.outcome = Outcome::Failed;
                        result.details = format!("Graph refused the import: {why}");
                    }
                    Sent::GaveUp(why) => {
                        result.outcome = Outcome::Failed;
                        result.details = format!("sending failed: {why}");
                        row_of_key.insert(key.clone(), *i);
                        watched.insert(key, WatchedRow::new(false));
                    }
                    Sent::NotSent => {
                        result.outcome = Outcome::NotSent;
                        result.details = "not sent: the import was cancelled first".into();
                    }
                }
            }
            reporter.emit(ImportEvent::Sent { chunk: n + 1, landed, failed: chunk.len() - landed });
        }

        // The watch (a cancelled job still takes one look, so the results say where rows are).
        let end = if watched.is_empty() {
            None
        } else {
            Some(
                watch::watch(&reads, &import_id, options.page_size, options.watch, &mut watched, reporter)
                    .await,
            )
        };
        let cancelled = reporter.is_cancelled();
        let mut to_delete: Vec<(usize, String)> = Vec::new();
        for (key, row) in &watched {
            let Some(&i) = row_of_key.get(key) else { continue };
            let result = &mut results[i];
            let ids = || row.records.iter().map(|r| (i, r.id.clone())).collect::<Vec<_>>();
            match row.state() {
                RowState::Complete(record) => {
                    result.outcome = Outcome::Imported;
                    result.registered_id = record.registration_id.clone();
                    result.import_record_id = Some(record.id.clone());
                    result.details = "registered".into();
                    if options.cleanup.completed {
                        to_delete.extend(ids());
                    }
                }
                RowState::Failed(record) => {
                    result.outcome = Outcome::Failed;
                    result.import_record_id = Some(record.id.clone());
                    result.error = record.error.clone();
                    result.details = record.error.as_ref().map(|e| e.words()).unwrap_or_default();
                    if options.cleanup.failed {
                        to_delete.extend(ids());
                    } else {
                        result
                            .details
                            .push_str(" The failed import record stays in the queue until you delete it.");
                    }
                }
                RowState::Gone => {
                    result.outcome = Outcome::Failed;
                    result.details =
                        "its import record left the queue before it finished (deleted by someone?): \
                                      look the serial up in :devices"
                            .into();
                }
                RowState::InProcess(record) => {
                    result.outcome = Outcome::Pending;
                    result.import_record_id = Some(record.id.clone());
                    result.details = format!(
                        "still {} when the watch ended{}; look again later (:imported), or run the same file \
                         again: rows in the queue are shown, not imported twice",
                        record.status,
                        if cancelled { " (cancelled)" } else { "" }
                    );
                }
                RowState::Unlisted if row.expected => {
                    result.outcome = Outcome::Pending;
                    result.details = "sent, but not listed in the queue yet when the watch ended".into();
                }
                RowState::Unlisted => {}
            }
        }

        // The clean-up (skipped, records kept, once cancelled).
        to_delete.sort();
        let deleted = clean_up(&self.client, to_delete, &mut results, reporter, &journal).await;
        Ok(ImportRun { import_id, rows: results, watch: end, cancelled: reporter.is_cancelled(), deleted })
    }
}
