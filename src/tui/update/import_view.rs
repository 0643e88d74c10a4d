//! `:import FILE`: the file checked and planned against the tenant (a preview, nothing sent),
//! then the import as a job in the jobs view: sent in chunks at the write budget, watched to
//! the end, explained, cleaned up; an Autopilot sync offered after.

use crate::jobs::import::headless::{result_line, watch_line};
use crate::jobs::import::{ImportEvent, ImportProgress, ImportRun, results};
use crate::tui::event::{Action, Effect, Msg};
use crate::tui::model::{ImportPreview, JobView, Level, Model, Overlay, Screen};
use crate::tui::wording::plural;

/// Starts checking `path` (and reading the tenant for its serials).
pub(super) fn start(model: &mut Model, path: String) -> Vec<Effect> {
    if model.read_only {
        model.say(Level::Warn, super::READ_ONLY);
        return Vec::new();
    }
    if model.job.as_ref().is_some_and(|j| !j.finished) {
        model.say(Level::Warn, "A job is running: one at a time (:jobs shows it)");
        return Vec::new();
    }
    let request_id = model.request_id();
    model.import_request = Some(request_id);
    model.say(Level::Info, format!("Checking {path} and reading the tenant for its serials…"));
    vec![Effect::PrepareImport { request_id, path }]
}

/// The check and the tenant: the preview opens (or the error is said).
pub(super) fn prepared(model: &mut Model, msg: Msg) {
    let Msg::ImportPrepared { request_id, path, result } = msg else { return };
    if model.import_request != Some(request_id) {
        return;
    }
    model.import_request = None;
    match result {
        Err(e) => model.say(Level::Error, format!("Import of {path}: {e}")),
        Ok((report, tenant)) => {
            let mut preview = ImportPreview {
                path,
                report,
                tenant,
                plan: Default::default(),
                update_registered: false,
                scroll: 0,
            };
            preview.replan();
            let c = preview.plan.counts();
            model.say(
                Level::Info,
                format!(
                    "{} to import, {} to update, {} skipped, {} held, {} with problems",
                    c.import, c.update, c.skip, c.hold, c.invalid
                ),
            );
            model.overlay = Some(Overlay::Import(Box::new(preview)));
        }
    }
}

/// A key in the preview.
pub(super) fn preview_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Overlay::Import(preview)) = model.overlay.as_mut() else { return Vec::new() };
    match action {
        Action::ScrollUp => preview.scroll = preview.scroll.saturating_sub(5),
        Action::ScrollDown => preview.scroll = preview.scroll.saturating_add(5),
        Action::ToggleUpdate => {
            preview.update_registered = !preview.update_registered;
            preview.replan();
        }
        Action::Back => {
            model.overlay = None;
            model.say(Level::Info, "Import closed; nothing was sent");
        }
        Action::ConfirmSend => return begin(model),
        _ => {}
    }
    Vec::new()
}

/// Enter: the plan goes to the runner as a job (the rows with problems stay behind).
fn begin(model: &mut Model) -> Vec<Effect> {
    let Some(Overlay::Import(preview)) = model.overlay.as_ref() else { return Vec::new() };
    if !preview.plan.sends_anything() {
        model.say(Level::Info, "Nothing to send: every row is skipped, held or has problems");
        return Vec::new();
    }
    let Some(Overlay::Import(preview)) = model.overlay.take() else { return Vec::new() };
    let request_id = model.request_id();
    let name = preview.path.rsplit('/').next().unwrap_or(&preview.path).to_string();
    let mut job = JobView::new(request_id, format!("Import of {name}"), None, model.now);
    job.results = results::plan_results(&preview.plan).iter().map(result_line).collect();
    let c = preview.plan.counts();
    job.note(format!(
        "plan: {} to import, {} to update instead, {} skipped, {} held, {} with problems (not sent)",
        c.import, c.update, c.skip, c.hold, c.invalid
    ));
    model.job = Some(job);
    model.screen = Screen::Jobs;
    vec![Effect::RunImport { request_id, plan: Box::new(preview.plan) }]
}

/// How the import goes.
pub(super) fn progressed(model: &mut Model, request_id: u64, progress: ImportProgress) {
    let now = model.now;
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return };
    job.paused_until = progress.paused_for.map(|d| now + d);
    if let Some(phase) = progress.event.phase() {
        job.phase = phase.word().to_string();
    }
    match &progress.event {
        ImportEvent::Watching(watch) => {
            let c = &watch.counts;
            job.counts = vec![
                ("complete", c.complete),
                ("error", c.error),
                ("pending", c.pending + c.unknown + c.partial),
                ("gone", c.gone),
            ];
            job.phase = watch_line(watch);
        }
        ImportEvent::Updating { done, total } => {
            job.counts = vec![("updated", *done), ("to update", total - done)]
        }
        ImportEvent::Resumed => job.paused_until = None,
        ImportEvent::Synced(outcome) => job.note(format!("sync: {outcome}")),
        event => {
            if let Some((text, note)) = event.words() {
                if note {
                    job.note(text);
                } else {
                    job.phase = text;
                }
            }
        }
    }
}

