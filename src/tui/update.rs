//! `update`: the only place the model changes. Pure: takes an [`Action`] or a [`Msg`], changes
//! the model, and returns the [`Effect`]s to run. No I/O, no clocks, no widgets.

use crate::graph::auth::AuthError;
use crate::graph::client::ListQuery;
use crate::graph::error::GraphError;
use crate::graph::resource::{Field, Kind, Record};
use crate::tui::command::{self, Command};
use crate::tui::drafts::{Draft, SaveBlock};
use crate::tui::event::{Action, EditOp, Effect, Msg};
use crate::tui::keymap::{Context, context};
use crate::tui::layout;
use crate::tui::line_edit::{apply_edit, editor_text, line_editor};
use crate::tui::model::{
    Confirm, FormState, Level, Model, Overlay, Problem, RetryWait, Screen, SignInState, Typing,
};
use crate::tui::requests::{RequestKind, RequestStatus};
use crate::tui::table::Listing;
use crate::tui::table::index::ASYNC_SORT_ROWS;
use crate::tui::wording::plural;

/// What `update` consumes.
#[derive(Debug)]
pub enum Input {
    /// From the user.
    Action(Action),
    /// From a task.
    Msg(Msg),
}

/// Applies one input.
pub fn update(model: &mut Model, input: Input) -> Vec<Effect> {
    match input {
        Input::Action(a) => action(model, a),
        Input::Msg(m) => message(model, m),
    }
}

/// The effects of starting the app: the first listing, or the sign-in when the model starts
/// on the sign-in screen.
pub fn init(model: &mut Model) -> Vec<Effect> {
    if model.screen == Screen::SignIn {
        return start_sign_in(model);
    }
    let mut effects = start_listing(model, None, None);
    // A job an earlier session left unfinished is offered for resuming.
    effects.push(Effect::FindUnfinishedJobs);
    effects
}

/// The listing query: the table's properties only, big pages, and a server filter if any.
pub fn list_query(model: &Model, filter: Option<String>) -> ListQuery {
    let table = &model.table;
    ListQuery {
        select: table.resource.table_select(table.beta),
        top: Some(model.page_size),
        filter,
        ..ListQuery::default()
    }
}

/// Lists with `filter`; the rows shown now stay until its first page arrives (a refused
/// filter never shows the old rows under its name). `keep_selected` is the device the cursor
/// returns to once its row comes in again.
fn start_listing(model: &mut Model, filter: Option<String>, keep_selected: Option<String>) -> Vec<Effect> {
    begin_listing(model, Listing { filter, keep_selected, ..Listing::default() })
}

/// Starts the listing `ask` describes (its filter, exact serial, where the cursor goes).
fn begin_listing(model: &mut Model, ask: Listing) -> Vec<Effect> {
    let request_id = model.request_id();
    // The effect runner stops the previous listing when this one starts.
    let previous = model.table.listing.request_id;
    clear_retry(model, previous);
    model.requests.finish(previous, RequestStatus::Cancelled);
    let query = list_query(model, ask.filter.clone());
    model.requests.start(request_id, RequestKind::List);
    model.table.listing = Listing { request_id, loading: true, ..ask };
    vec![Effect::List { resource: model.table.resource, request_id, query }]
}

fn start_sign_in(model: &mut Model) -> Vec<Effect> {
    let request_id = model.request_id();
    model.screen = Screen::SignIn;
    model.sign_in = Some(SignInState { request_id, prompt: None, poll: None, failed: None });
    vec![Effect::SignIn { request_id }]
}

/// Stops the listing where it is: the rows so far stay, `r` lists again.
fn cancel_listing(model: &mut Model) -> Vec<Effect> {
    let request_id = model.table.listing.request_id;
    model.requests.finish(request_id, RequestStatus::Cancelled);
    model.table.listing.loading = false;
    model.retry = None;
    let (n, p) = (model.table.rows.len(), model.table.listing.pages);
    model.table.listing.error = Some("cancelled".into());
    model.say_on(
        Screen::Table,
        Level::Warn,
        format!(
            "Listing cancelled after {}: {} shown, r lists again",
            plural(p, "page"),
            plural(n, "device")
        ),
    );
    vec![Effect::Cancel { request_id }]
}

/// Stops a save: the draft stays; whether the PATCH reached Graph is said as far as known.
fn cancel_save(model: &mut Model) -> Vec<Effect> {
    let Some(request_id) = model.form_saving() else { return Vec::new() };
    // Nothing was applied only if every attempt so far was refused with 429 (answered before
    // the handler) and the client is still waiting, well before it sends the next one.
    let waiting = model.retry.as_ref().filter(|r| r.request_id == request_id).is_some_and(|r| {
        r.until.saturating_duration_since(model.now) > std::time::Duration::from_millis(250)
    });
    let refused_only = model.requests.get(request_id).is_some_and(|r| r.refused_only) && waiting;
    model.requests.finish(request_id, RequestStatus::Cancelled);
    model.retry = None;
    let text = if refused_only {
        "Save cancelled; draft kept. Graph had refused every attempt (429), so nothing was applied"
    } else {
        "Save cancelled; draft kept. A PATCH had been sent: it may or may not have been applied (r in the table reloads to check)"
    };
    model.say(Level::Warn, text);
    vec![Effect::Cancel { request_id }]
}

/// The form's editor for a field of a draft: its text, cursor at the end (`null` shown as a
/// placeholder where the field takes it; a secret typed blind).
pub(crate) fn editor_for(field: &Field, draft: Option<&Draft>) -> tui_textarea::TextArea<'static> {
    let text = draft.map(|d| d.text(field)).unwrap_or_default();
    let mut editor = line_editor(&text, if field.nullable { "null" } else { "" });
    if field.kind == Kind::Secret {
        editor.set_mask_char('•');
    }
    editor
}

