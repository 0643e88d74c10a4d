//! The runner: sends a [`Plan`]'s writes at the pace the write budget allows and says what
//! became of each item, as it lands, on a channel. It never touches a terminal; the TUI's jobs
//! view and `apply`'s progress line read its [`JobEvent`]s.
//!
//! - Before an item is written its record is read again (`GET`s in `$batch`es of 20, a little
//!   ahead of the writes, so the read is fresh): a targeted field that no longer holds what the
//!   plan saw makes the item a conflict (not written: someone changed it since); a record
//!   already at the target is skipped (nothing sent).
//! - Writes go through a [`BatchWriter`]: `$batch` requests of up to 20 (single writes when the
//!   server refuses batching), a few batches in flight, every write paced by the client's shared
//!   [`WritePacer`] (each write inside a batch counts; a 429 pauses every writer, so the whole
//!   job). A batch is handed to the writer only when the pacer would let it go at once
//!   ([`WritePacer::ready`]), so a batch handed over is in flight and nothing else is.
//! - Every item ends as exactly one [`ItemResult`]: done (a 2xx, its request-id kept), failed
//!   (the Graph error in words, its code and request-id), conflict, skipped or not sent (the
//!   job stopped first).
//! - A write whose answer was lost (no answer, a garbled one, a 5xx: [`Landing::Unknown`]) is
//!   never sent again blind: the client is told not to resend such writes
//!   ([`RetryPolicy::resend_unanswered_writes`](crate::graph::retry::RetryPolicy)), and the
//!   runner reads the record back. At the target: done, verified, nothing sent again. As
//!   planned: written again, up to [`RunOptions::sends`] sends in all, then failed with the last
//!   write's error. So a write that landed is never sent twice.
//! - Cancelling ([`Runner::with_cancel`]) hands out no more batches; the batches in flight
//!   finish (their retries included), items whose answers were lost are still read back, and
//!   the rest end not sent.
//! - With a journal directory ([`Runner::with_journal_dir`]) each job is journaled: the plan,
//!   each batch before it leaves and each result as it lands. [`Runner::resume`] goes on with a
//!   job a crash cut off: every pending item is read first, so nothing is written twice. With a
//!   [`WriteLog`], each item whose write reached the server is logged once.
//! - A journal or write log that cannot be written is said once ([`JobEvent::Notice`]) and the
//!   job goes on without it: the reads before each write keep a later resume (or a second
//!   `apply`) from writing anything twice.
//!
//! All waiting is on tokio's clock: a test on a paused clock runs a 10,000-write job at once.

use super::journal::{JobId, JobInfo, Journal, JournalError, SavedJob};
use super::outcome::{Counts, ItemResult};
use super::plan::{Plan, Standing, Step};
use crate::graph::batch::{BatchWriter, ItemOutcome, Landing, MAX_BATCH, ReadRound, WriteItem, WriteRound};
use crate::graph::client::{Exchange, GraphClient, Outcome};
use crate::graph::error::GraphError;
use crate::graph::pacer::{PacerConfig, PacerStatus, WritePacer};
use crate::graph::resource::Record;
use crate::write_log::{WriteEntry, WriteLog, WriteSource};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How a job is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Writes in one `$batch` (at most 20, and at most the budget's bucket).
    pub batch_size: usize,
    /// Write batches in flight at once (the pacer's own limit applies too).
    pub concurrent_batches: usize,
    /// Read batches (of up to 20 records) in flight at once.
    pub concurrent_reads: usize,
    /// Items read ahead of the writes: the read before a write is at most this many writes
    /// old (at 100 writes per 20 s, 100 items are about 20 s).
    pub read_ahead: usize,
    /// The most times one item's write is sent by one run: again only after a read showed the
    /// previous send did not land.
    pub sends: u32,
    /// How often [`JobEvent::Progress`] comes while nothing lands (a 429 countdown, the ETA).
    pub tick: Duration,
    /// Whether [`ItemReport::exchange`] carries the item's last request (the TUI's history);
    /// off, events stay small (`apply`).
    pub keep_exchanges: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            batch_size: MAX_BATCH,
            concurrent_batches: 4,
            concurrent_reads: 4,
            read_ahead: MAX_BATCH * 5,
            sends: 3,
            tick: Duration::from_secs(1),
            keep_exchanges: true,
        }
    }
}

