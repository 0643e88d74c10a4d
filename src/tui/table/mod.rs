//! The table of one resource: its rows (built from the descriptor's columns), the index that
//! filters and sorts them, what is shown (the view, the cursor) and the listing that fills it.

pub mod columns;
pub mod index;
pub mod rows;

use crate::graph::resource::{Cell, Column, Record, Resource};
use index::{IndexState, RowIndex, Sort, SortJob, SortedRows};
use rows::Rows;

/// Progress of the listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Id of the listing whose pages are accepted.
    pub request_id: u64,
    /// Pages received so far.
    pub pages: usize,
    /// Still receiving pages.
    pub loading: bool,
    /// What ended the listing early.
    pub error: Option<String>,
    /// The Graph `$filter` this listing runs with (it becomes the shown one with its first page).
    pub filter: Option<String>,
    /// A reload puts the cursor back on this record when its row comes in again.
    pub keep_selected: Option<String>,
    /// Records the listing left out or altered (each was told in the status line and logged).
    pub warnings: usize,
    /// Only records with exactly this serial number are kept (the server searched with
    /// `contains`, since it refuses `eq`).
    pub exact: Option<String>,
    /// Put the cursor on the row with exactly this serial once it comes in (a jump from the
    /// linked record).
    pub select_serial: Option<String>,
    /// Records the server sent (an exact lookup keeps fewer rows than that).
    pub received: usize,
}

/// One resource's table: every row listed, the shown ones, the cursor, the filter and sort.
#[derive(Debug)]
pub struct TableState {
    /// What the rows are.
    pub resource: &'static Resource,
    /// Every row listed, in the server's order.
    pub rows: Rows,
    /// The order of all rows under the sort.
    pub index: RowIndex,
    /// The shown rows: indices into `rows` after filter and sort.
    pub view: Vec<usize>,
    /// Position of the selection in `view`.
    pub cursor: usize,
    /// First shown position of `view`.
    pub offset: usize,
    /// The filter text (case-insensitive substring of any cell).
    pub filter: String,
    /// Sort column (an index into the rows' columns) and whether it is descending.
    pub sort: Option<Sort>,
    /// The generation of a sort running off the draw path (installed only if still the latest).
    pub sort_pending: Option<u64>,
    /// The needle and index state `view` was derived with.
    view_of: Option<(String, IndexState)>,
    /// Listing progress.
    pub listing: Listing,
    /// The Graph `$filter` whose results the table shows (`:serial PF3`), if any.
    pub server_filter: Option<String>,
    /// The serial the shown results were compared with exactly (`:exact`), if any.
    pub exact: Option<String>,
    /// Rows whose record was deleted (they leave the view; row numbers stay stable).
    pub deleted: std::collections::HashSet<usize>,
    /// The marked records, by id (marks outlive a filter, a sort and a reload).
    pub marks: std::collections::HashSet<String>,
    /// Whether the Graph root is beta (more columns exist there).
    pub beta: bool,
}

impl TableState {
    /// An empty table of `resource` at a Graph root (`beta` or not).
    pub fn new(resource: &'static Resource, beta: bool) -> TableState {
        TableState {
            resource,
            rows: Rows::new(resource, resource.columns_at(beta).collect()),
            index: RowIndex::default(),
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            filter: String::new(),
            sort: None,
            sort_pending: None,
            view_of: None,
            listing: Listing::default(),
            server_filter: None,
            exact: None,
            deleted: std::collections::HashSet::new(),
            marks: std::collections::HashSet::new(),
            beta,
        }
    }

    /// The columns, in display order.
    pub fn columns(&self) -> &[&'static Column] {
        self.rows.columns()
    }

    /// The column a sort key (`S`) sorts by.
    pub fn column_of_key(&self, key: char) -> Option<usize> {
        self.columns().iter().position(|c| c.sort_key == key)
    }

    /// The row under the cursor.
    pub fn selected(&self) -> Option<usize> {
        self.view.get(self.cursor).copied()
    }

    /// The id of the row under the cursor.
    pub fn selected_id(&self) -> Option<String> {
        self.selected().map(|row| self.rows.id(row))
    }