/// Moves the form's focus to `field`, with a fresh editor on its text.
fn focus(model: &mut Model, field: &'static Field) {
    let Some(form) = model.form.as_mut() else { return };
    let draft = model.drafts.get(&form.device_id);
    form.focus = field;
    form.editor = editor_for(field, draft);
}

const READ_ONLY: &str = "Read-only mode (--read-only): editing and saving are off";

/// Applies a user action.
pub fn action(model: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::Resize(w, h) => {
            model.size = (w, h);
            scroll_table(model);
            return Vec::new();
        }
        Action::Quit => return action_quit(model),
        Action::QuitAnyway => {
            model.quit = true;
            return Vec::new();
        }
        Action::Terminated(signal) => {
            model.ended_by = Some(signal);
            model.quit = true;
            return Vec::new();
        }
        // While the terminal is too small to show anything, keys wait (quit aside).
        _ if layout::too_small(model.size) => return Vec::new(),
        _ => {}
    }
    match context(model) {
        Context::Drafts => drafts_view::action(model, action),
        Context::Journal => journal_view::action(model, action),
        Context::Filter if model.screen == Screen::Journal => journal_view::action(model, action),
        Context::Conflicts => conflicts::action(model, action),
        Context::QuitConfirm | Context::Confirm | Context::Help => overlay_action(model, action),
        Context::ActionTyping | Context::ActionConfirm => actions::dialog_action(model, action),
        Context::Bulk => bulk::form_action(model, action),
        Context::Plan => bulk::plan_action(model, action),
        Context::Ask => match action {
            Action::ConfirmSend => bulk::answer(model, bulk::Reply::Yes),
            Action::Decline => bulk::answer(model, bulk::Reply::No),
            Action::Back => bulk::answer(model, bulk::Reply::Later),
            _ => Vec::new(),
        },
        Context::ImportPreview => import_view::preview_action(model, action),
        Context::Cleanup => import_view::cleanup_action(model, action),
        Context::Jobs => jobs::action(model, action),
        Context::SignIn => sign_in_action(model, action),
        Context::Command => command_action(model, action),
        Context::Table | Context::Filter => table_action(model, action),
        Context::Form => form_action(model, action),
        Context::Inspector => inspector_action(model, action),
    }
}

fn sign_in_action(model: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => model.quit = true,
        Action::SignInAgain if model.sign_in.as_ref().is_some_and(|s| s.failed.is_some()) => {
            return start_sign_in(model);
        }
        Action::SignInAgain => model.say(Level::Info, "Still waiting for you to sign in"),
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => {}
    }
    Vec::new()
}

fn command_action(model: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::CommandEdit(op) => {
            apply_edit(&mut model.line, &op, false);
        }
        Action::Complete => return vec![Effect::CompletePath { line: editor_text(&model.line).to_string() }],
        Action::Back => {
            model.typing = Typing::Nothing;
            model.line = line_editor("", "");
        }
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::CommandRun => {
            let line = editor_text(&model.line).to_string();
            model.typing = Typing::Nothing;
            model.line = line_editor("", "");
            match command::parse(&line, model.table.resource) {
                Ok(Command::Quit) => return action_quit(model),
                Ok(Command::QuitNow) => model.quit = true,
                Ok(Command::All) => return server_filter(model, None),
                Ok(Command::ServerFilter(f)) => return server_filter(model, Some(f)),
                Ok(Command::Show(resource)) => return switching::show(model, resource),
                Ok(Command::Exact(serial)) => return switching::lookup(model, &serial),
                Ok(Command::Sync) => return actions::sync(model),
                Ok(Command::Drafts) => drafts_view::open(model),
                Ok(Command::Journal(filter)) => return journal_view::open(model, filter),
                Ok(Command::Import(path)) => return import_view::start(model, path),
                Ok(Command::Jobs) => jobs::open(model),
                Ok(Command::Cleanup(import_id)) => import_view::ask_cleanup(model, import_id),
                Err(e) => model.say(Level::Warn, e),
            }
        }
        _ => {}
    }
    Vec::new()
}

fn action_quit(model: &mut Model) -> Vec<Effect> {
    if model.unsaved_count() > 0 {
        model.overlay = Some(Overlay::QuitConfirm);
    } else {
        model.quit = true;
    }
    Vec::new()
}

/// Lists again with (or without) a Graph `$filter`; its matches replace the rows once its
/// first page arrives.
fn server_filter(model: &mut Model, filter: Option<String>) -> Vec<Effect> {
    match &filter {
        Some(f) => model.say(Level::Info, format!("Searching on the server: {f}")),
        None => model.say(Level::Info, "Listing every device again"),
    }
    start_listing(model, filter, None)
}

fn overlay_action(model: &mut Model, action: Action) -> Vec<Effect> {
    match (&mut model.overlay, action) {
        (Some(Overlay::Help { scroll }), Action::Up) => *scroll = scroll.saturating_sub(1),
        (Some(Overlay::Help { scroll }), Action::Down) => *scroll = scroll.saturating_add(1),
        (Some(Overlay::Confirm(_)), Action::ConfirmSend) => return send(model),
        (Some(Overlay::QuitConfirm), Action::DiscardDrafts) => {
            model.discard_on_quit = true;
            model.quit = true;
        }
        (_, Action::Back | Action::Help) => model.overlay = None,
        _ => {}
    }
    Vec::new()
}

