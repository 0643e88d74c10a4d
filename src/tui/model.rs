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
/// `Model::rows` so a filter keystroke is one pass over precomputed lowercase text and never
/// sorts. Built when rows arrive; appended rows are merged into the order.
#[derive(Debug, Default)]
pub struct RowIndex {
    /// Lowercased serial, tag, user and import id of each row, separated by `\u{1f}`.
    keys: Vec<Box<str>>,
    /// Sort keys of each row for `sort` (empty when unsorted).
    sort_keys: Vec<SortKey>,
    /// Every row index in display order.
    order: Vec<usize>,
    /// The sort `order` was built for.
    sort: Option<(Column, bool)>,
}

/// A row's sort key for one column: cheap to compare (no per-comparison lowercasing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    group: u8,
    num: i64,
    text: Box<str>,
}

impl SortKey {
    fn of(column: Column, d: &Device) -> SortKey {
        match column {
            Column::Status => SortKey {
                group: status_rank(d.state.device_import_status),
                num: i64::from(d.state.device_error_code),
                text: Box::from(""),
            },
            other => match d.text(other.field()).filter(|t| !t.is_empty()) {
                Some(t) => SortKey { group: 0, num: 0, text: t.to_ascii_lowercase().into_boxed_str() },
                None => SortKey { group: 1, num: 0, text: Box::from("") },
            },
        }
    }
}

/// The search key of a row: what the filter matches, lowercased once.
fn search_key(d: &Device) -> Box<str> {
    let mut key = String::new();
    for v in [&d.serial_number, &d.group_tag, &d.assigned_user_principal_name, &d.import_id] {
        if let Some(t) = v {
            key.push_str(&t.to_lowercase());
        }
        key.push('\u{1f}');
    }
    key.into_boxed_str()
}

impl RowIndex {
    /// Forgets everything (the rows were replaced).
    pub fn clear(&mut self) {
        *self = RowIndex::default();
    }

    /// Brings the index up to date with `rows` and `sort`: keys for new rows, the order
    /// re-sorted when the sort changed, new rows merged in otherwise.
    pub fn sync(&mut self, rows: &[Device], sort: Option<(Column, bool)>) {
        if self.keys.len() > rows.len() {
            self.clear();
        }
        let old = self.keys.len();
        self.keys.extend(rows[old..].iter().map(search_key));
        if sort != self.sort || self.order.len() > rows.len() {
            self.sort = sort;
            self.sort_keys = match sort {
                Some((c, _)) => rows.iter().map(|d| SortKey::of(c, d)).collect(),
                None => Vec::new(),
            };
            self.order = (0..rows.len()).collect();
            self.sort_range(0);
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
        self.sort_range(have);
    }

    /// Updates one replaced row (after a save): its key, and its place in the order.
    pub fn replace(&mut self, i: usize, d: &Device) {
        if let Some(k) = self.keys.get_mut(i) {
            *k = search_key(d);
        }
        if let (Some((c, _)), Some(k)) = (self.sort, self.sort_keys.get_mut(i)) {
            *k = SortKey::of(c, d);
            let mut order = std::mem::take(&mut self.order);
            order.sort_unstable_by(|&a, &b| self.cmp_rows(a, b));
            self.order = order;
        }
    }

    fn cmp_rows(&self, a: usize, b: usize) -> Ordering {
        let o = match (self.sort_keys.get(a), self.sort_keys.get(b)) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => Ordering::Equal,
        };
        let o = if matches!(self.sort, Some((_, true))) { o.reverse() } else { o };
        // Ties keep the server's order, whatever the direction.
        o.then(a.cmp(&b))
    }

