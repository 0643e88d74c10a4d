//! The table's rows, built from records through the resource's columns and stored compactly:
//! a value that repeats (a group tag, an import batch, a status) is kept once and each row
//! holds its number; the rest of a row's text lives in one shared buffer; a GUID id is 16
//! bytes, and the id column is shown from it, never stored as text. What the filter searches
//! is lowercased once, as rows arrive.

use crate::graph::resource::{Cell, Column, Field, Record, Resource};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Separates the cells of a row inside a text segment.
const CELL_END: char = '\u{1f}';
/// Ends a row's text segment (so a search never matches across rows).
const ROW_END: char = '\u{1e}';

/// How one column's values are kept.
#[derive(Debug)]
enum Store {
    /// Each distinct value once; a row holds its number (0: empty).
    Repeated {
        values: Vec<Box<str>>,
        lowered: Vec<Box<str>>,
        lookup: HashMap<Box<str>, u32>,
        cells: Vec<u32>,
    },
    /// In the row's text segment, at this position among the row's unique cells.
    Unique { slot: usize },
    /// The record's key: shown from the row's id (and searched as the id, once).
    Key,
}

/// Every row of the table, in the server's order.
#[derive(Debug)]
pub struct Rows {
    /// The columns rows are built for (the resource's, at the Graph version in use).
    columns: Vec<&'static Column>,
    key: &'static Field,
    stores: Vec<Store>,
    /// How many cells of a row live in its text segment.
    unique: usize,
    /// Each row's id as a GUID's 128 bits (0 for an id that is not a canonical GUID).
    ids: Vec<u128>,
    /// The ids that are not canonical GUIDs, by row (rare: no live record has one).
    other_ids: HashMap<u32, Box<str>>,
    /// The rows' text segments: unique cells in original case, each ended by `CELL_END`,
    /// the segment ended by `ROW_END`. A replaced row gets a new segment at the end.
    text: String,
    text_at: Vec<u32>,
    /// What the filter searches: each row's unique searchable cells and its id, lowercased.
    /// Segments are appended in order; `search_row` says whose each is, and a segment whose
    /// row has moved on (`row_search`) is stale and never matches.
    search: String,
    search_at: Vec<u32>,
    search_row: Vec<u32>,
    row_search: Vec<u32>,
    /// The longest cell of each column, in characters.
    widest: Vec<usize>,
}

/// The text of a cell, before it is stored (borrowed from the record when it can be).
pub fn cell_text<'a>(column: &Column, resource: &Resource, record: &'a Record) -> Cow<'a, str> {
    let field_text = |path: &str| match resource.field(path) {
        Some(f) => f.display(record),
        None => match record.get(path) {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(other) => Cow::Owned(other.to_string()),
            None => Cow::Borrowed(""),
        },
    };
    let text = match column.cell {
        Cell::Field(path) | Cell::Ago(path) => field_text(path),
        Cell::ImportStatus => import_status_text(record),
        Cell::Pair(a, b) => {
            let (a, b) = (field_text(a), field_text(b));
            // `HP` + `HP ProBook 440 G8` reads `HP ProBook 440 G8`, not `HP HP ProBook…`.
            let repeats = !a.is_empty() && b.to_ascii_lowercase().starts_with(&a.to_ascii_lowercase());
            if repeats { b } else { Cow::Owned(format!("{a} {b}").trim().to_string()) }
        }
    };
    // Control characters never reach a cell (nor the separators above).
    if text.chars().any(char::is_control) {
        Cow::Owned(text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect())
    } else {
        text
    }
}

/// `complete`, or `error 806 ZtdDeviceAlreadyAssigned` for a failed import: the way admins
/// search for them.
pub fn import_status_text(record: &Record) -> Cow<'_, str> {
    let state = record.get("state").and_then(|s| s.as_object());
    let get = |k: &str| state.and_then(|s| s.get(k));
    let status = get("deviceImportStatus").and_then(|v| v.as_str()).unwrap_or("unknown");
    let code = get("deviceErrorCode").and_then(|v| v.as_i64()).unwrap_or(0);
    if status == "error" || code != 0 {
        let mut text = format!("{status} {code}");
        if let Some(name) = get("deviceErrorName").and_then(|v| v.as_str()).filter(|n| !n.is_empty()) {
            text.push(' ');
            text.push_str(name);
        }
        Cow::Owned(text)
    } else {
        Cow::Borrowed(status)
    }
}

fn guid(text: &str) -> Option<u128> {
    // Only the canonical lowercase form round-trips to the same text.
    let parsed = uuid::Uuid::try_parse(text).ok()?;
    (parsed.hyphenated().to_string() == text).then(|| parsed.as_u128())
}