fn send(model: &mut Model) -> Vec<Effect> {
    let Some(Overlay::Confirm(confirm)) = model.overlay.take() else {
        return Vec::new();
    };
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return Vec::new();
    }
    let request_id = model.request_id();
    if let Some(form) = model.form.as_mut().filter(|f| f.device_id == confirm.device_id) {
        form.problem = None;
    }
    let Confirm { device_id, method, url, body, resource, label, original, source, undoes } = confirm;
    let fields = body.changes.iter().map(|c| c.field.label).collect();
    model.requests.start(request_id, RequestKind::Save { id: device_id.clone(), label, fields });
    model.say(Level::Info, format!("Saving: {method} {url} (read again first, to check nobody changed it)"));
    vec![Effect::Patch { resource, request_id, device_id, body, original, source, undoes }]
}

fn table_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let page = layout::table_body_height(model).max(1) as isize;
    match action {
        Action::Up => move_cursor(model, -1),
        Action::Down => move_cursor(model, 1),
        Action::PageUp => move_cursor(model, -page),
        Action::PageDown => move_cursor(model, page),
        Action::HalfPageUp => move_cursor(model, -(page / 2).max(1)),
        Action::HalfPageDown => move_cursor(model, (page / 2).max(1)),
        Action::Top => move_cursor(model, isize::MIN / 2),
        Action::Bottom => move_cursor(model, isize::MAX / 2),
        Action::NextMatch | Action::PrevMatch => jump_to_match(model, action == Action::NextMatch),
        Action::FilterStart => {
            model.typing = Typing::Filter;
            model.line = line_editor(&model.table.filter, "");
            scroll_table(model);
        }
        Action::FilterEdit(op) if apply_edit(&mut model.line, &op, false) => {
            model.table.filter = editor_text(&model.line).to_string();
            model.table.derive_view();
            scroll_table(model);
        }
        Action::FilterAccept => {
            model.typing = Typing::Nothing;
            scroll_table(model);
        }
        Action::Back
            if model.retry.as_ref().is_some_and(|r| r.request_id == model.table.listing.request_id) =>
        {
            return cancel_listing(model);
        }
        Action::Back => {
            let had = !model.filter_text().is_empty();
            model.typing = Typing::Nothing;
            if had {
                model.table.filter.clear();
                model.table.derive_view();
                model.say(Level::Info, "Filter cleared");
            } else if model.table.server_filter.is_some() {
                return server_filter(model, None);
            } else if model.table.listing.loading {
                return cancel_listing(model);
            }
            scroll_table(model);
        }
        Action::CommandStart => {
            model.typing = Typing::Command;
            model.line = line_editor("", "");
        }
        Action::Sort(key) => {
            let Some(column) = model.table.column_of_key(key) else {
                let keys: String = model.table.columns().iter().map(|c| c.sort_key).collect();
                model.say(
                    Level::Info,
                    format!("No column sorts by {key}: the sort keys are {keys} (? lists them)"),
                );
                return Vec::new();
            };
            let desc = matches!(model.table.sort, Some((c, false)) if c == column);
            model.table.sort = Some((column, desc));
            let dir = if desc { "descending" } else { "ascending" };
            let word = model.table.columns()[column].word;
            if model.table.rows.len() >= ASYNC_SORT_ROWS {
                // Big tables sort off the draw path; the rows keep their order until it is done.
                let generation = model.request_id();
                model.table.sort_pending = Some(generation);
                model.say(
                    Level::Info,
                    format!("Sorting {} by {word}…", plural(model.table.rows.len(), "device")),
                );
                return vec![Effect::Sort { generation, job: model.table.sort_job((column, desc)) }];
            }
            model.table.derive_view();
            scroll_table(model);
            model.say(Level::Info, format!("Sorted by {word} ({dir})"));
        }
        Action::Reload => {
            let filter = model.table.server_filter.clone();
            match &filter {
                Some(f) => model.say(Level::Info, format!("Running the server search again: {f}")),
                None => model.say(Level::Info, "Reloading…"),
            }
            let keep_selected = model.table.selected_id();
            let exact = model.table.exact.clone();
            return begin_listing(model, Listing { filter, exact, keep_selected, ..Listing::default() });
        }
        Action::RecordAction(key) => return actions::start(model, key),
        Action::Linked => return switching::jump_to_linked(model),
        Action::Open if !model.table.marks.is_empty() => bulk::open(model),
        Action::Open => return open_form(model),
        Action::Mark => bulk::toggle_mark(model),
        Action::MarkShown => bulk::ask_mark_shown(model),
        Action::ClearMarks => bulk::clear_marks(model),
        Action::Inspect => open_inspector(model),
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::Copy => {
            let Some(row) = model.table.selected() else { return Vec::new() };
            let (what, text) = match model.table.field_text(row, "serialNumber") {
                Some(serial) => ("the serial number", serial.into_owned()),
                None => ("the id", model.table.rows.id(row)),
            };
            return copy(model, what, text);
        }
        _ => {}
    }
    Vec::new()
}

/// Puts `text` on the clipboard and says what (the terminal must allow OSC 52).
fn copy(model: &mut Model, what: &str, text: String) -> Vec<Effect> {
    let shown = crate::tui::views::ellipsize(&text, 40);
    let what = if text.chars().count() > 60 { what.to_string() } else { format!("{what} {shown}") };
    model.say(Level::Success, format!("Copied {what} to the clipboard (through the terminal, OSC 52)"));
    vec![Effect::Copy { text }]
}

