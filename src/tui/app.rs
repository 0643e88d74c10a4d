//! The run loop: select over terminal events, task messages, signals and (only while something
//! is pending) a spinner tick; apply `update`; run effects; draw once when the queue is drained
//! and something changed.

use crate::connect::DeviceCodeSignIn;
use crate::graph::client::GraphClient;
use crate::tui::draft_store::{self, DraftStoreError, StoredDrafts};
use crate::tui::effects::Effects;
use crate::tui::event::{Action, EditOp, Msg};
use crate::tui::keymap::{Context, context, resolve};
use crate::tui::model::{Level, Model, Screen};
use crate::tui::terminal::{self, TerminalGuard};
use crate::tui::update::{self, Input};
use crate::tui::views;
use crossterm::event::Event;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the app reaches Graph: a ready client, or a device code sign-in to run first on the
/// sign-in screen (the client is built when it succeeds).
#[derive(Debug)]
pub enum Session {
    /// Ready to list.
    Client(GraphClient),
    /// Sign in first.
    DeviceCode(DeviceCodeSignIn),
}

impl From<GraphClient> for Session {
    fn from(client: GraphClient) -> Session {
        Session::Client(client)
    }
}

impl From<DeviceCodeSignIn> for Session {
    fn from(sign_in: DeviceCodeSignIn) -> Session {
        Session::DeviceCode(sign_in)
    }
}

/// What `main` hands the interactive app.
#[derive(Debug)]
pub struct AppOptions {
    /// The Graph client (its config says the collection and read-only), or the sign-in.
    pub session: Session,
    /// `DEMO http://127.0.0.1:41234/v1.0` or the base URL, shown in the header.
    pub target_label: String,
    /// Running against the embedded demo server.
    pub demo: bool,
    /// Writes are off.
    pub read_only: bool,
    /// `$top` of listing pages.
    pub page_size: u32,
    /// Where the log goes (main sets up tracing); shown nowhere, kept for messages.
    pub log_path: Option<PathBuf>,
    /// The profile the settings came from: which resource it showed last is remembered under
    /// its name (or `demo`, or the Graph root).
    pub profile: Option<String>,
    /// What to show first (`--show`), over what was shown last.
    pub show: Option<&'static crate::graph::resource::Resource>,
    /// The write budget bulk jobs are paced to (`--write-rate`, the profile's `write-rate`).
    pub write_rate: crate::graph::pacer::Rate,
}

/// Why the app stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// Terminal I/O failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
    /// Drawing failed.
    #[error("drawing: {0}")]
    Draw(String),
}

/// Runs the app in the real terminal until the user quits. The terminal is restored on every
/// exit path, panics and signals included. Unsaved drafts are kept in the draft store a
/// moment after they change and when the app ends (a signal included), and the next start
/// restores them.
pub async fn run(opts: AppOptions) -> Result<(), TuiError> {
    let remember_as = match (&opts.profile, opts.demo) {
        (Some(profile), _) => profile.clone(),
        (None, true) => "demo".to_string(),
        (None, false) => opts.target_label.clone(),
    };
    let resource = opts.show.unwrap_or_else(|| first_resource(&remember_as, opts.demo));
    let mut model = Model::of(resource, false, opts.target_label, opts.demo, opts.read_only);
    model.remember_as = Some(remember_as);
    model.page_size = opts.page_size;
    model.write_rate = opts.write_rate;
    model.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing::info!(target = %model.target_label, read_only = model.read_only, log = ?opts.log_path, "tui start");
    let target = store_target(&model);
    let stored = restore_drafts(&mut model, &target);
    let state_dir = crate::paths::state_dir().filter(|dir| std::fs::create_dir_all(dir).is_ok());
    if state_dir.is_none() {
        model.say(
            Level::Warn,
            "No writable state directory: drafts are not kept on disk and writes are not logged",
        );
    }
    let fingerprint = StoredDrafts::fingerprint(&model.drafts, model.bulk.as_ref());
    let store = draft_store::default_path(&target).ok().map(|path| DraftSink {
        path,
        target: target.clone(),
        written: stored,
        fingerprint,
    });
    // Handlers first, before raw mode: no moment when a signal would leave the terminal raw.
    let signals = os_signals();
    let mut guard = TerminalGuard::enter()?;
    // A hidden switch for the pseudo-terminal test that proves a panic restores the terminal:
    // with this variable set, F12 panics. Off unless the variable is present.
    let panic_on_f12 = std::env::var_os("AUTOPILOT_TUI_TEST_PANIC_KEY").is_some();
    let events = crossterm::event::EventStream::new().inspect(move |event| {
        if panic_on_f12 && matches!(event, Ok(Event::Key(k)) if k.code == crossterm::event::KeyCode::F(12)) {
            panic!("panic requested with F12 (AUTOPILOT_TUI_TEST_PANIC_KEY)");
        }
    });
    let host = Host {
        signals: Box::pin(signals),
        suspend: Box::new(terminal::suspend),
        on_draw: Box::new(|_, _| {}),
        copy: Box::new(terminal::copy),
        drafts: store,
        write_log: crate::write_log::WriteLog::in_state_dir().ok(),
    };
    let result = run_hosted(guard.terminal(), events, model, opts.session, host).await;
    drop(guard);
    tracing::info!(ok = result.is_ok(), "tui end");
    let model = result?;
    keep_drafts(&model, &target);
    Ok(())
}

