//! Importing a hardware-hash CSV, headless or from the app: checked (`graph::csv`), reconciled
//! with the tenant ([`survey`], [`reconcile::plan`]), imported in chunks at Intune's pace
//! ([`run`]: updates of registered devices, the `import` action, the watch, the clean-up), with
//! the Autopilot sync offered after ([`sync`]), and one result per line of the file
//! ([`results`]). `headless` is `autopilot-tui import FILE.csv`.
//!
//! The flow for a caller (the TUI's `:import` does the same, with its own confirm):
//!
//! ```text
//! let report = graph::csv::check(&bytes);                       // every problem by line
//! let tenant = survey(&client, &serials_of(&report), 999, &mut on_event).await?;
//! let plan = reconcile::plan(&report, &tenant, PlanOptions { update_registered });
//! // show plan.counts() and results::plan_results(&plan); confirm
//! let run = run(&client, &plan, &RunOptions::default(), &mut on_event).await?;
//! // run.rows: one RowResult per line; then sync(&client) if the user wants it
//! ```
//!
//! Dropping a running future stops it where it is: what was sent stays in the import queue,
//! under the run's `importId`, and a second run of the same file shows those rows as in the
//! queue instead of importing them again.

pub mod headless;
pub mod reconcile;
pub mod results;
pub mod send;
pub mod survey;
pub mod watch;

pub use reconcile::{ImportPlan, PlanCounts, PlanOptions, PlannedRow, Step, Tenant, plan};
pub use results::{Outcome, RowResult};
pub use survey::survey;
pub use watch::{StatusCounts, WatchProgress, WatchSchedule};

use crate::graph::client::{Collection, GraphClient, collection_url_for};
use crate::graph::csv::{PORTAL_ROW_LIMIT, Report};
use crate::graph::error::GraphError;
use crate::graph::imported::IMPORTED;
use crate::graph::pacer::{PacerConfig, WritePacer};
use crate::graph::registered::REGISTERED;
use crate::graph::resource::ActionRequest;
use crate::graph::retry::RetryPolicy;
use futures_util::StreamExt;
use reconcile::{PlannedRow as Row, serial_key};
use send::{Sender, Sent};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use watch::{RowState, WatchedRow};

/// Why an import could not go on (per-row failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The CSV could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadCsv {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Listing a collection of the tenant failed, so nothing was planned or sent.
    #[error("reading the {collection} failed, so nothing was sent: {source}")]
    Survey {
        /// Which collection.
        collection: &'static str,
        /// Graph's error.
        source: GraphError,
    },
    /// The client for the `import` requests could not be built.
    #[error("cannot prepare the import requests: {0}")]
    Client(GraphError),
    /// The results file could not be written.
    #[error("cannot write the results to {}: {source}", path.display())]
    Results {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The terminal (stdout or stderr) is gone.
    #[error("cannot write to the terminal: {0}")]
    Terminal(std::io::Error),
}

/// What a run tells its caller as it goes (the progress line, the jobs view).
#[derive(Debug, Clone, PartialEq)]
pub enum ImportEvent {
    /// Reading the tenant: records read so far.
    Surveying {
        /// Registered devices read.
        registered: u64,
        /// Import records read.
        queue: u64,
    },
    /// Registered devices updated instead of imported, so far.
    Updating {
        /// Done.
        done: usize,
        /// In all.
        total: usize,
    },
    /// A request of a chunk is going out.
    Sending {
        /// The chunk, from 1.
        chunk: usize,
        /// Chunks in all.
        chunks: usize,
        /// Rows in this request.
        rows: usize,
        /// Which try, from 1.
        attempt: u32,
    },
    /// A chunk's request failed for a passing reason: waiting, then (when its answer may have
    /// been lost) reading the queue before sending only the rows not there.
    ChunkRetry {
        /// The chunk.
        chunk: usize,
        /// The try that failed.
        attempt: u32,
        /// The wait.
        wait: Duration,
        /// What went wrong.
        reason: String,
        /// Whether the queue is read first.
        rechecking: bool,
    },
    /// A chunk's request was refused whole (400): split to find the rows at fault.
    ChunkSplit {
        /// The chunk.
        chunk: usize,
        /// Rows in the refused request.
        rows: usize,
        /// Graph's answer.
        reason: String,
    },
    /// A chunk is done sending.
    Sent {
        /// The chunk.
        chunk: usize,
        /// Rows now in the queue.
        landed: usize,
        /// Rows refused or given up.
        failed: usize,
    },
    /// One poll of this import's records.
    Watching(WatchProgress),
    /// A poll failed; the watch goes on.
    PollFailed {
        /// What went wrong.
        reason: String,
    },
    /// Import records deleted so far.
    CleaningUp {
        /// Done.
        done: usize,
        /// In all.
        total: usize,
    },
}