/// `n`/`N`: the next (previous) row of the kept filter, wrapping at the ends.
fn jump_to_match(model: &mut Model, forward: bool) {
    if model.filter_text().is_empty() {
        model.say(Level::Info, "n/N jump between the rows a filter matches: / starts one");
        return;
    }
    let n = model.table.view.len();
    if n == 0 {
        model.say(Level::Info, format!("No device matches \"{}\"", model.filter_text()));
        return;
    }
    model.table.cursor =
        if forward { (model.table.cursor + 1) % n } else { (model.table.cursor + n - 1) % n };
    model.table.listing.keep_selected = None;
    scroll_table(model);
    let wrapped = if forward && model.table.cursor == 0 || !forward && model.table.cursor == n - 1 {
        " (wrapped)"
    } else {
        ""
    };
    model.say(
        Level::Info,
        format!("Match {}/{n} of \"{}\"{wrapped}", model.table.cursor + 1, model.filter_text()),
    );
}

fn move_cursor(model: &mut Model, delta: isize) {
    // The user moved: a reload no longer takes the cursor back to where it was.
    model.table.listing.keep_selected = None;
    if model.table.view.is_empty() {
        model.table.cursor = 0;
        return;
    }
    let last = model.table.view.len() as isize - 1;
    model.table.cursor = (model.table.cursor as isize).saturating_add(delta).clamp(0, last) as usize;
    scroll_table(model);
}

/// Keeps the selected row inside the visible part of the table.
fn scroll_table(model: &mut Model) {
    let height = layout::table_body_height(model).max(1);
    if model.table.cursor < model.table.offset {
        model.table.offset = model.table.cursor;
    } else if model.table.cursor >= model.table.offset + height {
        model.table.offset = model.table.cursor + 1 - height;
    }
    let max_offset = model.table.view.len().saturating_sub(height);
    model.table.offset = model.table.offset.min(max_offset);
}

fn open_form(model: &mut Model) -> Vec<Effect> {
    let Some(row) = model.table.selected() else {
        model.say(Level::Info, "No device selected");
        return Vec::new();
    };
    let device_id = model.table.rows.id(row);
    let label = model.table.label(row);
    let resource = model.table.resource;
    let Some(first) = resource.editable().next().or(resource.fields.first()) else { return Vec::new() };
    let editor = editor_for(first, model.drafts.get(&device_id));
    let form =
        FormState { device_id: device_id.clone(), resource, label, focus: first, editor, problem: None };
    model.screen = Screen::Form;
    model.typing = Typing::Nothing;
    if model.drafts.contains_key(&device_id) {
        model.form = Some(form);
        model.say(Level::Info, "Draft restored");
        return Vec::new();
    }
    let request_id = model.request_id();
    model.requests.start(request_id, RequestKind::Get { id: device_id.clone() });
    model.form = Some(form);
    vec![Effect::Get { resource, request_id, device_id }]
}

fn open_inspector(model: &mut Model) {
    if model.history.is_empty() {
        model.say(Level::Info, "No requests yet");
        return;
    }
    model.inspector.back_to = if model.screen == Screen::Inspector { Screen::Table } else { model.screen };
    model.inspector.selected = model.history.len() - 1;
    model.inspector.scroll = 0;
    model.screen = Screen::Inspector;
}

fn form_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(form) = model.form.as_mut() else {
        model.screen = Screen::Table;
        return Vec::new();
    };
    let editable: Vec<&'static Field> = form.resource.editable().collect();
    let pos = editable.iter().position(|f| f.path == form.focus.path).unwrap_or(0);
    match action {
        Action::NextField | Action::PrevField if editable.is_empty() => {}
        Action::NextField => focus(model, editable[(pos + 1) % editable.len()]),
        Action::PrevField => focus(model, editable[(pos + editable.len() - 1) % editable.len()]),
        Action::Back => {
            let id = form.device_id.clone();
            if model.requests.saving(&id).is_some() {
                return cancel_save(model);
            }
            let fetching = model.requests.fetching(&id);
            model.form = None;
            model.screen = Screen::Table;
            if let Some(request_id) = fetching {
                if model.retry.as_ref().is_some_and(|r| r.request_id == request_id) {
                    model.retry = None;
                }
                model.requests.finish(request_id, RequestStatus::Cancelled);
                model.drafts.remove(&id);
                model.say(Level::Info, "Stopped loading the device");
                return vec![Effect::Cancel { request_id }];
            }
            let dirty = model.drafts.get(&id).map(Draft::dirty_count).unwrap_or(0);
            if dirty == 0 {
                model.drafts.remove(&id);
            } else {
                let s = if dirty == 1 { "" } else { "s" };
                model.say(
                    Level::Info,
                    format!("Draft kept: {dirty} unsaved change{s} (marked ● in the table)"),
                );
            }
        }
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::Inspect => open_inspector(model),
        Action::Copy => {
            let field = form.focus;
            let Some(draft) = model.drafts.get(&form.device_id) else { return Vec::new() };
            if field.kind == Kind::Secret {
                model.say(Level::Info, "A secret is never copied");
                return Vec::new();
            }
            let text = draft.text(field);
            return copy(model, field.label, text);
        }
        Action::Edit(_) | Action::Cycle | Action::RevertField | Action::RevertAll | Action::Save
            if model.read_only =>
        {
            model.say(Level::Warn, READ_ONLY);
        }
        Action::Edit(op) => edit_field(model, &op),
        Action::Cycle => edit_field(model, &EditOp::Insert(' ')),
        Action::RevertField => {
            let field = form.focus;
            if let Some(d) = model.drafts.get_mut(&form.device_id) {
                d.revert(field);
                focus(model, field);
                model.say(Level::Info, format!("{} reverted", field.label));
            }
        }
        Action::RevertAll => {
            let field = form.focus;
            if let Some(d) = model.drafts.get_mut(&form.device_id) {
                d.revert_all();
                focus(model, field);
                model.say(Level::Info, "All fields reverted");
            }
        }
        Action::Save => return save(model),
        Action::Undo => {
            let entry =
                model.last_write.clone().filter(|w| model.form.as_ref().is_some_and(|f| f.device_id == w.id));
            match entry {
                Some(entry) => journal_view::ask_undo(model, &entry),
                None => model.say(
                    Level::Info,
                    "No save of this device in this session to undo (:journal lists every write)",
                ),
            }
        }
        _ => {}
    }
    Vec::new()
}

