//! Importing a hardware-hash CSV, headless or from the app: checked (`graph::csv`), reconciled
//! with the tenant ([`ImportJob::survey`], then the pure [`plan`]), carried out at Intune's pace
//! ([`ImportJob::run`]: updates of registered devices, the `import` action in chunks, the watch,
//! the clean-up), with the Autopilot sync offered after ([`ImportJob::sync`]), and one result per
//! line of the file ([`results`]). [`headless`] is `autopilot-tui import FILE.csv`, a front on
//! the same job; the app's `:import` is another.
//!
//! The flow for a caller (every step reports on the job's progress channel, and stops early
//! when the job's cancel token fires):
//!
//! ```text
//! let (job, mut progress) = ImportJob::new(&client, pacer, cancel.clone(), write_log);
//! let report = job.check(&bytes);                                    // every problem by line
//! let tenant = job.survey(&report, 999).await?;                      // both collections, read once
//! let plan = plan(&report, &tenant, PlanOptions { update_registered }); // pure; again as the user decides
//! // show plan.counts() and results::plan_results(&plan); confirm
//! let run = job.run(&plan, &RunOptions::default()).await?;           // run.rows: one RowResult per line
//! let synced = job.sync().await;                                     // if the user wants it
//! ```
//!
//! Cancelling stops at the next wait or before the next write, never in the middle of a
//! request: what was sent stays in the import queue under the run's `importId`, the results say
//! which rows went and which did not, and a second run of the same file shows the rows in the
//! queue instead of importing them again.

mod cleanup;
pub mod headless;
mod job;
pub mod progress;
pub mod reconcile;
pub mod results;
pub mod send;
mod survey;
mod sync;
mod update;
pub mod watch;
mod written;

pub use job::ImportJob;
pub use progress::{ImportEvent, ImportProgress, Phase};
pub use reconcile::{Hold, ImportPlan, PlanCounts, PlanOptions, PlannedRow, Skip, Step, Tenant, plan};
pub use results::{Outcome, RowResult};
pub use sync::SyncOutcome;
pub use tokio_util::sync::CancellationToken;
pub use watch::{StatusCounts, WatchEnd, WatchProgress, WatchSchedule};

use crate::graph::csv::{PORTAL_ROW_LIMIT, Report};
use crate::graph::error::GraphError;
use reconcile::serial_key;
use std::collections::HashSet;

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
    /// The connection is read-only: an import writes.
    #[error("the connection is read-only: nothing was sent (the plan can still be shown)")]
    ReadOnly,
    /// The job was cancelled before anything was sent.
    #[error("the import was cancelled; nothing was sent")]
    Cancelled,
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
    /// How the watch ended (`None`: nothing was watched).
    pub watch: Option<WatchEnd>,
    /// Whether the job was cancelled on the way.
    pub cancelled: bool,
    /// Import records deleted by the clean-up.
    pub deleted: usize,
}

impl ImportRun {
    /// Whether every row was imported, updated or skipped on purpose.
    pub fn all_done(&self) -> bool {
        results::all_done(&self.rows)
    }

    /// Whether the watch stopped at its timeout with rows still in process.
    pub fn timed_out(&self) -> bool {
        self.watch == Some(WatchEnd::TimedOut)
    }

    /// Whether a device was registered or changed, so an Autopilot sync is worth offering.
    pub fn changed_anything(&self) -> bool {
        self.rows.iter().any(|r| matches!(r.outcome, Outcome::Imported | Outcome::UpdatedInstead))
    }
}

/// The serial keys of a report's valid rows (what the survey looks for).
pub fn serials_of(report: &Report) -> HashSet<String> {
    report.rows.iter().map(|r| serial_key(&r.serial_number)).collect()
}
