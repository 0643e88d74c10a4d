//! Watching the records of one import until the Autopilot service is done with each
//! (`complete` or `error`), backing off as it goes, up to a timeout.
//!
//! Each poll lists the import queue with `$select` (no hashes) and keeps the records of this
//! run's `importId`, matched to the rows by serial. Why not a `GET` per record: an import of
//! 10,000 rows would be 10,000 requests a poll against Intune's 2,000 per 20 s, while the
//! listing is one request per 999 records of the queue (which stays small: completed records
//! are deleted); and the live service refuses `eq` in `$filter`, so it cannot be narrowed on the
//! server. Matching by serial also finds a record whose id the client never learnt (an answer
//! lost, then the row given up): it is watched and cleaned up like the others.
//!
//! Waits run on tokio's clock, so a test on a paused clock watches a long import instantly.

use super::progress::{ImportEvent, Reporter};
use super::reconcile::{QueueRecord, serial_key};
use super::send::list_ours;
use crate::graph::client::GraphClient;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// When to look again, and when to stop looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSchedule {
    /// How long to watch before the rows still in process are reported pending.
    pub timeout: Duration,
}

/// The default watch timeout: imports usually settle within 15 minutes.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Default for WatchSchedule {
    fn default() -> WatchSchedule {
        WatchSchedule { timeout: DEFAULT_WATCH_TIMEOUT }
    }
}

impl WatchSchedule {
    /// The wait after a poll made `elapsed` into the watch: every 10 s for the first two
    /// minutes, every 30 s up to ten minutes, then every minute.
    pub fn interval(&self, elapsed: Duration) -> Duration {
        if elapsed < Duration::from_secs(120) {
            Duration::from_secs(10)
        } else if elapsed < Duration::from_secs(600) {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(60)
        }
    }
}

/// Records of this run by state, for the progress line and the jobs view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Sent, not yet looked at by the service (`unknown`, or not listed yet).
    pub unknown: usize,
    /// Being registered (`pending`).
    pub pending: usize,
    /// `partial`.
    pub partial: usize,
    /// Registered (`complete`).
    pub complete: usize,
    /// Refused (`error`).
    pub error: usize,
    /// Seen, then gone from the queue before it finished (deleted by someone).
    pub gone: usize,
}

impl StatusCounts {
    /// Rows the service is still working on.
    pub fn in_process(&self) -> usize {
        self.unknown + self.pending + self.partial
    }
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchProgress {
    /// Since the watch started.
    pub elapsed: Duration,
    /// The rows by state.
    pub counts: StatusCounts,
    /// The wait before the next poll (`None`: the watch ends).
    pub next_poll: Option<Duration>,
}

/// How a watched row ended, or where it is.
#[derive(Debug, Clone, PartialEq)]
pub enum RowState {
    /// Not listed yet (sent; the service has not shown it).
    Unlisted,
    /// Still with the service: its most advanced record.
    InProcess(QueueRecord),
    /// Registered: the completed record.
    Complete(QueueRecord),
    /// Refused: the first failed record.
    Failed(QueueRecord),
    /// Listed once, then gone before it finished.
    Gone,
}

/// One row being watched: the records of this run with its serial.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedRow {
    /// Whether it is known to be in the queue (a row given up at sending is looked for, not
    /// waited for).
    pub expected: bool,
    /// Its records of this run, as last listed.
    pub records: Vec<QueueRecord>,
    /// Whether it was ever listed.
    pub seen: bool,
    /// Listed once, then not any more.
    pub gone: bool,
}

impl WatchedRow {
    /// A row sent, expected in the queue or not.
    pub fn new(expected: bool) -> WatchedRow {
        WatchedRow { expected, records: Vec::new(), seen: false, gone: false }
    }

    /// Where the row stands: complete when any of its records is, failed when every one is.
    pub fn state(&self) -> RowState {
        if let Some(done) = self.records.iter().find(|r| r.status == "complete") {
            return RowState::Complete(done.clone());
        }
        if let Some(first) = self.records.first() {
            if self.records.iter().all(|r| r.status == "error") {
                return RowState::Failed(first.clone());
            }
            let rank = |r: &&QueueRecord| match r.status.as_str() {
                "partial" => 3,
                "pending" => 2,
                "error" => 0,
                _ => 1,
            };
            let furthest = self.records.iter().max_by_key(rank).unwrap_or(first);
            return RowState::InProcess(furthest.clone());
        }
        if self.gone { RowState::Gone } else { RowState::Unlisted }
    }

    /// Whether it counts in the watch: expected, or found after all.
    pub fn watched(&self) -> bool {
        self.expected || self.seen
    }

    /// Whether the watch waits for it.
    pub fn unsettled(&self) -> bool {
        self.watched() && matches!(self.state(), RowState::Unlisted | RowState::InProcess(_))
    }
}

/// Counts the watched rows by state.
pub fn count(rows: &HashMap<String, WatchedRow>) -> StatusCounts {
    let mut counts = StatusCounts::default();
    for row in rows.values().filter(|r| r.watched()) {
        match row.state() {
            RowState::Unlisted => counts.unknown += 1,
            RowState::InProcess(record) => match record.status.as_str() {
                "pending" => counts.pending += 1,
                "partial" => counts.partial += 1,
                _ => counts.unknown += 1,
            },
            RowState::Complete(_) => counts.complete += 1,
            RowState::Failed(_) => counts.error += 1,
            RowState::Gone => counts.gone += 1,
        }
    }
    counts
}

