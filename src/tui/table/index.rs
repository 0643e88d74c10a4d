//! The order of all rows under the current sort, kept in step with the rows so a filter
//! keystroke is one substring search and never sorts. Rows that arrive are merged into the
//! order; a row replaced after a save moves to its new place alone.

use crate::graph::resource::SortBy;
use crate::tui::table::rows::Rows;
use std::cmp::Ordering;

/// A sort: the column (an index into the rows' columns) and whether it is descending.
pub type Sort = (usize, bool);

/// A row's sort key for one column, without allocation: the empty/status group, a number
/// (the error code), and the first 32 lowercased bytes of the text. Rows equal in all three
/// are ordered by their full text afterwards (rare: long values with a common prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    group: u8,
    num: i64,
    prefix: [u128; 2],
}

const PREFIX: usize = 32;

impl SortKey {
    fn of(rows: &Rows, col: usize, row: usize) -> SortKey {
        let text = rows.cell(row, col);
        match rows.columns().get(col).map(|c| c.sort) {
            Some(SortBy::ImportStatus) => {
                let mut words = text.split(' ');
                let group = status_rank(words.next().unwrap_or(""));
                let num = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                SortKey { group, num, prefix: [0; 2] }
            }
            _ if text.is_empty() => SortKey { group: 1, num: 0, prefix: [0; 2] },
            _ => {
                let mut bytes = [0u8; PREFIX];
                for (b, c) in bytes.iter_mut().zip(text.bytes()) {
                    *b = c.to_ascii_lowercase();
                }
                let (hi, lo) = bytes.split_at(16);
                let word = |half: &[u8]| {
                    let mut w = [0u8; 16];
                    w.copy_from_slice(half);
                    u128::from_be_bytes(w)
                };
                SortKey { group: 0, num: 0, prefix: [word(hi), word(lo)] }
            }
        }
    }

    /// Whether the prefix may hide a difference further on.
    fn truncated(rows: &Rows, col: usize, row: usize) -> bool {
        rows.columns().get(col).is_some_and(|c| c.sort == SortBy::Text) && rows.cell(row, col).len() > PREFIX
    }
}

/// Failed imports first: what needs attention.
fn status_rank(status: &str) -> u8 {
    match status {
        "error" => 0,
        "partial" => 1,
        "pending" => 2,
        "unknown" => 3,
        "complete" => 4,
        _ => 5,
    }
}

/// Rows from which a new sort runs off the draw path (a blocking task), so a key press never
/// waits for it; below this a sort takes well under a frame and runs at once.
pub const ASYNC_SORT_ROWS: usize = 20_000;

/// A sort to run off the draw path: each row's key, sorted by [`SortJob::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct SortJob {
    sort: Sort,
    keyed: Vec<(SortKey, usize)>,
    /// Some value is longer than the key prefix (ties then need the whole text).
    cut: bool,
}

/// A finished [`SortJob`]: rows by their keys (ties beyond the key prefix are settled on
/// install, where the rows are).
#[derive(Debug, Clone, PartialEq)]
pub struct SortedRows {
    sort: Sort,
    keyed: Vec<(SortKey, usize)>,
    cut: bool,
}

impl SortJob {
    /// The keys of `rows` for a sort.
    pub fn new(rows: &Rows, sort: Sort) -> SortJob {
        let mut cut = false;
        let keyed = (0..rows.len())
            .map(|i| {
                cut |= SortKey::truncated(rows, sort.0, i);
                (SortKey::of(rows, sort.0, i), i)
            })
            .collect();
        SortJob { sort, keyed, cut }
    }

    /// How many rows the job sorts.
    pub fn len(&self) -> usize {
        self.keyed.len()
    }

    /// Whether the job has no rows.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
    }

    /// Sorts (the expensive part; no rows needed).
    pub fn run(mut self) -> SortedRows {
        let desc = self.sort.1;
        self.keyed.sort_unstable_by(|(ka, a), (kb, b)| {
            let o = ka.cmp(kb);
            let o = if desc { o.reverse() } else { o };
            o.then(a.cmp(b))
        });
        SortedRows { sort: self.sort, keyed: self.keyed, cut: self.cut }
    }
}

/// The order of every row under the current sort.
#[derive(Debug, Default)]
pub struct RowIndex {
    /// How many rows the index reflects.
    rows: usize,
    /// Sort keys of each row for `sort` (empty when unsorted).
    sort_keys: Vec<SortKey>,
    /// Every row index in display order.
    order: Vec<usize>,
    /// The sort `order` was built for.
    sort: Option<Sort>,
    /// Bumped when a row changes in place (a view narrowed from the last one is then stale).
    changes: u64,
}

/// How many rows an index holds, the sort its order follows and how often rows changed.
pub type IndexState = (usize, Option<Sort>, u64);

impl RowIndex {
    /// Forgets everything (the rows were replaced).
    pub fn clear(&mut self) {
        *self = RowIndex::default();
    }

    /// Brings the index up to date with `rows` and `sort`: the order re-sorted when the sort
    /// changed, new rows merged in otherwise.
    pub fn sync(&mut self, rows: &Rows, sort: Option<Sort>) {
        if self.rows > rows.len() {
            self.clear();
        }
        if sort != self.sort || self.order.len() != self.rows {
            self.sort = sort;
            self.rows = rows.len();
            self.sort_keys = match sort {
                Some((c, _)) => (0..rows.len()).map(|i| SortKey::of(rows, c, i)).collect(),
                None => Vec::new(),
            };
            self.order = (0..rows.len()).collect();
            self.sort_range(rows, 0);
            return;
        }
        let have = self.rows;
        if have == rows.len() {
            return;
        }
        if let Some((c, _)) = sort {
            self.sort_keys.extend((have..rows.len()).map(|i| SortKey::of(rows, c, i)));
        }
        self.rows = rows.len();
        self.order.extend(have..rows.len());
        self.sort_range(rows, have);
    }

