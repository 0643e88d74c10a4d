//! `:drafts`: the unsaved drafts (kept on disk between sessions), to open one in its form or
//! discard one or all.

use crate::tui::event::{Action, Effect};
use crate::tui::model::{Ask, FormState, Level, Model, Overlay, Screen};
use crate::tui::wording::plural;

/// The unsaved drafts, by what they are called.
pub fn unsaved(model: &Model) -> Vec<&crate::tui::drafts::Draft> {
    let mut list: Vec<_> = model.drafts.values().filter(|d| d.is_dirty_any()).collect();
    list.sort_by(|a, b| label_of(a).cmp(&label_of(b)).then_with(|| a.id().cmp(b.id())));
    list
}

/// What a draft's record is called: its serial, else its id.
pub fn label_of(draft: &crate::tui::drafts::Draft) -> String {
    draft.original.get("serialNumber").and_then(|v| v.as_str()).unwrap_or_else(|| draft.id()).to_string()
}

/// Opens the list.
pub(super) fn open(model: &mut Model) {
    let n = unsaved(model).len();
    if n == 0 {
        model.say(Level::Info, "No unsaved drafts");
        return;
    }
    model.drafts_selected = model.drafts_selected.min(n - 1);
    model.screen = Screen::Drafts;
}

/// A key in the list.
pub(super) fn action(model: &mut Model, action: Action) -> Vec<Effect> {
    let list: Vec<(String, String)> =
        unsaved(model).iter().map(|d| (d.id().to_string(), label_of(d))).collect();
    if list.is_empty() {
        model.screen = Screen::Table;
        return Vec::new();
    }
    let at = model.drafts_selected.min(list.len() - 1);
    match action {
        Action::Up => model.drafts_selected = at.saturating_sub(1),
        Action::Down => model.drafts_selected = (at + 1).min(list.len() - 1),
        Action::Back => model.screen = Screen::Table,
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::DiscardDraft => {
            let (id, label) = list[at].clone();
            model.overlay = Some(Overlay::Ask(Ask::DiscardDraft { id, label }));
        }
        Action::DiscardDrafts => model.overlay = Some(Overlay::Ask(Ask::DiscardAll { count: list.len() })),
        Action::Open => open_draft(model, &list[at].0),
        _ => {}
    }
    Vec::new()
}

/// Opens a draft's form (no fetch: the draft holds its record as fetched).
fn open_draft(model: &mut Model, id: &str) {
    let Some(draft) = model.drafts.get(id) else { return };
    let resource = draft.resource;
    let Some(first) = resource.editable().next() else { return };
    let label = label_of(draft);
    let editor = super::editor_for(first, Some(draft));
    model.form =
        Some(FormState { device_id: id.to_string(), resource, label, focus: first, editor, problem: None });
    model.screen = Screen::Form;
    let n = unsaved(model).len();
    model.say(
        Level::Info,
        format!("Draft opened ({} unsaved in all; :drafts lists them)", plural(n, "draft")),
    );
}
