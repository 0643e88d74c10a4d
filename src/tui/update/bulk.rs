//! Marks and the bulk edit: marking rows (one, or every row shown after a question), the bulk
//! form of the marked rows, and the preview of the plan it makes, guarded above a threshold by
//! typing the number of writes, before the job starts.

use super::{READ_ONLY, scroll_table};
use crate::tui::bulk::{BulkForm, Choice};
use crate::tui::event::{Action, Effect};
use crate::tui::line_edit::{apply_edit, editor_text, line_editor};
use crate::tui::model::{Ask, Level, Model, Overlay, PlanPreview, Screen};
use crate::tui::wording::{duration_words, plural};

/// Space: marks or unmarks the selected row, then moves down.
pub(super) fn toggle_mark(model: &mut Model) {
    let Some(row) = model.table.selected() else { return };
    if model.table.resource.bulk.is_empty() {
        model.say(Level::Info, format!("{} have no bulk edit", model.table.resource.title));
        return;
    }
    let id = model.table.rows.id(row);
    if !model.table.marks.remove(&id) {
        model.table.marks.insert(id);
    }
    if model.table.cursor + 1 < model.table.view.len() {
        model.table.cursor += 1;
        scroll_table(model);
    }
    let n = model.table.marks.len();
    model.say(
        Level::Info,
        format!("{} marked (⏎ edits them together, \\ clears the marks)", plural(n, "device")),
    );
}

/// `*`: asks before marking every row shown, naming how many and under which filter.
pub(super) fn ask_mark_shown(model: &mut Model) {
    let count = model.table.view.len();
    if count == 0 {
        model.say(Level::Info, "No device shown to mark");
        return;
    }
    let filter = (!model.table.filter.is_empty()).then(|| model.table.filter.clone());
    model.overlay = Some(Overlay::Ask(Ask::MarkShown { count, filter }));
}

/// How a question was answered: `y`, `n`, or `Esc` (for most questions `n` and `Esc` are the
/// same no; an unfinished job's `n` drops it, its `Esc` leaves it for the next start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// `y`/Enter.
    Yes,
    /// `n`.
    No,
    /// `Esc`.
    Later,
}

/// The answer to a question.
pub(super) fn answer(model: &mut Model, reply: Reply) -> Vec<Effect> {
    let Some(Overlay::Ask(ask)) = model.overlay.take() else { return Vec::new() };
    let yes = reply == Reply::Yes;
    match ask {
        Ask::ResumeJob { path, .. } if reply == Reply::No => return super::jobs::abandon(model, path),
        Ask::ResumeJob { .. } if !yes => model.say(Level::Info, "Not resumed; the next start asks again"),
        Ask::ResumeJob { path, what } => return super::jobs::resume(model, path, what),
        Ask::CancelJob { .. } if !yes => model.say(Level::Info, "The job goes on"),
        Ask::CancelJob { .. } => return super::jobs::cancel(model),
        Ask::MarkShown { .. } if !yes => model.say(Level::Info, "Nothing marked"),
        Ask::MarkShown { .. } => {
            let ids: Vec<String> = model.table.view.iter().map(|&row| model.table.rows.id(row)).collect();
            model.table.marks.extend(ids);
            model.say(Level::Info, format!("{} marked", plural(model.table.marks.len(), "device")));
        }
        Ask::DiscardDraft { .. } | Ask::DiscardAll { .. } if !yes => {
            model.say(Level::Info, "Nothing discarded")
        }
        Ask::DiscardDraft { id, label } => {
            model.drafts.remove(&id);
            model.say(Level::Info, format!("Draft of {label} discarded"));
        }
        Ask::DiscardAll { count } => {
            model.drafts.retain(|_, d| !d.is_dirty_any());
            model.say(Level::Info, format!("{} discarded", plural(count, "draft")));
        }
    }
    if model.screen == Screen::Drafts && super::drafts_view::unsaved(model).is_empty() {
        model.screen = Screen::Table;
    }
    Vec::new()
}

/// `\`: clears the marks.
pub(super) fn clear_marks(model: &mut Model) {
    let n = model.table.marks.len();
    model.table.marks.clear();
    model.say(Level::Info, format!("{} unmarked", plural(n, "device")));
}

/// Enter with marks: the bulk form of the marked rows.
pub(super) fn open(model: &mut Model) {
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return;
    }
    let rows = model.table.marked_rows();
    if rows.is_empty() {
        model.say(Level::Info, "None of the marked devices is listed now (\\ clears the marks)");
        return;
    }
    // The form of the same marks keeps what was typed; other marks start afresh.
    let same = model.bulk.as_ref().is_some_and(|b| b.resource == model.table.resource && b.rows == rows);
    if !same {
        model.bulk = Some(BulkForm::new(model.table.resource, rows));
    }
    model.screen = Screen::Bulk;
    model.typing = crate::tui::model::Typing::Nothing;
    focus(model, 0);
}

