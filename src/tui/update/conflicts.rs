//! The three-way view of a save stopped by conflicts: per field, the value the draft started
//! from, the server's value now and the user's; nothing is written until each has a pick.

use crate::graph::conflict::FieldConflict;
use crate::graph::resource::Record;
use crate::tui::event::{Action, Effect};
use crate::tui::model::{ConflictView, Level, Model, Overlay, Pick};
use crate::tui::wording::plural;

/// Opens the view over the form (the draft is untouched until the picks are applied).
pub(super) fn open(model: &mut Model, device_id: String, server: Record, conflicts: Vec<FieldConflict>) {
    let label = model.form.as_ref().filter(|f| f.device_id == device_id).map_or_else(
        || server.get("serialNumber").and_then(|v| v.as_str()).unwrap_or(&device_id).to_string(),
        |f| f.label.clone(),
    );
    let n = conflicts.len();
    model.say(
        Level::Warn,
        format!(
            "{label} changed on the server since you opened it: {} to decide; nothing was sent",
            plural(n, "field")
        ),
    );
    let items = conflicts.into_iter().map(|c| (c, None)).collect();
    model.overlay =
        Some(Overlay::Conflicts(Box::new(ConflictView { device_id, label, server, items, selected: 0 })));
}

/// A key in the view.
pub(super) fn action(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Overlay::Conflicts(view)) = model.overlay.as_mut() else { return Vec::new() };
    let last = view.items.len().saturating_sub(1);
    let pick = |view: &mut ConflictView, pick: Pick| {
        if let Some(item) = view.items.get_mut(view.selected) {
            item.1 = Some(pick);
        }
        // On to the next field still open, if any.
        if let Some(next) = view.items.iter().position(|(_, p)| p.is_none()) {
            view.selected = next;
        }
    };
    match action {
        Action::Up => view.selected = view.selected.saturating_sub(1),
        Action::Down | Action::NextField => view.selected = (view.selected + 1).min(last),
        Action::PrevField => view.selected = view.selected.saturating_sub(1),
        Action::PickOriginal => pick(view, Pick::Original),
        Action::PickServer => pick(view, Pick::Server),
        Action::PickMine => pick(view, Pick::Mine),
        Action::ConfirmSend => return apply(model),
        Action::Back => {
            model.overlay = None;
            model.say(Level::Info, "Nothing sent; the draft is as it was (^S checks the server again)");
        }
        Action::Help => {}
        _ => {}
    }
    Vec::new()
}

/// Enter: with every field picked, the draft moves onto the server's version with the picks,
/// and the save's confirmation opens again (what is sent is shown before it is sent).
fn apply(model: &mut Model) -> Vec<Effect> {
    let Some(Overlay::Conflicts(view)) = model.overlay.as_ref() else { return Vec::new() };
    let open = view.items.iter().filter(|(_, p)| p.is_none()).count();
    if open > 0 {
        model.say(
            Level::Warn,
            format!("{} still to decide: o original, s server, m mine", plural(open, "field")),
        );
        return Vec::new();
    }
    let Some(Overlay::Conflicts(view)) = model.overlay.take() else { return Vec::new() };
    let ConflictView { device_id, label, server, items, .. } = *view;
    let picks: Vec<_> = items
        .iter()
        .map(|(c, p)| {
            let value = match p {
                Some(Pick::Original) => c.original.clone(),
                Some(Pick::Mine) => c.mine.clone(),
                Some(Pick::Server) | None => c.server.clone(),
            };
            (c.field, value)
        })
        .collect();
    let Some(draft) = model.drafts.get(&device_id) else { return Vec::new() };
    let next = draft.rebased_onto(server, &picks);
    let dirty = next.is_dirty_any();
    model.drafts.insert(device_id.clone(), next);
    if let Some(form) = model.form.as_mut().filter(|f| f.device_id == device_id) {
        let field = form.focus;
        form.editor = super::editor_for(field, model.drafts.get(&device_id));
    }
    if !dirty {
        model.say(Level::Info, format!("{label}: nothing left to send; the form shows the server's values"));
        return Vec::new();
    }
    super::save(model)
}