/// What the app shows first: what this profile showed last, else registered devices on a
/// tenant (what admins edit) and the import queue in the demo.
fn first_resource(remember_as: &str, demo: bool) -> &'static crate::graph::resource::Resource {
    crate::tui::remembered::default_path()
        .and_then(|path| crate::tui::remembered::read(&path, remember_as))
        .unwrap_or(if demo {
            &crate::graph::imported::IMPORTED
        } else {
            &crate::graph::registered::REGISTERED
        })
}

/// Which target a draft store belongs to: the demo data is the same on every start (its port
/// is not), a real tenant is its Graph root.
fn store_target(model: &Model) -> String {
    if model.demo { "demo".to_string() } else { model.target_label.clone() }
}

/// What the draft store should hold now: the unsaved drafts and the bulk edit being prepared.
fn stored_now(
    model: &Model,
    target: &str,
    reason: &str,
    before: Option<&StoredDrafts>,
) -> Option<StoredDrafts> {
    let bulk = model.bulk.as_ref().and_then(|form| draft_store::StoredBulk::of(form, &model.table));
    StoredDrafts::of_drafts(&model.drafts, bulk, target, reason, before)
}

/// Restores the drafts the store holds for this target, and says so.
fn restore_drafts(model: &mut Model, target: &str) -> Option<StoredDrafts> {
    let found =
        draft_store::default_path(target).and_then(|path| Ok((draft_store::read(&path, target)?, path)));
    match found {
        Ok((Some(stored), path)) => {
            tracing::info!(path = %path.display(), drafts = stored.drafts.len(), "drafts restored");
            let n = stored.drafts.len();
            for draft in stored.restore() {
                model.drafts.insert(draft.id().to_string(), draft);
            }
            model.draft_since = stored.times();
            model.bulk_restored = stored.bulk.clone();
            if n > 0 {
                let note = crate::tui::wording::plural(n, "draft") + " restored";
                model.say(Level::Success, format!("{note} (marked ● in the table; :drafts lists them)"));
                model.restored_note = Some(note);
            }
            Some(stored)
        }
        Ok((None, _)) | Err(DraftStoreError::NoStateDir) => None,
        Err(e) => {
            tracing::warn!(error = %e, "draft store not read");
            model.say(Level::Warn, format!("Unsaved drafts of an earlier session could not be read: {e}"));
            None
        }
    }
}

