//! Actions on one record besides editing it (assign or unassign a user, delete), each in a
//! dialog that is typed and confirmed before anything is sent, and the Autopilot sync with
//! Intune's 409/429 rules. What an action takes and how it is guarded comes from the
//! resource's descriptor.

use super::{READ_ONLY, clear_retry, problem, replace_row, scroll_table};
use crate::graph::error::GraphError;
use crate::graph::resource::{Guard, Record};
use crate::graph::validate;
use crate::tui::drafts::Draft;
use crate::tui::event::{Action, Effect};
use crate::tui::line_edit::{apply_edit, editor_text, line_editor};
use crate::tui::model::{ActionDialog, Level, Model, Overlay, Problem, Screen};
use crate::tui::requests::{RequestKind, RequestStatus};
use crate::tui::table::same_serial;
use crate::tui::wording::capitalised;
use serde_json::Map;
use std::time::{Instant, SystemTime};

/// A table key that may start an action: opens its dialog on the selected record.
pub(super) fn start(model: &mut Model, key: char) -> Vec<Effect> {
    let resource = model.table.resource;
    let Some(action) = resource.action(key) else {
        let keys: Vec<String> = resource.actions.iter().map(|a| format!("{} {}", a.key, a.name)).collect();
        let offer = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
        model.say(Level::Info, format!("{key}: no such action on {} (they have: {offer})", resource.title));
        return Vec::new();
    };
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return Vec::new();
    }
    let Some(row) = model.table.selected() else {
        model.say(Level::Info, "No device selected");
        return Vec::new();
    };
    let device_id = model.table.rows.id(row);
    let label = model.table.label(row);
    // What the row shows already is where typing starts (the user assigned now, say).
    let inputs: Vec<String> = action
        .inputs
        .iter()
        .map(|f| model.table.field_text(row, f.path).map(String::from).unwrap_or_default())
        .collect();
    let first = inputs.first().cloned().unwrap_or_default();
    model.overlay = Some(Overlay::Action(Box::new(ActionDialog {
        resource,
        action,
        device_id,
        label,
        inputs,
        guard_text: String::new(),
        focus: 0,
        editor: line_editor(&first, ""),
        problem: None,
        sending: None,
    })));
    Vec::new()
}

/// A key in an action's dialog.
pub(super) fn dialog_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Overlay::Action(dialog)) = model.overlay.as_mut() else { return Vec::new() };
    let lines = dialog.lines();
    match action {
        Action::Back => {
            let sending = dialog.sending.is_some();
            model.overlay = None;
            if sending {
                model
                    .say(Level::Info, "Closed; the request is still on its way and its answer will be shown");
            }
        }
        _ if dialog.sending.is_some() => model.say(Level::Info, "Sending… wait for the answer (Esc closes)"),
        Action::Edit(op) if lines > 0 && apply_edit(&mut dialog.editor, &op, false) => {
            let text = editor_text(&dialog.editor).to_string();
            match dialog.inputs.get_mut(dialog.focus) {
                Some(input) => *input = text,
                None => dialog.guard_text = text,
            }
            dialog.problem = None;
        }
        Action::NextField if lines > 0 => focus(dialog, (dialog.focus + 1) % lines),
        Action::PrevField if lines > 0 => focus(dialog, (dialog.focus + lines - 1) % lines),
        Action::ActionNext if dialog.focus + 1 < lines => focus(dialog, dialog.focus + 1),
        Action::ActionNext | Action::ConfirmSend => return send(model),
        _ => {}
    }
    Vec::new()
}

fn focus(dialog: &mut ActionDialog, line: usize) {
    dialog.focus = line;
    let text = dialog.inputs.get(line).cloned().unwrap_or_else(|| dialog.guard_text.clone());
    dialog.editor = line_editor(&text, "");
}

/// Checks what was typed and sends the action; what is wrong stays in the dialog, typed text
/// kept.
fn send(model: &mut Model) -> Vec<Effect> {
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return Vec::new();
    }
    let request_id = model.request_id();
    let Some(Overlay::Action(dialog)) = model.overlay.as_mut() else { return Vec::new() };
    let action = dialog.action;
    let mut body = Map::new();
    let mut wrong = Vec::new();
    for (i, (field, text)) in action.inputs.iter().zip(&dialog.inputs).enumerate() {
        match validate::parse(field, text.trim()) {
            Ok(value) => {
                body.insert(field.path.to_string(), value);
            }
            Err(e) => wrong.push((i, format!("{}: {e}", field.label))),
        }
    }
    if action.guard == Guard::TypeSerial && !same_serial(&dialog.guard_text, &dialog.label) {
        wrong.push((action.inputs.len(), format!("type the serial number {} to confirm", dialog.label)));
    }
    if let Some((line, _)) = wrong.first() {
        let line = *line;
        dialog.problem = Some(Problem {
            title: format!("Not sent: {}", action.name),
            lines: wrong.into_iter().map(|(_, text)| text).collect(),
        });
        focus(dialog, line);
        return Vec::new();
    }
    dialog.problem = None;
    dialog.sending = Some(request_id);
    let (resource, device_id, label) = (dialog.resource, dialog.device_id.clone(), dialog.label.clone());
    let body = (!action.inputs.is_empty()).then_some(body);
    model.requests.start(request_id, RequestKind::Act { id: device_id.clone(), label, action });
    vec![Effect::Act { resource, request_id, device_id, request: action.request, body }]
}

