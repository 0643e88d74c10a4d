//! What the screen shows: the table of the resource shown, the open
//! form and drafts, overlays, the request history and the status message.

use crate::graph::auth::PollState;
use crate::graph::client::Exchange;
use crate::graph::resource::{Field, Record, RecordAction, Resource};
use crate::tui::drafts::Draft;
use crate::tui::event::SignInPrompt;
use crate::tui::history::{HISTORY_CAP, HistoryEntry};
use crate::tui::line_edit::line_editor;
use crate::tui::requests::Requests;
use crate::tui::table::TableState;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};
use tui_textarea::TextArea;

/// A bulk change of more writes than this asks for the number to be typed (a guard against
/// a select-all accident).
pub const CONFIRM_OVER: usize = 25;

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
    /// The bulk edit of the marked rows.
    Bulk,
    /// The unsaved drafts (`:drafts`).
    Drafts,
    /// The write log (`:journal`), newest first.
    Journal,
    /// The running or last job (bulk change, import).
    Jobs,
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
    /// An action on one record (assign user, delete, ...), typed and confirmed before it is sent.
    Action(Box<ActionDialog>),
    /// A yes/no question.
    Ask(Ask),
    /// What a bulk change will do, before anything is sent.
    Plan(Box<PlanPreview>),
    /// Fields both the user and someone else changed, to pick from before anything is sent.
    Conflicts(Box<ConflictView>),
    /// An import's check and plan, before anything is sent.
    Import(Box<ImportPreview>),
    /// Which import records `:cleanup` deletes, before anything is sent.
    Cleanup(Box<CleanupAsk>),
}

/// `:cleanup`'s question: the import records it would delete; above the threshold the number
/// is typed to confirm (the bulk guard).
#[derive(Debug, Clone)]
pub struct CleanupAsk {
    /// `(record id, serial)` of each record.
    pub records: Vec<(String, Option<String>)>,
    /// How many completed (their devices are registered).
    pub complete: usize,
    /// How many failed (the explanation goes with them).
    pub failed: usize,
    /// The import they belong to, when one was named.
    pub import_id: Option<String>,
    /// Whether the number must be typed.
    pub guarded: bool,
    /// What was typed for it.
    pub guard_text: String,
    /// The guard line's editor (view state).
    pub editor: TextArea<'static>,
    /// Why it did not start.
    pub problem: Option<String>,
}

/// Which value of a conflicting field the user keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The value the draft started from (undoing the other change too).
    Original,
    /// The server's value (the other change stands; the user's is dropped).
    Server,
    /// The user's value (written over the other change).
    Mine,
}

/// The three-way view of a save stopped by conflicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictView {
    /// The record.
    pub device_id: String,
    /// What the record is called.
    pub label: String,
    /// The record as the server has it now (the draft rebases onto it).
    pub server: Record,
    /// The fields both changed, with the user's pick so far.
    pub items: Vec<(crate::graph::conflict::FieldConflict, Option<Pick>)>,
    /// The field the cursor is on.
    pub selected: usize,
}

/// The write log as `:journal` shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JournalView {
    /// Every entry, newest first.
    pub entries: Vec<crate::write_log::WriteEntry>,
    /// Lines of the file that could not be read.
    pub unreadable: usize,
    /// Still reading the file.
    pub loading: bool,
    /// Only entries whose text contains this (case-insensitive).
    pub filter: String,
    /// The selected entry among those the filter keeps.
    pub selected: usize,
}

