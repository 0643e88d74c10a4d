//! Runs [`Effect`]s as tokio tasks under one supervisor. A task talks to Graph (or the disk)
//! and sends [`Msg`]s back tagged with its request id; it never touches the model or a widget.
//! Every task lives in one `JoinSet`: the run loop awaits their ends, so a task that fails or
//! panics is reported as [`Msg::TaskFailed`] instead of vanishing; a task can be stopped by its
//! request id, and dropping the runner stops them all. A finished sign-in hands its client to
//! the runner through its task's end, never through a message.

use crate::connect::DeviceCodeSignIn;
use crate::graph::auth::AuthError;
use crate::graph::client::GraphClient;
use crate::tui::event::{Effect, Msg, SignInPrompt};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{AbortHandle, JoinError, JoinSet};

/// What a task leaves behind when it ends.
#[derive(Debug)]
pub struct TaskEnd {
    /// The request it ran for.
    request_id: u64,
    /// How a sign-in ended, for a sign-in task: the client it built (the runner keeps it for
    /// every request after, before `update` hears of it) or why not.
    signed_in: Option<Result<GraphClient, AuthError>>,
}

impl TaskEnd {
    fn of(request_id: u64) -> TaskEnd {
        TaskEnd { request_id, signed_in: None }
    }
}

/// Spawns effect tasks and watches them end; a new listing stops the one before it.
#[derive(Debug)]
pub struct Effects {
    client: Option<GraphClient>,
    sign_in: Option<DeviceCodeSignIn>,
    tx: UnboundedSender<Msg>,
    tasks: JoinSet<TaskEnd>,
    /// Running tasks by request id, to stop them (the JoinSet's ids map back to requests).
    running: HashMap<u64, AbortHandle>,
    request_of: HashMap<tokio::task::Id, u64>,
    /// The listing's request id (a new listing stops it).
    listing: Option<u64>,
    /// Text to put on the clipboard: the run loop writes it to the terminal between frames.
    copies: Vec<String>,
    /// Where every write that reached the server is logged (none: not logged).
    write_log: Option<crate::write_log::WriteLog>,
    /// The write budget every writer of the session shares (a 429 pauses them all).
    pacer: crate::graph::pacer::WritePacer,
    /// The cancel tokens of running jobs, by request id (a job stops between requests).
    cancels: HashMap<u64, tokio_util::sync::CancellationToken>,
}

impl Effects {
    /// A runner that reports on `tx`.
    pub fn new(client: GraphClient, tx: UnboundedSender<Msg>) -> Effects {
        Effects::with(Some(client), None, tx)
    }

    /// A runner that must sign in first ([`Effect::SignIn`]); Graph effects wait for the client.
    pub fn signing_in(sign_in: DeviceCodeSignIn, tx: UnboundedSender<Msg>) -> Effects {
        Effects::with(None, Some(sign_in), tx)
    }

    fn with(
        client: Option<GraphClient>,
        sign_in: Option<DeviceCodeSignIn>,
        tx: UnboundedSender<Msg>,
    ) -> Effects {
        Effects {
            client,
            sign_in,
            tx,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            request_of: HashMap::new(),
            listing: None,
            copies: Vec::new(),
            write_log: None,
            pacer: crate::graph::pacer::WritePacer::new(crate::graph::pacer::PacerConfig::default()),
            cancels: HashMap::new(),
        }
    }

    /// Starts an import-side job (an import, a clean-up) with its cancel token; `work` gets
    /// what every such job needs and ends with its last message.
    fn spawn_job<F, W>(&mut self, request_id: u64, work: W)
    where
        W: FnOnce(crate::tui::import_task::JobContext) -> F + Send + 'static,
        F: Future<Output = Msg> + Send + 'static,
    {
        let Some(client) = self.client_for(request_id) else { return };
        let cancel = tokio_util::sync::CancellationToken::new();
        self.cancels.insert(request_id, cancel.clone());
        let tx = self.tx.clone();
        let context = crate::tui::import_task::JobContext {
            client,
            pacer: self.pacer.clone(),
            cancel,
            log: self.write_log.clone(),
            request_id,
            tx: tx.clone(),
        };
        self.spawn(request_id, async move {
            let _ = tx.send(work(context).await);
            TaskEnd::of(request_id)
        });
    }

    /// Starts a bulk job (new or resumed) with its cancel token.
    fn start_job(&mut self, request_id: u64, work: crate::tui::job_task::JobWork) {
        let Some(client) = self.client_for(request_id) else { return };
        let cancel = tokio_util::sync::CancellationToken::new();
        self.cancels.insert(request_id, cancel.clone());
        let log = self.write_log.clone();
        let tx = self.tx.clone();
        self.spawn(request_id, async move {
            let ended = crate::tui::job_task::run(client, cancel, log, request_id, work, tx.clone()).await;
            let _ = tx.send(ended);
            TaskEnd::of(request_id)
        });
    }