fn edit_field(model: &mut Model, op: &EditOp) {
    let Some(form) = model.form.as_ref() else { return };
    if model.requests.saving(&form.device_id).is_some() {
        model.say(Level::Info, "Saving… wait for the answer");
        return;
    }
    let field = form.focus;
    let Some(form) = model.form.as_mut() else { return };
    let Some(draft) = model.drafts.get_mut(&form.device_id) else {
        model.say(Level::Info, "Still loading the device");
        return;
    };
    if !field.editable {
        return;
    }
    if let Kind::Enum(_) = field.kind {
        draft.choose(field, op);
        return;
    }
    // The editor holds the cursor; the draft holds the text it makes.
    if apply_edit(&mut form.editor, op, field.kind == Kind::Binary) {
        draft.set_text(field, editor_text(&form.editor));
    }
}

pub(super) fn save(model: &mut Model) -> Vec<Effect> {
    let Some(form) = model.form.as_ref() else { return Vec::new() };
    if model.requests.saving(&form.device_id).is_some() {
        model.say(Level::Info, "Already saving");
        return Vec::new();
    }
    let device_id = form.device_id.clone();
    let Some(draft) = model.drafts.get(&device_id) else {
        model.say(Level::Info, "Still loading the device");
        return Vec::new();
    };
    match draft.patch() {
        Err(SaveBlock::NothingChanged) => model.say(Level::Info, "Nothing changed: nothing to send"),
        Err(SaveBlock::Invalid(errors)) => {
            if let Some(first) = errors.first() {
                focus(model, first.0);
            }
            let list: Vec<String> = errors.iter().map(|(f, e)| format!("{}: {e}", f.label)).collect();
            model.say(Level::Error, format!("Cannot save: {}", list.join("; ")));
        }
        Ok(body) => {
            let (method, url) = model.write_url(draft.resource, &device_id);
            model.overlay = Some(Overlay::Confirm(Confirm {
                device_id,
                method,
                url,
                body,
                resource: draft.resource,
                label: form.label.clone(),
                original: Box::new(draft.original.clone()),
                source: crate::write_log::WriteSource::Form,
                undoes: None,
            }));
        }
    }
    Vec::new()
}

fn inspector_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let n = model.history.len();
    let page = layout::inspector_detail_area(model).0.max(1) as u16;
    let insp = &mut model.inspector;
    let before = insp.selected;
    match action {
        Action::Up => insp.selected = insp.selected.saturating_sub(1),
        Action::Down => insp.selected = (insp.selected + 1).min(n.saturating_sub(1)),
        Action::Top => insp.selected = 0,
        Action::Bottom => insp.selected = n.saturating_sub(1),
        Action::ScrollUp => insp.scroll = insp.scroll.saturating_sub(page),
        Action::ScrollDown => insp.scroll = insp.scroll.saturating_add(page),
        Action::Back => model.screen = insp.back_to,
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::ToggleWrap => {
            insp.wrap = !insp.wrap;
            let now = if insp.wrap { "wrapped" } else { "cut at the edge" };
            model.say(Level::Info, format!("Long lines {now} (w toggles)"));
        }
        Action::Copy | Action::CopyCurl | Action::CopyPowerShell => {
            let Some(entry) = model.history.get(insp.selected) else { return Vec::new() };
            let ex = &entry.exchange;
            let (what, text) = match action {
                Action::CopyCurl => {
                    ("the request as curl ($TOKEN for the token)", crate::tui::copy::curl(ex))
                }
                Action::CopyPowerShell => {
                    ("the request as PowerShell ($token for the token)", crate::tui::copy::powershell(ex))
                }
                _ => match crate::tui::copy::request_id(ex) {
                    Some(id) => ("the request-id", id),
                    None => {
                        model.say(Level::Info, "This request has no request-id (it was never answered)");
                        return Vec::new();
                    }
                },
            };
            return copy(model, what, text);
        }
        Action::SaveExchange => {
            if let Some(entry) = model.history.get(insp.selected) {
                let name = crate::tui::exchange_text::file_name(entry);
                let text = crate::tui::exchange_text::as_file(entry);
                model.say(Level::Info, "Saving the exchange…");
                return vec![Effect::SaveExchange { name, text }];
            }
        }
        _ => {}
    }
    let insp = &mut model.inspector;
    if insp.selected != before {
        insp.scroll = 0;
    }
    if let Some(entry) = model.history.get(model.inspector.selected) {
        let max = layout::inspector_detail_len(model, entry).saturating_sub(1) as u16;
        model.inspector.scroll = model.inspector.scroll.min(max);
    }
    Vec::new()
}

