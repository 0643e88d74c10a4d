//! The one key map: keys -> [`Action`]s per context. The hint bar and the `?` help are drawn
//! from these tables, so what the screen says is what the keys do.

use crate::tui::event::{Action, EditOp};
use crate::tui::model::{Model, Overlay, Screen, Typing};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where the keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Device table.
    Table,
    /// Typing the table filter.
    Filter,
    /// Edit form.
    Form,
    /// PATCH confirmation.
    Confirm,
    /// Quit with unsaved drafts?
    QuitConfirm,
    /// Key help.
    Help,
    /// Response inspector.
    Inspector,
    /// Device code sign-in screen.
    SignIn,
    /// Typing a `:` command.
    Command,
    /// The unsaved drafts (`:drafts`).
    Drafts,
    /// An action's dialog with lines to type (a user to assign, the serial a delete asks for).
    ActionTyping,
    /// An action's dialog that only asks yes or no.
    ActionConfirm,
    /// The bulk form of the marked rows.
    Bulk,
    /// The preview of a bulk change.
    Plan,
    /// A yes/no question.
    Ask,
    /// The three-way view of a save stopped by conflicts.
    Conflicts,
    /// The write log (`:journal`).
    Journal,
    /// An import's check and plan.
    ImportPreview,
    /// The running or last job.
    Jobs,
    /// `:cleanup`'s question.
    Cleanup,
}

impl Context {
    /// Heading in the help.
    pub fn title(self) -> &'static str {
        match self {
            Context::Table => "Device table",
            Context::Filter => "Filter (after /)",
            Context::Form => "Edit form",
            Context::Confirm => "Confirm save",
            Context::QuitConfirm => "Quit?",
            Context::Help => "Help",
            Context::Inspector => "Response inspector",
            Context::SignIn => "Sign-in",
            Context::Command => "Command line (after :)",
            Context::Drafts => "Unsaved drafts (:drafts)",
            Context::ActionTyping => "Action on a device (typing)",
            Context::ActionConfirm => "Action on a device",
            Context::Bulk => "Bulk edit of the marked devices",
            Context::Plan => "Preview of a bulk change",
            Context::Ask => "Question",
            Context::Conflicts => "Conflicts (changed on the server too)",
            Context::Journal => "Write log (:journal)",
            Context::ImportPreview => "Import preview (:import)",
            Context::Jobs => "Jobs (:jobs)",
            Context::Cleanup => "Clean-up of import records (:cleanup)",
        }
    }
}

/// One key (modifiers beyond Shift must match; Shift is implied by an upper-case char).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Key code.
    pub code: KeyCode,
    /// Ctrl / Alt.
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::NONE }
}
const fn c(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::NONE }
}
const fn ctrl(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::CONTROL }
}
const fn alt(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::ALT }
}

/// How much a hint matters when the hint bar is short of room: the least important drop first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Always shown (help, quit/back, a dialog's answers).
    Always,
    /// The screen's main commands.
    High,
    /// Useful, shown when there is room.
    Normal,
    /// Shown only on a wide terminal (moving around is learnt once).
    Low,
}

/// A binding: the keys, how the hint bar and help name them, and what they do.
#[derive(Debug)]
pub struct Binding {
    /// Keys that trigger it.
    pub keys: &'static [Key],
    /// How keys are written on screen (`↑/k`).
    pub label: &'static str,
    /// What it does, for the hint bar and the help.
    pub help: &'static str,
    /// The action.
    pub action: Action,
    /// The hint bar's short text; empty: only in the help.
    pub hint: &'static str,
    /// Which hints give way first on a narrow terminal.
    pub priority: Priority,
    /// Changes data: off in read-only mode.
    pub writes: bool,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
    hint: &'static str,
) -> Binding {
    Binding { keys, label, help, action, hint, priority: Priority::Normal, writes: false }
}

const fn bp(
    priority: Priority,
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
    hint: &'static str,
) -> Binding {
    Binding { keys, label, help, action, hint, priority, writes: false }
}

const fn wp(
    priority: Priority,
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
    hint: &'static str,
) -> Binding {
    Binding { keys, label, help, action, hint, priority, writes: true }
}

const fn w(
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
    hint: &'static str,
) -> Binding {
    Binding { keys, label, help, action, hint, priority: Priority::High, writes: true }
}

use Priority::{Always, High, Low};

/// Keys that work everywhere.
pub static GLOBAL: &[Binding] = &[
    b(&[ctrl('c')], "^C", "quit (asks when drafts are unsaved)", Action::Quit, ""),
    b(&[ctrl('z')], "^Z", "suspend to the shell (fg resumes)", Action::Suspend, ""),
];

