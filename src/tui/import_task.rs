//! The app's import, as tasks over `jobs::import` (the same steps `autopilot-tui import` runs):
//! read and check the file and read the tenant; then carry out the plan, its progress
//! forwarded as messages. No terminal code here, no model either.

use crate::graph::client::GraphClient;
use crate::graph::pacer::WritePacer;
use crate::jobs::import::{CancellationToken, ImportJob, ImportPlan, RunOptions};
use crate::tui::event::Msg;
use crate::tui::path_complete::expand_home;
use crate::write_log::WriteLog;
use tokio::sync::mpsc::UnboundedSender;

/// Reads and checks the file, then reads what the tenant holds for its serials.
pub async fn prepare(client: GraphClient, pacer: WritePacer, request_id: u64, path: String) -> Msg {
    let file = expand_home(&path);
    let read = tokio::task::spawn_blocking(move || crate::jobs::import::headless::read_csv(&file)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Msg::ImportPrepared { request_id, path, result: Err(e.to_string()) },
        Err(e) => return Msg::ImportPrepared { request_id, path, result: Err(e.to_string()) },
    };
    let (job, _progress) = ImportJob::new(&client, pacer, CancellationToken::new(), None);
    let report = job.check(&bytes);
    let result = match job.survey(&report, RunOptions::default().page_size).await {
        Ok(tenant) => Ok((Box::new(report), Box::new(tenant))),
        Err(e) => Err(e.to_string()),
    };
    Msg::ImportPrepared { request_id, path, result }
}

/// What a running import-side job works with.
pub struct JobContext {
    /// The session's client.
    pub client: GraphClient,
    /// The write budget every writer shares.
    pub pacer: WritePacer,
    /// Stops the job between requests.
    pub cancel: CancellationToken,
    /// Where its writes are logged.
    pub log: Option<WriteLog>,
    /// The job's request id.
    pub request_id: u64,
    /// Where its progress goes.
    pub tx: UnboundedSender<Msg>,
}

/// Drives `work` of a job made on `context`, forwarding its progress as it comes (and what is
/// left when it ends).
async fn drive<T>(
    context: JobContext,
    work: impl for<'a> FnOnce(&'a ImportJob) -> futures_util::future::BoxFuture<'a, T>,
) -> T {
    let JobContext { client, pacer, cancel, log, request_id, tx } = context;
    let (job, mut progress) = ImportJob::new(&client, pacer, cancel, log);
    let forward = |progress| {
        let _ = tx.send(Msg::ImportProgressed { request_id, progress });
    };
    let result = {
        let running = work(&job);
        tokio::pin!(running);
        loop {
            tokio::select! {
                biased;
                Some(p) = progress.recv() => forward(p),
                result = &mut running => break result,
            }
        }
    };
    drop(job);
    while let Ok(p) = progress.try_recv() {
        forward(p);
    }
    result
}

/// Carries out the plan until it ends or is cancelled.
pub async fn run(context: JobContext, plan: ImportPlan) -> Msg {
    let request_id = context.request_id;
    let result = drive(context, |job| {
        Box::pin(async move {
            let options = RunOptions::default();
            job.run(&plan, &options).await
        })
    })
    .await;
    Msg::ImportEnded { request_id, result: result.map(Box::new).map_err(|e| e.to_string()) }
}

/// Deletes the import records `:cleanup` picked.
pub async fn clean_up(context: JobContext, records: Vec<(String, Option<String>)>) -> Msg {
    let request_id = context.request_id;
    let rows = drive(context, |job| Box::pin(job.clean_up_records(records))).await;
    Msg::CleanedUp { request_id, rows }
}