/// The bulk edit of an earlier session, once the table lists its kind of record: its marks and
/// choices back, said in a word. The records no longer listed are left out.
pub(super) fn restore(model: &mut Model) -> Option<String> {
    let stored = model.bulk_restored.as_ref().filter(|b| b.resource == model.table.resource.command)?.clone();
    model.bulk_restored = None;
    model.table.marks.extend(stored.marked.iter().cloned());
    let rows = model.table.marked_rows();
    if rows.is_empty() {
        return None;
    }
    let mut form = BulkForm::new(model.table.resource, rows);
    stored.apply_to(&mut form);
    let n = form.rows.len();
    model.bulk = Some(form);
    Some(format!("the bulk edit of {} restored (⏎ opens it)", plural(n, "marked device")))
}

fn focus(model: &mut Model, line: usize) {
    let Some(form) = model.bulk.as_mut() else { return };
    form.focus = line.min(form.fields.len().saturating_sub(1));
    let text = form.fields.get(form.focus).map(|f| f.text.clone()).unwrap_or_default();
    form.editor = line_editor(&text, "");
}

/// A key in the bulk form.
pub(super) fn form_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(form) = model.bulk.as_mut() else {
        model.screen = Screen::Table;
        return Vec::new();
    };
    let (n, at) = (form.fields.len().max(1), form.focus);
    match action {
        Action::NextField => focus(model, (at + 1) % n),
        Action::PrevField => focus(model, (at + n - 1) % n),
        Action::Back => {
            model.screen = Screen::Table;
            model.say(Level::Info, "Bulk edit closed; the marks stay (⏎ opens it again)");
        }
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::CycleChoice => {
            if let Some(bf) = form.fields.get_mut(form.focus) {
                bf.choice = bf.choice.next(bf.field);
                form.problem = None;
            }
        }
        Action::Edit(op) => {
            let Some(bf) = form.fields.get_mut(form.focus) else { return Vec::new() };
            if apply_edit(&mut form.editor, &op, false) {
                bf.text = editor_text(&form.editor).to_string();
                // Typing a value means setting it.
                bf.choice = Choice::Set;
                form.problem = None;
            }
        }
        Action::Save => preview(model),
        _ => {}
    }
    Vec::new()
}

/// ^S: the plan of the form over the marked rows, shown before anything is sent.
fn preview(model: &mut Model) {
    let Some(form) = model.bulk.as_mut() else { return };
    let targets = match form.targets() {
        Ok(t) if t.is_empty() => {
            form.problem = Some("Every field is left as it is: ^T on a field sets or clears it".into());
            return;
        }
        Ok(t) => t,
        Err(wrong) => {
            let words: Vec<String> = wrong.iter().map(|(f, e)| format!("{}: {e}", f.label)).collect();
            form.problem = Some(format!("Cannot preview: {}", words.join("; ")));
            return;
        }
    };
    let plan = form.plan(&model.table, &targets);
    open_preview(model, plan);
}

/// Opens the preview of a plan (above the threshold, the number of writes is typed to start).
pub(super) fn open_preview(model: &mut Model, plan: crate::jobs::plan::Plan) {
    let guarded = plan.writes() > model.confirm_over;
    model.overlay = Some(Overlay::Plan(Box::new(PlanPreview {
        plan,
        scroll: 0,
        guarded,
        guard_text: String::new(),
        editor: line_editor("", ""),
        problem: None,
    })));
}

/// A key in the preview.
pub(super) fn plan_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Overlay::Plan(preview)) = model.overlay.as_mut() else { return Vec::new() };
    match action {
        Action::Back => model.overlay = None,
        Action::ScrollUp => preview.scroll = preview.scroll.saturating_sub(1),
        Action::ScrollDown => {
            preview.scroll = preview.scroll.saturating_add(1).min(preview.plan.items.len() as u16)
        }
        Action::Edit(op) if preview.guarded && apply_edit(&mut preview.editor, &op, false) => {
            preview.guard_text = editor_text(&preview.editor).to_string();
            preview.problem = None;
        }
        Action::ConfirmSend => return start(model),
        _ => {}
    }
    Vec::new()
}

/// Enter in the preview: the job starts (guarded: only with the number of writes typed).
fn start(model: &mut Model) -> Vec<Effect> {
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return Vec::new();
    }
    let Some(Overlay::Plan(preview)) = model.overlay.as_mut() else { return Vec::new() };
    let writes = preview.plan.writes();
    if writes == 0 {
        preview.problem = Some("Every marked device is at the target already: nothing to send".into());
        return Vec::new();
    }
    if preview.guarded && preview.guard_text.trim() != writes.to_string() {
        preview.problem = Some(format!("Type {writes} (the number of writes) to start the job"));
        return Vec::new();
    }
    let Some(Overlay::Plan(preview)) = model.overlay.take() else { return Vec::new() };
    let plan = preview.plan;
    let eta = duration_words(plan.duration_at(model.write_rate));
    model.bulk = None;
    model.screen = Screen::Table;
    model.say(
        Level::Info,
        format!("Starting: {} (at least {eta} at the write budget)", plural(writes, "write")),
    );
    super::jobs::start(model, plan)
}
