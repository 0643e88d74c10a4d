//! What the screen shows: device rows (with the filtered/sorted view as indices), the open
//! form and drafts, overlays, the request history and the status message.

use crate::graph::auth::PollState;
use crate::graph::client::Exchange;
use crate::graph::model::{Device, FieldId, ImportStatus};
use crate::tui::draft::{Draft, line_editor};
use crate::tui::event::{Column, SignInPrompt};
use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tui_textarea::TextArea;

/// How many requests the history keeps (older ones are dropped).
pub const HISTORY_CAP: usize = 200;
/// How much of a response body the history keeps per request.
pub const BODY_CAP: usize = 32 * 1024;
/// Page size asked of the listing (Intune pages hold up to about 1000 items).
pub const LIST_PAGE_SIZE: u32 = crate::config::MAX_PAGE_SIZE;

/// The main screen under any overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The device table.
    Table,
    /// The edit form of one device.
    Form,
    /// The response inspector.
    Inspector,
    /// The device code sign-in (before anything is listed).
    SignIn,
}

/// Where the device code sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInState {
    /// The sign-in task's request id.
    pub request_id: u64,
    /// The code to show, once the identity platform gave one.
    pub prompt: Option<SignInPrompt>,
    /// The last poll's answer.
    pub poll: Option<PollState>,
    /// Why it stopped, in words for the user (r starts again).
    pub failed: Option<String>,
}

/// A request that failed and waits before its next try (the status line counts down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryWait {
    /// The waiting operation's request id.
    pub request_id: u64,
    /// `GET`, `PATCH`.
    pub method: String,
    /// `429 Too Many Requests`, `no answer within 30 s`, ...
    pub reason: String,
    /// The attempt that failed (1 = the first).
    pub attempt: u32,
    /// When the next try goes out.
    pub until: Instant,
}

impl RetryWait {
    /// `throttled (429 Too Many Requests)`: what happened, in the words admins search for.
    pub fn what(&self) -> String {
        let kind = match self.reason.split(' ').next() {
            Some("429") => "throttled",
            Some("503") => "service unavailable",
            Some("500" | "502" | "504") => "server error",
            _ => "request failed",
        };
        format!("{kind} ({})", self.reason)
    }
}

/// Per-row search keys and the order of all rows under the current sort, kept in step with
/// `Model::rows` so a filter keystroke is one substring search over one buffer of precomputed
/// lowercase text and never sorts. Built when rows arrive; appended rows are merged into the
/// order.
#[derive(Debug, Default)]
pub struct RowIndex {
    /// Every row's lowercased serial, tag, user and import id, one after another, each row's
    /// fields separated by `\u{1f}` and each row ended by `\u{1e}` (so no match spans rows).
    text: String,
    /// Where each row's key starts in `text`.
    starts: Vec<usize>,
    /// Sort keys of each row for `sort` (empty when unsorted).
    sort_keys: Vec<SortKey>,
    /// Every row index in display order.
    order: Vec<usize>,
    /// The sort `order` was built for.
    sort: Option<(Column, bool)>,
    /// The longest cell of each column over every row (in [`Column::ALL`] order), so the
    /// table's columns depend on the terminal and the data, never on what a filter keeps.
    widest: [usize; Column::ALL.len()],
}

/// A row's sort key for one column, without allocation: the empty/status group, the error
/// code, and the first 32 lowercased bytes of the text (most UPNs and every serial whole). Rows equal in all three are ordered by
/// their full text afterwards (rare: long values with a common prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    group: u8,
    num: i64,
    prefix: [u128; 2],
}

