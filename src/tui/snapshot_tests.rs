//! Every screen rendered into a `TestBackend` at 80x24 and 120x40, checked with insta.

use crate::graph::error::{GraphError, ServiceError};
use crate::tui::event::{Action, EditOp, Msg};
use crate::tui::fixtures::{self, exchange};
use crate::tui::model::Model;
use crate::tui::update::{Input, update};
use crate::tui::views::{self, buffer_text};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(m: &Model) -> String {
    let (w, h) = m.size;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, m)).unwrap();
    buffer_text(t.backend().buffer())
}

fn act(m: &mut Model, a: Action) {
    update(m, Input::Action(a));
}

fn typing(m: &mut Model, text: &str) {
    for c in text.chars() {
        act(m, Action::Edit(EditOp::Insert(c)));
    }
}

fn open_first(m: &mut Model) {
    let effects = update(m, Input::Action(Action::Open));
    let Some(crate::tui::event::Effect::Get { request_id, device_id, .. }) = effects.first() else {
        panic!()
    };
    let device = fixtures::devices().into_iter().find(|d| d["id"] == device_id.as_str()).unwrap();
    let path = format!("/deviceManagement/importedWindowsAutopilotDeviceIdentities/{device_id}");
    let outcome = crate::graph::client::Outcome {
        exchange: exchange("GET", &path, 200, None, &serde_json::to_string(&device).unwrap()),
        result: Ok(device),
    };
    update(m, Input::Msg(Msg::Fetched { request_id: *request_id, outcome: Box::new(outcome) }));
}

fn table(w: u16, h: u16) -> Model {
    let mut m = fixtures::model(w, h);
    m.say(crate::tui::model::Level::Success, "Loaded 8 devices in 1 page");
    m
}

fn filtered(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    act(&mut m, Action::Sort('S'));
    act(&mut m, Action::FilterStart);
    for c in "sales".chars() {
        act(&mut m, Action::FilterEdit(EditOp::Insert(c)));
    }
    m
}

fn dirty_form(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    open_first(&mut m);
    // Assigned user: invalid; group tag: changed; error code: invalid.
    act(&mut m, Action::Edit(EditOp::DeleteToStart));
    typing(&mut m, "ana.lopez");
    act(&mut m, Action::NextField);
    act(&mut m, Action::Edit(EditOp::DeleteToStart));
    typing(&mut m, "Lab-Berlin");
    for _ in 0..7 {
        act(&mut m, Action::NextField);
    }
    assert_eq!(m.form.as_ref().unwrap().focus.path, "state/deviceErrorCode");
    typing(&mut m, "x");
    act(&mut m, Action::PrevField);
    act(&mut m, Action::PrevField);
    assert_eq!(m.form.as_ref().unwrap().focus.path, "state/deviceImportStatus");
    act(&mut m, Action::Edit(EditOp::Right));
    m
}

fn confirm(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    open_first(&mut m);
    act(&mut m, Action::NextField);
    act(&mut m, Action::Edit(EditOp::DeleteToStart));
    typing(&mut m, "Lab");
    for _ in 0..6 {
        act(&mut m, Action::NextField);
    }
    act(&mut m, Action::Edit(EditOp::Insert('e')));
    act(&mut m, Action::Save);
    m
}

