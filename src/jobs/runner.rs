//! The runner: sends a [`Plan`]'s writes at the pace the write budget allows and says what
//! became of each item, as it lands, on a channel. It never touches a terminal; the TUI's jobs
//! view and `apply`'s progress line read its [`JobEvent`]s.
//!
//! - Writes go through a [`BatchWriter`]: `$batch` requests of up to 20 (single writes when the
//!   server refuses batching), a few batches in flight, every write paced by the client's shared
//!   [`WritePacer`] (each write inside a batch counts; a 429 pauses every writer, so the whole
//!   job). A batch is handed to the writer only when the pacer would let it go at once
//!   ([`WritePacer::ready`]), so a batch handed over is in flight and nothing else is.
//! - Every item ends as exactly one [`ItemResult`]: done (a 2xx, its request-id kept), failed
//!   (the Graph error in words, its code and request-id), skipped (already at the target,
//!   [`Step::AlreadyThere`]) or not sent (the job stopped first).
//! - A write whose answer was lost (no answer, a garbled one, a 5xx: [`Landing::Unknown`]) is
//!   never sent again blind: the client is told not to resend such writes
//!   ([`RetryPolicy::resend_unanswered_writes`](crate::graph::retry::RetryPolicy)), and the
//!   runner reads the record back. At the target: done, verified, nothing sent again. Not: it is
//!   written again, up to [`RunOptions::sends`] sends in all (each after a read showed the
//!   previous one did not land), then failed with the last write's error. So a write that landed
//!   is never sent twice.
//! - Cancelling ([`Runner::with_cancel`]) hands out no more batches; the batches in flight
//!   finish (their retries included), items whose answers were lost are still read back, and
//!   the rest end not sent.
//! - With a [`Journal`], the runner notes each batch before it leaves and each result as it
//!   lands. [`Runner::resume`] goes on with a job a crash cut off: it re-reads every pending item
//!   first and writes only those not at their target, so nothing is written twice.
//!
//! All waiting is on tokio's clock: a test on a paused clock runs a 10,000-write job at once.

use super::journal::{JobId, Journal, JournalError, SavedJob};
use super::outcome::{Counts, ItemResult};
use super::plan::{Plan, Step};
use crate::graph::batch::{BatchWriter, ItemOutcome, Landing, MAX_BATCH, WriteItem, WriteRound};
use crate::graph::client::{Exchange, GraphClient, Outcome};
use crate::graph::pacer::{PacerConfig, PacerStatus, WritePacer};
use crate::graph::resource::Record;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How a job is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Writes in one `$batch` (at most 20, and at most the budget's bucket).
    pub batch_size: usize,
    /// Batches in flight at once (the pacer's own limit applies too).
    pub concurrent_batches: usize,
    /// Records read back at once (after a lost answer, or when resuming).
    pub concurrent_reads: usize,
    /// The most times one item's write is sent by one run: again only after a read showed the
    /// previous send did not land.
    pub sends: u32,
    /// How often [`JobEvent::Progress`] comes while nothing lands (a 429 countdown, the ETA).
    pub tick: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            batch_size: MAX_BATCH,
            concurrent_batches: 4,
            concurrent_reads: 4,
            sends: 3,
            tick: Duration::from_secs(1),
        }
    }
}

/// What the runner tells while a job runs.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// One item ended (each exactly once).
    Item(ItemReport),
    /// Where the job stands: after every change, and every [`RunOptions::tick`].
    Progress(Progress),
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
    /// history; `None` when nothing was sent.
    pub exchange: Option<Box<Exchange>>,
}

/// A job's state, for a jobs view or a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Items done, failed, skipped, not sent and pending.
    pub counts: Counts,
    /// The write budget: rate, writes available now, a 429 pause and its countdown
    /// (`paused_for`), writes in flight.
    pub pacer: PacerStatus,
    /// Writes not handed to the writer yet.
    pub writes_left: usize,
    /// When the last of them may leave at this rate, from now (no latency counted).
    pub eta: Duration,
    /// Since the run started.
    pub elapsed: Duration,
    /// Cancelled (or the journal failed): the writes in flight finish, nothing more is sent.
    pub stopping: bool,
}

/// Why a job stopped before every item was sent.
#[derive(Debug)]
pub enum Stopped {
    /// It was cancelled.
    Cancelled,
    /// Its journal could not be written (the job stops rather than run unrecorded).
    Journal(JournalError),
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// The job's id, when it was journaled.
    pub id: Option<JobId>,
    /// Each item's result, in plan order.
    pub results: Vec<ItemResult>,
    /// How they ended.
    pub counts: Counts,
    /// Why it stopped early, if it did.
    pub stopped: Option<Stopped>,
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