/// Device table.
pub static TABLE: &[Binding] = &[
    bp(Low, &[k(KeyCode::Up), c('k')], "↑/k", "previous device", Action::Up, "up"),
    bp(Low, &[k(KeyCode::Down), c('j')], "↓/j", "next device", Action::Down, "down"),
    b(&[k(KeyCode::PageUp), ctrl('b')], "PgUp/^B", "page up", Action::PageUp, ""),
    b(&[k(KeyCode::PageDown), ctrl('f')], "PgDn/^F", "page down", Action::PageDown, ""),
    b(&[ctrl('u')], "^U", "half a page up", Action::HalfPageUp, ""),
    b(&[ctrl('d')], "^D", "half a page down", Action::HalfPageDown, ""),
    b(&[k(KeyCode::Home), c('g')], "g/Home", "first device", Action::Top, ""),
    b(&[k(KeyCode::End), c('G')], "G/End", "last device", Action::Bottom, ""),
    bp(High, &[k(KeyCode::Enter)], "⏎", "edit device (with marks: bulk edit them)", Action::Open, "edit"),
    bp(
        High,
        &[c('/')],
        "/",
        "filter on every column shown (status, error code, ids too)",
        Action::FilterStart,
        "filter",
    ),
    b(&[c('n')], "n", "next matching row (wraps)", Action::NextMatch, "match"),
    b(&[c('N')], "N", "previous matching row (wraps)", Action::PrevMatch, "match"),
    b(&[k(KeyCode::Esc)], "Esc", "clear filter; end server search; stop listing", Action::Back, ""),
    // The keys come from the resource's columns (`S` serial, `T` tag, ...): see `resolve`.
    b(&[], "S T U …", "sort by a column; the same key again reverses", Action::Sort(' '), "sort"),
    b(
        &[c('r'), ctrl('r')],
        "r",
        "reload what is shown (a server search runs again)",
        Action::Reload,
        "reload",
    ),
    b(&[c(' ')], "Space", "mark / unmark the device, then the next (bulk edit)", Action::Mark, "mark"),
    bp(Low, &[c('*')], "*", "mark every device shown (asks first)", Action::MarkShown, "mark shown"),
    bp(Low, &[c('\\')], "\\", "clear the marks", Action::ClearMarks, "clear marks"),
    b(&[c('i')], "i", "inspect requests", Action::Inspect, "requests"),
    bp(Low, &[c('y')], "y", "copy the serial number to the clipboard", Action::Copy, "copy"),
    b(&[c('l')], "l", "jump to the linked record of the other kind (same serial)", Action::Linked, "linked"),
    // The resource's own actions (`a` assign user, `d` delete, ...) come from its descriptor:
    // see `resolve` and `hints`.
    b(&[c(':')], ":", "server search, :devices / :imported (commands below)", Action::CommandStart, "search"),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(Always, &[c('q')], "q", "quit", Action::Quit, "quit"),
];

/// Typing the filter.
pub static FILTER: &[Binding] = &[
    bp(
        High,
        &[k(KeyCode::Enter)],
        "⏎",
        "keep filter (n/N then jump between matches)",
        Action::FilterAccept,
        "keep filter",
    ),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "clear filter", Action::Back, "clear"),
    bp(Low, &[k(KeyCode::Up)], "↑", "previous device", Action::Up, "up"),
    bp(Low, &[k(KeyCode::Down)], "↓", "next device", Action::Down, "down"),
    bp(Always, &[k(KeyCode::F(1))], "F1", "help", Action::Help, "help"),
];

/// Typing a `:` command.
pub static COMMAND: &[Binding] = &[
    bp(High, &[k(KeyCode::Enter)], "⏎", "run the command", Action::CommandRun, "run"),
    bp(Low, &[k(KeyCode::Tab)], "Tab", "complete the file name (:import)", Action::Complete, "complete"),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "close the command line", Action::Back, "cancel"),
    bp(Always, &[k(KeyCode::F(1))], "F1", "help", Action::Help, "help"),
];

/// Device code sign-in.
pub static SIGN_IN: &[Binding] = &[
    bp(
        High,
        &[c('r'), k(KeyCode::Enter)],
        "r/⏎",
        "start the sign-in again (after it failed)",
        Action::SignInAgain,
        "sign in again",
    ),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(Always, &[k(KeyCode::Esc), c('q')], "Esc/q", "cancel and quit", Action::Back, "cancel and quit"),
];

