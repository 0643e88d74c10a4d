//! The in-process app harness shared by the app tests: the real run loop with a test event
//! source and a `TestBackend`, observed after every draw. Synchronised by waiting for the
//! model/screen with a deadline, never by sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test helpers

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::server::RunningServer;
use autopilot_tui::tui::model::{Model, Overlay, Screen};
use autopilot_tui::tui::views::buffer_text;
use autopilot_tui::tui::{Session, TuiError, run_loop_observed};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What a test can see after each draw.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub screen_text: String,
    pub screen: Option<Screen>,
    pub loading: bool,
    pub rows: usize,
    pub view: usize,
    /// (id, serial) of every 10th row, to pick a device from.
    pub sample: Vec<(String, String)>,
    pub selected: Option<(String, Option<String>)>,
    pub form_ready: bool,
    pub saving: bool,
    pub confirm: bool,
    pub quit_question: bool,
    pub toast: String,
    pub dirty: usize,
    pub problem: Option<String>,
    /// The user code on the sign-in screen, once shown.
    pub user_code: Option<String>,
    /// Why the sign-in failed, when it did.
    pub sign_in_failed: Option<String>,
    /// A retry countdown is showing.
    pub retrying: bool,
    /// The header's server filter.
    pub server_filter: Option<String>,
    /// The listing's error, if it ended early.
    pub listing_error: Option<String>,
}

pub fn observe(m: &Model, text: String) -> Seen {
    Seen {
        screen_text: text,
        screen: Some(m.screen),
        loading: m.table.listing.loading,
        rows: m.table.rows.len(),
        view: m.table.view.len(),
        sample: (0..m.table.rows.len())
            .step_by(10)
            .map(|row| {
                (
                    m.table.rows.id(row),
                    m.table.field_text(row, "serialNumber").unwrap_or_default().to_string(),
                )
            })
            .collect(),
        selected: m
            .table
            .selected()
            .map(|row| (m.table.rows.id(row), m.table.field_text(row, "groupTag").map(String::from))),
        form_ready: m.form_draft().is_some() && m.form_fetching().is_none(),
        saving: m.form_saving().is_some(),
        confirm: matches!(m.overlay, Some(Overlay::Confirm(_))),
        quit_question: matches!(m.overlay, Some(Overlay::QuitConfirm)),
        toast: m.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default(),
        dirty: m.form_draft().map(|d| d.dirty_count()).unwrap_or(0),
        problem: m.form.as_ref().and_then(|f| f.problem.as_ref()).map(|p| p.title.clone()),
        user_code: m.sign_in.as_ref().and_then(|s| s.prompt.as_ref()).map(|p| p.user_code.clone()),
        sign_in_failed: m.sign_in.as_ref().and_then(|s| s.failed.clone()),
        retrying: m.retry.is_some(),
        server_filter: m.table.server_filter.clone(),
        listing_error: m.table.listing.error.clone(),
    }
}

pub struct App {
    pub keys: mpsc::UnboundedSender<std::io::Result<Event>>,
    pub seen: watch::Receiver<Seen>,
    pub task: JoinHandle<Result<Model, TuiError>>,
    /// Every screen drawn, as text (for scans: no secret on any screen).
    pub screens: Arc<Mutex<Vec<String>>>,
}

impl App {
    /// The app against `server` with a static token.
    pub fn start(server: &RunningServer) -> App {
        let client =
            GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("test-token"))).unwrap();
        App::with_session(server, client)
    }

    /// The app against `server` with a session (a client or a sign-in).
    pub fn with_session(server: &RunningServer, session: impl Into<Session> + Send + 'static) -> App {
        let model = Model::new(format!("TEST {}", server.base_url()), false, false);
        App::with_model(model, session)
    }

    /// The app with a model and session of the caller's.
    pub fn with_model(model: Model, session: impl Into<Session> + Send + 'static) -> App {
        let (keys, mut rx) = mpsc::unbounded_channel::<std::io::Result<Event>>();
        let events = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let (tx, seen) = watch::channel(Seen::default());
        let screens = Arc::new(Mutex::new(Vec::new()));
        let kept = screens.clone();
        let task = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
            run_loop_observed(&mut terminal, events, model, session, move |m, buf| {
                let text = buffer_text(buf);
                kept.lock().unwrap().push(text.clone());
                tx.send_replace(observe(m, text));
            })
            .await
        });
        App { keys, seen, task, screens }
    }

    pub fn key(&self, code: KeyCode, mods: KeyModifiers) {
        self.keys.send(Ok(Event::Key(KeyEvent::new(code, mods)))).unwrap();
    }

    pub fn press(&self, code: KeyCode) {
        self.key(code, KeyModifiers::NONE);
    }

    pub fn ctrl(&self, c: char) {
        self.key(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    pub fn typing(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// Waits until the screen satisfies `what`, or fails with the last screen.
    pub async fn until(&mut self, label: &str, what: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            {
                let now = self.seen.borrow_and_update();
                if what(&now) {
                    return now.clone();
                }
            }
            match tokio::time::timeout_at(deadline, self.seen.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    panic!("timed out waiting for {label}; last screen:\n{}", self.seen.borrow().screen_text)
                }
            }
        }
    }

    pub async fn finish(self) -> Model {
        let App { keys, task, .. } = self;
        drop(keys);
        tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap()
    }
}

/// Filters to a device by serial and opens it; returns its id.
pub async fn open_by_filter(app: &mut App) -> (String, String) {
    let listed = app.until("the listing", |s| !s.loading && s.rows > 20).await;
    let (id, serial) = listed.sample[2].clone();
    app.press(KeyCode::Char('/'));
    app.typing(&serial.to_lowercase());
    app.press(KeyCode::Enter);
    let filtered = app.until("the filter", |s| s.view < listed.rows && s.screen_text.contains(&serial)).await;
    // Walk to the device if the filter matched more than one.
    for _ in 0..filtered.view {
        if app.seen.borrow().selected.as_ref().is_some_and(|s| s.0 == id) {
            break;
        }
        app.press(KeyCode::Down);
        app.until("a move", |_| true).await;
    }
    app.until("the device selected", |s| s.selected.as_ref().is_some_and(|x| x.0 == id)).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    (id, serial)
}

/// In an imported identity's form (focus on the assigned user): the group tag replaced by `tag`,
/// then `^S`; returns the confirmation as seen.
pub async fn retag_and_confirm(app: &mut App, tag: &str) -> Seen {
    app.press(KeyCode::Tab);
    app.ctrl('e');
    app.ctrl('u');
    app.typing(tag);
    app.until("one dirty field", |s| s.dirty == 1).await;
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await
}