/// What the clean-up deletes once the watch ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// The records of rows that completed (the registered devices stay), as
    /// `Import-AutopilotCSV` does.
    pub completed: bool,
    /// The records of rows that failed too (kept by default: they show why in `:imported`).
    pub failed: bool,
}

impl Default for Cleanup {
    fn default() -> Cleanup {
        Cleanup { completed: true, failed: false }
    }
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Rows per `import` request (1 to [`PORTAL_ROW_LIMIT`]).
    pub chunk_size: usize,
    /// The run's `importId` (default: a new GUID).
    pub import_id: Option<String>,
    /// The write budget, when the client has no pacer of its own.
    pub pacer: PacerConfig,
    /// When to poll and when to stop.
    pub watch: WatchSchedule,
    /// What to delete afterwards.
    pub cleanup: Cleanup,
    /// `$top` of the listings.
    pub page_size: u32,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            chunk_size: PORTAL_ROW_LIMIT,
            import_id: None,
            pacer: PacerConfig::default(),
            watch: WatchSchedule::default(),
            cleanup: Cleanup::default(),
            page_size: 999,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRun {
    /// The `importId` every record of this run carries.
    pub import_id: String,
    /// One result per line of the file, in line order.
    pub rows: Vec<RowResult>,
    /// Whether the watch stopped at its timeout with rows still in process.
    pub timed_out: bool,
    /// Import records deleted by the clean-up.
    pub deleted: usize,
}

impl ImportRun {
    /// Whether every row was imported, updated or skipped on purpose.
    pub fn all_done(&self) -> bool {
        results::all_done(&self.rows)
    }