impl SortKey {
    fn of(column: Column, d: &Row) -> SortKey {
        match column {
            Column::Status => SortKey {
                group: status_rank(d.state.device_import_status),
                num: i64::from(d.state.device_error_code),
                prefix: [0; 2],
            },
            other => match d.text(other.field()).filter(|t| !t.is_empty()) {
                Some(t) => {
                    let mut bytes = [0u8; 32];
                    for (b, c) in bytes.iter_mut().zip(t.bytes()) {
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
                None => SortKey { group: 1, num: 0, prefix: [0; 2] },
            },
        }
    }

    /// Whether the prefix may hide a difference further on.
    fn truncated(column: Column, d: &Row) -> bool {
        column != Column::Status && d.text(column.field()).is_some_and(|t| t.len() > 32)
    }
}

/// Rows from which a new sort runs off the draw path (a blocking task), so a key press never
/// waits for it; below this a sort takes well under a frame and runs at once.
pub const ASYNC_SORT_ROWS: usize = 20_000;

/// A sort to run off the draw path: each row's key, sorted by [`SortJob::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct SortJob {
    sort: (Column, bool),
    keyed: Vec<(SortKey, usize)>,
    /// Some value is longer than the key prefix (ties then need the whole text).
    cut: bool,
}

/// A finished [`SortJob`]: rows by their keys (ties beyond the key prefix are settled on
/// install, where the rows are).
#[derive(Debug, Clone, PartialEq)]
pub struct SortedRows {
    sort: (Column, bool),
    keyed: Vec<(SortKey, usize)>,
    cut: bool,
}

impl SortJob {
    /// The keys of `rows` for a sort.
    pub fn new(rows: &[Row], sort: (Column, bool)) -> SortJob {
        let mut cut = false;
        let keyed = rows
            .iter()
            .enumerate()
            .map(|(i, d)| {
                cut |= SortKey::truncated(sort.0, d);
                (SortKey::of(sort.0, d), i)
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

/// Appends the search key of a row: the text of every column the table can show (the status
/// as written, `error 806 ZtdDeviceAlreadyAssigned`), lowercased once.
fn push_search_key(text: &mut String, d: &Row) {
    let mut push = |t: &str| {
        if t.is_ascii() {
            text.extend(t.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            text.push_str(&t.to_lowercase());
        }
        text.push('\u{1f}');
    };
    for c in Column::ALL {
        match c {
            Column::Status => push(&status_text(d)),
            other => push(d.text(other.field()).unwrap_or("")),
        }
    }
    text.push('\u{1e}');
}

impl RowIndex {
    /// Forgets everything (the rows were replaced).
    pub fn clear(&mut self) {
        *self = RowIndex::default();
    }

    /// Brings the index up to date with `rows` and `sort`: keys for new rows, the order
    /// re-sorted when the sort changed, new rows merged in otherwise.
    pub fn sync(&mut self, rows: &[Row], sort: Option<(Column, bool)>) {
        if self.starts.len() > rows.len() {
            self.clear();
        }
        for d in &rows[self.starts.len()..] {
            self.starts.push(self.text.len());
            push_search_key(&mut self.text, d);
            for (w, c) in self.widest.iter_mut().zip(Column::ALL) {
                *w = (*w).max(c.cell_width(d));
            }
        }
        if sort != self.sort || self.order.len() > rows.len() {
            self.sort = sort;
            self.sort_keys = match sort {
                Some((c, _)) => rows.iter().map(|d| SortKey::of(c, d)).collect(),
                None => Vec::new(),
            };
            self.order = (0..rows.len()).collect();
            self.sort_range(rows, 0);
            return;
        }
        let have = self.order.len();
        if have == rows.len() {
            return;
        }
        if let Some((c, _)) = sort {
            self.sort_keys.extend(rows[have..].iter().map(|d| SortKey::of(c, d)));
        }
        self.order.extend(have..rows.len());
        self.sort_range(rows, have);
    }

    /// The sort the order currently follows.
    pub fn sort(&self) -> Option<(Column, bool)> {
        self.sort
    }

    /// The longest cell of a column over every row, in characters.
    pub fn widest(&self, column: Column) -> usize {
        Column::ALL.iter().position(|c| *c == column).map_or(0, |i| self.widest[i])
    }

    /// Installs a sort finished off the draw path: settles ties beyond the key prefix with the
    /// rows' full text, then merges rows that arrived meanwhile.
    pub fn install(&mut self, rows: &[Row], sorted: SortedRows) {
        if sorted.keyed.len() > rows.len() || self.starts.len() > rows.len() {
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
        while start < order.len() {
            let key = self.sort_keys[order[start]];
            let mut end = start + 1;
            while end < order.len() && self.sort_keys[order[end]] == key {
                end += 1;
            }
            let column = sorted.sort.0;
            let cut = |i: &usize| rows.get(*i).is_some_and(|d| SortKey::truncated(column, d));
            if end - start > 1 && order[start..end].iter().any(cut) {
                order[start..end].sort_by(|&a, &b| self.cmp_rows(rows, a, b));
            }
            start = end;
        }
        self.order = order;
        self.sync(rows, Some(sorted.sort));
    }

    /// Updates after one row was replaced in place (after a save): keys rebuilt, order re-sorted.
    pub fn replace(&mut self, rows: &[Row]) {
        let sort = self.sort;
        self.clear();
        self.sync(rows, sort);
    }

    fn cmp_rows(&self, rows: &[Row], a: usize, b: usize) -> Ordering {
        let (Some(x), Some(y)) = (self.sort_keys.get(a), self.sort_keys.get(b)) else {
            return a.cmp(&b);
        };
        let mut o = x.cmp(y);
        if o == Ordering::Equal
            && let (Some((c, _)), Some(da), Some(db)) = (self.sort, rows.get(a), rows.get(b))
            && SortKey::truncated(c, da)
            && SortKey::truncated(c, db)
        {
            o = cmp_ci(da.text(c.field()), db.text(c.field()));
        }
        let o = if matches!(self.sort, Some((_, true))) { o.reverse() } else { o };
        // Ties keep the server's order, whatever the direction.
        o.then(a.cmp(&b))
    }

    /// Sorts `order[from..]` and merges it into the sorted `order[..from]`.
    fn sort_range(&mut self, rows: &[Row], from: usize) {
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

    /// The rows whose key holds `needle` (lowercased), in display order: one SIMD substring
    /// search over the whole key buffer (skipping to the next row after a hit), then one pass
    /// over the order.
    pub fn filter(&self, needle: &str) -> Vec<usize> {
        let needle = clean_needle(needle);
        if needle.is_empty() {
            return self.order.clone();
        }
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let bytes = self.text.as_bytes();
        let n = self.starts.len();
        let mut matched = vec![false; n];
        let (mut pos, mut row) = (0, 0);
        while let Some(found) = bytes.get(pos..).and_then(|rest| finder.find(rest)) {
            let at = pos + found;
            while row + 1 < n && self.starts[row + 1] <= at {
                row += 1;
            }
            if let Some(m) = matched.get_mut(row) {
                *m = true;
            }
            // One hit is enough for a row.
            pos = self.starts.get(row + 1).copied().unwrap_or(bytes.len());
        }
        self.order.iter().copied().filter(|&i| matched.get(i).copied().unwrap_or(false)).collect()
    }

    /// The rows of `candidates` (in their order) whose key holds `needle`: the next keystroke
    /// of a filter only looks at what the last one kept.
    pub fn filter_within(&self, needle: &str, candidates: &[usize]) -> Vec<usize> {
        let needle = clean_needle(needle);
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let bytes = self.text.as_bytes();
        candidates
            .iter()
            .copied()
            .filter(|&i| {
                let start = self.starts.get(i).copied().unwrap_or(bytes.len());
                let end = self.starts.get(i + 1).copied().unwrap_or(bytes.len());
                bytes.get(start..end).is_some_and(|key| finder.find(key).is_some())
            })
            .collect()
    }

    /// How many rows and which sort the index reflects (a narrower needle over the same rows
    /// and sort may filter the last view instead of every row).
    pub fn state(&self) -> IndexState {
        (self.starts.len(), self.sort)
    }
}

/// How many rows an index holds and the sort its order follows.
pub type IndexState = (usize, Option<(Column, bool)>);

/// The filter text as searched: lowercased, control characters (the key separators) dropped.
fn clean_needle(needle: &str) -> String {
    needle.chars().filter(|c| !c.is_control()).collect::<String>().to_lowercase()
}

/// A box drawn over the screen that takes the keys until closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Key help; `scroll` is the first line shown.
    Help {
        /// First line shown.
        scroll: u16,
    },
    /// The PATCH about to be sent.
    Confirm(Confirm),
    /// Quit with unsaved drafts?
    QuitConfirm,
    /// Restore the drafts an earlier session left unsaved?
    Restore(Box<RecoveryOffer>),
}

/// Drafts an earlier session left unsaved, found at start.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryOffer {
    /// The recovery file (deleted once the user decides).
    pub path: std::path::PathBuf,
    /// What it holds.
    pub recovery: crate::tui::recovery::Recovery,
}

/// What the confirmation shows and, on Enter, sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// Device id.
    pub device_id: String,
    /// Full URL of the PATCH.
    pub url: String,
    /// The body (changed fields only) with its old -> new list.
    pub body: crate::graph::patch::PatchBody,
}

/// How important a status message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Neutral information.
    Info,
    /// Something worked.
    Success,
    /// Refused or needs attention.
    Warn,
    /// Something failed.
    Error,
}

/// The status message of what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// Importance.
    pub level: Level,
    /// Text.
    pub text: String,
    /// The screen it belongs to: it is shown there only, never following the user elsewhere.
    pub screen: Screen,
}

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
    /// A reload puts the cursor back on this device when its row comes in again.
    pub keep_selected: Option<String>,
}

/// An error shown inside the form (save or fetch failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// One-line summary.
    pub title: String,
    /// Details: code, message, request-id, advice.
    pub lines: Vec<String>,
}

/// The open form.
#[derive(Debug, Clone, PartialEq)]
pub struct FormState {
    /// Which device (its draft lives in `Model::drafts` once fetched).
    pub device_id: String,
    /// Serial number, for the title while the device loads.
    pub label: String,
    /// Focused field.
    pub focus: FieldId,
    /// GET in flight.
    pub fetching: Option<u64>,
    /// PATCH in flight.
    pub saving: Option<u64>,
    /// Every failed attempt of the save in flight was a 429 refusal (with a retry wait still
    /// running, a cancel then changes nothing on the server).
    pub refused_only: bool,
    /// Last failure.
    pub problem: Option<Problem>,
}

/// One request of the session, as the inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The exchange; a long response body is cut to [`BODY_CAP`].
    pub exchange: Exchange,
    /// Request body laid out for reading (JSON indented).
    pub request_pretty: Option<String>,
    /// Response body laid out for reading: JSON indented (as far as it goes when cut), anything
    /// else as received.
    pub response_pretty: String,
    /// The JSON document an Intune error nests in its message, pretty-printed.
    pub nested_pretty: Option<String>,
    /// Says the body was cut, and how large it was.
    pub body_note: Option<String>,
}