/// Edit form. Typing goes into the focused field, so help is F1 here, not `?`.
pub static FORM: &[Binding] = &[
    bp(
        High,
        &[k(KeyCode::Tab), k(KeyCode::Down), k(KeyCode::Enter)],
        "⏎/Tab",
        "next field",
        Action::NextField,
        "next field",
    ),
    b(&[k(KeyCode::BackTab), k(KeyCode::Up)], "S-Tab/↑", "previous field", Action::PrevField, ""),
    w(&[ctrl('s')], "^S", "save (shows the request first)", Action::Save, "save"),
    wp(Priority::Normal, &[ctrl('r')], "^R", "revert this field", Action::RevertField, "revert field"),
    wp(Low, &[alt('r'), alt('R')], "M-R", "revert all fields", Action::RevertAll, "revert all"),
    wp(
        Low,
        &[alt('u'), alt('U')],
        "M-U",
        "undo this device's last save (writes the old values back; shows the request first)",
        Action::Undo,
        "undo save",
    ),
    w(&[], "←/→ Space", "choose import status", Action::Cycle, ""),
    bp(Low, &[ctrl('o')], "^O", "inspect requests", Action::Inspect, "requests"),
    bp(Low, &[ctrl('y')], "^Y", "copy the field's value to the clipboard", Action::Copy, "copy"),
    bp(Always, &[k(KeyCode::F(1))], "F1", "help", Action::Help, "help"),
    bp(
        Always,
        &[k(KeyCode::Esc)],
        "Esc",
        "back to table (draft kept); while saving: cancel the save",
        Action::Back,
        "back",
    ),
];

/// PATCH confirmation.
pub static CONFIRM: &[Binding] = &[
    wp(Always, &[c('y'), k(KeyCode::Enter)], "y/⏎", "send the request", Action::ConfirmSend, "send"),
    bp(Always, &[c('n'), k(KeyCode::Esc)], "n/Esc", "back to editing", Action::Back, "back to editing"),
];

/// Quit confirmation.
pub static QUIT_CONFIRM: &[Binding] = &[
    bp(
        Always,
        &[c('y'), ctrl('c')],
        "y",
        "quit; the drafts stay saved for the next start",
        Action::QuitAnyway,
        "quit",
    ),
    bp(Always, &[c('d')], "d", "discard the drafts and quit", Action::DiscardDrafts, "discard and quit"),
    bp(Always, &[c('n'), k(KeyCode::Esc)], "n/Esc", "stay", Action::Back, "stay"),
];

/// The unsaved drafts (`:drafts`).
pub static DRAFTS: &[Binding] = &[
    bp(Low, &[k(KeyCode::Up), c('k')], "↑/k", "previous draft", Action::Up, "up"),
    bp(Low, &[k(KeyCode::Down), c('j')], "↓/j", "next draft", Action::Down, "down"),
    bp(High, &[k(KeyCode::Enter)], "⏎", "open the draft in its form", Action::Open, "open"),
    w(
        &[c('S')],
        "S",
        "save every draft of the kind shown, as one job (preview first)",
        Action::SaveAll,
        "save all",
    ),
    b(&[c('d'), k(KeyCode::Delete)], "d", "discard this draft (asks first)", Action::DiscardDraft, "discard"),
    b(&[c('D')], "D", "discard every draft (asks first)", Action::DiscardDrafts, "discard all"),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(Always, &[k(KeyCode::Esc), c('q')], "Esc", "back to the table", Action::Back, "back"),
];

/// Fields both the user and someone else changed.
pub static CONFLICTS: &[Binding] = &[
    bp(Low, &[k(KeyCode::Up), c('k')], "↑/k", "previous field", Action::Up, "up"),
    bp(Low, &[k(KeyCode::Down), c('j'), k(KeyCode::Tab)], "↓/j", "next field", Action::Down, "down"),
    bp(
        High,
        &[c('o')],
        "o",
        "keep the original value (undoes the other change too)",
        Action::PickOriginal,
        "original",
    ),
    bp(High, &[c('s')], "s", "keep the server's value (drops yours)", Action::PickServer, "server"),
    bp(High, &[c('m')], "m", "keep your value (written over the other change)", Action::PickMine, "mine"),
    wp(
        Always,
        &[k(KeyCode::Enter)],
        "⏎",
        "apply the picks, then confirm the save (nothing is sent before)",
        Action::ConfirmSend,
        "apply",
    ),
    bp(
        Always,
        &[k(KeyCode::Esc)],
        "Esc",
        "back to the form; nothing sent, the draft as it was",
        Action::Back,
        "back",
    ),
];

