//! What can happen to the app: an [`Action`] (what the user asked for, decoded by the key map),
//! a [`Msg`] (what a background task reported), and the [`Effect`]s that `update` asks for.

use crate::graph::auth::{AuthError, PollState};
use crate::graph::client::{Exchange, ListQuery, Outcome, Page, RetryNotice};
use crate::graph::error::GraphError;
use crate::graph::patch::PatchBody;
use crate::graph::resource::{Record, Resource};
pub use crate::tui::line_edit::EditOp;
use std::time::{Duration, Instant};

/// What the user asked for. The key map turns key presses into these; `update` gives them a
/// meaning for the current screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the app (asks first when drafts are unsaved).
    Quit,
    /// Show or hide the key help.
    Help,
    /// Go back / close the top overlay / cancel.
    Back,
    /// The terminal has a new size.
    Resize(u16, u16),
    /// Move up one line (row, field, request).
    Up,
    /// Move down one line.
    Down,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First line.
    Top,
    /// Last line.
    Bottom,
    /// Half a page up.
    HalfPageUp,
    /// Half a page down.
    HalfPageDown,
    /// The next row the kept filter matches (wraps around).
    NextMatch,
    /// The previous row the kept filter matches (wraps around).
    PrevMatch,
    /// Wrap the inspector's long lines, or not.
    ToggleWrap,
    /// Save the selected request and its answer to a file.
    SaveExchange,
    /// Start typing a filter.
    FilterStart,
    /// Edit the filter text.
    FilterEdit(EditOp),
    /// Keep the filter and return to the rows.
    FilterAccept,
    /// Sort by the column a key names (`S`: serial; again: reverse the order).
    Sort(char),
    /// Load the listing again.
    Reload,
    /// Open the selected device in the form (Enter).
    Open,
    /// Open the response inspector on the latest request.
    Inspect,
    /// Next form field.
    NextField,
    /// Previous form field.
    PrevField,
    /// Edit the focused form field.
    Edit(EditOp),
    /// Next value of a choice field (Space).
    Cycle,
    /// Put the focused field back to its original value.
    RevertField,
    /// Put every field back.
    RevertAll,
    /// Write back what the last save (or the selected write log entry) replaced.
    Undo,
    /// Complete the word before the cursor (Tab on the command line).
    Complete,
    /// Update registered devices instead of holding them (import preview).
    ToggleUpdate,
    /// Write the results to a CSV file.
    Export,
    /// `n` to a question (Esc is [`Action::Back`]: for most questions the same).
    Decline,
    /// Save every unsaved draft as one job (`:drafts`).
    SaveAll,
    /// Leave the jobs view for the table (the job goes on).
    ShowJobs,
    /// Ask for the Autopilot sync.
    Sync,
    /// In the conflict view: take the value the draft started from.
    PickOriginal,
    /// In the conflict view: take the server's value.
    PickServer,
    /// In the conflict view: take the user's value.
    PickMine,
    /// Ask to save (opens the confirmation).
    Save,
    /// Send the confirmed PATCH.
    ConfirmSend,
    /// Quit despite unsaved drafts.
    QuitAnyway,
    /// Scroll the inspector's detail up.
    ScrollUp,
    /// Scroll the inspector's detail down.
    ScrollDown,
    /// Open the `:` command line (server-side search).
    CommandStart,
    /// Edit the command line.
    CommandEdit(EditOp),
    /// Run the command line.
    CommandRun,
    /// Start the sign-in again after it failed.
    SignInAgain,
    /// Hand the terminal back to the shell until `fg` (Ctrl-Z); the run loop's host does it.
    Suspend,
    /// A signal ended the app (`SIGTERM`, ...): leave, keeping unsaved drafts for recovery.
    Terminated(&'static str),
    /// Quit, discarding the unsaved drafts (the quit question's `d`).
    DiscardDrafts,
    /// In the drafts list: discard the selected draft (asks first).
    DiscardDraft,
    /// Start the action of the selected record that this table key names (`a` assign user).
    RecordAction(char),
    /// Jump to the linked record of the other kind (imported identity <-> registered device).
    Linked,
    /// In an action's dialog: the next line, or send from the last one.
    ActionNext,
    /// Mark or unmark the selected row, then move down.
    Mark,
    /// Mark every row shown (asks first, naming how many).
    MarkShown,
    /// Clear every mark.
    ClearMarks,
    /// In the bulk form: leave / set / clear the focused field.
    CycleChoice,
    /// Copy the focused value (the serial, the field, the request-id) to the clipboard.
    Copy,
    /// Copy the selected request as a `curl` command.
    CopyCurl,
    /// Copy the selected request as PowerShell (`Invoke-MgGraphRequest`).
    CopyPowerShell,
}

