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

/// Carries out the plan until it ends or `cancel` stops it, telling its progress on `tx`.
pub async fn run(
    client: GraphClient,
    pacer: WritePacer,
    cancel: CancellationToken,
    log: Option<WriteLog>,
    request_id: u64,
    plan: ImportPlan,
    tx: UnboundedSender<Msg>,
) -> Msg {
    let (job, mut progress) = ImportJob::new(&client, pacer, cancel, log);
    let forward = |progress| tx.send(Msg::ImportProgressed { request_id, progress }).is_ok();
    let options = RunOptions::default();
    let result = {
        let run = job.run(&plan, &options);
        tokio::pin!(run);
        loop {
            tokio::select! {
                biased;
                Some(p) = progress.recv() => { forward(p); }
                result = &mut run => break result,
            }
        }
    };
    drop(job);
    while let Ok(p) = progress.try_recv() {
        forward(p);
    }
    Msg::ImportEnded { request_id, result: result.map(Box::new).map_err(|e| e.to_string()) }
}