impl HistoryEntry {
    /// Records an exchange, keeping at most [`BODY_CAP`] bytes of its response body.
    pub fn new(mut exchange: Exchange) -> HistoryEntry {
        use crate::tui::exchange_text::readable_body;
        let full_len = exchange.response_body.len();
        let body_note = if full_len > BODY_CAP {
            let mut cut = BODY_CAP;
            while !exchange.response_body.is_char_boundary(cut) {
                cut -= 1;
            }
            exchange.response_body.truncate(cut);
            exchange.response_body.shrink_to_fit();
            Some(format!(
                "body cut to its first {} KB of {} to keep memory bounded",
                BODY_CAP / 1024,
                human_bytes(full_len)
            ))
        } else {
            None
        };
        // Only error answers nest a document in their message (pages are megabytes: not parsed).
        let failed = exchange.status.is_some_and(|s| !(200..300).contains(&s));
        let nested_pretty = serde_json::from_str::<serde_json::Value>(&exchange.response_body)
            .ok()
            .filter(|_| failed)
            .and_then(|doc| doc.pointer("/error/message").and_then(|m| m.as_str()).map(String::from))
            .and_then(|m| crate::graph::error::nested_document(&m))
            .and_then(|d| serde_json::to_string_pretty(&d).ok());
        let response_pretty = readable_body(&exchange.response_body);
        let request_pretty = exchange.request_body.as_deref().map(readable_body);
        HistoryEntry { exchange, request_pretty, response_pretty, nested_pretty, body_note }
    }
}