/// What the runner tells while a job runs.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// The job began (first, once).
    Started {
        /// Its id (also in the write log's entries).
        id: JobId,
        /// Its journal, when it has one.
        journal: Option<PathBuf>,
        /// Items in the plan.
        items: usize,
        /// Items left to end (fewer than `items` when resumed).
        pending: usize,
    },
    /// One item ended (each exactly once).
    Item(ItemReport),
    /// Where the job stands: after every change, and every [`RunOptions::tick`].
    Progress(Progress),
    /// Something the user should hear once (the journal or write log cannot be written).
    Notice(String),
}

/// How one item ended.
#[derive(Debug, Clone)]
pub struct ItemReport {
    /// Its place in the plan.
    pub index: usize,
    /// The record's id.
    pub id: String,
    /// What the user calls it (its serial).
    pub label: String,
    /// How it ended.
    pub result: ItemResult,
    /// Times this run sent its write (0: none).
    pub sends: u32,
    /// The last request made for it (its write, or the read that settled it), for the request
    /// history; `None` when nothing was sent or [`RunOptions::keep_exchanges`] is off.
    pub exchange: Option<Box<Exchange>>,
}

/// A job's state, for a jobs view or a progress line. Cheap (`Copy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Items done, failed, in conflict, skipped, not sent and pending.
    pub counts: Counts,
    /// The write budget: rate, writes available now, writes in flight, a 429 pause
    /// (`paused_for` from now).
    pub pacer: PacerStatus,
    /// When a 429's pause ends (on tokio's clock), for a countdown between events.
    pub paused_until: Option<Instant>,
    /// Writes sent per second lately (over the budget's period, or since the start).
    pub rate: f64,
    /// Items that may still be written (pending, not yet handed to the writer).
    pub writes_left: usize,
    /// When the last of them may leave at the budget, from now (no latency counted).
    pub eta: Duration,
    /// Since the run started.
    pub elapsed: Duration,
    /// Cancelled: the writes in flight finish, nothing more is sent.
    pub stopping: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// The job's id (its journal's name, and the write log's `job`).
    pub id: JobId,
    /// Its journal, when it had one.
    pub journal: Option<PathBuf>,
    /// Each item's result, in plan order.
    pub results: Vec<ItemResult>,
    /// How they ended.
    pub counts: Counts,
    /// It was cancelled before every item was sent.
    pub cancelled: bool,
    /// Write requests this run sent (each write inside a batch counts; resends too).
    pub writes_sent: u64,
    /// What was said once along the way ([`JobEvent::Notice`]).
    pub notices: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Runs plans through one client (its tenant, token and pacer). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runner {
    client: GraphClient,
    options: RunOptions,
    events: Option<UnboundedSender<JobEvent>>,
    cancel: CancellationToken,
    journal_dir: Option<PathBuf>,
    write_log: Option<(WriteLog, WriteSource)>,
}

impl Runner {
    /// A runner writing through `client` (any resource: each plan names its own) and its
    /// [`WritePacer`]: give it the pacer every other writer shares. Without one it paces itself
    /// at the default budget. The client's retry rules are kept, except that a write whose
    /// answer was lost is read back rather than sent again.
    pub fn new(client: &GraphClient) -> Runner {
        let client = match client.pacer() {
            Some(_) => client.clone(),
            None => client.clone().with_pacer(WritePacer::new(PacerConfig::default())),
        };
        let retry = crate::graph::retry::RetryPolicy {
            resend_unanswered_writes: false,
            ..client.config().retry.clone()
        };
        Runner {
            client: client.with_retry(retry),
            options: RunOptions::default(),
            events: None,
            cancel: CancellationToken::new(),
            journal_dir: None,
            write_log: None,
        }
    }