/// The bulk job the app runs (one at a time), and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// Its request id.
    pub request_id: u64,
    /// What it is, for the heading: `Bulk change of 12 registered devices`, `Import of a.csv`.
    pub title: String,
    /// A bulk job's plan (an import's is its own).
    pub plan: Option<crate::jobs::plan::Plan>,
    /// When it started, by the model's clock.
    pub started: Instant,
    /// Cancelled: the writes in flight finish, the rest are not sent.
    pub cancelling: bool,
    /// Every item has ended.
    pub finished: bool,
    /// When it ended.
    pub ended_at: Option<Instant>,
    /// What it is doing now (`sending`, `watching`).
    pub phase: String,
    /// Counts by outcome or state, in display order (`done 12`, `failed 1`, `pending 40`).
    pub counts: Vec<(&'static str, usize)>,
    /// Writes per minute lately, when known.
    pub rate: Option<f64>,
    /// Time left at the budget, when known.
    pub eta: Option<Duration>,
    /// Paused by a 429 until then (the whole job waits).
    pub paused_until: Option<Instant>,
    /// What happened, newest last (retries, splits, polls), at most [`JOB_LOG_CAP`].
    pub log: VecDeque<String>,
    /// One line per item or CSV row once known (the plan, then the results).
    pub results: Vec<String>,
    /// The results as CSV, for `e` (export) once the job ends.
    pub results_csv: Option<Vec<u8>>,
    /// How it ended, in words.
    pub summary: Option<(Level, String)>,
    /// Scroll of the results list.
    pub scroll: u16,
    /// An Autopilot sync is worth offering (an import registered or changed a device).
    pub offer_sync: bool,
}

/// How many log lines a job keeps.
pub const JOB_LOG_CAP: usize = 200;

impl JobView {
    /// A job just started.
    pub fn new(
        request_id: u64,
        title: String,
        plan: Option<crate::jobs::plan::Plan>,
        now: Instant,
    ) -> JobView {
        JobView {
            request_id,
            title,
            plan,
            started: now,
            cancelling: false,
            finished: false,
            ended_at: None,
            phase: "starting".into(),
            counts: Vec::new(),
            rate: None,
            eta: None,
            paused_until: None,
            log: VecDeque::new(),
            results: Vec::new(),
            results_csv: None,
            summary: None,
            scroll: 0,
            offer_sync: false,
        }
    }

    /// Adds a line to the log, dropping the oldest beyond the cap.
    pub fn note(&mut self, line: impl Into<String>) {
        if self.log.len() == JOB_LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(line.into());
    }
}

/// An import checked and planned against the tenant, before anything is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPreview {
    /// The file as the user typed it.
    pub path: String,
    /// The checker's report.
    pub report: Box<crate::graph::csv::Report>,
    /// What the tenant holds for its serials.
    pub tenant: Box<crate::jobs::import::Tenant>,
    /// The plan under the current options.
    pub plan: crate::jobs::import::ImportPlan,
    /// Registered devices whose tag or user differs are updated instead of held.
    pub update_registered: bool,
    /// Scroll of the row list.
    pub scroll: u16,
}

impl ImportPreview {
    /// Plans again after the options changed (pure).
    pub fn replan(&mut self) {
        let options = crate::jobs::import::PlanOptions { update_registered: self.update_registered };
        self.plan = crate::jobs::import::plan(&self.report, &self.tenant, options);
    }
}

/// A yes/no question, and what yes does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Mark every row shown (`count` of them, under `filter` when there is one)?
    MarkShown {
        /// How many rows are shown.
        count: usize,
        /// The filter that shows them.
        filter: Option<String>,
    },
    /// Discard this record's unsaved draft?
    DiscardDraft {
        /// The record.
        id: String,
        /// What it is called.
        label: String,
    },
    /// Discard every unsaved draft?
    DiscardAll {
        /// How many there are.
        count: usize,
    },
    /// Resume a job an earlier session left unfinished?
    ResumeJob {
        /// Its journal.
        path: std::path::PathBuf,
        /// What it was and how far it got, in words.
        what: String,
    },
    /// Cancel the running job (the writes in flight finish)?
    CancelJob {
        /// What it is.
        title: String,
    },
}

/// The preview of a bulk change: every record's old -> new, what needs no write, the number of
/// writes and how long they take; above a threshold, the number of writes is typed to confirm.
#[derive(Debug, Clone)]
pub struct PlanPreview {
    /// The plan.
    pub plan: crate::jobs::plan::Plan,
    /// The first line shown of the list.
    pub scroll: u16,
    /// Whether the number of writes must be typed to confirm (more than the threshold).
    pub guarded: bool,
    /// What was typed for it.
    pub guard_text: String,
    /// The guard line's editor (view state).
    pub editor: TextArea<'static>,
    /// Why it was not started.
    pub problem: Option<String>,
}

