//! The whole app in process: the real run loop with a test event source and a `TestBackend`,
//! talking real HTTP to the embedded Graph server on 127.0.0.1:0. Synchronised by waiting for
//! the model/screen with a deadline, never by sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::model::FieldId;
use autopilot_tui::server::{DataSet, RunningServer, ServeOptions, start};
use autopilot_tui::tui::model::{Model, Overlay, Screen};
use autopilot_tui::tui::views::buffer_text;
use autopilot_tui::tui::{TuiError, run_loop_observed};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What a test can see after each draw.
#[derive(Debug, Clone, Default)]
struct Seen {
    screen_text: String,
    screen: Option<Screen>,
    loading: bool,
    rows: usize,
    view: usize,
    /// (id, serial) of every 10th row, to pick a device from.
    sample: Vec<(String, String)>,
    selected: Option<(String, Option<String>)>,
    form_ready: bool,
    saving: bool,
    confirm: bool,
    quit_question: bool,
    toast: String,
    dirty: usize,
    problem: Option<String>,
}

fn observe(m: &Model, text: String) -> Seen {
    Seen {
        screen_text: text,
        screen: Some(m.screen),
        loading: m.listing.loading,
        rows: m.rows.len(),
        view: m.view.len(),
        sample: m
            .rows
            .iter()
            .step_by(10)
            .map(|d| (d.id.clone(), d.serial_number.clone().unwrap_or_default()))
            .collect(),
        selected: m.selected().map(|d| (d.id.clone(), d.group_tag.clone())),
        form_ready: m.form_draft().is_some() && m.form.as_ref().is_some_and(|f| f.fetching.is_none()),
        saving: m.form.as_ref().is_some_and(|f| f.saving.is_some()),
        confirm: matches!(m.overlay, Some(Overlay::Confirm(_))),
        quit_question: matches!(m.overlay, Some(Overlay::QuitConfirm)),
        toast: m.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default(),
        dirty: m.form_draft().map(|d| d.dirty_count()).unwrap_or(0),
        problem: m.form.as_ref().and_then(|f| f.problem.as_ref()).map(|p| p.title.clone()),
    }
}

struct App {
    keys: mpsc::UnboundedSender<std::io::Result<Event>>,
    seen: watch::Receiver<Seen>,
    task: JoinHandle<Result<Model, TuiError>>,
}