/// `1.2 MB`, `34 KB`, `512 B`.
pub fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{} KB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// The response inspector's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspector {
    /// Index into the history.
    pub selected: usize,
    /// First detail line shown.
    pub scroll: u16,
    /// Where Esc goes back to.
    pub back_to: Screen,
    /// Long lines continue on the next lines (else they are cut at the edge).
    pub wrap: bool,
}

/// Everything the app shows and remembers. `update` changes it; views only read it.
#[derive(Debug)]
pub struct Model {
    /// `DEMO http://127.0.0.1:41234/v1.0` or the base URL.
    pub target_label: String,
    /// Running against the embedded demo server.
    pub demo: bool,
    /// Writes are off.
    pub read_only: bool,
    /// `$top` of listing pages.
    pub page_size: u32,
    /// `NO_COLOR` is set: style with bold/reverse only.
    pub no_color: bool,
    /// The collection URL the client reads and patches (the confirmation shows the full URL).
    pub collection_url: String,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Current screen.
    pub screen: Screen,
    /// Overlay on top, if any.
    pub overlay: Option<Overlay>,
    /// Every listed device, in the server's order, with the table's properties only.
    pub rows: Vec<Row>,
    /// The shown rows: indices into `rows` after filter and sort.
    pub view: Vec<usize>,
    /// Position of the selection in `view`.
    pub cursor: usize,
    /// First shown position of `view`.
    pub offset: usize,
    /// Filter text editor (case-insensitive substring).
    pub filter: TextArea<'static>,
    /// The filter line takes the keys.
    pub filter_editing: bool,
    /// Sort column and whether it is descending.
    pub sort: Option<(Column, bool)>,
    /// Listing progress.
    pub listing: Listing,
    /// Unsaved (or being edited) devices by id.
    pub drafts: HashMap<String, Draft>,
    /// The open form.
    pub form: Option<FormState>,
    /// This session's requests, oldest first, at most [`HISTORY_CAP`].
    pub history: VecDeque<HistoryEntry>,
    /// Requests dropped from the front of the history.
    pub history_dropped: usize,
    /// Inspector position.
    pub inspector: Inspector,
    /// Status message.
    pub toast: Option<Toast>,
    /// Next request id to hand out.
    pub next_request: u64,
    /// Spinner frame (advances only while something is pending).
    pub spinner: usize,
    /// The clock as of the last tick (countdowns are drawn from it; `update` reads no clock).
    pub now: Instant,
    /// A request waiting to be tried again (throttled, unavailable, lost connection).
    pub retry: Option<RetryWait>,
    /// The device code sign-in, while it runs or after it failed.
    pub sign_in: Option<SignInState>,
    /// The `:` command line editor.
    pub command: TextArea<'static>,
    /// The command line takes the keys.
    pub command_editing: bool,
    /// The Graph `$filter` whose results the table shows (`:serial PF3`), if any.
    pub server_filter: Option<String>,
    /// Search keys and sorted order of `rows` (see [`RowIndex`]).
    pub index: RowIndex,
    /// The generation of a sort running off the draw path (its result is installed only if
    /// it is still the latest).
    pub sort_pending: Option<u64>,
    /// The needle and index state `view` was derived with.
    pub view_of: Option<(String, IndexState)>,
    /// Leave the loop.
    pub quit: bool,
    /// The signal that ended the app, if one did (its unsaved drafts are then kept for recovery).
    pub ended_by: Option<&'static str>,
}