impl PartialEq for CleanupAsk {
    // The editor is view state.
    fn eq(&self, other: &CleanupAsk) -> bool {
        self.records == other.records
            && self.import_id == other.import_id
            && self.guard_text == other.guard_text
            && self.problem == other.problem
    }
}

impl PartialEq for PlanPreview {
    // The editor is view state: a preview is its plan and what was typed.
    fn eq(&self, other: &PlanPreview) -> bool {
        self.plan == other.plan
            && self.scroll == other.scroll
            && self.guarded == other.guarded
            && self.guard_text == other.guard_text
            && self.problem == other.problem
    }
}

/// An action on one record: what it is typed with, how it is confirmed, and where it stands.
#[derive(Debug, Clone)]
pub struct ActionDialog {
    /// What kind of record.
    pub resource: &'static Resource,
    /// The action.
    pub action: &'static RecordAction,
    /// The record's id.
    pub device_id: String,
    /// Its serial number (what a delete's guard asks to type), else its id.
    pub label: String,
    /// The text typed for each of the action's inputs.
    pub inputs: Vec<String>,
    /// The typed serial, when the guard asks for one.
    pub guard_text: String,
    /// Which line has the keys: an input, or (after them) the guard line.
    pub focus: usize,
    /// The focused line's editor (view state: `inputs`/`guard_text` hold the text).
    pub editor: TextArea<'static>,
    /// Why it could not be sent, or what the server answered.
    pub problem: Option<Problem>,
    /// The request in flight, once sent.
    pub sending: Option<u64>,
}

impl PartialEq for ActionDialog {
    // The editor is view state (and has no equality): the dialog is what was typed.
    fn eq(&self, other: &ActionDialog) -> bool {
        self.resource == other.resource
            && self.action == other.action
            && self.device_id == other.device_id
            && self.label == other.label
            && self.inputs == other.inputs
            && self.guard_text == other.guard_text
            && self.focus == other.focus
            && self.problem == other.problem
            && self.sending == other.sending
    }
}

impl ActionDialog {
    /// How many lines take typing: the inputs, and the guard's serial.
    pub fn lines(&self) -> usize {
        self.inputs.len() + usize::from(self.action.guard == crate::graph::resource::Guard::TypeSerial)
    }
}

/// Where the Autopilot sync stands: one in flight, or the time Intune allows the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The sync request in flight.
    pub request_id: Option<u64>,
    /// When Intune takes the next manual sync (it refuses one within 10 minutes of the last),
    /// by the monotonic clock and as wall time for the message.
    pub next_allowed: Option<(Instant, SystemTime)>,
}