/// The import ended: its results, one line per CSV row, ready to export.
pub(super) fn ended(model: &mut Model, request_id: u64, result: Result<Box<ImportRun>, String>) {
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return };
    job.finished = true;
    job.ended_at = Some(model.now);
    job.paused_until = None;
    let (level, summary) = match result {
        Err(e) => (Level::Error, format!("The import stopped: {e}")),
        Ok(run) => {
            job.results = run.rows.iter().map(result_line).collect();
            job.results_csv = Some(results::to_csv(&run.rows));
            job.offer_sync = run.changed_anything();
            let done = run.rows.iter().filter(|r| r.outcome.is_done()).count();
            let failed = run.rows.len() - done;
            let mut words = format!(
                "Import {} ended: {} done, {} not (e exports the results)",
                run.import_id,
                plural(done, "row"),
                failed
            );
            if run.cancelled {
                words.push_str("; cancelled, the rows not sent are listed");
            }
            if run.timed_out() {
                words.push_str("; some rows are still pending in Intune (:imported shows them)");
            }
            if run.deleted > 0 {
                words.push_str(&format!("; {} cleaned up", plural(run.deleted, "completed import record")));
            }
            if job.offer_sync {
                words.push_str("; s asks for the Autopilot sync");
            }
            (if failed == 0 { Level::Success } else { Level::Warn }, words)
        }
    };
    job.phase = "ended".into();
    job.summary = Some((level, summary.clone()));
    model.say_on(Screen::Jobs, level, summary);
}

/// `:cleanup [IMPORT-ID]`: the completed and failed import records listed (of that import),
/// asked about before anything is deleted.
pub(super) fn ask_cleanup(model: &mut Model, import_id: Option<String>) {
    if model.read_only {
        model.say(Level::Warn, super::READ_ONLY);
        return;
    }
    if model.table.resource.command != crate::graph::imported::IMPORTED.command {
        model.say(Level::Info, ":cleanup works on the import queue: :imported first");
        return;
    }
    if model.job.as_ref().is_some_and(|j| !j.finished) {
        model.say(Level::Warn, "A job is running: one at a time (:jobs shows it)");
        return;
    }
    let table = &model.table;
    let status_col =
        table.columns().iter().position(|c| c.cell == crate::graph::resource::Cell::ImportStatus);
    let (mut complete, mut failed) = (0, 0);
    let mut records = Vec::new();
    for row in 0..table.count() {
        // The status column reads `complete`, or `error 806 ZtdDeviceAlreadyAssigned`.
        let cell = status_col.map(|col| table.rows.cell(row, col).into_owned()).unwrap_or_default();
        let status = cell.split(' ').next().unwrap_or_default().to_string();
        let batch = table.field_text(row, "importId").unwrap_or_default().to_string();
        if import_id.as_deref().is_some_and(|wanted| !batch.eq_ignore_ascii_case(wanted)) {
            continue;
        }
        match status.as_str() {
            "complete" => complete += 1,
            "error" => failed += 1,
            _ => continue,
        }
        let serial = table.field_text(row, "serialNumber").map(|s| s.to_string());
        records.push((table.rows.id(row), serial));
    }
    if records.is_empty() {
        model.say(Level::Info, "No completed or failed import record listed to clean up");
        return;
    }
    let guarded = records.len() > model.confirm_over;
    model.overlay = Some(Overlay::Cleanup(Box::new(crate::tui::model::CleanupAsk {
        records,
        complete,
        failed,
        import_id,
        guarded,
        guard_text: String::new(),
        editor: crate::tui::line_edit::line_editor("", ""),
        problem: None,
    })));
}

/// A key in `:cleanup`'s question.
pub(super) fn cleanup_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Overlay::Cleanup(ask)) = model.overlay.as_mut() else { return Vec::new() };
    match action {
        Action::Back => {
            model.overlay = None;
            model.say(Level::Info, "Nothing deleted");
        }
        Action::Edit(op) if ask.guarded && crate::tui::line_edit::apply_edit(&mut ask.editor, &op, false) => {
            ask.guard_text = crate::tui::line_edit::editor_text(&ask.editor).to_string();
            ask.problem = None;
        }
        Action::ConfirmSend => {
            let n = ask.records.len();
            if ask.guarded && ask.guard_text.trim() != n.to_string() {
                ask.problem = Some(format!("Type {n} (the number of records) to delete them"));
                return Vec::new();
            }
            let Some(Overlay::Cleanup(ask)) = model.overlay.take() else { return Vec::new() };
            let request_id = model.request_id();
            let mut job = JobView::new(
                request_id,
                format!("Clean-up of {}", plural(n, "import record")),
                None,
                model.now,
            );
            job.results = ask
                .records
                .iter()
                .map(|(id, serial)| format!("{}  {id}", serial.as_deref().unwrap_or("-")))
                .collect();
            model.job = Some(job);
            model.screen = Screen::Jobs;
            return vec![Effect::CleanUp { request_id, records: ask.records }];
        }
        _ => {}
    }
    Vec::new()
}

/// The clean-up ended: what became of each record; the table is listed again.
pub(super) fn cleaned_up(
    model: &mut Model,
    request_id: u64,
    rows: Vec<crate::jobs::import::RowResult>,
) -> Vec<Effect> {
    let Some(job) = model.job.as_mut().filter(|j| j.request_id == request_id) else { return Vec::new() };
    let failed = rows.iter().filter(|r| r.outcome == crate::jobs::import::Outcome::Failed).count();
    job.finished = true;
    job.ended_at = Some(model.now);
    job.phase = "ended".into();
    job.results = rows.iter().map(result_line).collect();
    job.results_csv = Some(results::to_csv(&rows));
    let (level, words) = if failed == 0 {
        (
            Level::Success,
            format!("{} deleted (r in the table lists the queue again)", plural(rows.len(), "import record")),
        )
    } else {
        (Level::Warn, format!("{} deleted, {failed} could not be (their lines say why)", rows.len() - failed))
    };
    job.summary = Some((level, words.clone()));
    model.say_on(Screen::Jobs, level, words);
    Vec::new()
}