/// Applies a task's report.
pub fn message(model: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Page { request_id, outcome } => {
            let outcome = *outcome;
            let answered_at = outcome.exchange.started_at;
            model.record(outcome.exchange);
            if request_id != model.table.listing.request_id || !model.table.listing.loading {
                return Vec::new();
            }
            clear_retry(model, request_id);
            match outcome.result {
                Ok(page) => {
                    if model.table.listing.pages == 0 {
                        // The first page of this listing: its rows (and its filter) are shown now.
                        model.table.clear_rows();
                        model.table.server_filter = model.table.listing.filter.clone();
                        model.table.exact = model.table.listing.exact.clone();
                    }
                    model.table.listing.received += page.devices.len();
                    model.table.listing.pages += 1;
                    // A device left out or altered is said, never silent.
                    for warning in &page.warnings {
                        tracing::warn!(%warning, "listing");
                        model.say_on(Screen::Table, Level::Warn, warning.to_string());
                    }
                    model.table.listing.warnings += page.warnings.len();
                    let first_new = model.table.rows.len();
                    model.table.push(&page.devices);
                    model.wall = answered_at;
                    model.table.derive_view();
                    reselect(model, first_new);
                    switching::select_asked(model);
                    scroll_table(model);
                }
                Err(e) => {
                    model.requests.finish(request_id, RequestStatus::Failed(e.to_string()));
                    model.table.listing.loading = false;
                    model.table.listing.keep_selected = None;
                    let refused_search = model.table.listing.pages == 0
                        && model.table.listing.filter != model.table.server_filter;
                    if refused_search {
                        let shown = match &model.table.server_filter {
                            Some(f) => format!("the results of {f}"),
                            None => "every device".to_string(),
                        };
                        let asked = model.table.listing.filter.as_deref().unwrap_or("the whole list");
                        model.say_on(
                            Screen::Table,
                            Level::Error,
                            format!("The server search {asked} failed: {e}. Still showing {shown}"),
                        );
                    } else {
                        let kept = if model.table.rows.is_empty() {
                            String::new()
                        } else {
                            format!("; the {} loaded stay", plural(model.table.rows.len(), "device"))
                        };
                        model.say_on(
                            Screen::Table,
                            Level::Error,
                            format!("Listing stopped: {e}{kept} (r lists again)"),
                        );
                        model.table.listing.error = Some(e.to_string());
                    }
                }
            }
        }
        Msg::ListEnded { request_id } => {
            if request_id == model.table.listing.request_id && model.table.listing.loading {
                clear_retry(model, request_id);
                model.requests.finish(request_id, RequestStatus::Done);
                model.table.listing.loading = false;
                model.table.listing.keep_selected = None;
                if switching::lookup_ended(model) {
                    return Vec::new();
                }
                let (n, p) = (model.table.count(), model.table.listing.pages);
                let mut loaded = format!("Loaded {} in {}", plural(n, "device"), plural(p, "page"));
                if let Some(note) = model.restored_note.take() {
                    loaded = format!("{loaded}; {note} (:drafts lists them)");
                }
                if let Some(note) = bulk::restore(model) {
                    loaded = format!("{loaded}; {note}");
                }
                match model.table.listing.warnings {
                    0 => model.say_on(Screen::Table, Level::Success, loaded),
                    w => model.say_on(
                        Screen::Table,
                        Level::Warn,
                        format!("{loaded}; {} left out or altered (see the log)", plural(w, "device")),
                    ),
                }
            }
        }
        Msg::Fetched { request_id, outcome } => {
            let outcome = *outcome;
            let body_warning = outcome.exchange.body_warning();
            model.record(outcome.exchange);
            clear_retry(model, request_id);
            let status = match &outcome.result {
                Ok(_) => RequestStatus::Done,
                Err(e) => RequestStatus::Failed(e.to_string()),
            };
            if !model.requests.finish(request_id, status) {
                return Vec::new(); // cancelled: the user went back
            }
            match outcome.result {
                Ok(record) => {
                    replace_row(model, &record);
                    let Some(form) = model.form.as_ref() else { return Vec::new() };
                    let (id, resource, label) = (form.device_id.clone(), form.resource, form.label.clone());
                    // The form asked for it; a draft of it (restored, say) is kept as it is.
                    model.drafts.entry(id).or_insert_with(|| Draft::new(resource, record));
                    if let Some(field) = model.form.as_ref().map(|f| f.focus) {
                        focus(model, field);
                    }
                    if let Some(warning) = body_warning {
                        model.say(Level::Warn, format!("{label}: {warning}"));
                    }
                }
                Err(e) => {
                    if let Some(form) = model.form.as_mut() {
                        form.problem = Some(problem(&e, "Fetching the device"));
                    }
                    model.say(Level::Error, format!("Could not fetch the device: {e}"));
                }
            }
        }
        msg @ Msg::JournalRead { .. } => journal_view::read(model, msg),
        msg @ Msg::ImportPrepared { .. } => import_view::prepared(model, msg),
        Msg::ImportProgressed { request_id, progress } => {
            import_view::progressed(model, request_id, progress)
        }
        Msg::ImportEnded { request_id, result } => import_view::ended(model, request_id, result),
        Msg::JobEvent { request_id, event } => jobs::event(model, request_id, *event),
        Msg::JobPlanned { request_id, plan, ended } => jobs::planned(model, request_id, *plan, ended),
        Msg::JobEnded { request_id, result } => return jobs::ended(model, request_id, result),
        Msg::UnfinishedJobs { jobs: found } => jobs::offer_resume(model, found),
        Msg::CleanedUp { request_id, rows } => return import_view::cleaned_up(model, request_id, rows),
        Msg::ResultsExported { result } => match result {
            Ok(path) => model.say(Level::Success, format!("Results written to {path}")),
            Err(e) => model.say(Level::Error, format!("Results not written: {e}")),
        },
        Msg::PathCompleted { line, candidates } => {
            if model.typing == Typing::Command {
                model.line = line_editor(&line, "");
                if !candidates.is_empty() {
                    let shown: Vec<&str> = candidates.iter().take(12).map(String::as_str).collect();
                    let more = candidates.len().saturating_sub(12);
                    let more = if more > 0 { format!(" (+{more})") } else { String::new() };
                    model.say(Level::Info, format!("{}{more}", shown.join("  ")));
                }
            }
        }
        Msg::Conflicted { request_id, device_id, exchanges, server, conflicts } => {
            for ex in exchanges {
                model.record(ex);
            }
            clear_retry(model, request_id);
            if !model.requests.finish(request_id, RequestStatus::Done) {
                return Vec::new();
            }
            conflicts::open(model, device_id, *server, conflicts);
        }
        Msg::Patched { request_id, device_id, exchanges, result, written } => {
            for ex in exchanges {
                model.record(ex);
            }
            clear_retry(model, request_id);
            let status = match result.as_ref() {
                Ok(_) => RequestStatus::Done,
                Err(e) => RequestStatus::Failed(e.to_string()),
            };
            let Some(request) = model.requests.get(request_id).cloned() else { return Vec::new() };
            if !model.requests.finish(request_id, status) {
                return Vec::new(); // cancelled: what the user was told stands
            }
            let (label, fields) = match request.kind {
                RequestKind::Save { label, fields, .. } => (label, fields),
                _ => (device_id.clone(), Vec::new()),
            };
            // The answer belongs to its record, whatever is on screen now.
            let open_here = model.form.as_ref().is_some_and(|f| f.device_id == device_id);
            match *result {
                Ok(record) => {
                    replace_row(model, &record);
                    let resource = model.drafts.get(&device_id).map_or(model.table.resource, |d| d.resource);
                    // An action answers 204 and the record is read back: the live service has
                    // been seen to apply a change only on the second call, so what the read
                    // does not show stays in the draft. A PATCH answer is the record as saved.
                    let read_back = matches!(resource.write, crate::graph::resource::WriteVerb::Action(_));
                    let (next, unapplied) = match model.drafts.get(&device_id).filter(|_| read_back) {
                        Some(draft) => draft.after_save(record),
                        None => (Draft::new(resource, record), Vec::new()),
                    };
                    model.drafts.insert(device_id, next);
                    let undo =
                        written.as_ref().is_some_and(|w| w.source == crate::write_log::WriteSource::Undo);
                    let saved = match (&written, undo) {
                        (None, _) => {
                            format!("Nothing sent for {label}: the server already holds these values")
                        }
                        (Some(_), true) => format!("Undone on {label}: {} written back", fields.join(", ")),
                        (Some(_), false) => format!("Saved {label}: {} (M-U undoes)", fields.join(", ")),
                    };
                    if let Some(entry) = written {
                        model.last_write = Some(*entry);
                    }
                    let shown_problem = if unapplied.is_empty() {
                        model.say(Level::Success, saved);
                        None
                    } else {
                        let names: Vec<&str> = unapplied.iter().map(|(f, _, _)| f.label).collect();
                        model.say(
                            Level::Warn,
                            format!(
                                "{label}: the server answered success but still shows the old {}; ^S sends it again",
                                names.join(", ")
                            ),
                        );
                        Some(not_applied(&unapplied))
                    };
                    if let Some(form) = model.form.as_mut().filter(|_| open_here) {
                        form.problem = shown_problem;
                    }
                    if let Some(field) = model.form.as_ref().filter(|_| open_here).map(|f| f.focus) {
                        focus(model, field);
                    }
                }
                Err(e) => {
                    // The form names its record; a message seen elsewhere names it itself.
                    let p = problem(&e, "Saving");
                    let what = if open_here {
                        p.title.clone()
                    } else {
                        problem(&e, &format!("Saving {label}")).title
                    };
                    model.say(Level::Error, format!("{what} (draft kept)"));
                    if let Some(form) = model.form.as_mut().filter(|_| open_here) {
                        form.problem = Some(p);
                    }
                }
            }
        }
        Msg::Retrying { request_id, notice, at } => {
            if !model.requests.in_flight(request_id) {
                return Vec::new();
            }
            if let Some(request) = model.requests.get_mut(request_id)
                && !notice.reason.starts_with("429")
            {
                // Anything but a throttling refusal may have reached the handler.
                request.refused_only = false;
            }
            model.now = at;
            model.retry = Some(RetryWait {
                request_id,
                method: notice.method,
                reason: notice.reason,
                attempt: notice.attempt,
                until: at + notice.wait,
            });
        }
        Msg::Sorted { generation, sorted } => {
            if model.table.sort_pending != Some(generation) {
                return Vec::new();
            }
            model.table.sort_pending = None;
            model.table.install(*sorted);
            scroll_table(model);
            if let Some((column, desc)) = model.table.sort {
                let dir = if desc { "descending" } else { "ascending" };
                let word = model.table.columns()[column].word;
                model.say_on(Screen::Table, Level::Info, format!("Sorted by {word} ({dir})"));
            }
        }
        Msg::ExchangeSaved { result } => match result {
            Ok(path) => model.say(Level::Success, format!("Saved to {}", path.display())),
            Err(e) => model.say(Level::Error, format!("Could not save the exchange: {e}")),
        },
        Msg::TaskFailed { request_id, error } => {
            // The request it ran for will never answer: end it, keep what the user had.
            if let Some(id) = request_id {
                model.requests.finish(id, RequestStatus::Failed(error.clone()));
                clear_retry(model, id);
                if id == model.table.listing.request_id && model.table.listing.loading {
                    model.table.listing.loading = false;
                    model.table.listing.error = Some(error.clone());
                }
            }
            model.say(
                Level::Error,
                format!("Internal error, the request was dropped: {error} (the log has details)"),
            );
        }
        Msg::Acted { request_id, device_id, exchanges, result } => {
            for ex in exchanges {
                model.record(ex);
            }
            actions::acted(model, request_id, device_id, *result);
        }
        Msg::Synced { request_id, exchanges, result, next_allowed } => {
            for ex in exchanges {
                model.record(ex);
            }
            actions::synced(model, request_id, *result, next_allowed);
        }
        Msg::DraftsStored { result } => match result {
            Ok(since) => model.draft_since = since,
            Err(error) => {
                model.say(Level::Warn, format!("Unsaved drafts could not be stored on disk: {error}"))
            }
        },
        Msg::Tick(now) => {
            model.now = now;
            model.spinner = model.spinner.wrapping_add(1);
        }
        Msg::SignInPrompt { request_id, prompt } => {
            if let Some(s) = model.sign_in.as_mut().filter(|s| s.request_id == request_id) {
                s.prompt = Some(prompt);
            }
        }
        Msg::SignInPolled { request_id, state } => {
            if let Some(s) = model.sign_in.as_mut().filter(|s| s.request_id == request_id) {
                s.poll = Some(state);
            }
        }
        Msg::SignedIn { request_id, result } => {
            if model.sign_in.as_ref().is_none_or(|s| s.request_id != request_id) {
                return Vec::new();
            }
            match result {
                Ok((base_url, collection)) => {
                    model.set_target(base_url, collection);
                    model.sign_in = None;
                    model.screen = Screen::Table;
                    model.say(Level::Success, "Signed in");
                    let mut effects = start_listing(model, None, None);
                    effects.push(Effect::FindUnfinishedJobs);
                    return effects;
                }
                Err(e) => {
                    if let Some(s) = model.sign_in.as_mut() {
                        s.failed = Some(sign_in_failure(&e));
                    }
                }
            }
        }
    }
    Vec::new()
}