/// An action's answer: the row follows the record read back (or leaves, once deleted); a
/// failure is shown in the dialog if it is still open, with what to do.
pub(super) fn acted(
    model: &mut Model,
    request_id: u64,
    device_id: String,
    result: Result<Option<Record>, GraphError>,
) {
    clear_retry(model, request_id);
    let status = match &result {
        Ok(_) => RequestStatus::Done,
        Err(e) => RequestStatus::Failed(e.to_string()),
    };
    let Some(request) = model.requests.get(request_id).cloned() else { return };
    if !model.requests.finish(request_id, status) {
        return;
    }
    let RequestKind::Act { label, action, .. } = request.kind else { return };
    let (name, done) = (action.name, action.done);
    let dialog_open = matches!(&model.overlay, Some(Overlay::Action(d)) if d.sending == Some(request_id));
    match result {
        Ok(Some(record)) => {
            replace_row(model, &record);
            // A draft without changes follows the record; one with changes keeps them.
            if let Some(draft) = model.drafts.get(&device_id).filter(|d| !d.is_dirty_any()) {
                let resource = draft.resource;
                model.drafts.insert(device_id, Draft::new(resource, record));
            }
            if dialog_open {
                model.overlay = None;
            }
            model.say_on(Screen::Table, Level::Success, format!("{done} {label}"));
        }
        Ok(None) => {
            model.table.remove(&device_id);
            scroll_table(model);
            model.drafts.remove(&device_id);
            if model.form.as_ref().is_some_and(|f| f.device_id == device_id) {
                model.form = None;
                model.screen = Screen::Table;
            }
            if dialog_open {
                model.overlay = None;
            }
            model.say_on(Screen::Table, Level::Success, format!("{done} {label}"));
        }
        Err(e) => {
            let mut shown = problem(&e, &format!("{} on {label}", capitalised(name)));
            if let Some(hint) = refusal_hint(name, &e) {
                shown.lines.push(hint.to_string());
            }
            match model.overlay.as_mut() {
                Some(Overlay::Action(dialog)) if dialog_open => {
                    dialog.sending = None;
                    dialog.problem = Some(shown);
                }
                _ => model.say_on(Screen::Table, Level::Error, shown.title),
            }
        }
    }
}

/// What to do when Intune refuses an action, where the refusal has a known cause.
fn refusal_hint(name: &str, e: &GraphError) -> Option<&'static str> {
    let service = e.service()?;
    let text =
        format!("{} {}", service.message, service.nested.as_ref().map(|n| n.to_string()).unwrap_or_default())
            .to_ascii_lowercase();
    if name == "delete" && text.contains("enrolled") {
        return Some(
            "Intune keeps the Autopilot registration of a device that is enrolled: delete (or retire) \
             the device under Devices > All devices first, then delete this registration.",
        );
    }
    match service.status {
        403 => Some("The signed-in account or app lacks DeviceManagementServiceConfig.ReadWrite.All."),
        404 => Some("The record is gone (deleted elsewhere?): r reloads the table."),
        _ => None,
    }
}

/// `:sync`: asks Intune to sync with the Autopilot service, unless it said when the next is
/// allowed and that time has not come.
pub(super) fn sync(model: &mut Model) -> Vec<Effect> {
    if model.read_only {
        model.say(Level::Warn, READ_ONLY);
        return Vec::new();
    }
    if model.sync.request_id.is_some() {
        model.say(Level::Info, "The Autopilot sync request is on its way");
        return Vec::new();
    }
    if let Some(next) = model.sync.next_allowed.filter(|(at, _)| *at > model.now) {
        model.say_countdown(model.screen, next);
        return Vec::new();
    }
    let request_id = model.request_id();
    model.sync.request_id = Some(request_id);
    model.requests.start(request_id, RequestKind::Sync);
    model.say(Level::Info, "Asking Intune to sync with the Autopilot service…");
    vec![Effect::Sync { request_id }]
}

/// The sync's answer: 204 started, 409 one is running, 429 too soon (with when the next is
/// allowed, counted down on the status line).
pub(super) fn synced(
    model: &mut Model,
    request_id: u64,
    result: Result<(), GraphError>,
    next_allowed: Option<(Instant, SystemTime)>,
) {
    if model.sync.request_id != Some(request_id) {
        return;
    }
    model.sync.request_id = None;
    clear_retry(model, request_id);
    let status = match &result {
        Ok(()) => RequestStatus::Done,
        Err(e) => RequestStatus::Failed(e.to_string()),
    };
    model.requests.finish(request_id, status);
    model.sync.next_allowed = next_allowed;
    match result {
        Ok(()) => model.say_on(
            Screen::Table,
            Level::Success,
            "Autopilot sync started: devices registered in the Autopilot service appear here within minutes (r reloads)",
        ),
        Err(e) => {
            let text = match e.service().map(|s| s.status) {
                Some(409) => "A sync with the Autopilot service is already running; try again when it ends".to_string(),
                Some(429) => match next_allowed {
                    Some(next) => {
                        model.say_countdown(Screen::Table, next);
                        return;
                    }
                    None => "Intune takes one manual sync every 10 minutes; try again later".to_string(),
                },
                Some(400 | 404) if !model.base_url.ends_with("/beta") => format!(
                    "The Autopilot sync failed: {e}. It is a beta endpoint: this tenant's Graph refused /beta"
                ),
                _ => format!("The Autopilot sync failed: {e}"),
            };
            model.say_on(Screen::Table, Level::Error, text);
        }
    }
}