impl Model {
    /// A fresh model.
    pub fn new(target_label: impl Into<String>, demo: bool, read_only: bool) -> Model {
        Model {
            target_label: target_label.into(),
            demo,
            read_only,
            page_size: LIST_PAGE_SIZE,
            no_color: false,
            collection_url: String::new(),
            size: (80, 24),
            screen: Screen::Table,
            overlay: None,
            rows: Vec::new(),
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            filter: line_editor("", ""),
            filter_editing: false,
            sort: None,
            listing: Listing::default(),
            drafts: HashMap::new(),
            form: None,
            history: VecDeque::new(),
            history_dropped: 0,
            inspector: Inspector { selected: 0, scroll: 0, back_to: Screen::Table, wrap: true },
            toast: None,
            next_request: 1,
            spinner: 0,
            now: Instant::now(),
            retry: None,
            sign_in: None,
            command: line_editor("", ""),
            command_editing: false,
            server_filter: None,
            index: RowIndex::default(),
            view_of: None,
            sort_pending: None,
            quit: false,
            ended_by: None,
        }
    }

    /// A new request id.
    pub fn request_id(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    /// The URL of one device, as the client builds it.
    pub fn item_url(&self, id: &str) -> String {
        crate::graph::client::item_url_in(&self.collection_url, id)
    }

    /// The filter text.
    pub fn filter_text(&self) -> &str {
        crate::tui::draft::editor_text(&self.filter)
    }

    /// The selected device.
    pub fn selected(&self) -> Option<&Row> {
        self.view.get(self.cursor).and_then(|&i| self.rows.get(i))
    }

    /// Whether a device has unsaved changes.
    pub fn has_unsaved(&self, id: &str) -> bool {
        self.drafts.get(id).is_some_and(Draft::is_dirty_any)
    }

    /// How many devices have unsaved changes.
    pub fn unsaved_count(&self) -> usize {
        self.drafts.values().filter(|d| d.is_dirty_any()).count()
    }

    /// Something is in flight or counting down (the clock ticks only then).
    pub fn busy(&self) -> bool {
        self.listing.loading
            || self.retry.is_some()
            || self.form.as_ref().is_some_and(|f| f.fetching.is_some() || f.saving.is_some())
            || self.sign_in.as_ref().is_some_and(|s| s.failed.is_none())
    }

    /// How long until `at`, by the model's clock.
    pub fn remaining(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.now)
    }