fn failed_save(w: u16, h: u16) -> Model {
    let mut m = confirm(w, h);
    let effects = update(&mut m, Input::Action(Action::ConfirmSend));
    let Some(crate::tui::event::Effect::Patch { request_id, device_id, .. }) = effects.first() else {
        panic!()
    };
    let body = r#"{"error":{"code":"BadRequest","message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"An error has occurred - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: 7f0b1c2d-0000-4000-8000-000000000000 - Url: https://fef.msub02.manage.microsoft.com/x\",\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null\r\n}","innerError":{"date":"2026-11-28T10:00:05","request-id":"9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b","client-request-id":"11111111-2222-4333-8444-555555555555"}}}"#;
    let se = ServiceError::from_response(400, &[], body);
    let path = format!("/deviceManagement/importedWindowsAutopilotDeviceIdentities/{device_id}");
    let ex = exchange(
        "PATCH",
        &path,
        400,
        Some(r#"{"groupTag":"Lab","state":{"deviceImportStatus":"error"}}"#),
        body,
    );
    let result = Box::new(Err(GraphError::Service(Box::new(se))));
    update(
        &mut m,
        Input::Msg(Msg::Patched {
            request_id: *request_id,
            device_id: device_id.clone(),
            exchanges: vec![ex],
            result,
            written: None,
        }),
    );
    m
}

fn inspector(w: u16, h: u16) -> Model {
    let mut m = failed_save(w, h);
    act(&mut m, Action::Inspect);
    m
}

fn help(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    act(&mut m, Action::Help);
    m
}

fn sign_in(w: u16, h: u16) -> Model {
    let mut m = Model::new("https://graph.microsoft.com/v1.0", false, false);
    m.no_color = true;
    m.size = (w, h);
    m.screen = crate::tui::model::Screen::SignIn;
    crate::tui::update::init(&mut m);
    let request_id = m.sign_in.as_ref().unwrap().request_id;
    let prompt = crate::tui::event::SignInPrompt {
        user_code: "HX7KQ2PL".into(),
        verification_uri: "https://microsoft.com/devicelogin".into(),
        message: "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code HX7KQ2PL to authenticate.".into(),
        expires_at: m.now + std::time::Duration::from_secs(899),
        interval: std::time::Duration::from_secs(5),
    };
    update(&mut m, Input::Msg(Msg::SignInPrompt { request_id, prompt }));
    let slow = crate::graph::auth::PollState::SlowedDown { interval: std::time::Duration::from_secs(10) };
    update(&mut m, Input::Msg(Msg::SignInPolled { request_id, state: slow }));
    m
}

fn sign_in_declined(w: u16, h: u16) -> Model {
    let mut m = sign_in(w, h);
    let request_id = m.sign_in.as_ref().unwrap().request_id;
    let declined = Err(crate::graph::auth::AuthError::Declined);
    update(&mut m, Input::Msg(Msg::SignedIn { request_id, result: declined }));
    m
}

fn throttled(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    m.table.listing.loading = true;
    let request_id = m.table.listing.request_id;
    m.requests.start(request_id, crate::tui::requests::RequestKind::List);
    let notice = crate::graph::client::RetryNotice {
        method: "GET".into(),
        url: "http://127.0.0.1:41234/v1.0/x".into(),
        attempt: 1,
        wait: std::time::Duration::from_millis(2100),
        reason: "429 Too Many Requests".into(),
    };
    let at = m.now;
    update(&mut m, Input::Msg(Msg::Retrying { request_id, notice, at }));
    m.table.server_filter = Some("contains(serialNumber,'PF3')".into());
    m
}

fn conflicts(w: u16, h: u16) -> Model {
    let mut m = confirm(w, h);
    let effects = update(&mut m, Input::Action(Action::ConfirmSend));
    let Some(crate::tui::event::Effect::Patch { request_id, device_id, body, original, resource, .. }) =
        effects.first()
    else {
        panic!("{effects:?}")
    };
    // A colleague changed the group tag (and the import status) since the draft was made.
    let mut server = (**original).clone();
    let tag = resource.field("groupTag").unwrap();
    tag.set(&mut server, serde_json::json!("Finance-Colleague"));
    let status = resource.field("state/deviceImportStatus").unwrap();
    status.set(&mut server, serde_json::json!("pending"));
    let crate::graph::conflict::Rebased::Conflicts(conflicts) =
        crate::graph::conflict::rebase(resource, original, &server, &body.changes)
    else {
        panic!("a conflict expected")
    };
    let (request_id, device_id) = (*request_id, device_id.clone());
    let server = Box::new(server);
    update(
        &mut m,
        Input::Msg(Msg::Conflicted { request_id, device_id, exchanges: Vec::new(), server, conflicts }),
    );
    act(&mut m, Action::PickMine);
    m
}

fn journal(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    let base = m.base_url.clone();
    let mut entries: Vec<crate::write_log::WriteEntry> = ["PF3ABCDE", "5CD1234X", "MXL98765"]
        .iter()
        .enumerate()
        .map(|(i, serial)| {
            let mut entry = *fixtures::written(&format!("id-{i}"));
            entry.target = base.clone();
            entry.serial = Some((*serial).to_string());
            entry.before.insert("groupTag".into(), serde_json::json!("Sales"));
            entry.after.insert("groupTag".into(), serde_json::json!(format!("Lab-{i}")));
            entry
        })
        .collect();
    entries[1].status = 400;
    entries[2].source = crate::write_log::WriteSource::Undo;
    entries[2].undoes = Some("x".into());
    m.journal.entries = entries;
    m.journal.loading = false;
    m.screen = crate::tui::model::Screen::Journal;
    m
}

fn jobs(w: u16, h: u16) -> Model {
    let mut m = table(w, h);
    let now = m.now;
    let mut job =
        crate::tui::model::JobView::new(7, "Bulk change of 40 imported identities".into(), None, now);
    job.phase = "sending".into();
    job.counts =
        vec![("done", 12), ("failed", 1), ("conflict", 1), ("skipped", 2), ("not sent", 0), ("pending", 24)];
    job.rate = Some(300.0);
    job.eta = Some(std::time::Duration::from_secs(5));
    job.paused_until = Some(now + std::time::Duration::from_secs(9));
    job.note("job 20261201T101500Z-imported-3f2a: 40 items (40 to go)");
    job.results = vec![
        "PF3ABCDE       done (request-id 5f1c0e9a-3d64-4a5e-9d5e-6a0a3f1e2b7c)".into(),
        "5CD1234X       failed: BadRequest: groupTag too long (request-id 9b2e...)".into(),
        "MXL98765       conflict: groupTag: \"Sales\" at plan, now \"Finance\"".into(),
    ];
    m.job = Some(job);
    m.screen = crate::tui::model::Screen::Jobs;
    m
}

macro_rules! screens {
    ($($name:ident => $make:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                for (w, h) in [(80, 24), (120, 40)] {
                    let m = $make(w, h);
                    insta::assert_snapshot!(format!("{}_{w}x{h}", stringify!($name)), render(&m));
                }
            }
        )*
    };
}