    /// The same runner with other options.
    pub fn with_options(mut self, options: RunOptions) -> Runner {
        self.options = options;
        self
    }

    /// The same runner, telling `events` of each item and of its progress (a closed channel is
    /// ignored: the job goes on).
    pub fn with_events(mut self, events: UnboundedSender<JobEvent>) -> Runner {
        self.events = Some(events);
        self
    }

    /// The same runner, stopped by `cancel`: no batch is handed out after it fires.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Runner {
        self.cancel = cancel;
        self
    }

    /// The same runner, journaling each job in `dir` ([`journal::jobs_dir`](super::journal::jobs_dir)
    /// for the state directory's).
    pub fn with_journal_dir(mut self, dir: impl Into<PathBuf>) -> Runner {
        self.journal_dir = Some(dir.into());
        self
    }

    /// The same runner, logging each write that reached the server to `log` as made by `source`
    /// (`Bulk` from the app, `Apply` from `apply`).
    pub fn with_write_log(mut self, log: WriteLog, source: WriteSource) -> Runner {
        self.write_log = Some((log, source));
        self
    }

    /// The same runner, journaling in the state directory and logging writes to its write log
    /// as made by `source`; what the state directory cannot hold is left out (and said when a
    /// job starts).
    pub fn in_state_dir(self, source: WriteSource) -> Runner {
        let runner = match super::journal::jobs_dir() {
            Ok(dir) => self.with_journal_dir(dir),
            Err(_) => self,
        };
        match WriteLog::in_state_dir() {
            Ok(log) => runner.with_write_log(log, source),
            Err(_) => runner,
        }
    }

    /// The token that stops this runner's jobs.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The write budget the runner paces by.
    pub fn pacer(&self) -> Option<&WritePacer> {
        self.client.pacer()
    }

    /// Where jobs are journaled, if anywhere.
    pub fn journal_dir(&self) -> Option<&Path> {
        self.journal_dir.as_deref()
    }

    /// Runs a new job made by `source` (for people: `apply plan.csv`, `bulk edit of 12 marked
    /// devices`): items already at the target are skipped, the others read and written.
    pub async fn run(&self, plan: &Plan, source: &str) -> Report {
        self.run_as(plan, JobInfo::new(source, &self.client, plan)).await
    }

    /// [`Runner::run`] under an id made beforehand (`apply` supersedes older journals by it).
    pub async fn run_as(&self, plan: &Plan, info: JobInfo) -> Report {
        let mut notices = Vec::new();
        let journal = match &self.journal_dir {
            Some(dir) => match Journal::create(dir, &info, plan) {
                Ok(journal) => Some(journal),
                Err(error) => {
                    notices.push(format!(
                        "the job journal cannot be written ({error}); the job runs without it and cannot be \
                         resumed if it is cut off"
                    ));
                    None
                }
            },
            None => None,
        };
        let reads = (0..plan.items.len())
            .filter(|i| plan.items[*i].body().is_some())
            .map(|i| (i, Read::Check { maybe_sent: false }))
            .collect();
        self.execute(plan, info.id, vec![None; plan.items.len()], reads, journal, notices).await
    }

    /// Goes on with a job a crash or kill cut off (from [`journal::unfinished`](super::journal::unfinished)):
    /// takes its journal again, reads every pending item, and writes only those still as
    /// planned. Refused when the job ended, runs in another process, or was planned for
    /// another Graph root or collection than this runner's client.
    pub async fn resume(&self, saved: SavedJob) -> Result<Report, JournalError> {
        if let Some(mismatch) = saved.target_mismatch(&self.client) {
            return Err(mismatch);
        }
        let journal = Journal::reopen(&saved)?;
        // Those whose batch had left first: they are the ones a second write could double.
        let mut reads: Vec<(usize, Read)> = (0..saved.plan.items.len())
            .filter(|i| saved.results[*i].is_none() && saved.plan.items[*i].body().is_some())
            .map(|i| (i, Read::Check { maybe_sent: saved.maybe_sent[i] }))
            .collect();
        reads.sort_by_key(|(_, read)| !read.may_have_landed());
        Ok(self.execute(&saved.plan, saved.info.id, saved.results, reads, Some(journal), Vec::new()).await)
    }

    async fn execute(
        &self,
        plan: &Plan,
        id: JobId,
        results: Vec<Option<ItemResult>>,
        reads: Vec<(usize, Read)>,
        journal: Option<Journal>,
        notices: Vec<String>,
    ) -> Report {
        let client = self.client.for_resource(plan.resource);
        let writer = BatchWriter::new(client.clone());
        let pacer = client.pacer().cloned().unwrap_or_else(|| WritePacer::new(PacerConfig::default()));
        let options = self.options;
        let batch_size = options.batch_size.clamp(1, MAX_BATCH).min(pacer.config().rate.count as usize);
        let journal = journal.filter(|j| j.items() == plan.items.len());
        let journal_path = journal.as_ref().map(|j| j.path().to_path_buf());
        let mut job = Job {
            plan,
            id,
            counts: Counts::of(results.iter().map(Option::as_ref)),
            results,
            sends: vec![0; plan.items.len()],
            before: vec![None; plan.items.len()],
            etags: vec![None; plan.items.len()],
            journal,
            journal_broken: false,
            write_log: self.write_log.clone(),
            logged: Vec::new(),
            log_target: LogTarget::of(&client),
            ended: Vec::new(),
            cancelled: false,
            events: self.events.clone(),
            notices: Vec::new(),
            keep_exchanges: options.keep_exchanges,
            started: Instant::now(),
            sent: VecDeque::new(),
            writes_sent: 0,
        };
        job.tell(JobEvent::Started {
            id: job.id.clone(),
            journal: journal_path.clone(),
            items: plan.items.len(),
            pending: job.counts.pending,
        });
        for notice in notices {
            job.notice(notice);
        }
        let mut queued = vec![false; plan.items.len()];
        for (index, _) in &reads {
            queued[*index] = true;
        }
        let mut reading: VecDeque<(usize, Read)> = reads.into();
        let mut writes: VecDeque<usize> = VecDeque::new();
        for (index, item) in plan.items.iter().enumerate() {
            if job.results[index].is_none() && !queued[index] {
                match item.step {
                    Step::AlreadyThere => job.end(index, ItemResult::Skipped, None),
                    // Never planned to be read (cannot happen): read like the rest.
                    Step::Write(_) => reading.push_back((index, Read::Check { maybe_sent: false })),
                }
            }
        }
        let mut running: FuturesUnordered<BoxFuture<'_, Landed>> = FuturesUnordered::new();
        let (mut write_batches, mut writing, mut read_batches, mut being_read) =
            (0usize, 0usize, 0usize, 0usize);
        let mut tick = tokio::time::interval(options.tick.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(job = %job.id, items = plan.items.len(), reads = reading.len(), "job started");
        loop {
            if job.cancelled {
                // Nothing more is sent: what was never handed out ends here. Reads go on where a
                // write may have landed; the rest were never sent by anyone.
                for index in writes.drain(..) {
                    job.end(index, ItemResult::NotSent, None);
                }
                let (keep, never_sent): (VecDeque<_>, VecDeque<_>) =
                    reading.drain(..).partition(|(_, read)| read.may_have_landed());
                reading = keep;
                for (index, _) in never_sent {
                    job.end(index, ItemResult::NotSent, None);
                }
            }
            // Reads: those that settle a write that may have landed at once; the checks before
            // a write only as far ahead of the writes as `read_ahead`.
            while read_batches < options.concurrent_reads.max(1) {
                let mut batch = Vec::new();
                while batch.len() < MAX_BATCH {
                    let ahead = writes.len() + writing + being_read + batch.len();
                    match reading.front() {
                        Some((_, read)) if read.may_have_landed() || ahead < options.read_ahead.max(1) => {
                            batch.extend(reading.pop_front());
                        }
                        _ => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
                let ids: Vec<String> = batch.iter().map(|(index, _)| plan.items[*index].id.clone()).collect();
                being_read += batch.len();
                read_batches += 1;
                let writer = &writer;
                running.push(Box::pin(async move { Landed::Read(batch, writer.read(&ids).await) }));
            }
            job.flush(&pacer, writes.len() + reading.len() + being_read);
            if running.is_empty() && writes.is_empty() && reading.is_empty() {
                break;
            }
            let next = writes.len().min(batch_size);
            let can_send = !job.cancelled && next > 0 && write_batches < options.concurrent_batches.max(1);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled(), if !job.cancelled => {
                    tracing::info!(job = %job.id, "job cancelled; the writes in flight finish");
                    job.cancelled = true;
                }
                Some(landed) = running.next() => match landed {
                    Landed::Wrote(indexes, round) => {
                        write_batches -= 1;
                        writing -= indexes.len();
                        for (index, outcome) in indexes.into_iter().zip(round.items) {
                            job.wrote(index, outcome, options.sends, &mut reading);
                        }
                    }
                    Landed::Read(batch, round) => {
                        read_batches -= 1;
                        being_read -= batch.len();
                        for ((index, read), outcome) in batch.into_iter().zip(round.items) {
                            job.read(index, read, outcome, options.sends, &mut writes);
                        }
                    }
                },
                () = pacer.ready(next as u32), if can_send => {
                    let indexes: Vec<usize> = writes.drain(..next).collect();
                    if let Some(Err(error)) = job.journal.as_mut().filter(|_| !job.journal_broken).map(|j| j.sending(&indexes)) {
                        job.journal_failed(&error);
                    }
                    let items: Vec<WriteItem> = indexes
                        .iter()
                        .filter_map(|&i| {
                            job.sends[i] += 1;
                            let body = plan.items[i].body()?.clone();
                            Some(WriteItem { id: plan.items[i].id.clone(), body, if_match: job.etags[i].clone() })
                        })
                        .collect();
                    job.sent(items.len());
                    writing += indexes.len();
                    write_batches += 1;
                    let writer = &writer;
                    running.push(Box::pin(async move { Landed::Wrote(indexes, writer.write(items).await) }));
                }
                _ = tick.tick() => job.progress(&pacer, writes.len() + reading.len() + being_read),
            }
        }
        job.finish(journal_path)
    }
}

/// Why a record is read, and what that means for it.
#[derive(Debug)]
enum Read {
    /// Before its write: is it still as planned? `maybe_sent`: a resumed job's item whose batch
    /// had left, so its write may be in the store already.
    Check { maybe_sent: bool },
    /// Its write's answer was lost (kept for the failure, should it come to that).
    Lost(Box<ItemOutcome>),
}

impl Read {
    /// Whether the write may be in the store, so the item must be read even when stopping.
    fn may_have_landed(&self) -> bool {
        match self {
            Read::Check { maybe_sent } => *maybe_sent,
            Read::Lost(_) => true,
        }
    }
}

/// A request of the job that came back.
enum Landed {
    /// A batch (or single writes) of these items.
    Wrote(Vec<usize>, WriteRound),
    /// A batch of reads.
    Read(Vec<(usize, Read)>, ReadRound),
}

/// What every write log entry of a job shares.
struct LogTarget {
    target: String,
    collection: String,
    verb: String,
}

impl LogTarget {
    fn of(client: &GraphClient) -> LogTarget {
        LogTarget {
            target: crate::write_log::target_of(&client.config().base_url),
            collection: client.resource().collection_name().to_string(),
            verb: client.resource().write.describe(),
        }
    }
}

/// One run's state.
struct Job<'a> {
    plan: &'a Plan,
    id: JobId,
    results: Vec<Option<ItemResult>>,
    counts: Counts,
    sends: Vec<u32>,
    /// What the read before the write found in the written fields.
    before: Vec<Option<Map<String, Value>>>,
    /// The version that read saw (`ETag`), sent as `If-Match` when the server gave one.
    etags: Vec<Option<String>>,
    journal: Option<Journal>,
    /// The journal failed once: it is kept (and its lock held) but written no more.
    journal_broken: bool,
    write_log: Option<(WriteLog, WriteSource)>,
    /// Entries for the write log since the last flush.
    logged: Vec<WriteEntry>,
    log_target: LogTarget,
    /// Ended since the last flush: (index, how, the last exchange).
    ended: Vec<(usize, ItemResult, Option<Box<Exchange>>)>,
    cancelled: bool,
    events: Option<UnboundedSender<JobEvent>>,
    notices: Vec<String>,
    keep_exchanges: bool,
    started: Instant,
    /// Writes handed out lately, for the rate: (when, how many).
    sent: VecDeque<(Instant, usize)>,
    writes_sent: u64,
}