/// An import's check and plan, before anything is sent.
pub static IMPORT_PREVIEW: &[Binding] = &[
    wp(
        Always,
        &[k(KeyCode::Enter)],
        "⏎",
        "start the import (the valid rows of the plan)",
        Action::ConfirmSend,
        "import",
    ),
    bp(
        High,
        &[c('u')],
        "u",
        "update registered devices whose tag or user differs, instead of holding them (again: hold)",
        Action::ToggleUpdate,
        "update instead",
    ),
    b(&[k(KeyCode::Up), k(KeyCode::PageUp), c('k')], "↑/PgUp", "scroll up", Action::ScrollUp, "scroll"),
    b(&[k(KeyCode::Down), k(KeyCode::PageDown), c('j')], "↓/PgDn", "scroll down", Action::ScrollDown, ""),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "close (nothing is sent)", Action::Back, "cancel"),
];

/// `:cleanup`'s question.
pub static CLEANUP: &[Binding] = &[
    wp(
        Always,
        &[k(KeyCode::Enter)],
        "⏎",
        "delete them (above 25: type the number first)",
        Action::ConfirmSend,
        "delete",
    ),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "close (nothing is deleted)", Action::Back, "cancel"),
];

/// The running or last job.
pub static JOBS: &[Binding] = &[
    b(
        &[k(KeyCode::Up), k(KeyCode::PageUp), c('k')],
        "↑/PgUp",
        "scroll the rows up",
        Action::ScrollUp,
        "scroll",
    ),
    b(
        &[k(KeyCode::Down), k(KeyCode::PageDown), c('j')],
        "↓/PgDn",
        "scroll the rows down",
        Action::ScrollDown,
        "",
    ),
    bp(
        High,
        &[c('e')],
        "e",
        "export the results to a CSV file (current directory)",
        Action::Export,
        "export",
    ),
    w(&[c('s')], "s", "ask for the Autopilot sync (after an import)", Action::Sync, "sync"),
    bp(
        High,
        &[c('b'), c('q'), k(KeyCode::Tab)],
        "b",
        "back to the table; the job goes on (:jobs returns)",
        Action::ShowJobs,
        "browse",
    ),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(
        Always,
        &[k(KeyCode::Esc)],
        "Esc",
        "cancel the job (asks; the writes in flight finish); when it ended: back",
        Action::Back,
        "cancel/back",
    ),
];

/// The write log.
pub static JOURNAL: &[Binding] = &[
    bp(Low, &[k(KeyCode::Up), c('k')], "↑/k", "newer write", Action::Up, "up"),
    bp(Low, &[k(KeyCode::Down), c('j')], "↓/j", "older write", Action::Down, "down"),
    b(&[k(KeyCode::PageUp), ctrl('b')], "PgUp", "page up", Action::PageUp, ""),
    b(&[k(KeyCode::PageDown), ctrl('f')], "PgDn", "page down", Action::PageDown, ""),
    b(&[k(KeyCode::Home), c('g')], "g", "newest", Action::Top, ""),
    b(&[k(KeyCode::End), c('G')], "G", "oldest", Action::Bottom, ""),
    w(
        &[c('u')],
        "u",
        "undo the write (writes its before values back; shows the request first)",
        Action::Undo,
        "undo",
    ),
    bp(
        High,
        &[c('/')],
        "/",
        "filter (serial, id, field, value, source, status)",
        Action::FilterStart,
        "filter",
    ),
    b(&[c('r')], "r", "read the log again", Action::Reload, "reload"),
    b(&[c('y')], "y", "copy the request-id to the clipboard", Action::Copy, "copy id"),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(Always, &[k(KeyCode::Esc), c('q')], "Esc", "back to the table", Action::Back, "back"),
];

/// The bulk form. Typing goes into the focused field's value.
pub static BULK: &[Binding] = &[
    b(
        &[k(KeyCode::Tab), k(KeyCode::Down), k(KeyCode::Enter)],
        "⏎/Tab",
        "next field",
        Action::NextField,
        "next",
    ),
    b(&[k(KeyCode::BackTab), k(KeyCode::Up)], "S-Tab/↑", "previous field", Action::PrevField, ""),
    bp(High, &[ctrl('t')], "^T", "leave / set / clear the field", Action::CycleChoice, "leave/set/clear"),
    w(&[ctrl('s')], "^S", "preview the change (nothing is sent yet)", Action::Save, "preview"),
    bp(Always, &[k(KeyCode::F(1))], "F1", "help", Action::Help, "help"),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "back to the table (the marks stay)", Action::Back, "back"),
];