    /// Sets the write budget (`--write-rate`) every write of the session passes through.
    pub fn set_write_rate(&mut self, rate: crate::graph::pacer::Rate) {
        let config = crate::graph::pacer::PacerConfig { rate, ..Default::default() };
        self.pacer = crate::graph::pacer::WritePacer::new(config);
    }

    /// Logs every write that reaches the server to `log`.
    pub fn set_write_log(&mut self, log: Option<crate::write_log::WriteLog>) {
        self.write_log = log;
    }

    /// The clipboard texts asked for since the last call (for the run loop to write).
    pub fn take_copies(&mut self) -> Vec<String> {
        std::mem::take(&mut self.copies)
    }

    /// Whether any task is running (the run loop only awaits ends then).
    pub fn busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Waits for the next task to end (pending forever when none runs).
    pub async fn next_end(&mut self) -> Result<TaskEnd, (Option<u64>, JoinError)> {
        match self.tasks.join_next_with_id().await {
            Some(Ok((id, end))) => {
                self.request_of.remove(&id);
                Ok(end)
            }
            Some(Err(e)) => Err((self.request_of.remove(&e.id()), e)),
            None => std::future::pending().await,
        }
    }

    /// Takes a task's end: keeps what it handed over, and turns a failure into a message
    /// (`None` for a task that ended well or was stopped on purpose).
    pub fn ended(&mut self, end: Result<TaskEnd, (Option<u64>, JoinError)>) -> Option<Msg> {
        match end {
            Ok(TaskEnd { request_id, signed_in }) => {
                self.running.remove(&request_id);
                let result = match signed_in? {
                    Ok(client) => {
                        let root = (client.config().base_url.clone(), client.config().collection);
                        self.client = Some(client);
                        Ok(root)
                    }
                    Err(e) => Err(e),
                };
                Some(Msg::SignedIn { request_id, result })
            }
            Err((request_id, e)) => {
                if let Some(id) = request_id {
                    self.running.remove(&id);
                }
                if e.is_cancelled() {
                    return None;
                }
                let error = panic_text(e);
                tracing::error!(?request_id, %error, "a task failed");
                Some(Msg::TaskFailed { request_id, error })
            }
        }
    }

    /// A client for one request id: it reports its retry waits tagged with that id.
    fn client_for(&self, request_id: u64) -> Option<GraphClient> {
        let tx = self.tx.clone();
        let observer = Arc::new(move |notice| {
            let _ = tx.send(Msg::Retrying { request_id, notice, at: Instant::now() });
        });
        self.client.clone().map(|c| c.with_retry_observer(observer).with_pacer(self.pacer.clone()))
    }

    fn spawn(&mut self, request_id: u64, task: impl Future<Output = TaskEnd> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.request_of.insert(handle.id(), request_id);
        self.running.insert(request_id, handle);
    }

    fn stop(&mut self, request_id: u64) {
        if let Some(task) = self.running.remove(&request_id) {
            task.abort();
        }
    }