impl App {
    fn start(server: &RunningServer) -> App {
        let client =
            GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("test-token"))).unwrap();
        let (keys, mut rx) = mpsc::unbounded_channel::<std::io::Result<Event>>();
        let events = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let (tx, seen) = watch::channel(Seen::default());
        let model = Model::new(format!("TEST {}", server.base_url()), false, false);
        let task = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
            run_loop_observed(&mut terminal, events, model, client, move |m, buf| {
                tx.send_replace(observe(m, buffer_text(buf)));
            })
            .await
        });
        App { keys, seen, task }
    }

    fn key(&self, code: KeyCode, mods: KeyModifiers) {
        self.keys.send(Ok(Event::Key(KeyEvent::new(code, mods)))).unwrap();
    }

    fn press(&self, code: KeyCode) {
        self.key(code, KeyModifiers::NONE);
    }

    fn ctrl(&self, c: char) {
        self.key(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    fn typing(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// Waits until the screen satisfies `what`, or fails with the last screen.
    async fn until(&mut self, label: &str, what: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
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

    async fn finish(self) -> Model {
        let App { keys, task, .. } = self;
        drop(keys);
        tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap()
    }
}

async fn server(strict: bool) -> RunningServer {
    start(ServeOptions { strict, data: DataSet::Demo, ..ServeOptions::default() }).await.unwrap()
}

/// Filters to a device by serial and opens it; returns its id.
async fn open_by_filter(app: &mut App) -> (String, String) {
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

#[tokio::test]
async fn filter_open_edit_save_confirm_sends_exactly_the_changed_field() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let (id, _serial) = open_by_filter(&mut app).await;

    // Focus starts on the assigned user; the group tag is next.
    app.press(KeyCode::Tab);
    app.ctrl('e');
    app.ctrl('u');
    app.typing("Lab-42");
    app.until("one dirty field", |s| s.dirty == 1).await;
    app.ctrl('s');
    let confirm = app.until("the confirmation", |s| s.confirm).await;
    assert!(confirm.screen_text.contains("PATCH"), "{}", confirm.screen_text);
    assert!(confirm.screen_text.contains(r#""groupTag": "Lab-42""#), "{}", confirm.screen_text);
    app.press(KeyCode::Enter);
    let saved = app.until("the save", |s| !s.confirm && !s.saving && s.toast.starts_with("Saved")).await;
    assert_eq!(saved.dirty, 0, "the form is clean after a 2xx");
    app.press(KeyCode::Esc);
    let table = app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    assert_eq!(table.selected, Some((id.clone(), Some("Lab-42".into()))));
    assert!(table.screen_text.contains("Lab-42"), "{}", table.screen_text);

    let patches: Vec<_> = server.journal().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].path_and_query.ends_with(&id), "{}", patches[0].path_and_query);
    let body: serde_json::Value = serde_json::from_slice(&patches[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"groupTag": "Lab-42"}));
    // The listing asked for the table's properties only, in big pages.
    let list = server.journal().into_iter().find(|r| r.method == "GET").unwrap();
    assert!(list.path_and_query.contains("$select=") && list.path_and_query.contains("$top=999"));

    app.press(KeyCode::Char('q'));
    let model = app.finish().await;
    assert!(model.quit);
    assert!(model.history.iter().any(|h| h.exchange.method == "PATCH"));
    server.shutdown().await;
}

#[tokio::test]
async fn refused_patch_keeps_the_draft_and_quit_asks_first() {
    let server = server(true).await;
    let mut app = App::start(&server);
    let (_id, _) = open_by_filter(&mut app).await;
    app.press(KeyCode::Tab);
    app.typing("-x");
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await;
    app.press(KeyCode::Enter);
    let failed = app.until("the refusal", |s| !s.saving && s.problem.is_some()).await;
    assert_eq!(failed.problem.as_deref(), Some("Updates refused by this Graph service"));
    assert!(failed.screen_text.contains("does not accept updates"), "{}", failed.screen_text);
    assert_eq!(failed.dirty, 1, "the draft is kept");
    // The inspector shows the refused PATCH.
    app.ctrl('o');
    let insp = app.until("the inspector", |s| s.screen == Some(Screen::Inspector)).await;
    assert!(insp.screen_text.contains("400 Bad Request"), "{}", insp.screen_text);
    app.press(KeyCode::Esc);
    app.press(KeyCode::Esc);
    app.until("the table", |s| s.screen == Some(Screen::Table)).await;
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('n'));
    app.until("no question", |s| !s.quit_question).await;
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('y'));
    let model = app.finish().await;
    assert!(model.quit);
    assert_eq!(model.unsaved_count(), 1);
    let draft = model.drafts.values().next().unwrap();
    assert!(draft.text(FieldId::GroupTag).ends_with("-x"));
    server.shutdown().await;
}

#[tokio::test]
async fn paste_into_the_filter_and_resize_redraws() {
    let server = server(false).await;
    let mut app = App::start(&server);
    let listed = app.until("the listing", |s| !s.loading && s.rows > 20).await;
    let serial = listed.sample[5].1.clone();
    app.press(KeyCode::Char('/'));
    app.keys.send(Ok(Event::Paste(serial.clone()))).unwrap();
    app.until("the pasted filter", |s| s.view >= 1 && s.view < listed.rows).await;
    app.keys.send(Ok(Event::Resize(60, 20))).unwrap();
    app.until("a redraw", |s| s.screen_text.contains(&serial)).await;
    app.press(KeyCode::Esc);
    app.until("the filter cleared", |s| s.view == listed.rows).await;
    app.press(KeyCode::Char('q'));
    app.finish().await;
    server.shutdown().await;
}
