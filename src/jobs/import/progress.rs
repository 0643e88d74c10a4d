//! What a running import tells its caller, and how it is stopped: every step sends
//! [`ImportProgress`] on an unbounded channel (never blocking the work; a dropped receiver is
//! fine), and looks at one [`CancellationToken`] between requests and during every wait.

use super::SyncOutcome;
use super::watch::WatchProgress;
use crate::graph::pacer::WritePacer;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Which part of the workflow an event belongs to (the jobs view's heading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The CSV is being checked.
    Checking,
    /// Both collections of the tenant are being read.
    Surveying,
    /// Registered devices are being updated instead of imported.
    Updating,
    /// Import requests are going out.
    Sending,
    /// This import's records are being watched.
    Watching,
    /// Completed import records are being deleted.
    CleaningUp,
    /// The Autopilot sync was asked for.
    Syncing,
}

impl Phase {
    /// In a word or two, for a heading.
    pub fn word(self) -> &'static str {
        match self {
            Phase::Checking => "checking",
            Phase::Surveying => "reading the tenant",
            Phase::Updating => "updating registered devices",
            Phase::Sending => "sending",
            Phase::Watching => "watching",
            Phase::CleaningUp => "cleaning up",
            Phase::Syncing => "syncing",
        }
    }
}

/// What happened, as it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportEvent {
    /// The file was checked.
    Checked {
        /// Lines holding a row.
        rows: usize,
        /// Rows that may be sent.
        valid: usize,
        /// Problems found (file and rows).
        problems: usize,
    },
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
        /// Rows refused, given up, or not sent.
        failed: usize,
    },
    /// One poll of this import's records: counts by state, elapsed, the next poll.
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
    /// Every write waits: the server throttled one (a 429's `Retry-After`). Told every second
    /// while it lasts.
    Paused {
        /// How much longer.
        remaining: Duration,
    },
    /// The pause is over.
    Resumed,
    /// The write log cannot be written (told once; the import goes on without it).
    WriteLogUnavailable {
        /// Why.
        reason: String,
    },
    /// The Autopilot sync's answer.
    Synced(SyncOutcome),
}

impl ImportEvent {
    /// The event in words, and whether it is worth keeping (a note) rather than a passing
    /// progress line; `None` for events told elsewhere (the check, the sync, the watch's
    /// counts, which have their own line).
    pub fn words(&self) -> Option<(String, bool)> {
        Some(match self {
            ImportEvent::Checked { .. } | ImportEvent::Synced(_) | ImportEvent::Watching(_) => return None,
            ImportEvent::Surveying { registered, queue } => (
                format!("reading the tenant: {registered} registered devices, {queue} import records"),
                false,
            ),
            ImportEvent::Updating { done, total } => {
                (format!("updating registered devices: {done} of {total}"), false)
            }
            ImportEvent::Sending { chunk, chunks, rows, attempt } => {
                let again = if *attempt > 1 { format!(" (try {attempt})") } else { String::new() };
                (format!("sending chunk {chunk} of {chunks}: {rows} rows{again}"), false)
            }
            ImportEvent::ChunkRetry { chunk, attempt, wait, reason, rechecking } => (
                format!(
                    "chunk {chunk}: try {attempt} failed ({reason}); {} in {:.1} s",
                    if *rechecking {
                        "reading the import queue (the answer may be lost) before sending only what is not there,"
                    } else {
                        "sending it again"
                    },
                    wait.as_secs_f64()
                ),
                true,
            ),
            ImportEvent::ChunkSplit { chunk, rows, reason } => (
                format!(
                    "chunk {chunk}: Graph refused {rows} rows as a whole ({reason}); sending them in halves to find \
                     the rows at fault"
                ),
                true,
            ),
            ImportEvent::Sent { chunk, landed, failed } => {
                let failed = if *failed > 0 { format!(", {failed} not") } else { String::new() };
                (format!("chunk {chunk} sent: {landed} in the import queue{failed}"), true)
            }
            ImportEvent::PollFailed { reason } => {
                (format!("looking at the import failed ({reason}); looking again at the next poll"), true)
            }
            ImportEvent::CleaningUp { done, total } => {
                (format!("deleting completed import records: {done} of {total}"), false)
            }
            ImportEvent::Paused { remaining } => (
                format!(
                    "the server throttled a write (429): every write waits {:.0} s more",
                    remaining.as_secs_f64().ceil()
                ),
                false,
            ),
            ImportEvent::Resumed => ("writing again".to_string(), false),
            ImportEvent::WriteLogUnavailable { reason } => {
                (format!("Writes are not logged from here on ({reason}); the import goes on."), true)
            }
        })
    }