    /// Starts one effect.
    pub fn run(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Cancel { request_id } => {
                tracing::info!(request_id, "cancelled by the user");
                self.stop(request_id);
            }
            Effect::Sort { generation, job } => {
                tracing::debug!(generation, rows = job.len(), "sorting off the draw path");
                self.spawn(generation, async move {
                    if let Ok(sorted) = tokio::task::spawn_blocking(move || job.run()).await {
                        let _ = tx.send(Msg::Sorted { generation, sorted: Box::new(sorted) });
                    }
                    TaskEnd::of(generation)
                });
            }
            Effect::StoreDrafts { path, drafts } => {
                self.spawn(0, async move {
                    let written = tokio::task::spawn_blocking(move || {
                        crate::tui::draft_store::write(&path, drafts.as_ref())
                            .map(|()| drafts.map(|d| d.times()).unwrap_or_default())
                            .map_err(|e| e.to_string())
                    })
                    .await;
                    let result = written.unwrap_or_else(|e| Err(e.to_string()));
                    if let Err(error) = &result {
                        tracing::warn!(%error, "drafts not stored");
                    }
                    let _ = tx.send(Msg::DraftsStored { result });
                    TaskEnd::of(0)
                });
            }
            Effect::SaveExchange { name, text } => {
                self.spawn(0, async move {
                    let saved = tokio::task::spawn_blocking(move || save_exchange(&name, &text)).await;
                    let result = saved.unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Msg::ExchangeSaved { result });
                    TaskEnd::of(0)
                });
            }
            Effect::SignIn { request_id } => {
                let Some(sign_in) = self.sign_in.clone() else {
                    tracing::warn!("sign-in asked for without a sign-in to run");
                    return;
                };
                // One sign-in at a time: starting again stops the last one.
                let running: Vec<u64> = self.running.keys().copied().collect();
                for id in running {
                    self.stop(id);
                }
                self.spawn(request_id, sign_in_task(sign_in, request_id, tx));
            }
            Effect::Copy { text } => self.copies.push(text),
            Effect::PrepareImport { request_id, path } => {
                let Some(client) = self.client_for(request_id) else { return };
                let pacer = self.pacer.clone();
                self.spawn(request_id, async move {
                    let _ = tx.send(crate::tui::import_task::prepare(client, pacer, request_id, path).await);
                    TaskEnd::of(request_id)
                });
            }
            Effect::RunImport { request_id, plan } => {
                self.spawn_job(request_id, move |job| crate::tui::import_task::run(job, *plan));
            }
            Effect::CleanUp { request_id, records } => {
                self.spawn_job(request_id, move |job| crate::tui::import_task::clean_up(job, records));
            }
            Effect::RunJob { request_id, plan } => {
                let source =
                    format!("bulk change of {} {} in the app", plan.items.len(), plan.resource.title);
                self.start_job(request_id, crate::tui::job_task::JobWork::Run(Box::new(plan), source));
            }
            Effect::ResumeJob { request_id, path } => match crate::jobs::journal::load(&path) {
                Ok(saved) => {
                    self.start_job(request_id, crate::tui::job_task::JobWork::Resume(Box::new(saved)))
                }
                Err(e) => {
                    let _ = tx.send(Msg::JobEnded { request_id, result: Err(e.to_string()) });
                }
            },
            Effect::AbandonJob { path } => {
                if let Err(e) =
                    crate::jobs::journal::load(&path).and_then(|saved| crate::jobs::journal::abandon(&saved))
                {
                    tracing::warn!(error = %e, "job journal not abandoned");
                }
            }
            Effect::FindUnfinishedJobs => {
                // Only a real session journals (tests in process have no write log).
                let (Some(client), Some(_)) = (self.client.clone(), self.write_log.as_ref()) else { return };
                self.spawn(0, async move {
                    let found = tokio::task::spawn_blocking(move || {
                        let dir = crate::jobs::journal::jobs_dir().ok()?;
                        let unfinished = crate::jobs::journal::unfinished(&dir).ok()?;
                        Some(
                            unfinished
                                .for_client(&client)
                                .map(|j| (j.path.clone(), j.info.source.clone(), j.counts()))
                                .collect::<Vec<_>>(),
                        )
                    })
                    .await;
                    if let Ok(Some(jobs)) = found
                        && !jobs.is_empty()
                    {
                        let _ = tx.send(Msg::UnfinishedJobs { jobs });
                    }
                    TaskEnd::of(0)
                });
            }
            Effect::CancelJob { request_id } => {
                if let Some(cancel) = self.cancels.remove(&request_id) {
                    cancel.cancel();
                }
            }
            Effect::ExportResults { name, bytes } => {
                self.spawn(0, async move {
                    let written = tokio::task::spawn_blocking(move || {
                        let path =
                            std::env::current_dir().map(|d| d.join(&name)).unwrap_or_else(|_| name.into());
                        std::fs::write(&path, bytes)
                            .map(|()| path.display().to_string())
                            .map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .await;
                    let result = written.unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Msg::ResultsExported { result });
                    TaskEnd::of(0)
                });
            }
            Effect::CompletePath { line } => {
                self.spawn(0, async move {
                    let done =
                        tokio::task::spawn_blocking(move || crate::tui::path_complete::complete(&line)).await;
                    if let Ok(c) = done {
                        let _ = tx.send(Msg::PathCompleted { line: c.line, candidates: c.candidates });
                    }
                    TaskEnd::of(0)
                });
            }
            Effect::ReadJournal => {
                let log = self.write_log.clone();
                self.spawn(0, async move {
                    let read = tokio::task::spawn_blocking(move || match log {
                        Some(log) => log.read().map_err(|e| e.to_string()),
                        None => Err("writes are not logged in this session (no state directory)".to_string()),
                    })
                    .await;
                    let result = read.unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Msg::JournalRead { result });
                    TaskEnd::of(0)
                });
            }
            Effect::Remember { key, command } => {
                self.spawn(0, async move {
                    let written = tokio::task::spawn_blocking(move || {
                        let path = crate::tui::remembered::default_path().ok_or("no state directory")?;
                        crate::tui::remembered::write(&path, &key, command).map_err(|e| e.to_string())
                    })
                    .await;
                    if let Ok(Err(error)) = written {
                        // Only the next start's default depends on it: logged, not shown.
                        tracing::warn!(%error, "which resource was shown last is not remembered");
                    }
                    TaskEnd::of(0)
                });
            }
            Effect::Sync { request_id } => {
                let Some(client) = self.client_for(request_id) else {
                    tracing::warn!(request_id, "a sync before sign-in finished; dropped");
                    return;
                };
                tracing::info!(request_id, "autopilot sync");
                self.spawn(request_id, async move {
                    let (exchanges, result, next_allowed) = sync_task(&client).await;
                    let _ = tx.send(Msg::Synced {
                        request_id,
                        exchanges,
                        result: Box::new(result),
                        next_allowed,
                    });
                    TaskEnd::of(request_id)
                });
            }
            graph => self.run_graph(graph),
        }
    }

    /// Starts an effect that talks to Graph.
    fn run_graph(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        let (request_id, resource) = match &effect {
            Effect::List { request_id, resource, .. }
            | Effect::Get { request_id, resource, .. }
            | Effect::Patch { request_id, resource, .. }
            | Effect::Act { request_id, resource, .. } => (*request_id, *resource),
            _ => return,
        };
        let Some(client) = self.client_for(request_id).map(|c| c.for_resource(resource)) else {
            tracing::warn!(request_id, "a Graph request before sign-in finished; dropped");
            return;
        };
        match effect {
            Effect::List { request_id, query, .. } => {
                if let Some(previous) = self.listing.replace(request_id) {
                    self.stop(previous);
                }
                tracing::debug!(request_id, "listing");
                let stream = client.list(&query);
                self.spawn(request_id, async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(outcome) = stream.next().await {
                        if tx.send(Msg::Page { request_id, outcome: Box::new(outcome) }).is_err() {
                            return TaskEnd::of(request_id);
                        }
                    }
                    let _ = tx.send(Msg::ListEnded { request_id });
                    TaskEnd::of(request_id)
                });
            }
            Effect::Get { request_id, device_id, .. } => {
                tracing::debug!(request_id, %device_id, "get");
                self.spawn(request_id, async move {
                    let outcome = client.get(&device_id).await;
                    let _ = tx.send(Msg::Fetched { request_id, outcome: Box::new(outcome) });
                    TaskEnd::of(request_id)
                });
            }
            Effect::Patch { request_id, device_id, body, original, source, undoes, .. } => {
                tracing::info!(request_id, %device_id, fields = ?body.properties.keys().collect::<Vec<_>>(), "save");
                let log = self.write_log.clone();
                let job = crate::tui::save_task::SaveJob {
                    request_id,
                    device_id,
                    body,
                    original: *original,
                    source,
                    undoes,
                };
                self.spawn(request_id, async move {
                    let _ = tx.send(crate::tui::save_task::run(client, job, log).await);
                    TaskEnd::of(request_id)
                });
            }
            Effect::Act { request_id, device_id, request, body, resource } => {
                tracing::info!(request_id, %device_id, ?request, "action");
                let secrets: Vec<&'static str> = resource
                    .actions
                    .iter()
                    .flat_map(|a| a.inputs)
                    .chain(resource.fields)
                    .filter(|f| f.kind == crate::graph::resource::Kind::Secret)
                    .map(|f| f.path)
                    .collect();
                let log = self.write_log.clone();
                self.spawn(request_id, async move {
                    let outcome = client.act(&device_id, request, body.as_ref(), &secrets).await;
                    if let (Some(status), Some(log)) = (outcome.exchange.status, log.as_ref()) {
                        let verb = match request {
                            crate::graph::resource::ActionRequest::Post(name) => format!("POST {name}"),
                            crate::graph::resource::ActionRequest::Delete => "DELETE".to_string(),
                        };
                        // What an action sent, secrets left out; it cannot be undone (no before).
                        let after = body
                            .iter()
                            .flatten()
                            .filter(|(k, _)| !secrets.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        let source = crate::write_log::WriteSource::Action;
                        let entry = crate::write_log::WriteEntry {
                            after,
                            ..crate::tui::save_task::answered(
                                &client,
                                &device_id,
                                verb,
                                status,
                                &outcome.exchange,
                                source,
                            )
                        };
                        crate::tui::save_task::append(log, entry).await;
                    }
                    let mut exchanges = vec![outcome.exchange];
                    let result = match (outcome.result, request) {
                        (Ok(()), crate::graph::resource::ActionRequest::Delete) => Ok(None),
                        // The action answers 204 without the record: read it again for the row.
                        (Ok(()), _) => {
                            let again = client.get(&device_id).await;
                            exchanges.push(again.exchange);
                            again.result.map(Some)
                        }
                        (Err(e), _) => Err(e),
                    };
                    let _ =
                        tx.send(Msg::Acted { request_id, device_id, exchanges, result: Box::new(result) });
                    TaskEnd::of(request_id)
                });
            }
            _ => {}
        }
    }
}

