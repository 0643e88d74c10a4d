//! The bulk job the app runs: started from a previewed plan, followed in the jobs view,
//! cancelled after the writes in flight.

use crate::jobs::plan::Plan;
use crate::tui::event::Effect;
use crate::tui::model::{JobView, Model};

/// Starts the job of a previewed plan (one at a time).
pub(super) fn start(model: &mut Model, plan: Plan) -> Vec<Effect> {
    let request_id = model.request_id();
    let title = format!("Bulk change of {} {}", plan.items.len(), plan.resource.title);
    let mut job = JobView::new(request_id, title, Some(plan.clone()), model.now);
    job.results = pending_lines(&plan);
    model.job = Some(job);
    model.screen = crate::tui::model::Screen::Jobs;
    vec![Effect::RunJob { request_id, plan }]
}

/// Every device of a plan as a line of the jobs view, until its outcome replaces it.
fn pending_lines(plan: &Plan) -> Vec<String> {
    plan.items
        .iter()
        .map(|item| {
            let change = item.body().map_or_else(
                || "already at the target".to_string(),
                |b| crate::tui::wording::changes_words(&b.changes),
            );
            format!("{:<14} pending: {change}", item.label)
        })
        .collect()
}

/// How an item ended, as a line of the jobs view.
fn item_line(label: &str, result: &crate::jobs::outcome::ItemResult) -> String {
    let problem = result.problem().map(|p| format!(": {p}")).unwrap_or_default();
    let id = result.request_id().map(|r| format!(" (request-id {r})")).unwrap_or_default();
    format!("{label:<14} {}{problem}{id}", result.word())
}

/// A resumed job's plan and what its journal says ended before the cut: the view lists every
/// device, those already ended with their outcome.
pub(super) fn planned(
    model: &mut Model,
    request_id: u64,
    plan: Plan,
    ended: Vec<Option<crate::jobs::outcome::ItemResult>>,
) {
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return };
    job.results = pending_lines(&plan);
    for ((line, item), result) in job.results.iter_mut().zip(&plan.items).zip(&ended) {
        if let Some(result) = result {
            *line = format!("{} (before the cut)", item_line(&item.label, result));
        }
    }
    job.plan = Some(plan);
}

/// `:jobs`: back to the running or last job.
pub(super) fn open(model: &mut Model) {
    if model.job.is_none() {
        model.say(
            crate::tui::model::Level::Info,
            "No job in this session yet (bulk edit with marks, or :import FILE)",
        );
        return;
    }
    model.screen = crate::tui::model::Screen::Jobs;
}

/// A key in the jobs view.
pub(super) fn action(model: &mut Model, action: crate::tui::event::Action) -> Vec<Effect> {
    use crate::tui::event::Action;
    use crate::tui::model::{Ask, Level, Overlay, Screen};
    let Some(job) = model.job.as_mut() else {
        model.screen = Screen::Table;
        return Vec::new();
    };
    match action {
        Action::ScrollUp => job.scroll = job.scroll.saturating_sub(5),
        Action::ScrollDown => job.scroll = job.scroll.saturating_add(5),
        Action::Export => match &job.results_csv {
            Some(bytes) => {
                let name = format!(
                    "autopilot-tui-results-{}.csv",
                    crate::graph::timestamp::format(model.wall).replace(':', "")
                );
                return vec![Effect::ExportResults { name, bytes: bytes.clone() }];
            }
            None => model.say(Level::Info, "The results can be exported once the job has ended"),
        },
        Action::Sync => return super::actions::sync(model),
        Action::ShowJobs => {
            model.screen = Screen::Table;
            if !job.finished {
                model.say(Level::Info, "The job goes on; :jobs shows it again");
            }
        }
        Action::Back if !job.finished && !job.cancelling => {
            let title = job.title.clone();
            model.overlay = Some(Overlay::Ask(Ask::CancelJob { title }));
        }
        Action::Back if !job.finished => {
            model.say(Level::Info, "Cancelling: waiting for the requests in flight")
        }
        Action::Back => model.screen = Screen::Table,
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => {}
    }
    Vec::new()
}

/// Yes to cancelling: the job stops after the requests in flight.
pub(super) fn cancel(model: &mut Model) -> Vec<Effect> {
    let Some(job) = model.job.as_mut().filter(|j| !j.finished) else { return Vec::new() };
    job.cancelling = true;
    job.note("cancelled: the requests in flight finish, nothing more is sent");
    vec![Effect::CancelJob { request_id: job.request_id }]
}

/// Unfinished journals of this target found at start: the first is offered for resuming.
pub(super) fn offer_resume(
    model: &mut Model,
    found: Vec<(std::path::PathBuf, String, crate::jobs::outcome::Counts)>,
) {
    if model.overlay.is_some() || model.job.as_ref().is_some_and(|j| !j.finished) {
        return; // asked again at the next start
    }
    let Some((path, source, counts)) = found.into_iter().next() else { return };
    let what = format!(
        "{source}, {} done, {} failed, {} still to go",
        counts.done,
        counts.failed,
        counts.pending + counts.not_sent
    );
    model.overlay = Some(crate::tui::model::Overlay::Ask(crate::tui::model::Ask::ResumeJob { path, what }));
}