    /// Whether a device was registered or changed, so an Autopilot sync is worth offering.
    pub fn changed_anything(&self) -> bool {
        self.rows.iter().any(|r| matches!(r.outcome, Outcome::Imported | Outcome::UpdatedInstead))
    }
}

/// The serial keys of a report's valid rows (what [`survey`] looks for).
pub fn serials_of(report: &Report) -> HashSet<String> {
    report.rows.iter().map(|r| serial_key(&r.serial_number)).collect()
}

/// Carries out a plan: registered devices updated, new rows imported in chunks, watched until
/// done or the timeout, completed records cleaned up. Every write goes through one
/// [`WritePacer`] (the client's, else one of `options.pacer`).
pub async fn run(
    client: &GraphClient,
    plan: &ImportPlan,
    options: &RunOptions,
    on_event: &mut (dyn FnMut(ImportEvent) + Send),
) -> Result<ImportRun, ImportError> {
    let pacer = client.pacer().cloned().unwrap_or_else(|| WritePacer::new(options.pacer));
    let reads = client.for_resource(&IMPORTED);
    let writes = reads.clone().with_pacer(pacer.clone());
    let once = {
        let mut config = client.config().clone();
        config.retry = RetryPolicy::none();
        GraphClient::new(config).map_err(ImportError::Client)?.with_pacer(pacer).for_resource(&IMPORTED)
    };
    let import_id = options.import_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut results: Vec<RowResult> =
        plan.rows.iter().map(|row| results::planned(row, Outcome::Failed, Outcome::Failed)).collect();

    // Registered devices first: a handful of quick writes.
    update_registered(&writes, plan, &mut results, on_event).await;

    // New rows, in chunks.
    let imports: Vec<usize> = (0..plan.rows.len()).filter(|i| plan.rows[*i].step == Step::Import).collect();
    let chunk_size = options.chunk_size.clamp(1, PORTAL_ROW_LIMIT);
    let chunks = imports.len().div_ceil(chunk_size);
    let mut sender = Sender {
        once: &once,
        reads: &reads,
        policy: client.config().retry.clone(),
        url: format!(
            "{}/import",
            collection_url_for(&client.config().base_url, Collection::DeviceManagement, &IMPORTED)
        ),
        import_id: import_id.clone(),
        page_size: options.page_size,
        splits_left: send::SPLIT_BUDGET,
    };
    let mut watched: HashMap<String, WatchedRow> = HashMap::new();
    let mut row_of_key: HashMap<String, usize> = HashMap::new();
    for (n, chunk) in imports.chunks(chunk_size).enumerate() {
        let rows: Vec<&crate::graph::csv::HardwareHashRow> =
            chunk.iter().filter_map(|i| plan.rows[*i].row.as_ref()).collect();
        let sent = sender.send_chunk(&rows, n + 1, chunks, on_event).await;
        let mut landed = 0;
        for (i, outcome) in chunk.iter().zip(sent) {
            let key = plan.rows[*i].serial.as_deref().map(serial_key).unwrap_or_default();
            row_of_key.insert(key.clone(), *i);
            let result = &mut results[*i];
            match outcome {
                Sent::Landed(id) => {
                    landed += 1;
                    result.import_record_id = Some(id);
                    watched.insert(key, WatchedRow::new(true));
                }
                Sent::Refused(why) => {
                    result.outcome = Outcome::Failed;
                    result.details = format!("Graph refused the import: {why}");
                }
                Sent::GaveUp(why) => {
                    result.outcome = Outcome::Failed;
                    result.details = format!("sending failed: {why}");
                    watched.insert(key, WatchedRow::new(false));
                }
            }
        }
        on_event(ImportEvent::Sent { chunk: n + 1, landed, failed: chunk.len() - landed });
    }

    // The watch.
    let timed_out = if watched.is_empty() {
        false
    } else {
        watch::watch(&reads, &import_id, options.page_size, options.watch, &mut watched, on_event).await
    };
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
                    "still {} when the watch ended; look again later (:imported), or run the same file \
                     again: rows in the queue are shown, not imported twice",
                    record.status
                );
            }
            RowState::Unlisted if row.expected => {
                result.outcome = Outcome::Pending;
                result.details = "sent, but not listed in the queue yet when the watch ended".into();
            }
            RowState::Unlisted => {}
        }
    }

    // The clean-up.
    let deleted = clean_up(&writes, to_delete, &mut results, on_event).await;
    Ok(ImportRun { import_id, rows: results, timed_out, deleted })
}

