//! The app's bulk job as a task over `jobs::runner` (the runner `apply` uses too): started from
//! a previewed plan or resumed from a journal a crash cut off, its events forwarded as
//! messages. No terminal code here, no model either.

use crate::graph::client::GraphClient;
use crate::jobs::journal::SavedJob;
use crate::jobs::runner::Runner;
use crate::tui::event::Msg;
use crate::write_log::{WriteLog, WriteSource};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

/// What a job does: a new plan, or the rest of a journaled one.
pub enum JobWork {
    /// Run this plan (described for the journal as `source`).
    Run(Box<crate::jobs::plan::Plan>, String),
    /// Go on with a job a crash or kill cut off.
    Resume(Box<SavedJob>),
}

/// Runs the job until it ends or `cancel` stops it, its events on `tx`. With a write log (a
/// real session), the job is journaled in the state directory for resuming, too.
pub async fn run(
    client: GraphClient,
    cancel: CancellationToken,
    log: Option<WriteLog>,
    request_id: u64,
    work: JobWork,
    tx: UnboundedSender<Msg>,
) -> Msg {
    let (events, mut received) = unbounded_channel();
    let mut runner = Runner::new(&client).with_events(events).with_cancel(cancel);
    if let Some(log) = log {
        if let Ok(dir) = crate::jobs::journal::jobs_dir() {
            runner = runner.with_journal_dir(dir);
        }
        runner = runner.with_write_log(log, WriteSource::Bulk);
    }
    let forward = |event| {
        let _ = tx.send(Msg::JobEvent { request_id, event: Box::new(event) });
    };
    let result = {
        let runner = &runner;
        let work: futures_util::future::BoxFuture<'_, Result<_, String>> = match work {
            JobWork::Run(plan, source) => Box::pin(async move { Ok(runner.run(&plan, &source).await) }),
            JobWork::Resume(saved) => {
                // The app learns what the job it resumes does (its own copy: the job runs on this one).
                let (plan, ended) = (Box::new(saved.plan.clone()), saved.results.clone());
                let _ = tx.send(Msg::JobPlanned { request_id, plan, ended });
                Box::pin(async move { runner.resume(*saved).await.map_err(|e| e.to_string()) })
            }
        };
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                Some(event) = received.recv() => forward(event),
                result = &mut work => break result,
            }
        }
    };
    drop(runner);
    while let Ok(event) = received.try_recv() {
        forward(event);
    }
    Msg::JobEnded { request_id, result: result.map(Box::new) }
}