/// What a background task reported. Each carries the request id it was started with; `update`
/// drops answers to requests it no longer waits for.
#[derive(Debug)]
pub enum Msg {
    /// One page of the listing.
    Page {
        /// Listing request id.
        request_id: u64,
        /// The page or the error that ended the listing.
        outcome: Box<Outcome<Page>>,
    },
    /// The listing stream ended.
    ListEnded {
        /// Listing request id.
        request_id: u64,
    },
    /// A record fetched whole for the form.
    Fetched {
        /// Fetch request id.
        request_id: u64,
        /// The record or the error.
        outcome: Box<Outcome<Record>>,
    },
    /// The answer to a write (and to the GET that follows a 204).
    Patched {
        /// Save request id.
        request_id: u64,
        /// The record that was written.
        device_id: String,
        /// The re-read before the write, the write's exchange, then the follow-up GET's.
        exchanges: Vec<Exchange>,
        /// The record as the server now has it, or the error.
        result: Box<Result<Record, GraphError>>,
        /// The write as the write log has it (what an undo writes back), when one was sent.
        written: Option<Box<crate::write_log::WriteEntry>>,
    },
    /// An import's file checked and the tenant read, or why not.
    ImportPrepared {
        /// Its request id.
        request_id: u64,
        /// The file.
        path: String,
        /// The report and the tenant, or the error in words.
        result: Result<(Box<crate::graph::csv::Report>, Box<crate::jobs::import::Tenant>), String>,
    },
    /// How a running import goes.
    ImportProgressed {
        /// Its request id.
        request_id: u64,
        /// What happened.
        progress: crate::jobs::import::ImportProgress,
    },
    /// What a running bulk job tells.
    JobEvent {
        /// Its request id.
        request_id: u64,
        /// The runner's event.
        event: Box<crate::jobs::runner::JobEvent>,
    },
    /// What a resumed job does (a new one's plan the app made itself).
    JobPlanned {
        /// Its request id.
        request_id: u64,
        /// Its plan, as its journal has it.
        plan: Box<crate::jobs::plan::Plan>,
        /// What ended before the cut, per item (`None`: pending).
        ended: Vec<Option<crate::jobs::outcome::ItemResult>>,
    },
    /// A bulk job ended.
    JobEnded {
        /// Its request id.
        request_id: u64,
        /// Its report, or why it could not run (a journal that cannot be resumed).
        result: Result<Box<crate::jobs::runner::Report>, String>,
    },
    /// Journals of jobs an earlier session left unfinished, for this target: each one's file,
    /// what it was, and how far it got.
    UnfinishedJobs {
        /// `(journal, what it was, counts so far)`.
        jobs: Vec<(std::path::PathBuf, String, crate::jobs::outcome::Counts)>,
    },
    /// A clean-up ended: one result per record.
    CleanedUp {
        /// Its request id.
        request_id: u64,
        /// What became of each record.
        rows: Vec<crate::jobs::import::RowResult>,
    },
    /// An import ended.
    ImportEnded {
        /// Its request id.
        request_id: u64,
        /// What it did, or why it could not.
        result: Result<Box<crate::jobs::import::ImportRun>, String>,
    },
    /// Results written (the path) or not.
    ResultsExported {
        /// The file, or the error.
        result: Result<String, String>,
    },
    /// The completions of a command line's last word.
    PathCompleted {
        /// The line they complete.
        line: String,
        /// The candidates (directories end with `/`).
        candidates: Vec<String>,
    },
    /// The write log as read for `:journal`: every entry oldest first and how many lines could
    /// not be read, or why the file could not be.
    JournalRead {
        /// The entries and the unreadable count, or the error.
        result: Result<(Vec<crate::write_log::WriteEntry>, usize), String>,
    },
    /// The record was read again before a write and someone else changed a field the user
    /// changed: nothing was sent.
    Conflicted {
        /// Save request id.
        request_id: u64,
        /// The record.
        device_id: String,
        /// The re-read's exchange.
        exchanges: Vec<Exchange>,
        /// The record as the server has it now.
        server: Box<Record>,
        /// The fields both changed.
        conflicts: Vec<crate::graph::conflict::FieldConflict>,
    },
    /// A request of this operation failed and the client waits before trying again.
    Retrying {
        /// The operation's request id.
        request_id: u64,
        /// What failed and how long the wait is.
        notice: RetryNotice,
        /// When the wait started.
        at: Instant,
    },
    /// A sort that ran off the draw path finished.
    Sorted {
        /// The sort's generation (only the latest is installed).
        generation: u64,
        /// The rows in their new order.
        sorted: Box<crate::tui::table::index::SortedRows>,
    },
    /// The clock advanced (only sent while a countdown or spinner is on screen).
    Tick(Instant),
    /// The device code sign-in has a code to show.
    SignInPrompt {
        /// Sign-in request id.
        request_id: u64,
        /// The code and where to enter it.
        prompt: SignInPrompt,
    },
    /// A poll of the device code sign-in answered "not yet".
    SignInPolled {
        /// Sign-in request id.
        request_id: u64,
        /// Pending, or asked to slow down.
        state: PollState,
    },
    /// An exchange was saved to a file, or why not.
    ExchangeSaved {
        /// Where it went, or what went wrong.
        result: Result<std::path::PathBuf, String>,
    },
    /// The draft store was written (when each draft was first stored), or why not.
    DraftsStored {
        /// When each draft (by record id) was first stored, or what went wrong.
        result: Result<std::collections::HashMap<String, std::time::SystemTime>, String>,
    },
    /// The sign-in finished (the effect runner holds the client it built), or why not.
    SignedIn {
        /// Sign-in request id.
        request_id: u64,
        /// The Graph root and collection choice the client reads, or the failure.
        result: Result<(String, crate::graph::client::Collection), AuthError>,
    },
    /// An action on one record was answered.
    Acted {
        /// The request.
        request_id: u64,
        /// The record.
        device_id: String,
        /// The action's exchange, and the re-read's after it.
        exchanges: Vec<Exchange>,
        /// The record as read back after the action (`None`: it was deleted), or the failure.
        result: Box<Result<Option<Record>, GraphError>>,
    },
    /// The Autopilot sync was answered.
    Synced {
        /// The request.
        request_id: u64,
        /// The sync's exchange (and the settings read after a refusal).
        exchanges: Vec<Exchange>,
        /// How it went.
        result: Box<Result<(), GraphError>>,
        /// When Intune takes the next manual sync, when the settings said (monotonic and wall).
        next_allowed: Option<(Instant, std::time::SystemTime)>,
    },
    /// A task ended without its answer: it panicked or failed to run.
    TaskFailed {
        /// The request it ran for, when known.
        request_id: Option<u64>,
        /// What happened.
        error: String,
    },
}