/// What the confirmation shows and, on Enter, sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// Device id.
    pub device_id: String,
    /// `PATCH`, or `POST` to an action.
    pub method: &'static str,
    /// Full URL of the write.
    pub url: String,
    /// The body (changed fields only) with its old -> new list.
    pub body: crate::graph::patch::PatchBody,
    /// What kind of record.
    pub resource: &'static Resource,
    /// What the record is called.
    pub label: String,
    /// The record the change was made against (the save re-reads and compares).
    pub original: Box<Record>,
    /// What makes the write (a form save, an undo).
    pub source: crate::write_log::WriteSource,
    /// The write log entry it undoes (its key), for an undo.
    pub undoes: Option<String>,
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
    /// It counts down to this time (the next Autopilot sync Intune takes): drawn live.
    pub countdown: Option<(Instant, SystemTime)>,
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
#[derive(Debug, Clone)]
pub struct FormState {
    /// Which record (its draft lives in `Model::drafts` once fetched).
    pub device_id: String,
    /// What kind of record.
    pub resource: &'static Resource,
    /// Serial number, for the title while the record loads.
    pub label: String,
    /// Focused field.
    pub focus: &'static Field,
    /// The line editor of the focused field (view state: the draft holds its text).
    pub editor: TextArea<'static>,
    /// Last failure.
    pub problem: Option<Problem>,
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

/// What the keys type into on the table screen, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// Nothing: keys are commands.
    Nothing,
    /// The `/` filter.
    Filter,
    /// The `:` command line.
    Command,
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
    /// The Graph root the client talks to (the confirmation shows full URLs).
    pub base_url: String,
    /// Which path of the imported identities the client uses.
    pub collection: crate::graph::client::Collection,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Current screen.
    pub screen: Screen,
    /// Overlay on top, if any.
    pub overlay: Option<Overlay>,
    /// The table of the resource shown.
    pub table: TableState,
    /// The tables of the other resources the user has looked at (`:devices`, `:imported`),
    /// kept as they were left.
    pub parked: Vec<TableState>,
    /// Under which name the resource shown is remembered for the next start (the profile, or
    /// `demo`); `None`: not remembered.
    pub remember_as: Option<String>,
    /// The Autopilot sync.
    pub sync: SyncState,
    /// The serials of the other kind's table (hashed), when it is loaded whole: rows whose
    /// serial is in it are marked `↔` (they have a linked record).
    pub links: Option<std::collections::HashSet<u64>>,
    /// What the keys type into on the table screen.
    pub typing: Typing,
    /// The editor of the `/` filter or the `:` command line while typing.
    pub line: TextArea<'static>,
    /// Unsaved (or being edited) records by id.
    pub drafts: HashMap<String, Draft>,
    /// When each unsaved draft was first stored on disk, by record id.
    pub draft_since: HashMap<String, SystemTime>,
    /// `3 drafts restored`, said again when the first listing ends (its message would hide it).
    pub restored_note: Option<String>,
    /// The last save that reached the server, as logged: what M-U in its form undoes.
    pub last_write: Option<crate::write_log::WriteEntry>,
    /// The write log view.
    pub journal: JournalView,
    /// The selected line of the drafts list.
    pub drafts_selected: usize,
    /// Quit discarding the unsaved drafts (the quit question's `d`): the store is emptied.
    pub discard_on_quit: bool,
    /// Every request started, by id, and where it stands.
    pub requests: Requests,
    /// The open form.
    pub form: Option<FormState>,
    /// The bulk form of the marked rows, while open.
    pub bulk: Option<crate::tui::bulk::BulkForm>,
    /// The bulk job running or last run.
    pub job: Option<JobView>,
    /// A bulk edit of an earlier session, put back once its records are listed.
    pub bulk_restored: Option<crate::tui::draft_store::StoredBulk>,
    /// The `:import` being checked, whose preview is awaited.
    pub import_request: Option<u64>,
    /// A bulk change of more writes than this asks for the number to be typed.
    pub confirm_over: usize,
    /// The write budget jobs are paced to (for the preview's estimate).
    pub write_rate: crate::graph::pacer::Rate,
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
    /// The wall clock as of the last answer (a listing's timestamps are shown relative to it).
    pub wall: SystemTime,
    /// A request waiting to be tried again (throttled, unavailable, lost connection).
    pub retry: Option<RetryWait>,
    /// The device code sign-in, while it runs or after it failed.
    pub sign_in: Option<SignInState>,
    /// Leave the loop.
    pub quit: bool,
    /// The signal that ended the app, if one did (its unsaved drafts are then kept for recovery).
    pub ended_by: Option<&'static str>,
}

impl Model {
    /// A fresh model showing imported identities.
    pub fn new(target_label: impl Into<String>, demo: bool, read_only: bool) -> Model {
        Model::of(&crate::graph::imported::IMPORTED, false, target_label, demo, read_only)
    }