    /// The token that stops this runner's jobs.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The write budget the runner paces by.
    pub fn pacer(&self) -> Option<&WritePacer> {
        self.client.pacer()
    }

    /// Runs a new job: items already at the target are skipped, the others written. With a
    /// journal (made for this plan with [`Journal::create`]), every batch and result is noted
    /// and the journal is ended when every item has ended.
    pub async fn run(&self, plan: &Plan, journal: Option<Journal>) -> Report {
        let reads = Vec::new();
        self.execute(plan, vec![None; plan.items.len()], reads, journal).await
    }

    /// Goes on with a job a crash or kill cut off (from [`journal::unfinished`](super::journal::unfinished)):
    /// takes its journal again, re-reads every pending item, and writes only those that are not
    /// at their target. Refused when the job ended, runs in another process, or was planned for
    /// another Graph root or collection than this runner's client.
    pub async fn resume(&self, saved: SavedJob) -> Result<Report, JournalError> {
        if let Some(mismatch) = saved.target_mismatch(&self.client) {
            return Err(mismatch);
        }
        let journal = Journal::reopen(&saved)?;
        let reads = (0..saved.plan.items.len())
            .filter(|i| saved.results[*i].is_none() && saved.plan.items[*i].body().is_some())
            .map(|i| (i, Read::Resume { maybe_sent: saved.maybe_sent[i] }))
            .collect();
        Ok(self.execute(&saved.plan, saved.results, reads, Some(journal)).await)
    }