/// What the device code prompt shows, without the device code itself (which never leaves the
/// effect task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInPrompt {
    /// The code to type at the verification page.
    pub user_code: String,
    /// The verification page.
    pub verification_uri: String,
    /// The identity platform's own sentence about both.
    pub message: String,
    /// When the code stops working.
    pub expires_at: Instant,
    /// The polling interval.
    pub interval: Duration,
}

/// Work `update` wants done outside the pure world. `effects.rs` runs each as a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// List the collection, page by page.
    List {
        /// What to list.
        resource: &'static Resource,
        /// Request id to tag the pages with.
        request_id: u64,
        /// Query options.
        query: ListQuery,
    },
    /// Fetch one record whole.
    Get {
        /// What kind of record.
        resource: &'static Resource,
        /// Request id.
        request_id: u64,
        /// Device id.
        device_id: String,
    },
    /// Write the changed fields (a PATCH, or a POST to the resource's action).
    Patch {
        /// What kind of record.
        resource: &'static Resource,
        /// Request id.
        request_id: u64,
        /// Device id.
        device_id: String,
        /// The body (exactly the changed properties).
        body: PatchBody,
        /// The record the change was made against: the write re-reads the record first and
        /// stops at a field someone else changed since.
        original: Box<Record>,
        /// What made the write, for the write log.
        source: crate::write_log::WriteSource,
        /// The write log entry this write undoes (its key).
        undoes: Option<String>,
    },
    /// Stop the task of a request (a listing, fetch or save the user cancelled).
    Cancel {
        /// The request id whose task stops.
        request_id: u64,
    },
    /// Sort the rows off the draw path.
    Sort {
        /// The sort's generation.
        generation: u64,
        /// The rows' keys.
        job: crate::tui::table::index::SortJob,
    },
    /// Run the device code sign-in: ask for a code, then poll until the user signs in.
    SignIn {
        /// Sign-in request id.
        request_id: u64,
    },
    /// Write a request and its answer to a file in the state directory.
    SaveExchange {
        /// The file's name.
        name: String,
        /// What goes in it (Authorization already redacted).
        text: String,
    },
    /// Write the draft store (no drafts: delete it).
    StoreDrafts {
        /// The file.
        path: std::path::PathBuf,
        /// What it holds.
        drafts: Option<crate::tui::draft_store::StoredDrafts>,
    },
    /// Run an action on one record (then read it again, unless it was deleted).
    Act {
        /// What kind of record.
        resource: &'static Resource,
        /// Its request id.
        request_id: u64,
        /// The record.
        device_id: String,
        /// How it is sent.
        request: crate::graph::resource::ActionRequest,
        /// The body, for an action that takes one.
        body: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Put text on the system clipboard (OSC 52, written by the run loop between frames).
    Copy {
        /// The text.
        text: String,
    },
    /// Read the write log (for `:journal`).
    ReadJournal,
    /// Read a hardware-hash CSV, check it and read what the tenant holds for its serials.
    PrepareImport {
        /// Its request id.
        request_id: u64,
        /// The file.
        path: String,
    },
    /// Carry out an import's plan (update, import, watch, clean up).
    RunImport {
        /// Its request id.
        request_id: u64,
        /// The plan.
        plan: Box<crate::jobs::import::ImportPlan>,
    },
    /// Resume a journaled job an earlier session left unfinished.
    ResumeJob {
        /// Its request id.
        request_id: u64,
        /// Its journal.
        path: std::path::PathBuf,
    },
    /// Give up a journaled job (it is not offered again).
    AbandonJob {
        /// Its journal.
        path: std::path::PathBuf,
    },
    /// Look for unfinished job journals of this target.
    FindUnfinishedJobs,
    /// Delete import records (`:cleanup`), as a job.
    CleanUp {
        /// Its request id.
        request_id: u64,
        /// `(record id, serial)` of each.
        records: Vec<(String, Option<String>)>,
    },
    /// Stop a job after the requests in flight (its cancel token).
    CancelJob {
        /// The job's request id.
        request_id: u64,
    },
    /// Write a job's results as CSV to a file in the current directory.
    ExportResults {
        /// The file's name.
        name: String,
        /// The CSV.
        bytes: Vec<u8>,
    },
    /// Complete the path at the end of a command line (`:import ~/Dow` + Tab).
    CompletePath {
        /// The command line as typed.
        line: String,
    },
    /// Run a bulk job.
    RunJob {
        /// Its request id.
        request_id: u64,
        /// What it does.
        plan: crate::jobs::plan::Plan,
    },
    /// Ask Intune to sync with the Autopilot service.
    Sync {
        /// Its request id.
        request_id: u64,
    },
    /// Remember which resource the user looked at last, under a profile's name.
    Remember {
        /// The profile (or `demo`).
        key: String,
        /// The resource's `:` command.
        command: &'static str,
    },
}