/// The Autopilot sync, and after a 429 the settings, for when Intune takes the next one (ten
/// minutes after `lastManualSyncTriggerDateTime`, counted from this machine's clock).
async fn sync_task(
    client: &GraphClient,
) -> (
    Vec<crate::graph::client::Exchange>,
    Result<(), crate::graph::error::GraphError>,
    Option<(Instant, std::time::SystemTime)>,
) {
    let outcome = client.sync_autopilot().await;
    let mut exchanges = vec![outcome.exchange];
    let throttled = matches!(&outcome.result, Err(e) if e.service().is_some_and(|s| s.status == 429));
    let mut next_allowed = None;
    if throttled {
        let settings = client.autopilot_settings().await;
        exchanges.push(settings.exchange);
        let last = settings.result.ok().and_then(|s| {
            s.get("lastManualSyncTriggerDateTime")
                .and_then(|v| v.as_str())
                .and_then(crate::graph::timestamp::parse)
        });
        if let Some(last) = last {
            let next = last + SYNC_INTERVAL;
            let left = next.duration_since(std::time::SystemTime::now()).unwrap_or_default();
            next_allowed = Some((Instant::now() + left, next));
        }
    }
    (exchanges, outcome.result, next_allowed)
}

/// Intune takes one manual Autopilot sync per this long.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// What a panicked task said, in words.
fn panic_text(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a task panicked".to_string()),
        Err(e) => e.to_string(),
    }
}