/// Yes to resuming: the job goes on in the jobs view.
pub(super) fn resume(model: &mut Model, path: std::path::PathBuf, what: String) -> Vec<Effect> {
    let request_id = model.request_id();
    model.job = Some(JobView::new(request_id, format!("Resumed job: {what}"), None, model.now));
    model.screen = crate::tui::model::Screen::Jobs;
    vec![Effect::ResumeJob { request_id, path }]
}

/// `n` to resuming: the journal is ended, not offered again.
pub(super) fn abandon(model: &mut Model, path: std::path::PathBuf) -> Vec<Effect> {
    model.say(
        crate::tui::model::Level::Info,
        "The unfinished job is dropped (its journal stays in the state directory)",
    );
    vec![Effect::AbandonJob { path }]
}

/// What the runner tells: counts, pace, a 429's countdown, each item as it ends.
pub(super) fn event(model: &mut Model, request_id: u64, event: crate::jobs::runner::JobEvent) {
    use crate::jobs::runner::JobEvent;
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return };
    match event {
        JobEvent::Started { id, journal, items, pending } => {
            job.phase = "sending".into();
            let journal = journal.map(|p| format!("; journal {}", p.display())).unwrap_or_default();
            job.note(format!(
                "job {id}: {} ({pending} to go){journal}",
                crate::tui::wording::plural(items, "item")
            ));
            if job.results.len() < items {
                job.results.resize(items, String::new());
            }
        }
        JobEvent::Item(report) => {
            let line = item_line(&report.label, &report.result);
            if report.index >= job.results.len() {
                job.results.resize(report.index + 1, String::new());
            }
            job.results[report.index] = line;
            // A draft the job saved (`:drafts` S) is saved: it goes.
            let at_target = report.result.is_at_target();
            let planned =
                job.plan.as_ref().and_then(|p| p.items.get(report.index)).and_then(|i| i.body()).map(|b| {
                    b.changes
                        .iter()
                        .map(|c| (c.field.path.to_string(), c.new.clone()))
                        .collect::<serde_json::Map<_, _>>()
                });
            if let Some(ex) = report.exchange {
                model.record(*ex);
            }
            if let (true, Some(planned), Some(draft)) = (at_target, planned, model.drafts.get(&report.id)) {
                let saved =
                    draft.dirty_fields().iter().all(|f| draft.value(f).ok().as_ref() == planned.get(f.path));
                if saved {
                    model.drafts.remove(&report.id);
                }
            }
        }
        JobEvent::Progress(p) => {
            let c = p.counts;
            job.counts = vec![
                ("done", c.done),
                ("failed", c.failed),
                ("conflict", c.conflicts),
                ("skipped", c.skipped),
                ("not sent", c.not_sent),
                ("pending", c.pending),
            ];
            job.rate = (p.rate > 0.0).then_some(p.rate * 60.0);
            job.eta = Some(p.eta);
            job.paused_until = p.paused_until.map(tokio::time::Instant::into_std);
            if p.stopping {
                job.phase = "stopping: the writes in flight finish".into();
            }
        }
        JobEvent::Notice(text) => job.note(text),
    }
}

/// The job ended: its summary and results (to export); the table is listed again to show
/// what the server holds now.
pub(super) fn ended(
    model: &mut Model,
    request_id: u64,
    result: Result<Box<crate::jobs::runner::Report>, String>,
) -> Vec<Effect> {
    use crate::tui::model::{Level, Screen};
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return Vec::new() };
    job.finished = true;
    job.ended_at = Some(model.now);
    job.paused_until = None;
    job.phase = "ended".into();
    let (level, words) = match result {
        Err(e) => (Level::Error, format!("The job could not run: {e}")),
        Ok(report) => {
            let mut csv = Vec::new();
            if let Some(plan) = &job.plan
                && crate::jobs::results::write_job(&mut csv, plan, &report.results).is_ok()
            {
                job.results_csv = Some(csv);
            }
            let c = report.counts;
            let mut words = format!(
                "Job ended: {} done, {} failed, {} conflicts, {} skipped, {} not sent in {} (e exports the results)",
                c.done,
                c.failed,
                c.conflicts,
                c.skipped,
                c.not_sent,
                crate::tui::wording::duration_words(report.elapsed)
            );
            if report.cancelled {
                words.push_str("; cancelled");
            }
            let clean = c.failed + c.conflicts + c.not_sent == 0;
            (if clean { Level::Success } else { Level::Warn }, words)
        }
    };
    job.summary = Some((level, words.clone()));
    // The rows show what the server holds now.
    let mut effects = Vec::new();
    let resource = job.plan.as_ref().map(|p| p.resource);
    if resource == Some(model.table.resource) && !model.table.listing.loading {
        effects = super::table_action(model, crate::tui::event::Action::Reload);
    }
    model.say_on(Screen::Jobs, level, words);
    effects
}