    async fn execute(
        &self,
        plan: &Plan,
        results: Vec<Option<ItemResult>>,
        reads: Vec<(usize, Read)>,
        journal: Option<Journal>,
    ) -> Report {
        let client = self.client.for_resource(plan.resource);
        let writer = BatchWriter::new(client.clone());
        let pacer = client.pacer().cloned().unwrap_or_else(|| WritePacer::new(PacerConfig::default()));
        let batch_size = self.options.batch_size.clamp(1, MAX_BATCH).min(pacer.config().rate.count as usize);
        let journal = journal.filter(|j| {
            let fits = j.items() == plan.items.len();
            if !fits {
                tracing::warn!(job = %j.id(), "the journal is not this plan's; running without it");
            }
            fits
        });
        let mut job = Job {
            plan,
            id: journal.as_ref().map(|j| j.id().clone()),
            counts: Counts::of(results.iter().map(Option::as_ref)),
            results,
            sends: vec![0; plan.items.len()],
            journal,
            ended: Vec::new(),
            stopped: None,
            events: self.events.clone(),
            started: Instant::now(),
        };
        let mut to_read = vec![false; plan.items.len()];
        for (index, _) in &reads {
            to_read[*index] = true;
        }
        let mut reading: VecDeque<(usize, Read)> = reads.into();
        let mut writes: VecDeque<usize> = VecDeque::new();
        for (index, item) in plan.items.iter().enumerate() {
            if job.results[index].is_some() || to_read[index] {
                continue;
            }
            match item.step {
                Step::AlreadyThere => job.end(index, ItemResult::Skipped, None),
                Step::Write(_) => writes.push_back(index),
            }
        }
        let mut running: FuturesUnordered<BoxFuture<'_, Landed>> = FuturesUnordered::new();
        let (mut batches, mut reads_now) = (0usize, 0usize);
        let mut tick = tokio::time::interval(self.options.tick.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(job = ?job.id, items = plan.items.len(), writes = writes.len(), reads = reading.len(), "job started");
        loop {
            let stopping = job.stopped.is_some();
            if stopping {
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
            while reads_now < self.options.concurrent_reads.max(1) {
                let Some((index, read)) = reading.pop_front() else { break };
                let client = &client;
                let id = &plan.items[index].id;
                running
                    .push(Box::pin(async move { Landed::Read(index, read, Box::new(client.get(id).await)) }));
                reads_now += 1;
            }
            job.flush(&pacer, writes.len() + reading.len() + reads_now);
            if running.is_empty() && writes.is_empty() && reading.is_empty() {
                break;
            }
            let next = writes.len().min(batch_size);
            let can_send = !stopping && next > 0 && batches < self.options.concurrent_batches.max(1);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled(), if !stopping => {
                    tracing::info!(job = ?job.id, "job cancelled; the writes in flight finish");
                    job.stopped = Some(Stopped::Cancelled);
                }
                Some(landed) = running.next() => match landed {
                    Landed::Wrote(indexes, round) => {
                        batches -= 1;
                        for (index, outcome) in indexes.into_iter().zip(round.items) {
                            job.wrote(index, outcome, &mut reading);
                        }
                    }
                    Landed::Read(index, read, outcome) => {
                        reads_now -= 1;
                        job.read(index, read, *outcome, self.options.sends, &mut writes);
                    }
                },
                () = pacer.ready(next as u32), if can_send => {
                    let indexes: Vec<usize> = writes.drain(..next).collect();
                    if let Some(Err(error)) = job.journal.as_mut().map(|j| j.sending(&indexes)) {
                        job.journal_failed(error);
                        writes.extend(indexes);
                        continue;
                    }
                    let items: Vec<WriteItem> = indexes
                        .iter()
                        .filter_map(|&i| {
                            job.sends[i] += 1;
                            let body = plan.items[i].body()?.clone();
                            Some(WriteItem { id: plan.items[i].id.clone(), body })
                        })
                        .collect();
                    let writer = &writer;
                    running.push(Box::pin(async move { Landed::Wrote(indexes, writer.write(items).await) }));
                    batches += 1;
                }
                _ = tick.tick() => job.progress(&pacer, writes.len() + reading.len() + reads_now),
            }
        }
        job.finish()
    }
}

/// Why a record is read back, and what that means for it.
#[derive(Debug)]
enum Read {
    /// A resumed job's pending item; `maybe_sent`: a batch carrying it had left.
    Resume { maybe_sent: bool },
    /// Its write's answer was lost (kept for the failure, should it come to that).
    Lost(Box<ItemOutcome>),
}

impl Read {
    /// Whether the write may be in the store, so the item must be read even when stopping.
    fn may_have_landed(&self) -> bool {
        match self {
            Read::Resume { maybe_sent } => *maybe_sent,
            Read::Lost(_) => true,
        }
    }
}

/// A request of the job that came back.
enum Landed {
    /// A batch (or single writes) of these items.
    Wrote(Vec<usize>, WriteRound),
    /// One record read back.
    Read(usize, Read, Box<Outcome<Record>>),
}

/// One run's state.
struct Job<'a> {
    plan: &'a Plan,
    id: Option<JobId>,
    results: Vec<Option<ItemResult>>,
    counts: Counts,
    sends: Vec<u32>,
    journal: Option<Journal>,
    /// Ended since the last flush: (index, how, the last exchange).
    ended: Vec<(usize, ItemResult, Option<Box<Exchange>>)>,
    stopped: Option<Stopped>,
    events: Option<UnboundedSender<JobEvent>>,
    started: Instant,
}