impl Rows {
    /// No rows yet, for these columns of `resource`.
    pub fn new(resource: &'static Resource, columns: Vec<&'static Column>) -> Rows {
        let mut unique = 0;
        let stores = columns
            .iter()
            .map(|c| {
                if c.cell == Cell::Field(resource.fields[0].path) {
                    Store::Key
                } else if c.repeats {
                    Store::Repeated {
                        values: vec!["".into()],
                        lowered: vec!["".into()],
                        lookup: HashMap::from([("".into(), 0)]),
                        cells: Vec::new(),
                    }
                } else {
                    unique += 1;
                    Store::Unique { slot: unique - 1 }
                }
            })
            .collect();
        Rows {
            widest: vec![0; columns.len()],
            columns,
            key: &resource.fields[0],
            stores,
            unique,
            ids: Vec::new(),
            other_ids: HashMap::new(),
            text: String::new(),
            text_at: Vec::new(),
            search: String::new(),
            search_at: Vec::new(),
            search_row: Vec::new(),
            row_search: Vec::new(),
        }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The columns, in display order.
    pub fn columns(&self) -> &[&'static Column] {
        &self.columns
    }

    /// Adds a row for a record.
    pub fn push(&mut self, resource: &Resource, record: &Record) {
        let row = self.ids.len();
        let id = self.key.text(record).unwrap_or("");
        let bits = guid(id).unwrap_or_else(|| {
            self.other_ids.insert(row as u32, id.into());
            0
        });
        self.ids.push(bits);
        self.text_at.push(0);
        self.row_search.push(0);
        for store in &mut self.stores {
            if let Store::Repeated { cells, .. } = store {
                cells.push(0);
            }
        }
        self.fill(row, resource, record);
    }

    /// Replaces a row's cells with a record's (after a save): its old text stays in the
    /// buffers, unused; only this row's entries change.
    pub fn replace(&mut self, row: usize, resource: &Resource, record: &Record) {
        if row < self.len() {
            self.fill(row, resource, record);
        }
    }

    fn fill(&mut self, row: usize, resource: &Resource, record: &Record) {
        let texts: Vec<Cow<'_, str>> = self.columns.iter().map(|c| cell_text(c, resource, record)).collect();
        self.text_at[row] = self.text.len() as u32;
        let search_start = self.search.len() as u32;
        for (i, text) in texts.iter().enumerate() {
            let width = text.chars().count();
            self.widest[i] = self.widest[i].max(width);
            match &mut self.stores[i] {
                Store::Repeated { values, lowered, lookup, cells } => {
                    let n = match lookup.get(&**text) {
                        Some(n) => *n,
                        None => {
                            let n = values.len() as u32;
                            values.push(Box::from(&**text));
                            lowered.push(text.to_lowercase().into());
                            lookup.insert(Box::from(&**text), n);
                            n
                        }
                    };
                    cells[row] = n;
                }
                Store::Key => {}
                Store::Unique { .. } => {
                    self.text.push_str(text);
                    self.text.push(CELL_END);
                    // A relative time is shown differently from what is stored: not searched.
                    if !matches!(self.columns[i].cell, Cell::Ago(_)) {
                        push_lower(&mut self.search, text);
                    }
                    self.search.push(CELL_END);
                }
            }
        }
        self.text.push(ROW_END);
        let id = self.id(row);
        push_lower(&mut self.search, &id);
        self.search.push(ROW_END);
        self.row_search[row] = self.search_at.len() as u32;
        self.search_at.push(search_start);
        self.search_row.push(row as u32);
    }

    /// A row's id.
    pub fn id(&self, row: usize) -> String {
        if let Some(other) = self.other_ids.get(&(row as u32)) {
            return other.to_string();
        }
        self.ids.get(row).map(|g| uuid::Uuid::from_u128(*g).hyphenated().to_string()).unwrap_or_default()
    }

    /// Whether a row has this id (without making its text).
    pub fn has_id(&self, row: usize, id: &str) -> bool {
        match (self.other_ids.get(&(row as u32)), guid(id)) {
            (Some(other), _) => &**other == id,
            (None, Some(wanted)) => self.ids.get(row) == Some(&wanted),
            (None, None) => false,
        }
    }

    /// The row with this id, if loaded.
    pub fn find(&self, id: &str) -> Option<usize> {
        match guid(id) {
            Some(wanted) => (0..self.len()).find(|&row| self.ids[row] == wanted && self.has_id(row, id)),
            None => self.other_ids.iter().find(|(_, other)| &***other == id).map(|(row, _)| *row as usize),
        }
    }

    /// The text of a row's cell in column `col` (an index into [`Rows::columns`]).
    pub fn cell(&self, row: usize, col: usize) -> Cow<'_, str> {
        match self.stores.get(col) {
            Some(Store::Repeated { values, cells, .. }) => {
                Cow::Borrowed(cells.get(row).and_then(|n| values.get(*n as usize)).map_or("", |v| v))
            }
            Some(Store::Unique { slot }) => {
                let start = self.text_at.get(row).copied().unwrap_or(0) as usize;
                let segment = self.text.get(start..).unwrap_or("");
                let segment = segment.split(ROW_END).next().unwrap_or("");
                Cow::Borrowed(segment.split(CELL_END).nth(*slot).unwrap_or(""))
            }
            Some(Store::Key) if row < self.len() => Cow::Owned(self.id(row)),
            Some(Store::Key) | None => Cow::Borrowed(""),
        }
    }