/// Updates the registered devices of the plan's update steps; each row's result says how it went.
async fn update_registered(
    writes: &GraphClient,
    plan: &ImportPlan,
    results: &mut [RowResult],
    on_event: &mut (dyn FnMut(ImportEvent) + Send),
) {
    let updates: Vec<(usize, &Row)> =
        plan.rows.iter().enumerate().filter(|(_, r)| matches!(r.step, Step::Update { .. })).collect();
    if updates.is_empty() {
        return;
    }
    let client = writes.for_resource(&REGISTERED);
    let concurrency = client.pacer().map_or(1, |p| p.config().concurrency);
    let total = updates.len();
    let mut done = 0;
    let mut writing =
        futures_util::stream::iter(updates.into_iter().filter_map(|(i, row)| match &row.step {
            Step::Update { device_id, body, .. } => {
                let client = client.clone();
                let (device_id, body) = (device_id.clone(), body.clone());
                Some(async move { (i, client.write(&device_id, &body).await.result) })
            }
            _ => None,
        }))
        .buffer_unordered(concurrency);
    on_event(ImportEvent::Updating { done, total });
    while let Some((i, result)) = writing.next().await {
        let row = &mut results[i];
        match result {
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
        on_event(ImportEvent::Updating { done, total });
    }
}

/// Deletes import records (a 404 is one gone already); says so in each row's result.
async fn clean_up(
    writes: &GraphClient,
    records: Vec<(usize, String)>,
    results: &mut [RowResult],
    on_event: &mut (dyn FnMut(ImportEvent) + Send),
) -> usize {
    let total = records.len();
    if total == 0 {
        return 0;
    }
    let concurrency = writes.pacer().map_or(1, |p| p.config().concurrency);
    let mut deleting = futures_util::stream::iter(records.into_iter().map(|(i, id)| {
        let client = writes.clone();
        async move {
            let outcome = client.act(&id, ActionRequest::Delete, None, &[]).await;
            (i, id, outcome.result)
        }
    }))
    .buffer_unordered(concurrency);
    let mut done = 0;
    let mut deleted = 0;
    on_event(ImportEvent::CleaningUp { done, total });
    while let Some((i, id, result)) = deleting.next().await {
        let row = &mut results[i];
        match result {
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
        on_event(ImportEvent::CleaningUp { done, total });
    }
    deleted
}

/// How the Autopilot sync went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Started (204): new devices reach Intune within minutes.
    Started,
    /// One runs already (409): it picks the new devices up.
    AlreadyRunning,
    /// Within ten minutes of the last manual sync (429); when the next one is allowed, if the
    /// settings said.
    TooSoon {
        /// The next allowed time, as Graph writes timestamps.
        next_allowed: Option<String>,
    },
    /// Anything else, in words (never tried again here).
    Failed(String),
}

impl std::fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncOutcome::Started => {
                f.write_str("Autopilot sync started: the new devices reach Intune within minutes.")
            }
            SyncOutcome::AlreadyRunning => f.write_str(
                "An Autopilot sync is running already (409); it picks the new devices up, nothing else to do.",
            ),
            SyncOutcome::TooSoon { next_allowed: Some(at) } => write!(
                f,
                "Intune takes one manual Autopilot sync every 10 minutes (429); the next is allowed at {at}. \
                 Not tried again: run :sync in the app, or the import's --sync, after that."
            ),
            SyncOutcome::TooSoon { next_allowed: None } => f.write_str(
                "Intune takes one manual Autopilot sync every 10 minutes (429); not tried again: run :sync \
                 in the app later.",
            ),
            SyncOutcome::Failed(why) => write!(f, "The Autopilot sync failed: {why}. Not tried again."),
        }
    }
}

/// Asks Intune to sync with the Autopilot service, once: a 409 or 429 is said, never retried.
pub async fn sync(client: &GraphClient) -> SyncOutcome {
    let outcome = client.sync_autopilot().await;
    let Err(error) = outcome.result else { return SyncOutcome::Started };
    match error.service().map(|s| s.status) {
        Some(409) => SyncOutcome::AlreadyRunning,
        Some(429) => {
            let settings = client.autopilot_settings().await.result.ok();
            let last = settings.as_ref().and_then(|s| {
                s.get("lastManualSyncTriggerDateTime")
                    .and_then(|v| v.as_str())
                    .and_then(crate::graph::timestamp::parse)
            });
            let next_allowed = last.map(|at| crate::graph::timestamp::format(at + SYNC_INTERVAL));
            SyncOutcome::TooSoon { next_allowed }
        }
        _ => SyncOutcome::Failed(error.to_string()),
    }
}

/// Intune takes one manual Autopilot sync per this long.
const SYNC_INTERVAL: Duration = Duration::from_secs(600);