/// Writes the drafts a session ends with (or empties the store when the user discarded them)
/// and says on stderr what was kept (the terminal is restored by now).
fn keep_drafts(model: &Model, target: &str) {
    let reason = model.ended_by.unwrap_or("exit");
    let kept = if model.discard_on_quit { None } else { stored_now(model, target, reason, None) };
    let written = draft_store::default_path(target)
        .and_then(|path| draft_store::write(&path, kept.as_ref()).map(|()| path));
    match (written, kept) {
        (Ok(path), Some(kept)) => {
            tracing::info!(path = %path.display(), drafts = kept.drafts.len(), reason, "unsaved drafts kept");
            let by = model.ended_by.map(|s| format!("ended by {s}; ")).unwrap_or_default();
            let mut what = Vec::new();
            if !kept.drafts.is_empty() {
                what.push(format!("{} unsaved draft(s)", kept.drafts.len()));
            }
            if let Some(bulk) = &kept.bulk {
                what.push(format!("the bulk edit of {} marked record(s)", bulk.marked.len()));
            }
            eprintln!(
                "autopilot-tui: {by}{} kept in {}; the next start restores them",
                what.join(" and "),
                path.display()
            );
        }
        (Ok(_), None) => {}
        (Err(DraftStoreError::NoStateDir), _) if model.unsaved_count() == 0 => {}
        (Err(e), _) => {
            tracing::error!(error = %e, reason, "unsaved drafts could not be kept");
            eprintln!("autopilot-tui: unsaved drafts could not be kept: {e}");
        }
    }
}

/// A signal from outside, as the run loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsSignal {
    /// SIGTERM, SIGHUP, SIGINT or SIGQUIT: leave (unsaved drafts are kept for recovery).
    Terminate(&'static str),
    /// SIGTSTP: hand the terminal back and stop until `fg`.
    Suspend,
}

/// The signals the app handles, as a stream. The handlers are installed when this is called.
fn os_signals() -> impl Stream<Item = OsSignal> + Send {
    let (tx, mut rx) = mpsc::unbounded_channel::<OsSignal>();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (SignalKind::terminate(), OsSignal::Terminate("SIGTERM")),
            (SignalKind::hangup(), OsSignal::Terminate("SIGHUP")),
            (SignalKind::interrupt(), OsSignal::Terminate("SIGINT")),
            (SignalKind::quit(), OsSignal::Terminate("SIGQUIT")),
            (SignalKind::from_raw(signal_hook::consts::SIGTSTP), OsSignal::Suspend),
        ];
        for (kind, what) in kinds {
            match signal(kind) {
                Ok(mut incoming) => {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        while incoming.recv().await.is_some() {
                            if tx.send(what).is_err() {
                                return;
                            }
                        }
                    });
                }
                Err(error) => tracing::warn!(?what, %error, "signal handler not installed"),
            }
        }
    }
    drop(tx);
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Hands the terminal back to the shell and returns once the app is resumed.
pub type Suspend<'a, B> = Box<dyn FnMut(&mut Terminal<B>) -> std::io::Result<()> + Send + 'a>;
/// Told of every frame drawn: the model and the screen.
pub type DrawObserver<'a> = Box<dyn FnMut(&Model, &Buffer) + Send + 'a>;

/// What the loop needs from where it runs, beyond events: signals, how to suspend, and a
/// callback after every draw (tests wait on it instead of sleeping).
pub struct Host<'a, B: Backend> {
    /// Signals from outside (none in tests).
    pub signals: std::pin::Pin<Box<dyn Stream<Item = OsSignal> + Send + 'a>>,
    /// Hands the terminal back and returns once resumed (Ctrl-Z, SIGTSTP).
    pub suspend: Suspend<'a, B>,
    /// Called with the model and the screen after every draw.
    pub on_draw: DrawObserver<'a>,
    /// Puts text on the system clipboard through the terminal (OSC 52).
    pub copy: Copy<'a, B>,
    /// Where unsaved drafts are kept while the app runs (none: not kept, as in tests).
    pub drafts: Option<DraftSink>,
    /// Where every write that reaches the server is logged (none: not logged).
    pub write_log: Option<crate::write_log::WriteLog>,
}

/// The draft store the run loop keeps up to date: written a moment after the drafts change.
#[derive(Debug)]
pub struct DraftSink {
    /// The file.
    pub path: PathBuf,
    /// The target it belongs to.
    pub target: String,
    /// What it holds now.
    pub written: Option<StoredDrafts>,
    /// The fingerprint of what it holds ([`StoredDrafts::fingerprint`]).
    pub fingerprint: u64,
}