    /// The longest cell of a column, in characters.
    pub fn widest(&self, col: usize) -> usize {
        self.widest.get(col).copied().unwrap_or(0)
    }

    /// Which rows hold `needle` (lowercase, non-empty) in any cell or their id: one substring
    /// search over the search buffer, plus one look at each repeated value.
    pub fn matching(&self, needle: &str) -> Vec<bool> {
        let mut matched = vec![false; self.len()];
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let bytes = self.search.as_bytes();
        let (mut pos, mut seg) = (0, 0);
        let n = self.search_at.len();
        while let Some(found) = bytes.get(pos..).and_then(|rest| finder.find(rest)) {
            let at = (pos + found) as u32;
            // Segments are in buffer order: move to the one holding the hit.
            while seg + 1 < n && self.search_at[seg + 1] <= at {
                seg += 1;
            }
            let row = self.search_row[seg] as usize;
            if self.row_search.get(row) == Some(&(seg as u32)) {
                matched[row] = true;
            }
            // One hit is enough for a segment.
            pos = self.search_at.get(seg + 1).map_or(bytes.len(), |s| *s as usize);
        }
        for store in &self.stores {
            if let Store::Repeated { lowered, cells, .. } = store {
                let hits: Vec<bool> = lowered.iter().map(|v| finder.find(v.as_bytes()).is_some()).collect();
                if hits.iter().any(|h| *h) {
                    for (row, cell) in cells.iter().enumerate() {
                        if hits[*cell as usize] {
                            matched[row] = true;
                        }
                    }
                }
            }
        }
        matched
    }

    /// Whether one row holds `needle` (lowercase, non-empty): for narrowing a small view.
    pub fn row_matches(&self, row: usize, finder: &memchr::memmem::Finder<'_>) -> bool {
        let Some(&seg) = self.row_search.get(row) else { return false };
        let start = self.search_at[seg as usize] as usize;
        let end = self.search_at.get(seg as usize + 1).map_or(self.search.len(), |e| *e as usize);
        if self.search.as_bytes().get(start..end).is_some_and(|s| finder.find(s).is_some()) {
            return true;
        }
        self.stores.iter().any(|store| match store {
            Store::Repeated { lowered, cells, .. } => {
                cells.get(row).is_some_and(|n| finder.find(lowered[*n as usize].as_bytes()).is_some())
            }
            Store::Unique { .. } | Store::Key => false,
        })
    }

    /// Bytes held, roughly (for the benchmarks' account of memory).
    pub fn heap_bytes(&self) -> usize {
        let repeated: usize = self
            .stores
            .iter()
            .map(|s| match s {
                Store::Repeated { values, cells, .. } => {
                    cells.capacity() * 4 + values.iter().map(|v| 2 * v.len() + 80).sum::<usize>()
                }
                Store::Unique { .. } | Store::Key => 0,
            })
            .sum();
        repeated
            + self.ids.capacity() * 16
            + self.other_ids.values().map(|id| id.len() + 32).sum::<usize>()
            + self.text.capacity()
            + self.search.capacity()
            + (self.text_at.capacity() + self.search_at.capacity() + self.search_row.capacity()) * 4
            + self.row_search.capacity() * 4
    }

    /// How many cells of a row are kept in its text segment.
    pub fn unique_cells(&self) -> usize {
        self.unique
    }
}