/// The preview of a bulk change.
pub static PLAN: &[Binding] = &[
    wp(Always, &[k(KeyCode::Enter)], "⏎", "start the job", Action::ConfirmSend, "start"),
    b(&[k(KeyCode::Up), k(KeyCode::PageUp)], "↑/PgUp", "scroll up", Action::ScrollUp, "scroll"),
    b(&[k(KeyCode::Down), k(KeyCode::PageDown)], "↓/PgDn", "scroll down", Action::ScrollDown, ""),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "back to the bulk form (nothing is sent)", Action::Back, "back"),
];

/// A yes/no question.
pub static ASK: &[Binding] = &[
    bp(Always, &[c('y'), k(KeyCode::Enter)], "y/⏎", "yes", Action::ConfirmSend, "yes"),
    bp(Always, &[c('n')], "n", "no (an unfinished job: drop it)", Action::Decline, "no"),
    bp(
        Always,
        &[k(KeyCode::Esc)],
        "Esc",
        "no (an unfinished job: ask again at the next start)",
        Action::Back,
        "later",
    ),
];

/// An action's dialog with lines to type.
pub static ACTION_TYPING: &[Binding] = &[
    wp(Always, &[k(KeyCode::Enter)], "⏎", "next line; on the last: send", Action::ActionNext, "send"),
    b(&[k(KeyCode::Tab), k(KeyCode::Down)], "Tab", "next line", Action::NextField, ""),
    b(&[k(KeyCode::BackTab), k(KeyCode::Up)], "S-Tab", "previous line", Action::PrevField, ""),
    bp(Always, &[k(KeyCode::Esc)], "Esc", "close (nothing is sent)", Action::Back, "cancel"),
];

/// An action's dialog that only asks yes or no.
pub static ACTION_CONFIRM: &[Binding] = &[
    wp(Always, &[c('y'), k(KeyCode::Enter)], "y/⏎", "send the request", Action::ConfirmSend, "send"),
    bp(Always, &[c('n'), k(KeyCode::Esc)], "n/Esc", "close (nothing is sent)", Action::Back, "cancel"),
];

/// Key help.
pub static HELP: &[Binding] = &[
    b(&[k(KeyCode::Up), c('k')], "↑/k", "scroll up", Action::Up, "scroll"),
    b(&[k(KeyCode::Down), c('j')], "↓/j", "scroll down", Action::Down, ""),
    bp(
        Always,
        &[k(KeyCode::Esc), c('?'), c('q'), k(KeyCode::F(1))],
        "Esc",
        "close help",
        Action::Back,
        "close",
    ),
];

/// Response inspector.
pub static INSPECTOR: &[Binding] = &[
    bp(Low, &[k(KeyCode::Up), c('k')], "↑/k", "previous request", Action::Up, "older"),
    bp(Low, &[k(KeyCode::Down), c('j')], "↓/j", "next request", Action::Down, "newer"),
    b(&[k(KeyCode::Home), c('g')], "g", "first request", Action::Top, ""),
    b(&[k(KeyCode::End), c('G')], "G", "last request", Action::Bottom, ""),
    b(&[k(KeyCode::PageUp), ctrl('u'), c('K')], "PgUp", "scroll details up", Action::ScrollUp, ""),
    b(
        &[k(KeyCode::PageDown), ctrl('d'), c(' '), c('J')],
        "PgDn/Space",
        "scroll details down",
        Action::ScrollDown,
        "scroll",
    ),
    b(&[c('w')], "w", "wrap long lines on/off", Action::ToggleWrap, "wrap"),
    b(&[c('y')], "y", "copy the request-id to the clipboard", Action::Copy, "copy id"),
    b(&[c('Y')], "Y", "copy the request as a curl command (token as $TOKEN)", Action::CopyCurl, "curl"),
    bp(
        Low,
        &[ctrl('y')],
        "^Y",
        "copy the request as PowerShell Invoke-MgGraphRequest (token as $token)",
        Action::CopyPowerShell,
        "PowerShell",
    ),
    b(
        &[c('s')],
        "s",
        "save the request and answer to a file (Authorization redacted)",
        Action::SaveExchange,
        "save",
    ),
    bp(Always, &[c('?'), k(KeyCode::F(1))], "?", "help (F1 too)", Action::Help, "help"),
    bp(Always, &[k(KeyCode::Esc), c('q')], "Esc", "back", Action::Back, "back"),
];