/// Writes an exchange into `exchanges/` of the state directory, readable by the user only.
fn save_exchange(name: &str, text: &str) -> Result<std::path::PathBuf, String> {
    let dir = crate::paths::state_dir().ok_or("no state directory (set XDG_STATE_HOME or HOME)")?;
    let path = dir.join("exchanges").join(name);
    crate::paths::write_private(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "exchange saved");
    Ok(path)
}

/// The device code flow: a code to show, polls reported as they answer, then the client,
/// handed to the runner in the task's end. The device code and the tokens stay inside this
/// task and the client's token source.
async fn sign_in_task(sign_in: DeviceCodeSignIn, request_id: u64, tx: UnboundedSender<Msg>) -> TaskEnd {
    let prompt = match sign_in.request_code().await {
        Ok(p) => p,
        Err(e) => return TaskEnd { request_id, signed_in: Some(Err(e)) },
    };
    tracing::info!(request_id, "device code sign-in: waiting for the user");
    let shown = SignInPrompt {
        user_code: prompt.user_code.clone(),
        verification_uri: prompt.verification_uri.clone(),
        message: prompt.message.clone(),
        expires_at: prompt.expires_at,
        interval: prompt.interval,
    };
    let _ = tx.send(Msg::SignInPrompt { request_id, prompt: shown });
    let polled = tx.clone();
    let result = sign_in
        .finish(&prompt, move |state| {
            let _ = polled.send(Msg::SignInPolled { request_id, state });
        })
        .await;
    tracing::info!(request_id, ok = result.is_ok(), "device code sign-in finished");
    TaskEnd { request_id, signed_in: Some(result) }
}

impl Drop for Effects {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::auth::Secret;
    use crate::graph::client::ClientConfig;

    #[tokio::test]
    async fn a_task_that_panics_is_reported_with_its_request() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let client =
            GraphClient::new(ClientConfig::new("http://127.0.0.1:9/v1.0", Secret::new("t"))).unwrap();
        let mut effects = Effects::new(client, tx);
        effects.spawn(7, async { panic!("boom in a task") });
        let end = effects.next_end().await;
        match effects.ended(end) {
            Some(Msg::TaskFailed { request_id, error }) => {
                assert_eq!(request_id, Some(7));
                assert!(error.contains("boom in a task"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!effects.busy());
        // A task stopped on purpose is not a failure.
        effects.spawn(8, std::future::pending());
        effects.run(Effect::Cancel { request_id: 8 });
        let end = effects.next_end().await;
        assert!(effects.ended(end).is_none());
    }
}