/// A failed sign-in in words for the user (the error never holds a secret).
pub fn sign_in_failure(e: &AuthError) -> String {
    match e {
        AuthError::Declined => "Sign-in was declined at the verification page.".into(),
        AuthError::Expired => "The code expired before sign-in finished.".into(),
        AuthError::BadVerificationCode => "The identity platform did not recognise the code.".into(),
        other => {
            let mut text = other.to_string();
            if let Some(c) = text.get(..1) {
                text = c.to_uppercase() + &text[1..];
            }
            text
        }
    }
}

/// After a reload's page: the cursor goes back to the device it was on, once its row is in.
fn reselect(model: &mut Model, first_new: usize) {
    let Some(id) = model.table.listing.keep_selected.as_deref() else { return };
    let Some(row) = (first_new..model.table.rows.len()).find(|&row| model.table.rows.has_id(row, id)) else {
        return;
    };
    if let Some(pos) = model.table.view.iter().position(|&i| i == row) {
        model.table.cursor = pos;
    }
    model.table.listing.keep_selected = None;
}

fn clear_retry(model: &mut Model, request_id: u64) {
    if model.retry.as_ref().is_some_and(|r| r.request_id == request_id) {
        model.retry = None;
    }
}

pub(crate) fn replace_row(model: &mut Model, record: &Record) {
    model.table.replace(record);
    scroll_table(model);
}