/// Editing keys of single-line editors (form fields and the filter).
pub static EDITING: &[(Key, EditOp)] = &[
    (k(KeyCode::Backspace), EditOp::Backspace),
    (ctrl('h'), EditOp::Backspace),
    (k(KeyCode::Delete), EditOp::Delete),
    (ctrl('d'), EditOp::Delete),
    (k(KeyCode::Left), EditOp::Left),
    (k(KeyCode::Right), EditOp::Right),
    (k(KeyCode::Home), EditOp::Home),
    (ctrl('a'), EditOp::Home),
    (k(KeyCode::End), EditOp::End),
    (ctrl('e'), EditOp::End),
    (ctrl('w'), EditOp::DeleteWord),
    (ctrl('u'), EditOp::DeleteToStart),
    (ctrl('k'), EditOp::DeleteToEnd),
];

/// The bindings of a context.
pub fn bindings(ctx: Context) -> &'static [Binding] {
    match ctx {
        Context::Table => TABLE,
        Context::Filter => FILTER,
        Context::Form => FORM,
        Context::Confirm => CONFIRM,
        Context::QuitConfirm => QUIT_CONFIRM,
        Context::Help => HELP,
        Context::Inspector => INSPECTOR,
        Context::SignIn => SIGN_IN,
        Context::Command => COMMAND,
        Context::Drafts => DRAFTS,
        Context::ActionTyping => ACTION_TYPING,
        Context::ActionConfirm => ACTION_CONFIRM,
        Context::Bulk => BULK,
        Context::Plan => PLAN,
        Context::Ask => ASK,
        Context::Conflicts => CONFLICTS,
        Context::Journal => JOURNAL,
        Context::ImportPreview => IMPORT_PREVIEW,
        Context::Jobs => JOBS,
        Context::Cleanup => CLEANUP,
    }
}

/// Where keys go right now: the top overlay, else the screen.
pub fn context(model: &Model) -> Context {
    match &model.overlay {
        Some(Overlay::QuitConfirm) => Context::QuitConfirm,
        Some(Overlay::Confirm(_)) => Context::Confirm,
        Some(Overlay::Help { .. }) => Context::Help,
        Some(Overlay::Action(d)) if d.lines() > 0 => Context::ActionTyping,
        Some(Overlay::Action(_)) => Context::ActionConfirm,
        Some(Overlay::Ask(_)) => Context::Ask,
        Some(Overlay::Plan(_)) => Context::Plan,
        Some(Overlay::Conflicts(_)) => Context::Conflicts,
        Some(Overlay::Import(_)) => Context::ImportPreview,
        Some(Overlay::Cleanup(_)) => Context::Cleanup,
        None => match model.screen {
            Screen::Table if model.typing == Typing::Command => Context::Command,
            Screen::Table if model.typing == Typing::Filter => Context::Filter,
            Screen::Table => Context::Table,
            Screen::Form => Context::Form,
            Screen::Inspector => Context::Inspector,
            Screen::SignIn => Context::SignIn,
            Screen::Bulk => Context::Bulk,
            Screen::Drafts => Context::Drafts,
            Screen::Journal if model.typing == Typing::Filter => Context::Filter,
            Screen::Journal => Context::Journal,
            Screen::Jobs => Context::Jobs,
        },
    }
}

/// The context whose keys the help explains (under the help overlay itself).
pub fn help_context(model: &Model) -> Context {
    match model.screen {
        Screen::Table => Context::Table,
        Screen::Form => Context::Form,
        Screen::Inspector => Context::Inspector,
        Screen::SignIn => Context::SignIn,
        Screen::Bulk => Context::Bulk,
        Screen::Drafts => Context::Drafts,
        Screen::Journal => Context::Journal,
        Screen::Jobs => Context::Jobs,
    }
}

fn matches(key: &Key, event: &KeyEvent) -> bool {
    let mods = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    match (key.code, event.code) {
        (KeyCode::Char(a), KeyCode::Char(e)) => {
            let e = if mods.contains(KeyModifiers::CONTROL) { e.to_ascii_lowercase() } else { e };
            a == e && key.mods == mods
        }
        (KeyCode::BackTab, KeyCode::BackTab) => true,
        (a, e) => a == e && key.mods == mods,
    }
}

fn edit_op(event: &KeyEvent) -> Option<EditOp> {
    if let Some((_, op)) = EDITING.iter().find(|(key, _)| matches(key, event)) {
        return Some(op.clone());
    }
    match event.code {
        KeyCode::Char(ch) if !event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
            Some(EditOp::Insert(ch))
        }
        _ => None,
    }
}

