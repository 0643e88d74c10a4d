//! Viewport maths that `update` (paging, scrolling, clamping) and the views (drawing) share,
//! so both agree on how many rows fit without `update` reaching into a view.

use crate::tui::history::HistoryEntry;
use crate::tui::model::{Model, Typing};

/// Smallest terminal the app draws into; below it a note says so and keys wait.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Whether the terminal is below [`MIN_SIZE`].
pub fn too_small(size: (u16, u16)) -> bool {
    size.0 < MIN_SIZE.0 || size.1 < MIN_SIZE.1
}

/// Lines around the screen's body: the header, the hint bar and the status line.
const CHROME: usize = 3;

/// Whether the table's bottom line shows the `/` filter or the `:` command line.
pub fn table_shows_filter_line(model: &Model) -> bool {
    model.typing != Typing::Nothing || !model.filter_text().is_empty()
}

/// Rows the table body holds (the terminal minus header, headings, filter line, hints, status).
pub fn table_body_height(model: &Model) -> usize {
    let filter = usize::from(table_shows_filter_line(model));
    (model.size.1 as usize).saturating_sub(CHROME + 1 + filter)
}

/// The inspector's request list height (with its borders) for a body of `body_h` rows.
pub fn inspector_list_height(requests: usize, body_h: u16) -> u16 {
    (requests as u16).clamp(1, (body_h / 3).max(3)) + 2
}

/// The inspector's detail pane (inside its borders) at a terminal size: rows, columns.
pub fn inspector_detail_area(model: &Model) -> (usize, usize) {
    let body = model.size.1.saturating_sub(CHROME as u16);
    let list = inspector_list_height(model.history.len(), body).min(body);
    (body.saturating_sub(list + 2) as usize, model.size.0.saturating_sub(2) as usize)
}

/// How many lines the selected exchange's details take at the pane's width (wrapped or not).
pub fn inspector_detail_len(model: &Model, entry: &HistoryEntry) -> usize {
    let (_, width) = inspector_detail_area(model);
    crate::tui::exchange_text::lines(entry, model.inspector.wrap.then_some(width)).len()
}
