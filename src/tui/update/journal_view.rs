//! `:journal`: every write that reached the server (from the form, a bulk job, `apply`, an
//! import's clean-up, an undo), newest first, with a filter; `u` undoes the selected one.

use crate::graph::patch::{FieldChange, PatchBody};
use crate::graph::resource::{Record, Resource};
use crate::tui::event::{Action, Effect, Msg};
use crate::tui::line_edit::{apply_edit, editor_text, line_editor};
use crate::tui::model::{Confirm, Level, Model, Overlay, Screen, Typing};
use crate::tui::wording::plural;
use crate::write_log::{WriteEntry, WriteSource};
use serde_json::Value;

/// Opens the view and asks for the file.
pub(super) fn open(model: &mut Model, filter: String) -> Vec<Effect> {
    model.journal.filter = filter;
    model.journal.selected = 0;
    model.journal.loading = true;
    model.screen = Screen::Journal;
    vec![Effect::ReadJournal]
}

/// The file as read.
pub(super) fn read(model: &mut Model, msg: Msg) {
    let Msg::JournalRead { result } = msg else { return };
    model.journal.loading = false;
    match result {
        Ok((mut entries, unreadable)) => {
            entries.reverse();
            model.journal.entries = entries;
            model.journal.unreadable = unreadable;
            if unreadable > 0 {
                model.say(
                    Level::Warn,
                    format!("{} of the write log could not be read", plural(unreadable, "line")),
                );
            }
        }
        Err(e) => model.say(Level::Error, format!("The write log could not be read: {e}")),
    }
}

/// The entries of this Graph root the filter keeps, newest first (another tenant's writes are
/// in the same file but cannot be undone from here).
pub fn shown(model: &Model) -> Vec<&WriteEntry> {
    let needle = model.journal.filter.to_lowercase();
    of_target(model).filter(|e| needle.is_empty() || searchable(e).contains(&needle)).collect()
}

/// The entries of this Graph root.
pub fn of_target(model: &Model) -> impl Iterator<Item = &WriteEntry> {
    let target = crate::write_log::target_of(&model.base_url);
    model.journal.entries.iter().filter(move |e| e.target == target)
}

/// Everything the filter looks through, lower-cased.
fn searchable(e: &WriteEntry) -> String {
    let values = |m: &serde_json::Map<String, Value>| {
        m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" ")
    };
    format!(
        "{} {} {} {} {} {} {} {} {}",
        e.time,
        e.serial.as_deref().unwrap_or(""),
        e.id,
        e.collection,
        e.verb,
        e.source.word(),
        e.status,
        values(&e.before),
        values(&e.after)
    )
    .to_lowercase()
}

/// A key in the view (or in its filter line).
pub(super) fn action(model: &mut Model, action: Action) -> Vec<Effect> {
    if model.typing == Typing::Filter {
        match action {
            Action::FilterEdit(op) if apply_edit(&mut model.line, &op, false) => {
                model.journal.filter = editor_text(&model.line).to_string();
                model.journal.selected = 0;
            }
            Action::FilterAccept => model.typing = Typing::Nothing,
            Action::Back => {
                model.typing = Typing::Nothing;
                model.journal.filter.clear();
            }
            Action::Up | Action::Down => return move_by(model, if action == Action::Up { -1 } else { 1 }),
            _ => {}
        }
        return Vec::new();
    }
    let page = crate::tui::layout::table_body_height(model).max(1) as isize;
    match action {
        Action::Up => return move_by(model, -1),
        Action::Down => return move_by(model, 1),
        Action::PageUp => return move_by(model, -page),
        Action::PageDown => return move_by(model, page),
        Action::Top => model.journal.selected = 0,
        Action::Bottom => model.journal.selected = shown(model).len().saturating_sub(1),
        Action::FilterStart => {
            model.typing = Typing::Filter;
            model.line = line_editor(&model.journal.filter, "");
        }
        Action::Reload => {
            model.journal.loading = true;
            return vec![Effect::ReadJournal];
        }
        Action::Copy => {
            let id = shown(model).get(model.journal.selected).and_then(|e| e.request_id.clone());
            match id {
                Some(id) => {
                    model.say(Level::Info, format!("Copied the request-id {id}"));
                    return vec![Effect::Copy { text: id }];
                }
                None => model.say(Level::Info, "This write has no request-id"),
            }
        }
        Action::Undo => {
            let entry = shown(model).get(model.journal.selected).map(|e| (*e).clone());
            if let Some(entry) = entry {
                ask_undo(model, &entry);
            }
        }
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::Back => model.screen = Screen::Table,
        _ => {}
    }
    Vec::new()
}

fn move_by(model: &mut Model, by: isize) -> Vec<Effect> {
    let n = shown(model).len();
    let at = model.journal.selected as isize + by;
    model.journal.selected = at.clamp(0, n.saturating_sub(1) as isize) as usize;
    Vec::new()
}

/// The resource a logged write went to.
fn resource_of(entry: &WriteEntry) -> Option<&'static Resource> {
    crate::graph::resources().into_iter().find(|r| r.is_collection(&entry.collection))
}

/// Opens the confirmation of an undo: the entry's before values written back, checked like
/// any save against what the server holds now (the entry's after values are what it expects).
pub(super) fn ask_undo(model: &mut Model, entry: &WriteEntry) {
    if model.read_only {
        model.say(Level::Warn, super::READ_ONLY);
        return;
    }
    if !entry.succeeded() {
        model.say(Level::Info, format!("That write failed ({}): there is nothing to undo", entry.status));
        return;
    }
    if entry.before.is_empty() {
        model.say(
            Level::Info,
            format!("{} cannot be undone from here (the log has no earlier values for it)", entry.verb),
        );
        return;
    }
    if entry.target != crate::write_log::target_of(&model.base_url) {
        model.say(
            Level::Warn,
            format!("That write went to {}, not to this tenant: it cannot be undone from here", entry.target),
        );
        return;
    }
    let Some(resource) = resource_of(entry) else {
        model.say(Level::Warn, format!("Writes to {} cannot be undone by this version", entry.collection));
        return;
    };
    let mut expected = Record::new();
    let mut changes = Vec::new();
    for (path, before) in &entry.before {
        let Some(field) = resource.field(path).filter(|f| f.editable) else {
            model.say(Level::Warn, format!("{path} cannot be written back by this version"));
            return;
        };
        let after = entry.after.get(path).cloned().unwrap_or(Value::Null);
        field.set(&mut expected, after.clone());
        changes.push(FieldChange { field, old: after, new: before.clone() });
    }
    if let Some(id_field) = resource.field("id") {
        id_field.set(&mut expected, Value::String(entry.id.clone()));
    }
    let mut restored = expected.clone();
    for c in &changes {
        c.field.set(&mut restored, c.new.clone());
    }
    let body = PatchBody { changes, ..PatchBody::between(resource, &expected, &restored) };
    let (method, url) = model.write_url(resource, &entry.id);
    let label = entry.serial.clone().unwrap_or_else(|| entry.id.clone());
    model.overlay = Some(Overlay::Confirm(Confirm {
        device_id: entry.id.clone(),
        method,
        url,
        body,
        resource,
        label,
        original: Box::new(expected),
        source: WriteSource::Undo,
        undoes: Some(entry.key()),
    }));
}