/// Turns a key press into an action for a context.
pub fn resolve(ctx: Context, event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    if let Some(bound) =
        GLOBAL.iter().chain(bindings(ctx)).find(|bd| bd.keys.iter().any(|k| matches(k, event)))
    {
        // Ctrl-C on the quit question means "yes, really".
        if ctx == Context::QuitConfirm && bound.action == Action::Quit {
            return Some(Action::QuitAnyway);
        }
        return Some(bound.action.clone());
    }
    let plain = !event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match ctx {
        // An upper-case letter no binding took sorts by the column it names, if one does; a
        // lower-case one may start an action of a resource (`a` assign user, `d` delete).
        Context::Table => match event.code {
            KeyCode::Char(ch) if plain && ch.is_ascii_uppercase() => Some(Action::Sort(ch)),
            KeyCode::Char(ch) if plain && is_action_key(ch) => Some(Action::RecordAction(ch)),
            KeyCode::Delete if plain => Some(Action::RecordAction('d')),
            _ => None,
        },
        Context::Form | Context::ActionTyping | Context::Bulk | Context::Plan | Context::Cleanup => {
            edit_op(event).map(Action::Edit)
        }
        Context::Filter => edit_op(event).map(Action::FilterEdit),
        Context::Command => edit_op(event).map(Action::CommandEdit),
        _ => None,
    }
}

/// Whether some resource has an action on this key.
fn is_action_key(ch: char) -> bool {
    crate::graph::resources().iter().any(|r| r.action(ch).is_some())
}

/// One item of the hint bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The keys as written (`⏎`, `S/T/U/I/B/P/D`); empty for a note.
    pub keys: String,
    /// What they do.
    pub what: &'static str,
    /// Which hints give way first.
    pub priority: Priority,
}

/// Whether a command can do something now (the hint bar offers only those): `n`/`N` with a
/// kept filter, Enter with a row, saving and reverting with a change, starting a sign-in again
/// once it stopped.
pub fn available(action: &Action, model: &Model) -> bool {
    let draft = model.form_draft();
    match action {
        Action::NextMatch | Action::PrevMatch => !model.filter_text().is_empty(),
        Action::Open => !model.table.view.is_empty(),
        Action::ClearMarks => !model.table.marks.is_empty(),
        Action::Mark | Action::MarkShown => {
            !model.read_only && !model.table.view.is_empty() && !model.table.resource.bulk.is_empty()
        }
        Action::Save if model.screen == Screen::Bulk => model
            .bulk
            .as_ref()
            .is_some_and(|b| b.fields.iter().any(|f| f.choice != crate::tui::bulk::Choice::Leave)),
        Action::Save | Action::RevertAll => draft.is_some_and(|d| d.is_dirty_any()),
        Action::RevertField => draft.zip(model.form.as_ref()).is_some_and(|(d, f)| d.is_dirty(f.focus)),
        Action::SignInAgain => model.sign_in.as_ref().is_some_and(|s| s.failed.is_some()),
        Action::Linked => {
            !model.table.view.is_empty() && model.table.resource.field("serialNumber").is_some()
        }
        Action::Sync if model.screen == Screen::Jobs => model.job.as_ref().is_some_and(|j| j.offer_sync),
        Action::Export => model.job.as_ref().is_some_and(|j| j.results_csv.is_some()),
        Action::Undo if model.screen == Screen::Form => {
            model.last_write.as_ref().zip(model.form.as_ref()).is_some_and(|(w, f)| w.id == f.device_id)
        }
        _ => true,
    }
}