/// Applies one listing of this run's records to the rows (keyed by [`serial_key`]). A row that
/// ended (complete, or every record failed) keeps how it ended.
pub fn apply(rows: &mut HashMap<String, WatchedRow>, listed: Vec<QueueRecord>) {
    let mut by_serial: HashMap<String, Vec<QueueRecord>> = HashMap::new();
    for record in listed {
        by_serial.entry(serial_key(&record.serial)).or_default().push(record);
    }
    for (key, row) in rows.iter_mut() {
        if matches!(row.state(), RowState::Complete(_) | RowState::Failed(_)) {
            continue;
        }
        match by_serial.remove(key) {
            Some(records) => {
                row.records = records;
                row.seen = true;
                row.gone = false;
            }
            None if row.seen => {
                row.records.clear();
                row.gone = true;
            }
            None => {}
        }
    }
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// Every watched row is complete, failed or gone.
    Settled,
    /// The schedule's timeout passed with rows still in process.
    TimedOut,
    /// The job was cancelled.
    Cancelled,
}

/// Polls until no watched row is unsettled, the schedule's timeout passed, or the job is
/// cancelled; the first poll goes at once. A poll that fails is told and the watch goes on.
pub(super) async fn watch(
    reads: &GraphClient,
    import_id: &str,
    page_size: u32,
    schedule: WatchSchedule,
    rows: &mut HashMap<String, WatchedRow>,
    reporter: &Reporter,
) -> WatchEnd {
    let start = Instant::now();
    loop {
        match list_ours(reads, import_id, page_size).await {
            Ok(listed) => apply(rows, listed),
            Err(e) => reporter.emit(ImportEvent::PollFailed { reason: e.to_string() }),
        }
        let elapsed = start.elapsed();
        let counts = count(rows);
        let settled = !rows.values().any(WatchedRow::unsettled);
        let timed_out = !settled && elapsed >= schedule.timeout;
        let next_poll = (!settled && !timed_out && !reporter.is_cancelled())
            .then(|| schedule.interval(elapsed).min(schedule.timeout.saturating_sub(elapsed)));
        reporter.emit(ImportEvent::Watching(WatchProgress { elapsed, counts, next_poll }));
        match next_poll {
            Some(wait) if reporter.sleep(wait).await => {}
            Some(_) => return WatchEnd::Cancelled,
            None if settled => return WatchEnd::Settled,
            None if timed_out => return WatchEnd::TimedOut,
            None => return WatchEnd::Cancelled,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, serial: &str, status: &str) -> QueueRecord {
        let code = if status == "error" { 806 } else { 0 };
        let r = json!({"id": id, "serialNumber": serial, "importId": "run",
                       "state": {"deviceImportStatus": status, "deviceErrorCode": code,
                                 "deviceRegistrationId": if status == "complete" { json!(format!("reg-{id}")) } else { json!(null) }}});
        QueueRecord::from_record(r.as_object().unwrap()).unwrap()
    }

    #[test]
    fn the_schedule_backs_off_from_10_s_to_30_s_to_a_minute() {
        let s = WatchSchedule::default();
        let at = |secs| s.interval(Duration::from_secs(secs));
        assert_eq!((at(0), at(119)), (Duration::from_secs(10), Duration::from_secs(10)));
        assert_eq!((at(120), at(599)), (Duration::from_secs(30), Duration::from_secs(30)));
        assert_eq!((at(600), at(5000)), (Duration::from_secs(60), Duration::from_secs(60)));
    }

    #[test]
    fn a_row_is_complete_when_any_record_is_and_failed_when_all_are() {
        let mut rows = HashMap::from([
            ("A".to_string(), WatchedRow::new(true)),
            ("B".to_string(), WatchedRow::new(true)),
            ("C".to_string(), WatchedRow::new(true)),
            ("D".to_string(), WatchedRow::new(false)),
            ("E".to_string(), WatchedRow::new(true)),
        ]);
        apply(
            &mut rows,
            vec![
                // A: its first record lost in an answer, sent again: one completes, one fails 806.
                record("a1", "a", "error"),
                record("a2", "A", "complete"),
                record("b1", "B", "error"),
                record("c1", "C", "pending"),
                record("e1", "E", "unknown"),
            ],
        );
        assert!(
            matches!(rows["A"].state(), RowState::Complete(r) if r.id == "a2" && r.registration_id.as_deref() == Some("reg-a2"))
        );
        assert!(matches!(rows["B"].state(), RowState::Failed(r) if r.error.as_ref().unwrap().code == 806));
        assert!(matches!(rows["C"].state(), RowState::InProcess(_)));
        assert!(!rows["D"].watched(), "a row given up and not found is not waited for");
        let counts = count(&rows);
        assert_eq!((counts.complete, counts.error, counts.pending, counts.unknown), (1, 1, 1, 1));
        // E vanishes before it finished: gone, and no longer waited for; A and B keep how they
        // ended although a listing no longer shows them.
        apply(&mut rows, vec![record("c1", "C", "complete")]);
        assert_eq!(rows["E"].state(), RowState::Gone);
        assert!(!rows["E"].unsettled());
        assert!(!rows.values().any(WatchedRow::unsettled));
        let counts = count(&rows);
        assert_eq!((counts.complete, counts.error, counts.gone), (2, 1, 1));
    }
}
