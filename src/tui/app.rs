//! The run loop: select over terminal events, task messages and (only while something is
//! pending) a spinner tick; apply `update`; run effects; draw once when the queue is drained
//! and something changed.

use crate::connect::DeviceCodeSignIn;
use crate::graph::client::GraphClient;
use crate::tui::effects::Effects;
use crate::tui::event::{Action, EditOp, Msg};
use crate::tui::keymap::{Context, context, resolve};
use crate::tui::model::{Model, Screen};
use crate::tui::terminal::TerminalGuard;
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
/// exit path, panics included.
pub async fn run(opts: AppOptions) -> Result<(), TuiError> {
    let mut model = Model::new(opts.target_label, opts.demo, opts.read_only);
    model.page_size = opts.page_size;
    model.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing::info!(target = %model.target_label, read_only = model.read_only, log = ?opts.log_path, "tui start");
    let terminated = termination();
    let mut guard = TerminalGuard::enter()?;
    // A hidden switch for the pseudo-terminal test that proves a panic restores the terminal:
    // with this variable set, F12 panics. Off unless the variable is present.
    let panic_on_f12 = std::env::var_os("AUTOPILOT_TUI_TEST_PANIC_KEY").is_some();
    let events = crossterm::event::EventStream::new().inspect(move |event| {
        if panic_on_f12 && matches!(event, Ok(Event::Key(k)) if k.code == crossterm::event::KeyCode::F(12)) {
            panic!("panic requested with F12 (AUTOPILOT_TUI_TEST_PANIC_KEY)");
        }
    });
    // SIGTERM or SIGHUP (the terminal went away) end the events like a quit, so the guard
    // below restores the terminal on the way out.
    let events = events.take_until(Box::pin(terminated));
    let result = run_loop_observed(guard.terminal(), events, model, opts.session, |_, _| {}).await;
    drop(guard);
    tracing::info!(ok = result.is_ok(), "tui end");
    result.map(|_| ())
}

/// Resolves on SIGTERM or SIGHUP (never elsewhere, or when the handlers cannot be set up).
/// The handlers are installed at once, before the terminal is switched to raw mode, so there is
/// no moment when a signal would kill the app with the terminal left raw.
fn termination() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (signal(SignalKind::terminate()), signal(SignalKind::hangup()));
        async move {
            match handlers {
                (Ok(mut term), Ok(mut hup)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: leaving"),
                        _ = hup.recv() => tracing::info!("SIGHUP: leaving"),
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>()
}

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
    mut events: S,
    mut model: Model,
    session: impl Into<Session>,
    mut on_draw: F,
) -> Result<Model, TuiError>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
    F: FnMut(&Model, &Buffer),
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut effects = match session.into() {
        Session::Client(client) => {
            model.collection_url = client.collection_url();
            Effects::new(client, tx)
        }
        Session::DeviceCode(sign_in) => {
            model.screen = Screen::SignIn;
            Effects::signing_in(sign_in, tx)
        }
    };
    if let Ok(size) = terminal.size() {
        model.size = (size.width, size.height);
    }
    for effect in update::init(&mut model) {
        effects.run(effect);
    }
    draw(terminal, &model, &mut on_draw)?;
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let mut changed = false;
        let mut ended = false;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => changed |= on_event(&mut model, event, &mut effects),
                Some(Err(e)) => return Err(e.into()),
                None => ended = true,
            },
            Some(msg) = rx.recv() => {
                apply(&mut model, Input::Msg(msg), &mut effects);
                changed = true;
            }
            _ = tick.tick(), if model.busy() => {
                apply(&mut model, Input::Msg(Msg::Tick(std::time::Instant::now())), &mut effects);
                changed = true;
            }
        }
        // Drain whatever else is already queued, then draw once.
        while !ended && !model.quit {
            let mut progressed = false;
            while let Ok(msg) = rx.try_recv() {
                apply(&mut model, Input::Msg(msg), &mut effects);
                changed = true;
                progressed = true;
            }
            match next_ready(&mut events).await {
                Some(Some(Ok(event))) => {
                    changed |= on_event(&mut model, event, &mut effects);
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
        if changed {
            draw(terminal, &model, &mut on_draw)?;
        }
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

fn draw<B: Backend, F: FnMut(&Model, &Buffer)>(
    terminal: &mut Terminal<B>,
    model: &Model,
    on_draw: &mut F,
) -> Result<(), TuiError> {
    let frame = terminal.draw(|f| views::draw(f, model)).map_err(|e| TuiError::Draw(e.to_string()))?;
    on_draw(model, frame.buffer);
    Ok(())
}

fn apply(model: &mut Model, input: Input, effects: &mut Effects) {
    // A finished sign-in hands its client to the effect runner; `update` sees the message too
    // and starts the listing, which then finds the client in place.
    if let Input::Msg(Msg::SignedIn { result, .. }) = &input
        && let Ok(client) = result.as_ref()
    {
        effects.set_client(client.clone());
    }
    for effect in update::update(model, input) {
        effects.run(effect);
    }
}

/// Turns a terminal event into an action (if any) and applies it. Returns whether to redraw.
fn on_event(model: &mut Model, event: Event, effects: &mut Effects) -> bool {
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
        Some(action) => {
            apply(model, Input::Action(action), effects);
            true
        }
        None => false,
    }
}
