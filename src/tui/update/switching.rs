//! Showing another kind of record (`:devices`, `:imported`) the way k9s switches views, the
//! jump from a record to its linked one of the other kind, and the exact serial lookup the
//! live service needs (`contains` on the server, since it refuses `eq`; compared exactly here).

use super::{begin_listing, clear_retry, scroll_table};
use crate::graph::client::odata_literal;
use crate::graph::resource::{Resource, is_beta};
use crate::tui::event::Effect;
use crate::tui::model::{Level, Model, Typing};
use crate::tui::requests::RequestStatus;
use crate::tui::table::{Listing, TableState};
use crate::tui::wording::{capitalised, plural};
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Shows `resource`: its table as the user left it (`r` reloads), or a new one that lists.
pub(super) fn show(model: &mut Model, resource: &'static Resource) -> Vec<Effect> {
    if model.table.resource == resource {
        model.say(Level::Info, format!("Already showing {}", resource.title));
        return Vec::new();
    }
    let mut effects = swap_in(model, resource);
    let listing = &model.table.listing;
    if listing.pages > 0 && !listing.loading && listing.error.is_none() {
        let n = model.table.count();
        model.say(Level::Info, format!("Showing {} ({}; r reloads)", resource.title, plural(n, "device")));
        scroll_table(model);
    } else {
        model.say(Level::Info, format!("Showing {}", resource.title));
        let ask = Listing {
            filter: model.table.server_filter.clone(),
            exact: model.table.exact.clone(),
            keep_selected: model.table.selected_id(),
            ..Listing::default()
        };
        effects.extend(begin_listing(model, ask));
    }
    effects
}

/// `l`: the record of the other kind with the same serial number (an imported identity's
/// registered device, or the import record of a registered device). A whole table of the
/// other kind is searched here; otherwise the server is asked for that serial.
pub(super) fn jump_to_linked(model: &mut Model) -> Vec<Effect> {
    let Some(row) = model.table.selected() else {
        model.say(Level::Info, "No device selected");
        return Vec::new();
    };
    let Some(serial) = model.table.field_text(row, "serialNumber").map(String::from) else {
        model.say(Level::Info, "This record has no serial number to find its linked record by");
        return Vec::new();
    };
    let here = model.table.resource;
    let Some(other) =
        crate::graph::resources().into_iter().find(|r| *r != here && r.field("serialNumber").is_some())
    else {
        return Vec::new();
    };
    let mut effects = swap_in(model, other);
    if is_whole(&model.table) {
        match model.table.find_serial(&serial) {
            Some(found) => select_row(model, found),
            None => model.say(
                Level::Warn,
                format!(
                    "No {} has serial number {serial} (all {} listed)",
                    singular(other),
                    model.table.count()
                ),
            ),
        }
        return effects;
    }
    effects.extend(lookup(model, &serial));
    effects
}

/// `:exact SERIAL`: lists the records whose serial contains it and keeps those whose serial
/// is exactly it; the cursor goes to the first.
pub(super) fn lookup(model: &mut Model, serial: &str) -> Vec<Effect> {
    let serial = serial.trim().to_string();
    model.say(Level::Info, format!("Looking up serial number {serial} in {}…", model.table.resource.title));
    let ask = Listing {
        filter: Some(format!("contains(serialNumber,{})", odata_literal(&serial))),
        exact: Some(serial.clone()),
        select_serial: Some(serial),
        ..Listing::default()
    };
    begin_listing(model, ask)
}

/// After a page: the cursor goes to the row a jump asked for, once it is in.
pub(super) fn select_asked(model: &mut Model) {
    let Some(serial) = model.table.listing.select_serial.clone() else { return };
    if let Some(row) = model.table.find_serial(&serial) {
        model.table.listing.select_serial = None;
        select_row(model, row);
    }
}

/// When a lookup ends: with nothing exactly matching it says so (and what `contains` found);
/// with its record found, what the cursor moved to stays said. `false` for other listings.
pub(super) fn lookup_ended(model: &mut Model) -> bool {
    if model.table.listing.exact.is_none() {
        return false;
    }
    let Some(serial) = model.table.listing.select_serial.take() else { return true };
    let received = model.table.listing.received;
    let others = match received {
        0 => String::new(),
        n => format!(
            " (the server's contains search found {} with it inside a longer one)",
            plural(n, "record")
        ),
    };
    model.say(
        Level::Warn,
        format!("No {} has serial number exactly {serial}{others}", singular(model.table.resource)),
    );
    true
}

/// Whether the link markers can be trusted: the other kind's table is loaded whole.
fn is_whole(table: &TableState) -> bool {
    table.listing.pages > 0
        && !table.listing.loading
        && table.listing.error.is_none()
        && table.server_filter.is_none()
        && table.exact.is_none()
}

/// "registered device" / "imported identity": one of a resource's records, in words.
fn singular(resource: &Resource) -> &'static str {
    match resource.command {
        "devices" => "registered device",
        "imported" => "imported identity",
        _ => "record",
    }
}

/// Puts the cursor on a row, clearing a filter that hides it.
fn select_row(model: &mut Model, row: usize) {
    if !model.table.view.contains(&row) && !model.table.filter.is_empty() {
        model.table.filter.clear();
        model.table.derive_view();
    }
    if let Some(pos) = model.table.view.iter().position(|&r| r == row) {
        model.table.cursor = pos;
        model.table.listing.keep_selected = None;
        scroll_table(model);
        let label = model.table.label(row);
        model.say(Level::Success, format!("{}: {label}", capitalised(singular(model.table.resource))));
    }
}

/// Parks the table shown (its listing stops: coming back lists again) and brings in the one
/// of `resource`, as it was left or new. The choice is remembered for the next start.
fn swap_in(model: &mut Model, resource: &'static Resource) -> Vec<Effect> {
    let mut effects = Vec::new();
    if model.table.listing.loading {
        let request_id = model.table.listing.request_id;
        clear_retry(model, request_id);
        model.requests.finish(request_id, RequestStatus::Cancelled);
        model.table.listing.loading = false;
        model.table.listing.error = Some(format!("stopped when {} were shown", resource.title));
        effects.push(Effect::Cancel { request_id });
    }
    let next = match model.parked.iter().position(|t| t.resource == resource) {
        Some(i) => model.parked.swap_remove(i),
        None => TableState::new(resource, is_beta(&model.base_url)),
    };
    let previous = std::mem::replace(&mut model.table, next);
    model.parked.push(previous);
    model.typing = Typing::Nothing;
    model.links = link_set(model);
    if let Some(key) = &model.remember_as {
        effects.push(Effect::Remember { key: key.clone(), command: resource.command });
    }
    effects
}

/// The serials of the other kind's whole table, hashed, for the `↔` marker of linked rows;
/// `None` when no other table is loaded whole (absent would not mean unlinked).
fn link_set(model: &Model) -> Option<HashSet<u64>> {
    let other = model.parked.iter().find(|t| is_whole(t) && t.resource.field("serialNumber").is_some())?;
    let col =
        other.columns().iter().position(|c| c.cell == crate::graph::resource::Cell::Field("serialNumber"))?;
    Some(
        (0..other.rows.len())
            .filter(|row| !other.deleted.contains(row))
            .map(|row| serial_hash(&other.rows.cell(row, col)))
            .collect(),
    )
}

/// The hash a serial is linked by (trimmed, case aside, as [`crate::tui::table::same_serial`]).
pub fn serial_hash(serial: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    serial.trim().to_ascii_lowercase().hash(&mut hasher);
    hasher.finish()
}