    /// The open form's draft.
    pub fn form_draft(&self) -> Option<&Draft> {
        self.form.as_ref().and_then(|f| self.drafts.get(&f.device_id))
    }

    /// Sets the status message of the current screen.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.say_on(self.screen, level, text);
    }

    /// Sets the status message of a screen (a listing's news belongs to the table wherever the
    /// user is).
    pub fn say_on(&mut self, screen: Screen, level: Level, text: impl Into<String>) {
        self.toast = Some(Toast { level, text: text.into(), screen });
    }

    /// The status message of the screen shown, if any.
    pub fn toast_shown(&self) -> Option<&Toast> {
        self.toast.as_ref().filter(|t| t.screen == self.screen)
    }

    /// Adds a request to the history, dropping the oldest beyond the cap.
    pub fn record(&mut self, exchange: Exchange) {
        self.history.push_back(HistoryEntry::new(exchange));
        while self.history.len() > HISTORY_CAP {
            self.history.pop_front();
            self.history_dropped += 1;
            self.inspector.selected = self.inspector.selected.saturating_sub(1);
        }
    }

    /// Recomputes the view (filter over the sorted order) and keeps the selected device
    /// selected. Costs one pass over precomputed keys; sorting happens only when the sort
    /// changes (and new rows are merged in), see [`RowIndex`].
    pub fn derive_view(&mut self) {
        let keep = self.view.get(self.cursor).copied();
        let before = self.index.state();
        // While a sort runs off the draw path, rows keep the order they have.
        let sort = if self.sort_pending.is_some() { self.index.sort() } else { self.sort };
        self.index.sync(&self.rows, sort);
        let needle = self.filter_text().to_lowercase();
        // Typing narrows: when only the needle grew, the new view is a subset of the last.
        // (Only worth it when the last view was small: a per-row search has a fixed cost.)
        let narrower = matches!(&self.view_of, Some((last, state)) if !last.is_empty()
            && needle.contains(last.as_str()) && *state == before && before == self.index.state())
            && self.view.len() < self.rows.len() / 8;
        self.view =
            if narrower { self.index.filter_within(&needle, &self.view) } else { self.index.filter(&needle) };
        self.view_of = Some((needle, self.index.state()));
        // Row indices are stable while rows are only appended or replaced in place.
        self.cursor = keep
            .and_then(|row| self.view.iter().position(|&i| i == row))
            .unwrap_or(0)
            .min(self.view.len().saturating_sub(1));
    }

    /// Sorts at once on this thread, whatever the size (benchmarks and tests; the app sorts
    /// big tables off the draw path through `Action::Sort`).
    pub fn sort_now(&mut self, sort: Option<(Column, bool)>) {
        self.sort = sort;
        self.sort_pending = None;
        self.derive_view();
    }

    /// Replaces the rows (a new listing's first page).
    pub fn clear_rows(&mut self) {
        self.rows.clear();
        self.index.clear();
        self.view_of = None;
        self.sort_pending = None;
        self.view.clear();
        self.cursor = 0;
        self.offset = 0;
    }
}