impl Job<'_> {
    fn tell(&self, event: JobEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// Says something once, to the events and the report.
    fn notice(&mut self, text: String) {
        tracing::warn!(job = %self.id, "{text}");
        self.tell(JobEvent::Notice(text.clone()));
        self.notices.push(text);
    }

    /// An item ended (told at the next flush).
    fn end(&mut self, index: usize, result: ItemResult, exchange: Option<Exchange>) {
        if self.results[index].is_some() {
            return;
        }
        self.counts.pending = self.counts.pending.saturating_sub(1);
        self.counts.add(&result);
        self.results[index] = Some(result.clone());
        let exchange = exchange.filter(|_| self.keep_exchanges).map(Box::new);
        self.ended.push((index, result, exchange));
    }

    /// A batch of `writes` was handed to the writer.
    fn sent(&mut self, writes: usize) {
        self.writes_sent += writes as u64;
        self.sent.push_back((Instant::now(), writes));
    }

    /// The write log's entry of an item whose write reached the server.
    fn log(&mut self, index: usize, status: Option<u16>, request_id: Option<&str>) {
        if self.write_log.is_none() {
            return;
        }
        let item = &self.plan.items[index];
        let Some(body) = item.body() else { return };
        let Some((_, source)) = &self.write_log else { return };
        self.logged.push(WriteEntry {
            time: crate::graph::timestamp::format(SystemTime::now()),
            target: self.log_target.target.clone(),
            collection: self.log_target.collection.clone(),
            id: item.id.clone(),
            serial: (item.label != item.id).then(|| item.label.clone()),
            verb: self.log_target.verb.clone(),
            before: self.before[index].clone().unwrap_or_else(|| item.planned_values()),
            after: body.properties.clone(),
            // 0: no answer came (a read back showed the values landed).
            status: status.unwrap_or(0),
            request_id: request_id.map(str::to_string),
            source: *source,
            job: Some(self.id.to_string()),
            undoes: None,
        });
    }

    /// A write came back.
    fn wrote(
        &mut self,
        index: usize,
        outcome: ItemOutcome,
        sends: u32,
        reading: &mut VecDeque<(usize, Read)>,
    ) {
        let changed = outcome.exchange.status == Some(412);
        if changed && self.sends[index] < sends {
            // The record changed since it was read (`If-Match`): read it again, and write it only
            // if its targeted fields are still as planned.
            tracing::info!(id = %outcome.id, "412: changed since it was read; reading it again");
            reading.push_front((index, Read::Check { maybe_sent: false }));
            return;
        }
        match outcome.landing() {
            Landing::Landed => {
                let result = ItemResult::written(&outcome);
                self.log(index, outcome.exchange.status, outcome.request_id());
                self.end(index, result, Some(outcome.exchange));
            }
            Landing::NotLanded => {
                let result = match &outcome.result {
                    Err(error) => ItemResult::failed(error, outcome.request_id()),
                    Ok(_) => ItemResult::written(&outcome),
                };
                if outcome.exchange.status.is_some() {
                    self.log(index, outcome.exchange.status, outcome.request_id());
                }
                self.end(index, result, Some(outcome.exchange));
            }
            Landing::Unknown => {
                tracing::info!(id = %outcome.id, status = ?outcome.exchange.status, "answer lost; reading the record back");
                // First in line: it settles an item, and it is read even when stopping.
                reading.push_front((index, Read::Lost(Box::new(outcome))));
            }
        }
    }

    /// A record was read (before its write, or after a lost answer).
    fn read(
        &mut self,
        index: usize,
        read: Read,
        outcome: Outcome<Record>,
        sends: u32,
        writes: &mut VecDeque<usize>,
    ) {
        let item = &self.plan.items[index];
        let etag = outcome.exchange.response_header("etag").map(str::to_string);
        let record = match outcome.result {
            Ok(record) => record,
            Err(error) => {
                let result = match &read {
                    _ if error.service().is_some_and(|e| e.status == 404) => ItemResult::failed(&error, None),
                    Read::Check { maybe_sent: false } if self.cancelled => ItemResult::NotSent,
                    Read::Check { maybe_sent: false } => {
                        unread(&error, "reading it before writing failed; not written")
                    }
                    _ => unread(
                        &error,
                        "its write may have reached the server and reading it back failed; it may or may not be written",
                    ),
                };
                self.end(index, result, Some(outcome.exchange));
                return;
            }
        };
        let exchange = Some(outcome.exchange);
        match (item.standing(&record), read) {
            (Standing::AtTarget, Read::Check { maybe_sent: false }) => {
                self.end(index, ItemResult::Skipped, exchange)
            }
            (Standing::AtTarget, Read::Check { maybe_sent: true }) => {
                self.log(index, None, None);
                self.end(index, verified(), exchange);
            }
            (Standing::AtTarget, Read::Lost(lost)) => {
                self.log(index, lost.exchange.status, lost.request_id());
                self.end(index, verified(), exchange);
            }
            (Standing::Changed(fields), _) => {
                tracing::info!(id = %item.id, fields = fields.len(), "changed since the plan: not written");
                self.end(index, ItemResult::Conflict { fields }, exchange);
            }
            (Standing::AsPlanned, _) if self.cancelled => self.end(index, ItemResult::NotSent, exchange),
            (Standing::AsPlanned, Read::Check { .. }) => {
                self.before[index] = Some(item.values_in(&record));
                self.etags[index] = etag;
                writes.push_back(index);
            }
            (Standing::AsPlanned, Read::Lost(_)) if self.sends[index] < sends => {
                self.etags[index] = etag;
                writes.push_back(index);
            }
            (Standing::AsPlanned, Read::Lost(lost)) => {
                let mut result = match &lost.result {
                    Err(error) => ItemResult::failed(error, lost.request_id()),
                    Ok(_) => ItemResult::failed(&GraphError::Decode("no readable answer".into()), None),
                };
                if let ItemResult::Failed { message, .. } = &mut result {
                    message.push_str(&format!(
                        " (sent {} times; read back, the record is not at the target)",
                        self.sends[index]
                    ));
                }
                if lost.exchange.status.is_some() {
                    self.log(index, lost.exchange.status, lost.request_id());
                }
                self.end(index, result, exchange);
            }
        }
    }

    /// The journal could not be written: said once; the job goes on without it.
    fn journal_failed(&mut self, error: &JournalError) {
        if !self.journal_broken {
            self.journal_broken = true;
            self.notice(format!(
                "the job journal cannot be written ({error}); the job goes on without it (if it is cut off, \
                 resuming reads every item first)"
            ));
        }
    }

    /// Journals, logs and tells what ended since the last flush, then the progress.
    fn flush(&mut self, pacer: &WritePacer, writes_left: usize) {
        if !self.logged.is_empty() {
            let entries = std::mem::take(&mut self.logged);
            if let Some((log, _)) = &self.write_log
                && let Err(error) = log.append(&entries)
            {
                self.write_log = None;
                self.notice(format!(
                    "the write log cannot be written ({error}); this job's writes are not logged"
                ));
            }
        }
        if self.ended.is_empty() {
            return;
        }
        let ended = std::mem::take(&mut self.ended);
        if let Some(journal) = self.journal.as_mut().filter(|_| !self.journal_broken) {
            let lines: Vec<(usize, &str, &ItemResult)> = ended
                .iter()
                .map(|(index, result, _)| (*index, self.plan.items[*index].id.as_str(), result))
                .collect();
            if let Err(error) = journal.record(&lines) {
                self.journal_failed(&error);
            }
        }
        for (index, result, exchange) in ended {
            let item = &self.plan.items[index];
            self.tell(JobEvent::Item(ItemReport {
                index,
                id: item.id.clone(),
                label: item.label.clone(),
                result,
                sends: self.sends[index],
                exchange,
            }));
        }
        self.progress(pacer, writes_left);
    }

    /// Tells where the job stands.
    fn progress(&mut self, pacer: &WritePacer, writes_left: usize) {
        if self.events.is_none() {
            return;
        }
        let status = pacer.status();
        let now = Instant::now();
        let window = status.rate.per.max(Duration::from_secs(1));
        while self.sent.front().is_some_and(|(at, _)| now.duration_since(*at) > window) {
            self.sent.pop_front();
        }
        let recent: usize = self.sent.iter().map(|(_, n)| n).sum();
        let span = window.min(self.started.elapsed()).max(Duration::from_secs(1));
        let beyond = (writes_left as u64).saturating_sub(u64::from(status.available));
        let eta = status.paused_for.unwrap_or_default()
            + status.rate.refill_time(u32::try_from(beyond).unwrap_or(u32::MAX));
        self.tell(JobEvent::Progress(Progress {
            counts: self.counts,
            pacer: status,
            paused_until: status.paused_for.map(|wait| now + wait),
            rate: recent as f64 / span.as_secs_f64(),
            writes_left,
            eta,
            elapsed: self.started.elapsed(),
            stopping: self.cancelled,
        }));
    }

    /// Ends the journal (unless it failed) and reports.
    fn finish(mut self, journal_path: Option<PathBuf>) -> Report {
        let elapsed = self.started.elapsed();
        if let Some(journal) = self.journal.take() {
            if self.journal_broken {
                // Left unfinished: a resume reads every pending item first, so it is safe.
                drop(journal);
            } else if let Err(error) = journal.finish(self.counts) {
                self.notice(format!("the job journal could not be ended ({error})"));
            }
        }
        tracing::info!(job = %self.id, counts = %self.counts, ms = elapsed.as_millis() as u64, "job ended");
        let results = self.results.into_iter().map(|r| r.unwrap_or(ItemResult::NotSent)).collect();
        Report {
            id: self.id,
            journal: journal_path,
            results,
            counts: self.counts,
            cancelled: self.cancelled,
            writes_sent: self.writes_sent,
            notices: self.notices,
            elapsed,
        }
    }
}

/// Done, as a read showed (no answer of the write was seen).
fn verified() -> ItemResult {
    ItemResult::Done { status: None, request_id: None, verified: true }
}

/// A failure of the read that was to settle an item, saying what it means for the item.
fn unread(error: &GraphError, meaning: &str) -> ItemResult {
    let mut result = ItemResult::failed(error, None);
    if let ItemResult::Failed { message, .. } = &mut result {
        *message = format!("{meaning} ({message})");
    }
    result
}