/// Appends `text` lowercased (ASCII quickly, the rest by Unicode's rules).
fn push_lower(out: &mut String, text: &str) {
    if text.is_ascii() {
        out.extend(text.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        out.push_str(&text.to_lowercase());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    fn record(id: &str, serial: &str, tag: Option<&str>, status: &str, code: i32) -> Record {
        json!({"id": id, "serialNumber": serial, "groupTag": tag, "importId": "c0ffee00-0000-4000-8000-000000000001",
               "state": {"deviceImportStatus": status, "deviceErrorCode": code,
                         "deviceErrorName": if code == 806 { Some("ZtdDeviceAlreadyAssigned") } else { None }}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn rows() -> Rows {
        let mut rows = Rows::new(&IMPORTED, IMPORTED.columns.iter().collect());
        rows.push(
            &IMPORTED,
            &record("7e1c8b0a-0001-4b2d-9c1e-5f6a7b8c9d01", "PF3ABCDE", Some("Sales"), "complete", 0),
        );
        rows.push(
            &IMPORTED,
            &record("7e1c8b0a-0002-4b2d-9c1e-5f6a7b8c9d02", "5CD1234", Some("Sales"), "error", 806),
        );
        rows.push(&IMPORTED, &record("legacy-id", "X\u{1b}Y", None, "pending", 0));
        rows
    }

    #[test]
    fn cells_ids_and_widths_come_back_as_built() {
        let rows = rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.cell(0, 0), "PF3ABCDE");
        assert_eq!(rows.cell(1, 1), "Sales");
        assert_eq!(rows.cell(1, 3), "error 806 ZtdDeviceAlreadyAssigned");
        assert_eq!(rows.cell(2, 0), "X\u{fffd}Y", "control characters never reach a cell");
        assert_eq!(rows.id(0), "7e1c8b0a-0001-4b2d-9c1e-5f6a7b8c9d01");
        assert_eq!(rows.id(2), "legacy-id");
        assert_eq!(rows.find("legacy-id"), Some(2));
        assert_eq!(rows.find("7e1c8b0a-0002-4b2d-9c1e-5f6a7b8c9d02"), Some(1));
        assert_eq!(rows.widest(3), "error 806 ZtdDeviceAlreadyAssigned".len());
        let id_column = rows.columns().iter().position(|c| c.cell == Cell::Field("id")).unwrap();
        assert_eq!(
            rows.cell(1, id_column),
            "7e1c8b0a-0002-4b2d-9c1e-5f6a7b8c9d02",
            "shown from the id's bits"
        );
        assert_eq!(rows.cell(2, id_column), "legacy-id");
        assert_eq!(rows.widest(id_column), 36);
        assert_eq!(rows.cell(3, id_column), "", "no such row");
    }

    #[test]
    fn the_nil_guid_and_an_id_that_is_not_a_guid_stay_apart() {
        let mut rows = rows();
        rows.push(&IMPORTED, &record("00000000-0000-0000-0000-000000000000", "NIL", None, "complete", 0));
        assert_eq!(rows.find("00000000-0000-0000-0000-000000000000"), Some(3));
        assert!(!rows.has_id(2, "00000000-0000-0000-0000-000000000000"), "legacy-id's bits are 0 too");
        assert!(rows.has_id(2, "legacy-id"));
        assert_eq!(rows.find("LEGACY-ID"), None, "ids that are not GUIDs compare exactly");
    }

    #[test]
    fn search_finds_unique_and_repeated_cells_and_ids() {
        let rows = rows();
        assert_eq!(rows.matching("pf3"), [true, false, false]);
        assert_eq!(rows.matching("sales"), [true, true, false]);
        assert_eq!(rows.matching("806"), [false, true, false]);
        assert_eq!(rows.matching("0002-4b2d"), [false, true, false]);
        assert_eq!(rows.matching("c0ffee00"), [true, true, true], "the import id");
    }

    #[test]
    fn a_replaced_row_is_found_by_its_new_text_only() {
        let mut rows = rows();
        rows.replace(
            0,
            &IMPORTED,
            &record("7e1c8b0a-0001-4b2d-9c1e-5f6a7b8c9d01", "NEW123", Some("Lab"), "complete", 0),
        );
        assert_eq!(rows.cell(0, 0), "NEW123");
        assert_eq!(rows.cell(0, 1), "Lab");
        assert_eq!(rows.matching("pf3"), [false, false, false], "the old text is stale");
        assert_eq!(rows.matching("new1"), [true, false, false]);
        assert_eq!(rows.matching("lab"), [true, false, false]);
        let finder = memchr::memmem::Finder::new(b"new1");
        assert!(rows.row_matches(0, &finder));
        assert!(!rows.row_matches(1, &finder));
    }
}