    /// A fresh model showing `resource` at a Graph root (`beta` or not).
    pub fn of(
        resource: &'static Resource,
        beta: bool,
        target_label: impl Into<String>,
        demo: bool,
        read_only: bool,
    ) -> Model {
        Model {
            target_label: target_label.into(),
            demo,
            read_only,
            page_size: LIST_PAGE_SIZE,
            no_color: false,
            base_url: String::new(),
            collection: crate::graph::client::Collection::default(),
            size: (80, 24),
            screen: Screen::Table,
            overlay: None,
            table: TableState::new(resource, beta),
            parked: Vec::new(),
            remember_as: None,
            sync: SyncState::default(),
            links: None,
            typing: Typing::Nothing,
            line: line_editor("", ""),
            drafts: HashMap::new(),
            draft_since: HashMap::new(),
            restored_note: None,
            last_write: None,
            journal: JournalView::default(),
            drafts_selected: 0,
            discard_on_quit: false,
            requests: Requests::default(),
            form: None,
            bulk: None,
            job: None,
            bulk_restored: None,
            import_request: None,
            confirm_over: CONFIRM_OVER,
            write_rate: crate::graph::pacer::DEFAULT_WRITE_RATE,
            history: VecDeque::new(),
            history_dropped: 0,
            inspector: Inspector { selected: 0, scroll: 0, back_to: Screen::Table, wrap: true },
            toast: None,
            next_request: 1,
            spinner: 0,
            now: Instant::now(),
            wall: std::time::UNIX_EPOCH,
            retry: None,
            sign_in: None,
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

    /// Talks to this Graph root from now on: the tables follow its version (beta shows more
    /// columns), empty ones rebuilt for it.
    pub fn set_target(&mut self, base_url: String, collection: crate::graph::client::Collection) {
        let beta = crate::graph::resource::is_beta(&base_url);
        self.base_url = base_url;
        self.collection = collection;
        if self.table.beta != beta && self.table.rows.is_empty() {
            self.table = TableState::new(self.table.resource, beta);
        }
    }

    /// A resource's collection URL, as the client builds it.
    pub fn collection_url(&self, resource: &Resource) -> String {
        crate::graph::client::collection_url_for(&self.base_url, self.collection, resource)
    }

    /// Where a write of one record goes: method and URL, as the client builds them.
    pub fn write_url(&self, resource: &Resource, id: &str) -> (&'static str, String) {
        crate::graph::client::write_url_in(&self.collection_url(resource), id, resource.write)
    }

    /// The filter text.
    pub fn filter_text(&self) -> &str {
        &self.table.filter
    }

    /// Whether a record has unsaved changes.
    pub fn has_unsaved(&self, id: &str) -> bool {
        self.drafts.get(id).is_some_and(Draft::is_dirty_any)
    }

    /// How many records have unsaved changes.
    pub fn unsaved_count(&self) -> usize {
        self.drafts.values().filter(|d| d.is_dirty_any()).count()
    }

    /// Something is in flight or counting down (the clock ticks only then).
    pub fn busy(&self) -> bool {
        self.table.listing.loading
            || self.retry.is_some()
            || self.sync.request_id.is_some()
            || self.sync.next_allowed.is_some_and(|(at, _)| at > self.now)
            || matches!(&self.overlay, Some(Overlay::Action(d)) if d.sending.is_some())
            || self.form_fetching().is_some()
            || self.form_saving().is_some()
            || self.sign_in.as_ref().is_some_and(|s| s.failed.is_none())
            || self.job.as_ref().is_some_and(|j| !j.finished)
    }

    /// How long until `at`, by the model's clock.
    pub fn remaining(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.now)
    }

    /// The save in flight of the open form's record.
    pub fn form_saving(&self) -> Option<u64> {
        self.form.as_ref().and_then(|f| self.requests.saving(&f.device_id))
    }

    /// The fetch in flight of the open form's record.
    pub fn form_fetching(&self) -> Option<u64> {
        self.form.as_ref().and_then(|f| self.requests.fetching(&f.device_id))
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
        self.toast = Some(Toast { level, text: text.into(), screen, countdown: None });
    }

    /// Says when Intune takes the next Autopilot sync, counting down on the status line.
    pub fn say_countdown(&mut self, screen: Screen, next: (Instant, SystemTime)) {
        let text = crate::tui::wording::next_sync_words(self.remaining(next.0), next.1);
        self.toast = Some(Toast { level: Level::Warn, text, screen, countdown: Some(next) });
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
}