screens! {
    screen_table => table,
    screen_filtered_table => filtered,
    screen_form_dirty_invalid => dirty_form,
    screen_confirm => confirm,
    screen_form_save_failed => failed_save,
    screen_inspector => inspector,
    screen_help => help,
    screen_sign_in => sign_in,
    screen_sign_in_declined => sign_in_declined,
    screen_throttled => throttled,
    screen_conflicts => conflicts,
    screen_journal => journal,
    screen_jobs => jobs,
}

#[test]
fn wide_tables_show_ids_whole_or_not_at_all() {
    insta::assert_snapshot!("screen_table_160x50", render(&filtered(160, 50)));
    insta::assert_snapshot!("screen_table_230x50", render(&table(230, 50)));
}

#[test]
fn form_help_and_read_only_table() {
    let mut m = table(80, 24);
    open_first(&mut m);
    act(&mut m, Action::Help);
    insta::assert_snapshot!("screen_form_help_80x24", render(&m));
    let mut m = table(80, 24);
    m.read_only = true;
    insta::assert_snapshot!("screen_table_read_only_80x24", render(&m));
    open_first(&mut m);
    typing(&mut m, "x");
    insta::assert_snapshot!("screen_form_read_only_80x24", render(&m));
}

#[test]
fn tiny_terminals_do_not_panic() {
    let widths = [1, 5, 20, 39, 40, 41, 55, 80, 200];
    let heights = [1, 3, 5, 9, 10, 11, 14, 24, 60];
    let sizes = widths.iter().flat_map(|w| heights.iter().map(move |h| (*w, *h)));
    for (w, h) in sizes {
        for make in [table, filtered, dirty_form, confirm, inspector, help] {
            // Built at a usable size (keys wait while the terminal is too small), then resized.
            let mut m = make(80, 24);
            m.size = (w, h);
            let text = render(&m);
            if w < 40 || h < 10 {
                assert!(text.contains("Terminal") || w < 10, "{w}x{h}: {text}");
            }
        }
    }
}

#[test]
fn selection_visible_without_colour() {
    let m = table(80, 24);
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| views::draw(f, &m)).unwrap();
    let cell = t.backend().buffer().cell((4, 2)).unwrap();
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    assert_eq!(cell.fg, ratatui::style::Color::Reset);
}

#[test]
fn colours_when_colour_is_allowed() {
    use ratatui::style::Color;
    let mut m = table(80, 24);
    m.no_color = false;
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| views::draw(f, &m)).unwrap();
    let buf = t.backend().buffer();
    let text = buffer_text(buf);
    let row_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u16;
    let col = text.lines().nth(1).unwrap().find("IMPORT STATUS").unwrap() as u16;
    // Selected row: highlighted background; an error status: red; complete: green.
    assert_eq!(buf.cell((3, row_of("PF3ABCDE"))).unwrap().bg, Color::Cyan);
    assert_eq!(buf.cell((col, row_of("5CD1234XYZ"))).unwrap().fg, Color::Red);
    assert_eq!(buf.cell((col, row_of("2UA7301FGH"))).unwrap().fg, Color::Green);
    // The DEMO badge stands out.
    let demo = text.lines().next().unwrap().find("DEMO").unwrap() as u16;
    assert_eq!(buf.cell((demo, 0)).unwrap().bg, Color::Magenta);
}