    /// The phase it belongs to (`None`: it belongs to whichever phase is on).
    pub fn phase(&self) -> Option<Phase> {
        Some(match self {
            ImportEvent::Checked { .. } => Phase::Checking,
            ImportEvent::Surveying { .. } => Phase::Surveying,
            ImportEvent::Updating { .. } => Phase::Updating,
            ImportEvent::Sending { .. }
            | ImportEvent::ChunkRetry { .. }
            | ImportEvent::ChunkSplit { .. }
            | ImportEvent::Sent { .. } => Phase::Sending,
            ImportEvent::Watching(_) | ImportEvent::PollFailed { .. } => Phase::Watching,
            ImportEvent::CleaningUp { .. } => Phase::CleaningUp,
            ImportEvent::Synced(_) => Phase::Syncing,
            ImportEvent::Paused { .. } | ImportEvent::Resumed | ImportEvent::WriteLogUnavailable { .. } => {
                return None;
            }
        })
    }
}

/// One message of the progress channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportProgress {
    /// Since the job was made.
    pub elapsed: Duration,
    /// How much longer every write waits for a 429, when it does (the pause countdown).
    pub paused_for: Option<Duration>,
    /// What happened.
    pub event: ImportEvent,
}

/// How the steps of one job report and learn that they should stop. Cheap to clone.
#[derive(Clone)]
pub(super) struct Reporter {
    tx: Option<UnboundedSender<ImportProgress>>,
    cancel: CancellationToken,
    started: Instant,
    pacer: WritePacer,
}

impl Reporter {
    /// A reporter sending on `tx` (none: events are dropped), watching `cancel`.
    pub(super) fn new(
        tx: Option<UnboundedSender<ImportProgress>>,
        cancel: CancellationToken,
        pacer: WritePacer,
    ) -> Reporter {
        Reporter { tx, cancel, started: Instant::now(), pacer }
    }

    /// Sends one event (a receiver that went away is not an error: nobody is looking).
    pub(super) fn emit(&self, event: ImportEvent) {
        if let Some(tx) = &self.tx {
            let paused_for = self.pacer.status().paused_for;
            let _ = tx.send(ImportProgress { elapsed: self.started.elapsed(), paused_for, event });
        }
    }

    /// Whether the job was asked to stop.
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The token.
    pub(super) fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The write budget every write of the job passes through.
    pub(super) fn pacer(&self) -> &WritePacer {
        &self.pacer
    }

    /// Waits `wait`, or less when the job is cancelled meanwhile; `false` when it was.
    pub(super) async fn sleep(&self, wait: Duration) -> bool {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    /// Tells the pacer's pause every second while it lasts, and its end; never returns (run it
    /// beside the work, in a `select!`).
    pub(super) async fn tell_pauses(&self) -> std::convert::Infallible {
        let mut paused = false;
        loop {
            match self.pacer.status().paused_for {
                Some(remaining) => {
                    paused = true;
                    self.emit(ImportEvent::Paused { remaining });
                    tokio::time::sleep(remaining.min(Duration::from_secs(1))).await;
                }
                None => {
                    if std::mem::take(&mut paused) {
                        self.emit(ImportEvent::Resumed);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