/// How long the drafts must be unchanged before they are written (typing is not a write a key).
const STORE_AFTER: Duration = Duration::from_millis(400);

/// Writes a clipboard text through the terminal.
pub type Copy<'a, B> = Box<dyn FnMut(&mut Terminal<B>, &str) -> std::io::Result<()> + Send + 'a>;

/// The loop, generic over the terminal backend and the event source so tests can drive the
/// whole app in process. Returns the final model when the user quits or the events end.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    events: S,
    model: Model,
    session: impl Into<Session>,
) -> Result<Model, TuiError>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
{
    run_loop_observed(terminal, events, model, session, |_, _| {}).await
}

/// [`run_loop`] that calls `on_draw` with the model and the screen after every draw (tests use
/// it to wait for a state instead of sleeping).
pub async fn run_loop_observed<B, S, F>(
    terminal: &mut Terminal<B>,
    events: S,
    model: Model,
    session: impl Into<Session>,
    on_draw: F,
) -> Result<Model, TuiError>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
    F: FnMut(&Model, &Buffer) + Send,
{
    let host = Host {
        signals: Box::pin(futures_util::stream::pending()),
        // Nothing to hand back in process: the full redraw that follows is what is left to see.
        suspend: Box::new(|terminal: &mut Terminal<B>| {
            let size = terminal.size().map_err(|e| std::io::Error::other(e.to_string()))?;
            let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
            terminal.resize(area).map_err(|e| std::io::Error::other(e.to_string()))
        }),
        on_draw: Box::new(on_draw),
        // No clipboard in process: the message says what would have been copied.
        copy: Box::new(|_, _| Ok(())),
        drafts: None,
        write_log: None,
    };
    run_hosted(terminal, events, model, session, host).await
}

/// The loop with its host: returns the final model when the user quits, a signal ends it, or
/// the events end.
pub async fn run_hosted<B, S>(
    terminal: &mut Terminal<B>,
    mut events: S,
    mut model: Model,
    session: impl Into<Session>,
    mut host: Host<'_, B>,
) -> Result<Model, TuiError>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut effects = match session.into() {
        Session::Client(client) => {
            model.set_target(client.config().base_url.clone(), client.config().collection);
            Effects::new(client, tx)
        }
        Session::DeviceCode(sign_in) => {
            model.screen = Screen::SignIn;
            Effects::signing_in(sign_in, tx)
        }
    };
    effects.set_write_log(host.write_log.take());
    effects.set_write_rate(model.write_rate);
    if let Ok(size) = terminal.size() {
        model.size = (size.width, size.height);
    }
    for effect in update::init(&mut model) {
        effects.run(effect);
    }
    draw(terminal, &model, &mut host.on_draw)?;
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // When the drafts changed and are to be written, once they have settled.
    let mut store_at: Option<tokio::time::Instant> = None;
    loop {
        let mut changed = false;
        let mut ended = false;
        let mut suspend = false;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => match on_event(&mut model, event, &mut effects) {
                    Handled::Redraw => changed = true,
                    Handled::Suspend => suspend = true,
                    Handled::Nothing => {}
                },
                Some(Err(e)) => return Err(e.into()),
                None => ended = true,
            },
            Some(msg) = rx.recv() => {
                apply(&mut model, Input::Msg(msg), &mut effects);
                changed = true;
            }
            end = effects.next_end(), if effects.busy() => {
                if let Some(msg) = effects.ended(end) {
                    apply(&mut model, Input::Msg(msg), &mut effects);
                    changed = true;
                }
            }
            Some(signal) = host.signals.next() => match signal {
                OsSignal::Terminate(name) => {
                    tracing::info!(signal = name, "leaving");
                    apply(&mut model, Input::Action(Action::Terminated(name)), &mut effects);
                }
                OsSignal::Suspend => suspend = true,
            },
            _ = tick.tick(), if model.busy() => {
                apply(&mut model, Input::Msg(Msg::Tick(std::time::Instant::now())), &mut effects);
                changed = true;
            }
            () = sleep_until(store_at), if store_at.is_some() => {
                store_at = None;
                if let Some(sink) = host.drafts.as_mut() {
                    let now = stored_now(&model, &sink.target, "a change", sink.written.as_ref());
                    sink.written.clone_from(&now);
                    sink.fingerprint = StoredDrafts::fingerprint(&model.drafts, model.bulk.as_ref());
                    effects.run(crate::tui::event::Effect::StoreDrafts { path: sink.path.clone(), drafts: now });
                }
            }
        }
        // Drain whatever else is already queued, then draw once.
        while !ended && !model.quit && !suspend {
            let mut progressed = false;
            while let Ok(msg) = rx.try_recv() {
                apply(&mut model, Input::Msg(msg), &mut effects);
                changed = true;
                progressed = true;
            }
            match next_ready(&mut events).await {
                Some(Some(Ok(event))) => {
                    match on_event(&mut model, event, &mut effects) {
                        Handled::Redraw => changed = true,
                        Handled::Suspend => suspend = true,
                        Handled::Nothing => {}
                    }
                    progressed = true;
                }
                Some(Some(Err(e))) => return Err(e.into()),
                Some(None) => ended = true,
                None => {}
            }
            if !progressed {
                break;
            }
        }
        if model.quit || ended {
            return Ok(model);
        }
        if suspend {
            (host.suspend)(terminal)?;
            changed = true;
        }
        if let Some(sink) = host.drafts.as_ref()
            && store_at.is_none()
        {
            // Cheap on every event: the store itself is built only when it is written.
            if StoredDrafts::fingerprint(&model.drafts, model.bulk.as_ref()) != sink.fingerprint {
                store_at = Some(tokio::time::Instant::now() + STORE_AFTER);
            }
        }
        for text in effects.take_copies() {
            if let Err(e) = (host.copy)(terminal, &text) {
                tracing::warn!(error = %e, "clipboard write failed");
                model.say(Level::Warn, format!("Could not write to the terminal's clipboard: {e}"));
            }
        }
        if changed {
            draw(terminal, &model, &mut host.on_draw)?;
        }
    }
}