/// The hint bar's items for a context, in the key map's order; the sort hint names the keys
/// of the table's columns (`S/T/U/I/B/P/D`).
pub fn hints(ctx: Context, model: &Model) -> Vec<Hint> {
    let sort_keys: String =
        model.table.columns().iter().map(|c| c.sort_key.to_string()).collect::<Vec<_>>().join("/");
    let mut items: Vec<Hint> = Vec::new();
    for bd in bindings(ctx)
        .iter()
        .filter(|bd| !bd.hint.is_empty() && (model.read_only && bd.writes || available(&bd.action, model)))
    {
        let (keys, what) = match (model.read_only, bd.writes, &bd.action) {
            (true, true, _) => ("", "read-only: editing off"),
            (true, false, Action::Open) => (bd.label, "view"),
            (false, _, Action::Open) if !model.table.marks.is_empty() => (bd.label, "bulk edit marked"),
            (_, _, Action::Sort(_)) => (sort_keys.as_str(), bd.hint),
            _ => (bd.label, bd.hint),
        };
        match items.iter_mut().find(|h| h.what == what) {
            Some(same) if !keys.is_empty() && !same.keys.is_empty() => {
                same.keys.push('/');
                same.keys.push_str(keys);
            }
            Some(_) => {}
            None => items.push(Hint { keys: keys.to_string(), what, priority: bd.priority }),
        }
    }
    // The resource's own actions, before inspect/search/help, when a row is there to act on.
    if ctx == Context::Table && !model.table.view.is_empty() && !model.read_only {
        let at = items.iter().position(|h| h.what == "requests").unwrap_or(items.len());
        let actions = model.table.resource.actions.iter().map(|a| Hint {
            keys: a.key.to_string(),
            what: a.name,
            priority: if a.key == 'd' { Priority::Low } else { Priority::Normal },
        });
        items.splice(at..at, actions);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn table_keys() {
        let t = Context::Table;
        assert_eq!(resolve(t, &key(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(resolve(t, &key(KeyCode::Char('S'), KeyModifiers::SHIFT)), Some(Action::Sort('S')));
        assert_eq!(resolve(t, &key(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(resolve(t, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(resolve(t, &key(KeyCode::Char('x'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn form_types_text_but_keeps_control_keys() {
        let f = Context::Form;
        assert_eq!(
            resolve(f, &key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Edit(EditOp::Insert('q')))
        );
        assert_eq!(
            resolve(f, &key(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(Action::Edit(EditOp::Insert('S')))
        );
        assert_eq!(resolve(f, &key(KeyCode::Char('s'), KeyModifiers::CONTROL)), Some(Action::Save));
        assert_eq!(resolve(f, &key(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::PrevField));
        assert_eq!(resolve(f, &key(KeyCode::Char('r'), KeyModifiers::ALT)), Some(Action::RevertAll));
        assert_eq!(
            resolve(f, &key(KeyCode::Backspace, KeyModifiers::NONE)),
            Some(Action::Edit(EditOp::Backspace))
        );
    }

    #[test]
    fn every_sort_key_of_every_resource_sorts_and_no_two_share_one() {
        for resource in [&crate::graph::imported::IMPORTED, &crate::graph::registered::REGISTERED] {
            let mut seen = Vec::new();
            for column in resource.columns {
                let event = key(KeyCode::Char(column.sort_key), KeyModifiers::SHIFT);
                assert_eq!(
                    resolve(Context::Table, &event),
                    Some(Action::Sort(column.sort_key)),
                    "{}",
                    column.title
                );
                assert!(!seen.contains(&column.sort_key), "{} shares {}", column.title, column.sort_key);
                seen.push(column.sort_key);
            }
        }
    }

    #[test]
    fn the_hint_bar_offers_what_can_be_done_now() {
        let mut m = crate::tui::fixtures::model(200, 40);
        let whats = |m: &Model, ctx| hints(ctx, m).into_iter().map(|h| h.what).collect::<Vec<_>>();
        assert!(!whats(&m, Context::Table).contains(&"match"), "n/N need a kept filter");
        m.table.filter = "sales".into();
        assert!(whats(&m, Context::Table).contains(&"match"));
        let keys = hints(Context::Table, &m).into_iter().find(|h| h.what == "sort").unwrap().keys;
        assert_eq!(keys, "S/T/U/I/B/P/D", "the sort keys are the columns'");
        m.sign_in =
            Some(crate::tui::model::SignInState { request_id: 1, prompt: None, poll: None, failed: None });
        assert!(!whats(&m, Context::SignIn).contains(&"sign in again"), "only once the sign-in stopped");
        m.sign_in.as_mut().unwrap().failed = Some("declined".into());
        assert!(whats(&m, Context::SignIn).contains(&"sign in again"));
    }

    #[test]
    fn every_binding_is_reachable() {
        for ctx in [
            Context::Table,
            Context::Filter,
            Context::Form,
            Context::Confirm,
            Context::QuitConfirm,
            Context::Help,
            Context::Inspector,
            Context::SignIn,
            Context::Command,
            Context::Drafts,
            Context::ActionTyping,
            Context::ActionConfirm,
            Context::Bulk,
            Context::Plan,
            Context::Ask,
            Context::Conflicts,
            Context::Journal,
            Context::ImportPreview,
            Context::Jobs,
            Context::Cleanup,
        ] {
            for bd in bindings(ctx) {
                for k in bd.keys {
                    let got = resolve(ctx, &KeyEvent::new(k.code, k.mods));
                    assert!(got.is_some(), "{ctx:?} {}", bd.label);
                }
            }
        }
    }
}