    /// The sort the order currently follows.
    pub fn sort(&self) -> Option<Sort> {
        self.sort
    }

    /// The whole order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Installs a sort finished off the draw path: settles ties beyond the key prefix with the
    /// rows' full text, then merges rows that arrived meanwhile.
    pub fn install(&mut self, rows: &Rows, sorted: SortedRows) {
        if sorted.keyed.len() > rows.len() {
            return;
        }
        let mut sort_keys = vec![SortKey { group: 0, num: 0, prefix: [0; 2] }; sorted.keyed.len()];
        for (k, i) in &sorted.keyed {
            if let Some(slot) = sort_keys.get_mut(*i) {
                *slot = *k;
            }
        }
        self.sort = Some(sorted.sort);
        self.sort_keys = sort_keys;
        let mut order: Vec<usize> = sorted.keyed.into_iter().map(|(_, i)| i).collect();
        // Runs of equal keys whose text was cut to the prefix: order them by the whole text.
        let mut start = if sorted.cut { 0 } else { order.len() };
        let col = sorted.sort.0;
        while start < order.len() {
            let key = self.sort_keys[order[start]];
            let mut end = start + 1;
            while end < order.len() && self.sort_keys[order[end]] == key {
                end += 1;
            }
            if end - start > 1 && order[start..end].iter().any(|i| SortKey::truncated(rows, col, *i)) {
                order[start..end].sort_by(|&a, &b| self.cmp_rows(rows, a, b));
            }
            start = end;
        }
        self.rows = order.len();
        self.order = order;
        self.sync(rows, Some(sorted.sort));
    }

    /// After one row changed in place (a save): its key is made again and it moves to its new
    /// place; nothing else is touched.
    pub fn replace(&mut self, rows: &Rows, row: usize) {
        self.changes += 1;
        let Some((col, _)) = self.sort else { return };
        if row >= self.sort_keys.len() {
            return;
        }
        self.sort_keys[row] = SortKey::of(rows, col, row);
        if let Some(at) = self.order.iter().position(|&i| i == row) {
            self.order.remove(at);
        }
        let to = self.order.partition_point(|&i| self.cmp_rows(rows, i, row) == Ordering::Less);
        self.order.insert(to, row);
    }

    fn cmp_rows(&self, rows: &Rows, a: usize, b: usize) -> Ordering {
        let (Some(x), Some(y)) = (self.sort_keys.get(a), self.sort_keys.get(b)) else {
            return a.cmp(&b);
        };
        let mut o = x.cmp(y);
        if o == Ordering::Equal
            && let Some((c, _)) = self.sort
            && SortKey::truncated(rows, c, a)
            && SortKey::truncated(rows, c, b)
        {
            o = cmp_ci(&rows.cell(a, c), &rows.cell(b, c));
        }
        let o = if matches!(self.sort, Some((_, true))) { o.reverse() } else { o };
        // Ties keep the server's order, whatever the direction.
        o.then(a.cmp(&b))
    }

    /// Sorts `order[from..]` and merges it into the sorted `order[..from]`.
    fn sort_range(&mut self, rows: &Rows, from: usize) {
        if self.sort.is_none() {
            return;
        }
        let mut tail = self.order.split_off(from);
        tail.sort_unstable_by(|&a, &b| self.cmp_rows(rows, a, b));
        if from == 0 {
            self.order = tail;
            return;
        }
        let head = std::mem::take(&mut self.order);
        let mut merged = Vec::with_capacity(head.len() + tail.len());
        let (mut i, mut j) = (0, 0);
        while i < head.len() && j < tail.len() {
            if self.cmp_rows(rows, tail[j], head[i]) == Ordering::Less {
                merged.push(tail[j]);
                j += 1;
            } else {
                merged.push(head[i]);
                i += 1;
            }
        }
        merged.extend_from_slice(&head[i..]);
        merged.extend_from_slice(&tail[j..]);
        self.order = merged;
    }

    /// The rows holding `needle` in display order: one search over the rows' search text,
    /// then one pass over the order.
    pub fn filter(&self, rows: &Rows, needle: &str) -> Vec<usize> {
        let needle = clean_needle(needle);
        if needle.is_empty() {
            return self.order.clone();
        }
        let matched = rows.matching(&needle);
        self.order.iter().copied().filter(|&i| matched.get(i).copied().unwrap_or(false)).collect()
    }

    /// The rows of `candidates` (in their order) holding `needle`: the next keystroke of a
    /// filter only looks at what the last one kept.
    pub fn filter_within(&self, rows: &Rows, needle: &str, candidates: &[usize]) -> Vec<usize> {
        let needle = clean_needle(needle);
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        candidates.iter().copied().filter(|&i| rows.row_matches(i, &finder)).collect()
    }

    /// What the index reflects (a narrower needle over the same state may filter the last
    /// view instead of every row).
    pub fn state(&self) -> IndexState {
        (self.rows, self.sort, self.changes)
    }
}

/// The filter text as searched: lowercased, control characters (the key separators) dropped.
pub fn clean_needle(needle: &str) -> String {
    needle.chars().filter(|c| !c.is_control()).collect::<String>().to_lowercase()
}

/// Compares without ASCII case; empty last.
fn cmp_ci(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (false, false) => {
            a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        }
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => Ordering::Equal,
    }
}