/// The form's words for changes a save's answer does not show (the draft keeps them).
fn not_applied(unapplied: &[(&'static Field, serde_json::Value, serde_json::Value)]) -> Problem {
    let mut lines: Vec<String> = unapplied
        .iter()
        .map(|(field, sent, now)| format!("{}: sent {sent}, the record read back has {now}", field.label))
        .collect();
    lines.push(
        "The service has been seen to apply updateDeviceProperties only on a second call. Your change is \
         kept: ^S sends it again (nothing is sent by itself)."
            .to_string(),
    );
    Problem { title: "Saved, but the record read back does not show the change".to_string(), lines }
}

/// Puts a failed call into words for the form.
pub fn problem(e: &GraphError, what: &str) -> Problem {
    let Some(se) = e.service() else {
        return Problem { title: format!("{what} failed"), lines: vec![e.to_string()] };
    };
    let mut lines = Vec::new();
    let title = if se.is_patch_route_missing() {
        lines.push(
            "This Graph service does not accept updates to imported Autopilot device identities:".to_string(),
        );
        lines.push(format!("it answered PATCH with {} \"{}\".", se.status, se.code));
        lines.push(
            "Your draft is kept. Devices that finished registering are edited as windowsAutopilotDeviceIdentity."
                .to_string(),
        );
        "Updates refused by this Graph service".to_string()
    } else {
        let message = se
            .nested
            .as_ref()
            .and_then(|n| n.get("Message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| se.message.clone());
        let id = se.request_id.as_deref().map(|r| format!(" · request-id: {r}")).unwrap_or_default();
        let date = se.date.as_deref().map(|d| format!(" · date: {d}")).unwrap_or_default();
        lines.push(format!("message: {}", message.replace(['\r', '\n'], " ")));
        lines.push(format!("code: {}{id}{date}", se.code));
        return Problem { title: format!("{what} failed: {} {}", se.status, se.code), lines };
    };
    if let Some(r) = &se.request_id {
        lines.push(format!("request-id: {r}"));
    }
    Problem { title, lines }
}

mod actions;
mod bulk;
mod conflicts;
pub mod drafts_view;
mod import_view;
mod jobs;
pub mod journal_view;
mod switching;

pub use switching::serial_hash;

#[cfg(test)]
mod tests;