    /// A row's text of the column that shows a property (`serialNumber`), if one does.
    pub fn field_text(&self, row: usize, path: &str) -> Option<std::borrow::Cow<'_, str>> {
        let col = self.columns().iter().position(|c| matches!(c.cell, Cell::Field(p) if p == path))?;
        Some(self.rows.cell(row, col)).filter(|t| !t.is_empty())
    }

    /// What the table calls a row: its serial number, else its id.
    pub fn label(&self, row: usize) -> String {
        self.field_text(row, "serialNumber").map_or_else(|| self.rows.id(row), String::from)
    }

    /// Adds the rows of a page (under an exact lookup, only the records it asks for).
    pub fn push(&mut self, records: &[Record]) {
        let serial = self.resource.field("serialNumber");
        for record in records {
            if let (Some(wanted), Some(field)) = (&self.listing.exact, serial)
                && !field.text(record).is_some_and(|s| same_serial(s, wanted))
            {
                continue;
            }
            self.rows.push(self.resource, record);
        }
    }

    /// Whether a row is marked.
    pub fn is_marked(&self, row: usize) -> bool {
        !self.marks.is_empty() && self.marks.contains(&self.rows.id(row))
    }

    /// The marked rows that are listed, in table order (whatever the filter shows).
    pub fn marked_rows(&self) -> Vec<usize> {
        if self.marks.is_empty() {
            return Vec::new();
        }
        let listed = self.index.order().iter().copied().filter(|row| !self.deleted.contains(row));
        listed.filter(|&row| self.marks.contains(&self.rows.id(row))).collect()
    }

    /// How many records are listed (deleted ones no longer count).
    pub fn count(&self) -> usize {
        self.rows.len() - self.deleted.len()
    }

    /// Takes a deleted record's row out of the view; `false` when it is not listed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(row) = self.rows.find(id).filter(|row| !self.deleted.contains(row)) else { return false };
        self.deleted.insert(row);
        self.marks.remove(id);
        self.derive_view();
        true
    }

    /// The listed row whose serial number is exactly `serial` (case aside), if one is.
    pub fn find_serial(&self, serial: &str) -> Option<usize> {
        let col = self.columns().iter().position(|c| c.cell == Cell::Field("serialNumber"))?;
        (0..self.rows.len())
            .find(|row| !self.deleted.contains(row) && same_serial(&self.rows.cell(*row, col), serial))
    }

    /// Replaces the row of a record (after a save), if it is listed; only that row's entries
    /// in the index change.
    pub fn replace(&mut self, record: &Record) {
        let Some(id) = self.resource.id(record) else { return };
        if let Some(row) = self.rows.find(id).filter(|row| !self.deleted.contains(row)) {
            self.rows.replace(row, self.resource, record);
            self.index.replace(&self.rows, row);
            self.derive_view();
        }
    }

    /// Recomputes the view (filter over the sorted order) and keeps the selected row selected.
    /// Costs one pass over precomputed keys; sorting happens only when the sort changes (and
    /// new rows are merged in).
    pub fn derive_view(&mut self) {
        let keep = self.selected();
        let before = self.index.state();
        // While a sort runs off the draw path, rows keep the order they have.
        let sort = if self.sort_pending.is_some() { self.index.sort() } else { self.sort };
        self.index.sync(&self.rows, sort);
        let needle = index::clean_needle(&self.filter);
        let after = self.index.state();
        // Rows arriving unsorted, under the same filter: the view grows by the new rows that
        // match, and the cursor stays where it is (no pass over a million rows per page).
        let appended = self.view_of.as_ref().is_some_and(|(last, state)| {
            *last == needle
                && *state == before
                && before.1.is_none()
                && after.1.is_none()
                && after.2 == before.2
                && after.0 > before.0
        });
        if appended {
            let new_rows = before.0..after.0;
            if needle.is_empty() {
                self.view.extend(new_rows);
            } else {
                let finder = memchr::memmem::Finder::new(needle.as_bytes());
                self.view.extend(new_rows.filter(|&row| self.rows.row_matches(row, &finder)));
            }
            self.view_of = Some((needle, after));
            self.cursor = self.cursor.min(self.view.len().saturating_sub(1));
            return;
        }
        // Typing narrows: when only the needle grew, the new view is a subset of the last.
        // (Only worth it when the last view was small: a per-row search has a fixed cost.)
        let narrower = matches!(&self.view_of, Some((last, state)) if !last.is_empty()
            && needle.contains(last.as_str()) && *state == before && before == self.index.state())
            && self.view.len() < self.rows.len() / 8;
        self.view = if narrower {
            self.index.filter_within(&self.rows, &needle, &self.view)
        } else {
            self.index.filter(&self.rows, &needle)
        };
        if !self.deleted.is_empty() {
            self.view.retain(|row| !self.deleted.contains(row));
        }
        self.view_of = Some((needle, self.index.state()));
        // Row indices are stable while rows are only appended or replaced in place.
        self.cursor = keep
            .and_then(|row| self.view.iter().position(|&i| i == row))
            .unwrap_or(0)
            .min(self.view.len().saturating_sub(1));
    }

    /// A sort to run off the draw path.
    pub fn sort_job(&self, sort: Sort) -> SortJob {
        SortJob::new(&self.rows, sort)
    }

    /// Installs a sort that ran off the draw path.
    pub fn install(&mut self, sorted: SortedRows) {
        self.index.install(&self.rows, sorted);
        self.view_of = None;
        self.derive_view();
    }

    /// Sorts at once on this thread, whatever the size (benchmarks and tests; the app sorts
    /// big tables off the draw path).
    pub fn sort_now(&mut self, sort: Option<Sort>) {
        self.sort = sort;
        self.sort_pending = None;
        self.derive_view();
    }

    /// Forgets the rows (a new listing's first page replaces them).
    pub fn clear_rows(&mut self) {
        self.deleted.clear();
        self.rows = Rows::new(self.resource, self.resource.columns_at(self.beta).collect());
        self.index.clear();
        self.view_of = None;
        self.sort_pending = None;
        self.view.clear();
        self.cursor = 0;
        self.offset = 0;
    }
}

/// Whether two serial numbers are the same: Intune keeps them as the firmware reports them,
/// and admins type them in either case.
pub fn same_serial(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}