fn cmp_ci(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) => {
            a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn status_rank(s: ImportStatus) -> u8 {
    match s {
        ImportStatus::Error => 0,
        ImportStatus::Partial => 1,
        ImportStatus::Pending => 2,
        ImportStatus::Unknown => 3,
        ImportStatus::Complete => 4,
    }
}

/// Orders two devices by a column (empty values last).
pub fn compare(column: Column, a: &Row, b: &Row) -> Ordering {
    match column {
        Column::Status => {
            let key = |d: &Row| (status_rank(d.state.device_import_status), d.state.device_error_code);
            key(a).cmp(&key(b))
        }
        other => {
            let f = other.field();
            cmp_ci(a.text(f), b.text(f))
        }
    }
}

impl Column {
    /// Every column in display order.
    pub const ALL: [Column; 7] = [
        Column::Serial,
        Column::Tag,
        Column::User,
        Column::Status,
        Column::ImportId,
        Column::ProductKey,
        Column::Id,
    ];

    /// The field this column shows.
    pub fn field(self) -> FieldId {
        match self {
            Column::Serial => FieldId::SerialNumber,
            Column::Tag => FieldId::GroupTag,
            Column::User => FieldId::AssignedUserPrincipalName,
            Column::Status => FieldId::DeviceImportStatus,
            Column::ImportId => FieldId::ImportId,
            Column::ProductKey => FieldId::ProductKey,
            Column::Id => FieldId::Id,
        }
    }

    /// Heading.
    pub fn title(self) -> &'static str {
        match self {
            Column::Serial => "SERIAL",
            Column::Tag => "GROUP TAG",
            Column::User => "ASSIGNED USER",
            Column::Status => "IMPORT STATUS",
            Column::ImportId => "IMPORT ID",
            Column::ProductKey => "PRODUCT KEY",
            Column::Id => "ID",
        }
    }

    /// The cell text of a device.
    pub fn cell(self, d: &Row) -> String {
        match self {
            Column::Status => status_text(d),
            other => d.text(other.field()).unwrap_or("").to_string(),
        }
    }

    /// How many characters the cell of a device takes.
    pub fn cell_width(self, d: &Row) -> usize {
        match self {
            Column::Status => status_text(d).chars().count(),
            other => d.text(other.field()).map_or(0, |t| t.chars().count()),
        }
    }
}

/// `complete`, or `error 806 ZtdDeviceAlreadyAssigned` for a failed import.
pub fn status_text(d: &Row) -> String {
    let s = &d.state;
    if s.device_import_status == ImportStatus::Error || s.device_error_code != 0 {
        let mut text = format!("{} {}", s.device_import_status.as_str(), s.device_error_code);
        if let Some(name) = s.device_error_name.as_deref().filter(|n| !n.is_empty()) {
            text.push(' ');
            text.push_str(name);
        }
        text
    } else {
        s.device_import_status.as_str().to_string()
    }
}

/// The properties the table needs (`$select` of the listing).
pub fn table_select() -> Vec<String> {
    ["id", "serialNumber", "groupTag", "assignedUserPrincipalName", "importId", "productKey", "state"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// A device as the table keeps it: the shown properties only (no hash, no registration id, no
/// unknown properties; the form fetches the whole device). Half the size of a [`Device`], which
/// is what keeps 100,000 rows small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Entity id.
    pub id: String,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Group tag.
    pub group_tag: Option<String>,
    /// Assigned user.
    pub assigned_user_principal_name: Option<String>,
    /// Import batch id.
    pub import_id: Option<String>,
    /// Product key.
    pub product_key: Option<String>,
    /// Import status, code and error name.
    pub state: RowState,
}

/// The import state as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    /// Import status.
    pub device_import_status: ImportStatus,
    /// Error code (0 when none).
    pub device_error_code: i32,
    /// Error name.
    pub device_error_name: Option<String>,
}

impl Row {
    /// A text property by field, as [`Device::text`] (fields the table does not keep: `None`).
    pub fn text(&self, field: FieldId) -> Option<&str> {
        match field {
            FieldId::Id => Some(&self.id),
            FieldId::AssignedUserPrincipalName => self.assigned_user_principal_name.as_deref(),
            FieldId::GroupTag => self.group_tag.as_deref(),
            FieldId::ImportId => self.import_id.as_deref(),
            FieldId::ProductKey => self.product_key.as_deref(),
            FieldId::SerialNumber => self.serial_number.as_deref(),
            FieldId::DeviceErrorName => self.state.device_error_name.as_deref(),
            _ => None,
        }
    }
}

/// The table's row of a device.
pub fn table_row(d: Device) -> Row {
    // Exact-size strings: serde may leave spare capacity, and 100,000 rows multiply it.
    let lean = |s: Option<String>| {
        s.map(|mut t| {
            t.shrink_to_fit();
            t
        })
    };
    Row {
        id: d.id,
        serial_number: lean(d.serial_number),
        group_tag: lean(d.group_tag),
        assigned_user_principal_name: lean(d.assigned_user_principal_name),
        import_id: lean(d.import_id),
        product_key: lean(d.product_key),
        state: RowState {
            device_import_status: d.state.device_import_status,
            device_error_code: d.state.device_error_code,
            device_error_name: lean(d.state.device_error_name),
        },
    }
}