    /// Sorts `order[from..]` and merges it into the sorted `order[..from]`.
    fn sort_range(&mut self, from: usize) {
        if self.sort.is_none() {
            return;
        }
        let mut tail = self.order.split_off(from);
        tail.sort_unstable_by(|&a, &b| self.cmp_rows(a, b));
        let tail = tail;
        if from == 0 {
            self.order = tail;
            return;
        }
        let head = std::mem::take(&mut self.order);
        let mut merged = Vec::with_capacity(head.len() + tail.len());
        let (mut i, mut j) = (0, 0);
        while i < head.len() && j < tail.len() {
            if self.cmp_rows(tail[j], head[i]) == Ordering::Less {
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

    /// The rows whose key holds `needle` (lowercased), in display order.
    pub fn filter(&self, needle: &str) -> Vec<usize> {
        if needle.is_empty() {
            return self.order.clone();
        }
        self.order.iter().copied().filter(|&i| self.keys.get(i).is_some_and(|k| k.contains(needle))).collect()
    }
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
    /// Every failed attempt of the save in flight was a 429 refusal (so a cancel is safe).
    pub refused_only: bool,
    /// Last failure.
    pub problem: Option<Problem>,
}

/// One request of the session, as the inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The exchange; a long response body is cut to [`BODY_CAP`].
    pub exchange: Exchange,
    /// Request body pretty-printed (when JSON).
    pub request_pretty: Option<String>,
    /// Response body pretty-printed when it is JSON and was kept whole (else the raw body shows).
    pub response_pretty: Option<String>,
    /// The JSON document an Intune error nests in its message, pretty-printed.
    pub nested_pretty: Option<String>,
    /// Says the body was cut, and how large it was.
    pub body_note: Option<String>,
}

impl HistoryEntry {
    /// Records an exchange, keeping at most [`BODY_CAP`] bytes of its response body.
    pub fn new(mut exchange: Exchange) -> HistoryEntry {
        let full_len = exchange.response_body.len();
        let body_note = if full_len > BODY_CAP {
            let mut cut = BODY_CAP;
            while !exchange.response_body.is_char_boundary(cut) {
                cut -= 1;
            }
            exchange.response_body.truncate(cut);
            exchange.response_body.shrink_to_fit();
            Some(format!(
                "body cut to its first {} KB of {} to keep memory bounded; shown as received",
                BODY_CAP / 1024,
                human_bytes(full_len)
            ))
        } else {
            None
        };
        let pretty = |text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
        };
        let response_pretty = if body_note.is_some() { None } else { pretty(&exchange.response_body) };
        let request_pretty =
            exchange.request_body.as_deref().map(|b| pretty(b).unwrap_or_else(|| b.to_string()));
        let nested_pretty = serde_json::from_str::<serde_json::Value>(&exchange.response_body)
            .ok()
            .and_then(|doc| doc.pointer("/error/message").and_then(|m| m.as_str()).map(String::from))
            .and_then(|m| crate::graph::error::nested_document(&m))
            .and_then(|d| serde_json::to_string_pretty(&d).ok());
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
    pub rows: Vec<Device>,
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
    /// The Graph `$filter` the listing runs with (`:serial PF3`), if any.
    pub server_filter: Option<String>,
    /// Search keys and sorted order of `rows` (see [`RowIndex`]).
    pub index: RowIndex,
    /// Leave the loop.
    pub quit: bool,
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
            inspector: Inspector { selected: 0, scroll: 0, back_to: Screen::Table },
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
            quit: false,
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
    pub fn selected(&self) -> Option<&Device> {
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

    /// Sets the status message.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.toast = Some(Toast { level, text: text.into() });
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
        self.index.sync(&self.rows, self.sort);
        let needle = self.filter_text().to_lowercase();
        self.view = self.index.filter(&needle);
        // Row indices are stable while rows are only appended or replaced in place.
        self.cursor = keep
            .and_then(|row| self.view.iter().position(|&i| i == row))
            .unwrap_or(0)
            .min(self.view.len().saturating_sub(1));
    }

    /// Replaces the rows (a new listing's first page).
    pub fn clear_rows(&mut self) {
        self.rows.clear();
        self.index.clear();
        self.view.clear();
        self.cursor = 0;
        self.offset = 0;
    }
}

/// Case-insensitive substring test of ASCII-lowercased `needle` in `hay`.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle)
    }
}

/// Whether a device matches a lowercased filter: serial, tag, user or import id.
pub fn matches_filter(d: &Device, needle: &str) -> bool {
    [&d.serial_number, &d.group_tag, &d.assigned_user_principal_name, &d.import_id]
        .into_iter()
        .any(|v| v.as_deref().is_some_and(|t| contains_ci(t, needle)))
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
pub fn compare(column: Column, a: &Device, b: &Device) -> Ordering {
    match column {
        Column::Status => {
            let key = |d: &Device| (status_rank(d.state.device_import_status), d.state.device_error_code);
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
    pub fn cell(self, d: &Device) -> String {
        match self {
            Column::Status => status_text(d),
            other => d.text(other.field()).unwrap_or("").to_string(),
        }
    }
}

/// `complete`, or `error 806 ZtdDeviceAlreadyAssigned` for a failed import.
pub fn status_text(d: &Device) -> String {
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

/// A device as the table keeps it: without the hardware hash and unknown properties (the form
/// fetches the whole device), so memory grows with the rows' text only.
pub fn table_row(mut d: Device) -> Device {
    d.hardware_identifier = None;
    d.extra = serde_json::Map::new();
    d.state.extra = serde_json::Map::new();
    d
}