impl Job<'_> {
    /// An item ended (told at the next flush).
    fn end(&mut self, index: usize, result: ItemResult, exchange: Option<Box<Exchange>>) {
        if self.results[index].is_some() {
            return;
        }
        self.counts.pending = self.counts.pending.saturating_sub(1);
        self.counts.add(&result);
        self.results[index] = Some(result.clone());
        self.ended.push((index, result, exchange));
    }

    /// A write came back.
    fn wrote(&mut self, index: usize, outcome: ItemOutcome, reading: &mut VecDeque<(usize, Read)>) {
        match outcome.landing() {
            Landing::Landed => {
                let result = ItemResult::written(&outcome);
                self.end(index, result, Some(Box::new(outcome.exchange)));
            }
            Landing::NotLanded => {
                let result = match &outcome.result {
                    Err(error) => ItemResult::failed(error, outcome.request_id()),
                    Ok(_) => ItemResult::written(&outcome),
                };
                self.end(index, result, Some(Box::new(outcome.exchange)));
            }
            Landing::Unknown => {
                tracing::info!(id = %outcome.id, status = ?outcome.exchange.status, "answer lost; reading the record back");
                reading.push_back((index, Read::Lost(Box::new(outcome))));
            }
        }
    }

    /// A record was read back.
    fn read(
        &mut self,
        index: usize,
        read: Read,
        outcome: Outcome<Record>,
        sends: u32,
        writes: &mut VecDeque<usize>,
    ) {
        let exchange = Some(Box::new(outcome.exchange));
        let record = match outcome.result {
            Ok(record) => record,
            Err(error) => {
                let result = match read {
                    // Never sent by anyone: the read only looked for work already done.
                    Read::Resume { maybe_sent: false } if self.stopped.is_none() => {
                        writes.push_back(index);
                        return;
                    }
                    Read::Resume { maybe_sent: false } => ItemResult::NotSent,
                    _ if error.service().is_some_and(|e| e.status == 404) => ItemResult::failed(&error, None),
                    _ => ItemResult::Failed {
                        status: None,
                        code: None,
                        message: format!(
                            "its write may have reached the server, and reading the record back failed ({error}); \
                             it may or may not be written"
                        ),
                        request_id: None,
                    },
                };
                self.end(index, result, exchange);
                return;
            }
        };
        if self.plan.items[index].reached(&record) {
            let result = ItemResult::Done { status: None, request_id: None, verified: true };
            self.end(index, result, exchange);
        } else if self.stopped.is_some() {
            self.end(index, ItemResult::NotSent, exchange);
        } else if self.sends[index] < sends {
            writes.push_back(index);
        } else {
            let result = match read {
                Read::Lost(lost) => {
                    let mut result = match &lost.result {
                        Err(error) => ItemResult::failed(error, lost.request_id()),
                        Ok(_) => ItemResult::failed(
                            &crate::graph::error::GraphError::Decode("no readable answer".into()),
                            None,
                        ),
                    };
                    if let ItemResult::Failed { message, .. } = &mut result {
                        message.push_str(&format!(
                            " (sent {} times; read back, the record is not at the target)",
                            self.sends[index]
                        ));
                    }
                    result
                }
                Read::Resume { .. } => ItemResult::NotSent,
            };
            self.end(index, result, exchange);
        }
    }

    /// The journal could not be written: stop, and journal no more.
    fn journal_failed(&mut self, error: JournalError) {
        tracing::warn!(job = ?self.id, %error, "the job journal failed; stopping the job");
        self.journal = None;
        if !matches!(self.stopped, Some(Stopped::Journal(_))) {
            self.stopped = Some(Stopped::Journal(error));
        }
    }

    /// Journals and tells what ended since the last flush, then the progress.
    fn flush(&mut self, pacer: &WritePacer, writes_left: usize) {
        if self.ended.is_empty() {
            return;
        }
        let ended = std::mem::take(&mut self.ended);
        if let Some(journal) = self.journal.as_mut() {
            let lines: Vec<(usize, &str, &ItemResult)> = ended
                .iter()
                .map(|(index, result, _)| (*index, self.plan.items[*index].id.as_str(), result))
                .collect();
            if let Err(error) = journal.record(&lines) {
                self.journal_failed(error);
            }
        }
        if let Some(events) = &self.events {
            for (index, result, exchange) in ended {
                let item = &self.plan.items[index];
                let _ = events.send(JobEvent::Item(ItemReport {
                    index,
                    id: item.id.clone(),
                    label: item.label.clone(),
                    result,
                    sends: self.sends[index],
                    exchange,
                }));
            }
        }
        self.progress(pacer, writes_left);
    }

    /// Tells where the job stands.
    fn progress(&self, pacer: &WritePacer, writes_left: usize) {
        let Some(events) = &self.events else { return };
        let status = pacer.status();
        let beyond = (writes_left as u64).saturating_sub(u64::from(status.available));
        let eta = status.paused_for.unwrap_or_default()
            + status.rate.refill_time(u32::try_from(beyond).unwrap_or(u32::MAX));
        let _ = events.send(JobEvent::Progress(Progress {
            counts: self.counts,
            pacer: status,
            writes_left,
            eta,
            elapsed: self.started.elapsed(),
            stopping: self.stopped.is_some(),
        }));
    }

    /// Ends the journal (unless it failed) and reports.
    fn finish(mut self) -> Report {
        let elapsed = self.started.elapsed();
        if let Some(journal) = self.journal.take()
            && let Err(error) = journal.finish(self.counts)
        {
            tracing::warn!(job = ?self.id, %error, "the job journal could not be ended");
            self.stopped.get_or_insert(Stopped::Journal(error));
        }
        tracing::info!(job = ?self.id, counts = %self.counts, ms = elapsed.as_millis() as u64, "job ended");
        let results = self.results.into_iter().map(|r| r.unwrap_or(ItemResult::NotSent)).collect();
        Report { id: self.id, results, counts: self.counts, stopped: self.stopped, elapsed }
    }
}