/// Sleeps until `at` (forever without one: the branch is disabled then anyway).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Polls the event stream once without waiting, with this task's own waker. crossterm's
/// `EventStream` hands the waker of a pending poll to a background thread; a throwaway waker
/// (as `now_or_never` uses) would leave the loop asleep after the next key press.
async fn next_ready<S: Stream + Unpin>(events: &mut S) -> Option<Option<S::Item>> {
    tokio::select! {
        biased;
        item = events.next() => Some(item),
        () = std::future::ready(()) => None,
    }
}

fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    model: &Model,
    on_draw: &mut DrawObserver<'_>,
) -> Result<(), TuiError> {
    let frame = terminal.draw(|f| views::draw(f, model)).map_err(|e| TuiError::Draw(e.to_string()))?;
    on_draw(model, frame.buffer);
    Ok(())
}

fn apply(model: &mut Model, input: Input, effects: &mut Effects) {
    // The model's clock is read when something happens, not only on a tick (which runs only
    // while something animates): a job started after a quiet minute starts now.
    model.now = model.now.max(std::time::Instant::now());
    for effect in update::update(model, input) {
        effects.run(effect);
    }
}

/// What became of a terminal event.
enum Handled {
    /// Applied: draw again.
    Redraw,
    /// Ctrl-Z: the host suspends, then everything is drawn again.
    Suspend,
    /// Nothing to do.
    Nothing,
}

/// Turns a terminal event into an action (if any) and applies it.
fn on_event(model: &mut Model, event: Event, effects: &mut Effects) -> Handled {
    let action = match event {
        Event::Key(key) => resolve(context(model), &key),
        Event::Paste(text) => match context(model) {
            Context::Form => Some(Action::Edit(EditOp::Paste(text))),
            Context::Filter => Some(Action::FilterEdit(EditOp::Paste(text))),
            Context::Command => Some(Action::CommandEdit(EditOp::Paste(text))),
            _ => None,
        },
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    };
    match action {
        Some(Action::Suspend) => Handled::Suspend,
        Some(action) => {
            apply(model, Input::Action(action), effects);
            Handled::Redraw
        }
        None => Handled::Nothing,
    }
}
