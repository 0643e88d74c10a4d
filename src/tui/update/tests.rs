use super::*;
use crate::graph::auth::PollState;
use crate::graph::client::{Outcome, Page};
use crate::graph::error::ServiceError;
use crate::tui::fixtures::{self, exchange};
use crate::tui::history::{BODY_CAP, HISTORY_CAP};
use crate::tui::wording::poll_words;
use serde_json::json;

fn f(path: &str) -> &'static crate::graph::resource::Field {
    crate::graph::imported::IMPORTED.field(path).unwrap()
}

fn act(m: &mut Model, a: Action) -> Vec<Effect> {
    update(m, Input::Action(a))
}

fn msg(m: &mut Model, x: Msg) -> Vec<Effect> {
    update(m, Input::Msg(x))
}

fn typing(m: &mut Model, text: &str) {
    for c in text.chars() {
        act(m, Action::Edit(EditOp::Insert(c)));
    }
}

fn clear_field(m: &mut Model) {
    act(m, Action::Edit(EditOp::End));
    act(m, Action::Edit(EditOp::DeleteToStart));
}

/// Opens the selected device and answers its GET; returns the device id.
fn open(m: &mut Model) -> String {
    let effects = act(m, Action::Open);
    let [Effect::Get { request_id, device_id, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    let device = fixtures::devices().into_iter().find(|d| d["id"] == device_id.as_str()).unwrap();
    let path = format!("/deviceManagement/importedWindowsAutopilotDeviceIdentities/{device_id}");
    let outcome = Outcome { exchange: exchange("GET", &path, 200, None, "{}"), result: Ok(device) };
    msg(m, Msg::Fetched { request_id: *request_id, outcome: Box::new(outcome) });
    device_id.clone()
}

fn patch_effect(effects: &[Effect]) -> (u64, String, serde_json::Value) {
    match effects {
        [Effect::Patch { request_id, device_id, body, .. }] => {
            (*request_id, device_id.clone(), body.to_json())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn init_lists_with_select_and_big_pages() {
    let mut m = Model::new("x", false, false);
    let effects = init(&mut m);
    let [Effect::List { request_id, query, .. }, Effect::FindUnfinishedJobs] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(*request_id, m.table.listing.request_id);
    assert_eq!(query.top, Some(999));
    assert!(query.select.contains(&"serialNumber".to_string()));
    assert!(!query.select.contains(&"hardwareIdentifier".to_string()));
    assert!(m.table.listing.loading && m.busy());
}

#[test]
fn pages_stream_in_and_stale_pages_are_dropped() {
    let mut m = Model::new("x", false, false);
    init(&mut m);
    let first = m.table.listing.request_id;
    let devices = fixtures::devices();
    let page = |d: &[crate::graph::resource::Record]| {
        Box::new(Outcome {
            exchange: exchange("GET", "/x", 200, None, "{}"),
            result: Ok(Page { devices: d.to_vec(), next_link: None, count: None, warnings: Vec::new() }),
        })
    };
    msg(&mut m, Msg::Page { request_id: first, outcome: page(&devices[..3]) });
    assert_eq!(m.table.view.len(), 3);
    // The table keeps no hashes: a row has no such field (see `Row`).
    // A reload: pages of the old listing no longer count.
    act(&mut m, Action::Reload);
    msg(&mut m, Msg::Page { request_id: first, outcome: page(&devices[3..]) });
    assert_eq!(m.table.rows.len(), 3);
    let second = m.table.listing.request_id;
    msg(&mut m, Msg::Page { request_id: second, outcome: page(&devices[..2]) });
    msg(&mut m, Msg::Page { request_id: second, outcome: page(&devices[2..]) });
    msg(&mut m, Msg::ListEnded { request_id: second });
    assert_eq!(m.table.rows.len(), devices.len());
    assert!(!m.table.listing.loading);
    assert_eq!(m.toast.as_ref().unwrap().text, "Loaded 8 devices in 2 pages");
    assert_eq!(m.history.len(), 4, "every exchange is recorded, stale ones too");
}

#[test]
fn pages_arriving_under_a_filter_join_the_view_only_when_they_match_and_the_cursor_stays() {
    let mut m = Model::new("x", false, false);
    act(&mut m, Action::Resize(120, 40));
    init(&mut m);
    let id = m.table.listing.request_id;
    let devices = fixtures::devices();
    let page = |d: &[crate::graph::resource::Record]| {
        Box::new(Outcome {
            exchange: exchange("GET", "/x", 200, None, "{}"),
            result: Ok(Page { devices: d.to_vec(), next_link: None, count: None, warnings: Vec::new() }),
        })
    };
    msg(&mut m, Msg::Page { request_id: id, outcome: page(&devices[..4]) });
    act(&mut m, Action::Down);
    let on = m.table.selected_id();
    for page_of_one in devices[4..].chunks(1) {
        msg(&mut m, Msg::Page { request_id: id, outcome: page(page_of_one) });
    }
    assert_eq!(m.table.view, (0..devices.len()).collect::<Vec<_>>(), "unfiltered: every row, in order");
    assert_eq!(m.table.selected_id(), on, "the cursor stays on its row");

    // The same with a filter typed while the listing runs: only matching rows join.
    let mut m = Model::new("x", false, false);
    act(&mut m, Action::Resize(120, 40));
    init(&mut m);
    let id = m.table.listing.request_id;
    msg(&mut m, Msg::Page { request_id: id, outcome: page(&devices[..2]) });
    act(&mut m, Action::FilterStart);
    for c in "contoso".chars() {
        act(&mut m, Action::FilterEdit(EditOp::Insert(c)));
    }
    for page_of_one in devices[2..].chunks(1) {
        msg(&mut m, Msg::Page { request_id: id, outcome: page(page_of_one) });
    }
    let expected: Vec<usize> =
        (0..devices.len()).filter(|&row| m.table.rows.matching("contoso")[row]).collect();
    assert!(expected.len() > 1 && expected.len() < devices.len(), "{expected:?}");
    assert_eq!(m.table.view, expected);
}

#[test]
fn filter_as_you_type_and_escape_clears() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::FilterStart);
    for c in "FINANCE".chars() {
        act(&mut m, Action::FilterEdit(EditOp::Insert(c)));
    }
    let serials: Vec<_> =
        m.table.view.iter().map(|&i| m.table.field_text(i, "serialNumber").unwrap().to_string()).collect();
    assert_eq!(serials, ["MXL9876543", "2UA7301FGH"]);
    act(&mut m, Action::FilterAccept);
    assert!(!(m.typing == crate::tui::model::Typing::Filter));
    act(&mut m, Action::Back);
    assert_eq!(m.table.view.len(), 8);
    // Matches user and import id too.
    act(&mut m, Action::FilterStart);
    act(&mut m, Action::FilterEdit(EditOp::Paste("erik@".into())));
    assert_eq!(m.table.view.len(), 1);
}

#[test]
fn sort_toggles_direction_and_keeps_selection() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::Down);
    let selected = m.table.selected_id().unwrap();
    act(&mut m, Action::Sort('S'));
    assert_eq!(m.table.sort, Some((0, false)));
    assert_eq!(m.table.field_text(m.table.view[0], "serialNumber").as_deref(), Some("2UA7301FGH"));
    assert_eq!(m.table.selected_id().unwrap(), selected);
    act(&mut m, Action::Sort('S'));
    assert_eq!(m.table.sort, Some((0, true)));
    assert_eq!(m.table.field_text(m.table.view[0], "serialNumber").as_deref(), Some("R90LKQ2B"));
    act(&mut m, Action::Sort('I'));
    assert_eq!(m.table.rows.cell(m.table.view[0], 3).split(' ').nth(1), Some("806"));
}

#[test]
fn navigation_clamps_and_pages() {
    let mut m = fixtures::model(80, 10);
    act(&mut m, Action::Up);
    assert_eq!(m.table.cursor, 0);
    act(&mut m, Action::PageDown);
    assert_eq!(m.table.cursor, 6);
    act(&mut m, Action::HalfPageUp);
    assert_eq!(m.table.cursor, 3);
    act(&mut m, Action::HalfPageDown);
    assert_eq!(m.table.cursor, 6);
    act(&mut m, Action::Bottom);
    assert_eq!(m.table.cursor, 7);
    assert_eq!(m.table.offset, 2);
    act(&mut m, Action::Top);
    assert_eq!((m.table.cursor, m.table.offset), (0, 0));
}

#[test]
fn keys_wait_while_the_terminal_is_too_small() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::Resize(30, 8));
    act(&mut m, Action::Down);
    assert!(act(&mut m, Action::Open).is_empty());
    assert_eq!((m.table.cursor, m.screen), (0, Screen::Table));
    act(&mut m, Action::Resize(80, 24));
    act(&mut m, Action::Down);
    assert_eq!(m.table.cursor, 1);
    act(&mut m, Action::Resize(30, 8));
    act(&mut m, Action::Quit);
    assert!(m.quit, "quit still works");
}

#[test]
fn n_and_shift_n_walk_the_matches_and_wrap() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::NextMatch);
    assert!(m.toast.as_ref().unwrap().text.contains("/ starts one"));
    act(&mut m, Action::FilterStart);
    act(&mut m, Action::FilterEdit(EditOp::Paste("complete".into())));
    act(&mut m, Action::FilterAccept);
    let n = m.table.view.len();
    assert!(n >= 2, "{n}");
    act(&mut m, Action::PrevMatch);
    assert_eq!(m.table.cursor, n - 1, "N from the first match wraps to the last");
    act(&mut m, Action::NextMatch);
    assert_eq!(m.table.cursor, 0, "n from the last wraps to the first");
    act(&mut m, Action::NextMatch);
    assert_eq!(m.table.cursor, 1);
    assert_eq!(m.toast.as_ref().unwrap().text, format!("Match 2/{n} of \"complete\""));
}

#[test]
fn the_filter_searches_every_column_shown() {
    let mut m = fixtures::model(80, 24);
    let count = |m: &mut Model, needle: &str| {
        act(m, Action::Back);
        act(m, Action::FilterStart);
        act(m, Action::FilterEdit(EditOp::Paste(needle.into())));
        m.table.view.len()
    };
    assert_eq!(count(&mut m, "806"), 1, "the error code");
    assert_eq!(count(&mut m, "ztddevicealready"), 1, "the error name");
    assert!(count(&mut m, "error") >= 2, "the status word");
    let id = m.table.rows.id(3);
    assert_eq!(count(&mut m, &id[..13]), 1, "the id");
    let import = m.table.field_text(5, "importId").unwrap().to_string();
    assert_eq!(count(&mut m, &import), 1, "the import id");
}

#[test]
fn status_messages_stay_on_the_screen_they_belong_to() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::Sort('S'));
    assert!(m.toast_shown().is_some_and(|t| t.text.starts_with("Sorted by")));
    open(&mut m);
    assert!(m.toast_shown().is_none(), "the sort message does not follow into the form: {:?}", m.toast);
}

#[test]
fn colon_q_bang_quits_without_asking() {
    let mut m = fixtures::model(80, 24);
    open(&mut m);
    typing(&mut m, "x");
    act(&mut m, Action::Back);
    assert_eq!(m.unsaved_count(), 1);
    act(&mut m, Action::CommandStart);
    act(&mut m, Action::CommandEdit(EditOp::Paste("q".into())));
    act(&mut m, Action::CommandRun);
    assert!(!m.quit && matches!(m.overlay, Some(Overlay::QuitConfirm)), ":q asks");
    act(&mut m, Action::Back);
    act(&mut m, Action::CommandStart);
    act(&mut m, Action::CommandEdit(EditOp::Paste("q!".into())));
    act(&mut m, Action::CommandRun);
    assert!(m.quit, ":q! does not ask");
}

#[test]
fn edit_save_confirm_and_server_answer() {
    let mut m = fixtures::model(80, 24);
    let id = open(&mut m);
    assert_eq!(m.form.as_ref().unwrap().focus, f("assignedUserPrincipalName"));
    act(&mut m, Action::NextField);
    assert_eq!(m.form.as_ref().unwrap().focus, f("groupTag"));
    clear_field(&mut m);
    typing(&mut m, "Lab");
    assert_eq!(m.form_draft().unwrap().dirty_count(), 1);
    assert!(act(&mut m, Action::Save).is_empty());
    let Some(Overlay::Confirm(c)) = &m.overlay else { panic!("{:?}", m.overlay) };
    assert_eq!(c.url, format!("{}/{id}", fixtures::COLLECTION));
    assert_eq!(c.body.to_json(), json!({"groupTag": "Lab"}));
    // Esc goes back to editing, draft untouched.
    act(&mut m, Action::Back);
    assert!(m.overlay.is_none());
    assert_eq!(m.form_draft().unwrap().text(f("groupTag")), "Lab");
    act(&mut m, Action::Save);
    let (request_id, device_id, body) = patch_effect(&act(&mut m, Action::ConfirmSend));
    assert_eq!((device_id.as_str(), body), (id.as_str(), json!({"groupTag": "Lab"})));
    assert!(m.busy());
    // Typing while saving is refused (the draft must stay what was sent).
    typing(&mut m, "x");
    assert_eq!(m.form_draft().unwrap().text(f("groupTag")), "Lab");

    let mut answer = fixtures::devices().into_iter().find(|d| d["id"] == id.as_str()).unwrap();
    answer.insert("groupTag".into(), serde_json::json!("Lab"));
    let ex = exchange("PATCH", "/x", 200, Some(r#"{"groupTag":"Lab"}"#), "{}");
    msg(
        &mut m,
        Msg::Patched {
            request_id,
            device_id: id.clone(),
            exchanges: vec![ex],
            result: Box::new(Ok(answer)),
            written: Some(fixtures::written(&id)),
        },
    );
    let draft = m.form_draft().unwrap();
    assert_eq!(draft.dirty_count(), 0);
    assert_eq!(draft.original["groupTag"], serde_json::json!("Lab"));
    let row = m.table.rows.find(&id).unwrap();
    assert_eq!(m.table.field_text(row, "groupTag").as_deref(), Some("Lab"));
    assert_eq!(m.toast.as_ref().unwrap().text, "Saved PF3ABCDE: Group tag (M-U undoes)");
    // Back to the table: a clean draft is dropped.
    act(&mut m, Action::Back);
    assert!(m.drafts.is_empty());
    assert_eq!(m.screen, Screen::Table);
}

#[test]
fn error_keeps_the_draft_and_shows_code_message_request_id() {
    let mut m = fixtures::model(80, 24);
    let id = open(&mut m);
    typing(&mut m, "x");
    act(&mut m, Action::Edit(EditOp::Backspace));
    act(&mut m, Action::NextField);
    typing(&mut m, "-2");
    act(&mut m, Action::Save);
    let (request_id, _, _) = patch_effect(&act(&mut m, Action::ConfirmSend));
    let before: Vec<String> =
        crate::graph::imported::IMPORTED.fields.iter().map(|f| m.form_draft().unwrap().text(f)).collect();
    let body = r#"{"error":{"code":"BadRequest","message":"groupTag too long","innerError":{"date":"2026-11-28T10:00:00","request-id":"r-123"}}}"#;
    let se = ServiceError::from_response(400, &[], body);
    let ex = exchange("PATCH", "/x", 400, Some("{}"), body);
    let result = Box::new(Err(GraphError::Service(Box::new(se))));
    msg(&mut m, Msg::Patched { request_id, device_id: id, exchanges: vec![ex], result, written: None });
    let after: Vec<String> =
        crate::graph::imported::IMPORTED.fields.iter().map(|f| m.form_draft().unwrap().text(f)).collect();
    assert_eq!(before, after);
    let p = m.form.as_ref().unwrap().problem.clone().unwrap();
    assert_eq!(p.title, "Saving failed: 400 BadRequest");
    assert!(p.lines.iter().any(|l| l == "message: groupTag too long"));
    assert!(p.lines.iter().any(|l| l.contains("request-id: r-123")));
    assert!(!m.busy());
}

#[test]
fn live_graph_refusal_is_explained() {
    let body = r#"{"error":{"code":"No method match route template","message":"No OData route exists that match template ~/singleton/navigation/key with http verb PATCH for request /x."}}"#;
    let e = GraphError::Service(Box::new(ServiceError::from_response(400, &[], body)));
    let p = problem(&e, "Saving");
    assert_eq!(p.title, "Updates refused by this Graph service");
    assert!(p.lines[0].contains("does not accept updates to imported Autopilot device identities"));
    assert!(p.lines.iter().any(|l| l.contains("draft is kept")));
}

#[test]
fn nothing_changed_sends_nothing_and_invalid_blocks() {
    let mut m = fixtures::model(80, 24);
    open(&mut m);
    assert!(act(&mut m, Action::Save).is_empty());
    assert!(m.overlay.is_none());
    assert_eq!(m.toast.as_ref().unwrap().text, "Nothing changed: nothing to send");
    clear_field(&mut m);
    typing(&mut m, "not-a-upn");
    act(&mut m, Action::NextField);
    act(&mut m, Action::Save);
    assert!(m.overlay.is_none());
    assert_eq!(m.form.as_ref().unwrap().focus, f("assignedUserPrincipalName"));
    assert!(m.toast.as_ref().unwrap().text.starts_with("Cannot save: Assigned user"));
}

#[test]
fn esc_keeps_the_draft_reopen_restores_quit_asks() {
    let mut m = fixtures::model(80, 24);
    let id = open(&mut m);
    typing(&mut m, ".x");
    act(&mut m, Action::Back);
    assert_eq!(m.screen, Screen::Table);
    assert!(m.has_unsaved(&id));
    // Reopen: no fetch, same text.
    assert!(act(&mut m, Action::Open).is_empty());
    assert_eq!(m.form_draft().unwrap().text(f("assignedUserPrincipalName")), "ana.lopez@contoso.com.x");
    act(&mut m, Action::Back);
    act(&mut m, Action::Quit);
    assert_eq!(m.overlay, Some(Overlay::QuitConfirm));
    assert!(!m.quit);
    act(&mut m, Action::Back);
    assert!(m.overlay.is_none());
    act(&mut m, Action::Quit);
    act(&mut m, Action::QuitAnyway);
    assert!(m.quit);
}

#[test]
fn revert_field_and_all() {
    let mut m = fixtures::model(80, 24);
    open(&mut m);
    typing(&mut m, "zz");
    act(&mut m, Action::NextField);
    typing(&mut m, "zz");
    assert_eq!(m.form_draft().unwrap().dirty_count(), 2);
    act(&mut m, Action::RevertField);
    assert_eq!(m.form_draft().unwrap().dirty_fields(), [f("assignedUserPrincipalName")]);
    act(&mut m, Action::RevertAll);
    assert_eq!(m.form_draft().unwrap().dirty_count(), 0);
}

#[test]
fn read_only_refuses_edits_and_saves() {
    let mut m = fixtures::model(80, 24);
    m.read_only = true;
    open(&mut m);
    typing(&mut m, "x");
    assert_eq!(m.form_draft().unwrap().dirty_count(), 0);
    assert!(m.toast.as_ref().unwrap().text.starts_with("Read-only mode"));
    assert!(act(&mut m, Action::Save).is_empty());
}

#[test]
fn stale_fetch_is_dropped() {
    let mut m = fixtures::model(80, 24);
    let effects = act(&mut m, Action::Open);
    let [Effect::Get { request_id, .. }] = effects.as_slice() else { panic!() };
    let request_id = *request_id;
    act(&mut m, Action::Back);
    act(&mut m, Action::Down);
    act(&mut m, Action::Open);
    let device = fixtures::devices().remove(0);
    let outcome = Outcome { exchange: exchange("GET", "/x", 200, None, "{}"), result: Ok(device) };
    msg(&mut m, Msg::Fetched { request_id, outcome: Box::new(outcome) });
    assert!(m.drafts.is_empty());
    assert!(m.form_fetching().is_some());
}

#[test]
fn history_is_capped_and_big_bodies_are_cut() {
    let mut m = Model::new("x", false, false);
    let big = format!("{{\"value\": \"{}\"}}", "a".repeat(BODY_CAP * 2));
    m.record(exchange("GET", "/big", 200, None, &big));
    let e = &m.history[0];
    assert_eq!(e.exchange.response_body.len(), BODY_CAP);
    assert!(e.body_note.as_ref().unwrap().contains("64 KB"));
    assert!(e.response_pretty().starts_with("{\n  \"value\": \"aaa"), "a cut body is still laid out");
    for _ in 0..HISTORY_CAP + 5 {
        m.record(exchange("GET", "/x", 200, None, "{}"));
    }
    assert_eq!(m.history.len(), HISTORY_CAP);
    assert_eq!(m.history_dropped, 6);
}

#[test]
fn inspector_browses_history() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::Inspect);
    assert_eq!(m.screen, Screen::Table, "nothing to inspect yet");
    m.record(exchange("GET", "/a", 200, None, "{}"));
    m.record(exchange("PATCH", "/b", 400, Some("{}"), "{}"));
    act(&mut m, Action::Inspect);
    assert_eq!((m.screen, m.inspector.selected), (Screen::Inspector, 1));
    act(&mut m, Action::Up);
    assert_eq!(m.inspector.selected, 0);
    act(&mut m, Action::Back);
    assert_eq!(m.screen, Screen::Table);
}

fn notice(method: &str, reason: &str, attempt: u32, wait_ms: u64) -> crate::graph::client::RetryNotice {
    crate::graph::client::RetryNotice {
        method: method.into(),
        url: "http://127.0.0.1:1/v1.0/x".into(),
        attempt,
        wait: std::time::Duration::from_millis(wait_ms),
        reason: reason.into(),
    }
}

#[test]
fn a_retry_wait_counts_down_and_esc_cancels_the_listing_keeping_rows() {
    let mut m = Model::new("x", false, false);
    init(&mut m);
    let id = m.table.listing.request_id;
    let devices = fixtures::devices();
    let page = Box::new(Outcome {
        exchange: exchange("GET", "/x", 200, None, "{}"),
        result: Ok(Page {
            devices: devices[..3].to_vec(),
            next_link: Some("n".into()),
            count: None,
            warnings: Vec::new(),
        }),
    });
    msg(&mut m, Msg::Page { request_id: id, outcome: page });
    let t0 = std::time::Instant::now();
    msg(
        &mut m,
        Msg::Retrying { request_id: id, notice: notice("GET", "429 Too Many Requests", 1, 2100), at: t0 },
    );
    let r = m.retry.clone().unwrap();
    assert_eq!(r.what(), "throttled (429 Too Many Requests)");
    assert_eq!(m.remaining(r.until), std::time::Duration::from_millis(2100));
    assert!(m.busy(), "the clock ticks while a countdown shows");
    msg(&mut m, Msg::Tick(t0 + std::time::Duration::from_millis(1000)));
    assert_eq!(m.remaining(r.until), std::time::Duration::from_millis(1100));
    // A stale listing's wait is ignored.
    msg(
        &mut m,
        Msg::Retrying { request_id: 999, notice: notice("GET", "503 Service Unavailable", 1, 5), at: t0 },
    );
    assert_eq!(m.retry.as_ref().unwrap().request_id, id);
    // Esc cancels: the task is stopped, the rows stay, r lists again.
    act(&mut m, Action::FilterStart);
    act(&mut m, Action::FilterEdit(EditOp::Insert('x')));
    act(&mut m, Action::FilterAccept);
    let effects = act(&mut m, Action::Back);
    assert_eq!(effects, vec![Effect::Cancel { request_id: id }]);
    assert!(m.retry.is_none() && !m.table.listing.loading && !m.busy());
    assert_eq!(m.table.rows.len(), 3);
    assert!(m.toast.as_ref().unwrap().text.contains("Listing cancelled"), "{:?}", m.toast);
    assert!(matches!(act(&mut m, Action::Reload).as_slice(), [Effect::List { .. }]));
}

#[test]
fn cancelling_a_save_keeps_the_draft_and_says_what_may_have_happened() {
    for (reasons, applied_words) in [
        (&["429 Too Many Requests"][..], "nothing was applied"),
        (&["429 Too Many Requests", "connection closed"][..], "may or may not"),
        (&[][..], "may or may not"),
    ] {
        let mut m = fixtures::model(80, 24);
        open(&mut m);
        act(&mut m, Action::NextField);
        typing(&mut m, "-x");
        act(&mut m, Action::Save);
        let (id, _, _) = patch_effect(&act(&mut m, Action::ConfirmSend));
        let t0 = std::time::Instant::now();
        for (n, reason) in reasons.iter().enumerate() {
            msg(
                &mut m,
                Msg::Retrying { request_id: id, notice: notice("PATCH", reason, n as u32 + 1, 500), at: t0 },
            );
        }
        assert_eq!(m.retry.is_some(), !reasons.is_empty());
        assert_eq!(act(&mut m, Action::Back), vec![Effect::Cancel { request_id: id }]);
        assert!(m.form.is_some() && m.form_saving().is_none(), "the form is usable again");
        assert_eq!(m.form_draft().unwrap().dirty_count(), 1, "the draft is kept");
        assert!(m.toast.as_ref().unwrap().text.contains(applied_words), "{:?}", m.toast);
        // A late answer of the cancelled save changes nothing.
        let device = fixtures::devices().remove(0);
        msg(
            &mut m,
            Msg::Patched {
                request_id: id,
                device_id: device["id"].as_str().unwrap().to_string(),
                exchanges: vec![],
                result: Box::new(Ok(device)),
                written: Some(fixtures::written("x")),
            },
        );
        assert_eq!(m.form_draft().unwrap().dirty_count(), 1);
    }
}

#[test]
fn server_search_commands_list_with_a_filter_and_esc_returns() {
    let mut m = fixtures::model(80, 24);
    act(&mut m, Action::CommandStart);
    assert_eq!(context(&m), Context::Command);
    for c in "serial o'b".chars() {
        act(&mut m, Action::CommandEdit(EditOp::Insert(c)));
    }
    let effects = act(&mut m, Action::CommandRun);
    let [Effect::List { request_id, query, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(query.filter.as_deref(), Some("contains(serialNumber,'o''b')"));
    // The header names the search once its results are shown, not before.
    assert_eq!(m.table.server_filter, None);
    let page = Outcome {
        exchange: exchange("GET", "/x", 200, None, "{}"),
        result: Ok(Page {
            devices: fixtures::devices()[..1].to_vec(),
            next_link: None,
            count: None,
            warnings: Vec::new(),
        }),
    };
    msg(&mut m, Msg::Page { request_id: *request_id, outcome: Box::new(page) });
    assert_eq!(m.table.server_filter.as_deref(), Some("contains(serialNumber,'o''b')"));
    assert_eq!(m.table.rows.len(), 1);
    assert_eq!(context(&m), Context::Table);
    // Esc (no local filter) goes back to the full listing.
    let effects = act(&mut m, Action::Back);
    let [Effect::List { query, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(query.filter, None);
    // An unknown command says so and lists nothing.
    act(&mut m, Action::CommandStart);
    act(&mut m, Action::CommandEdit(EditOp::Paste("nope".into())));
    assert!(act(&mut m, Action::CommandRun).is_empty());
    assert!(m.toast.as_ref().unwrap().text.contains("unknown command"));
}

#[test]
fn sign_in_shows_the_prompt_polls_and_failures_offer_a_restart() {
    let mut m = Model::new("x", false, false);
    m.screen = Screen::SignIn;
    let effects = init(&mut m);
    let [Effect::SignIn { request_id }] = effects.as_slice() else { panic!("{effects:?}") };
    let id = *request_id;
    let prompt = crate::tui::event::SignInPrompt {
        user_code: "ABCD2345".into(),
        verification_uri: "https://microsoft.com/devicelogin".into(),
        message: "To sign in, use a web browser".into(),
        expires_at: m.now + std::time::Duration::from_secs(900),
        interval: std::time::Duration::from_secs(5),
    };
    msg(&mut m, Msg::SignInPrompt { request_id: id, prompt });
    msg(
        &mut m,
        Msg::SignInPolled {
            request_id: id,
            state: PollState::SlowedDown { interval: std::time::Duration::from_secs(10) },
        },
    );
    assert_eq!(poll_words(m.sign_in.as_ref().unwrap().poll), "asked to slow down: polling every 10 s");
    assert_eq!(act(&mut m, Action::SignInAgain), vec![], "no restart while waiting");
    msg(&mut m, Msg::SignedIn { request_id: id, result: Err(AuthError::Declined) });
    assert_eq!(
        m.sign_in.as_ref().unwrap().failed.as_deref(),
        Some("Sign-in was declined at the verification page.")
    );
    let again = act(&mut m, Action::SignInAgain);
    assert!(matches!(again.as_slice(), [Effect::SignIn { request_id }] if *request_id != id));
    // Esc on the sign-in screen quits.
    act(&mut m, Action::Back);
    assert!(m.quit);
}

#[test]
fn index_merges_appended_pages_into_the_sort_and_follows_saves() {
    let mut m = Model::new("x", false, false);
    let full = fixtures::devices();
    let devices = full.clone();
    let records = full.clone();
    m.table.sort = Some((0, false));
    m.table.push(&records[..4]);
    m.table.derive_view();
    m.table.push(&records[4..]);
    m.table.derive_view();
    let serials = |m: &Model| -> Vec<String> {
        m.table
            .view
            .iter()
            .map(|&i| m.table.field_text(i, "serialNumber").unwrap_or_default().to_string())
            .collect()
    };
    let mut expected: Vec<String> =
        devices.iter().map(|d| d["serialNumber"].as_str().unwrap_or_default().to_string()).collect();
    expected.sort_by_key(|s| s.to_ascii_lowercase());
    assert_eq!(serials(&m), expected);
    // A saved row moves to its new place.
    let mut renamed = full[0].clone();
    renamed.insert("serialNumber".into(), serde_json::json!("0000FIRST"));
    replace_row(&mut m, &renamed);
    assert_eq!(serials(&m)[0], "0000FIRST");
    // The filter matches the new text, case-insensitively.
    act(&mut m, Action::FilterStart);
    act(&mut m, Action::FilterEdit(EditOp::Paste("0000first".into())));
    assert_eq!(m.table.view.len(), 1);
}

#[test]
fn big_tables_sort_off_the_draw_path_and_stale_sorts_are_dropped() {
    use crate::tui::table::index::ASYNC_SORT_ROWS;
    let mut m = Model::new("x", false, false);
    let devices: Vec<_> =
        (0..ASYNC_SORT_ROWS as u64).map(|i| crate::server::data::generated_device(5, i, false)).collect();
    m.table.push(&fixtures::as_records(&devices));
    m.table.derive_view();
    let unsorted = m.table.view.clone();
    let job = |effects: Vec<Effect>| match effects.into_iter().next() {
        Some(Effect::Sort { generation, job }) => (generation, job),
        other => panic!("{other:?}"),
    };
    let (old, old_job) = job(act(&mut m, Action::Sort('S')));
    assert_eq!(m.table.view, unsorted, "the rows keep their order until the sort is done");
    let (new, new_job) = job(act(&mut m, Action::Sort('S')));
    msg(&mut m, Msg::Sorted { generation: old, sorted: Box::new(old_job.run()) });
    assert_eq!(m.table.view, unsorted, "a stale sort is dropped");
    msg(&mut m, Msg::Sorted { generation: new, sorted: Box::new(new_job.run()) });
    let serials: Vec<String> = m
        .table
        .view
        .iter()
        .map(|&i| m.table.field_text(i, "serialNumber").unwrap_or_default().to_string().to_ascii_lowercase())
        .collect();
    assert!(serials.windows(2).all(|w| w[0] >= w[1]), "descending after the second press");
    assert_eq!(m.table.sort_pending, None);
    // Filtering works on the sorted order.
    act(&mut m, Action::FilterStart);
    act(&mut m, Action::FilterEdit(EditOp::Insert('a')));
    let kept: Vec<String> = m
        .table
        .view
        .iter()
        .map(|&i| m.table.field_text(i, "serialNumber").unwrap_or_default().to_string().to_ascii_lowercase())
        .collect();
    assert!(kept.windows(2).all(|w| w[0] >= w[1]));
}

fn run_command(m: &mut Model, line: &str) {
    act(m, Action::CommandStart);
    act(m, Action::CommandEdit(EditOp::Paste(line.into())));
    act(m, Action::CommandRun);
}

fn two_drafts(m: &mut Model) {
    for (i, tag) in [(0, "First"), (1, "Second")] {
        let mut draft = Draft::new(&crate::graph::imported::IMPORTED, fixtures::devices().remove(i));
        draft.set_text(f("groupTag"), tag);
        m.drafts.insert(draft.id().to_string(), draft);
    }
}

#[test]
fn the_drafts_view_opens_a_draft_and_discards_one_or_all_after_asking() {
    let mut m = fixtures::model(120, 40);
    run_command(&mut m, "drafts");
    assert_eq!(m.screen, Screen::Table, "nothing to list");
    two_drafts(&mut m);
    run_command(&mut m, "drafts");
    assert_eq!(m.screen, Screen::Drafts);
    // Discarding asks; no keeps the draft.
    act(&mut m, Action::DiscardDraft);
    assert!(matches!(m.overlay, Some(Overlay::Ask(crate::tui::model::Ask::DiscardDraft { .. }))));
    act(&mut m, Action::Back);
    assert_eq!(m.unsaved_count(), 2);
    act(&mut m, Action::DiscardDraft);
    act(&mut m, Action::ConfirmSend);
    assert_eq!(m.unsaved_count(), 1);
    // Enter opens the other one's form with its edit.
    act(&mut m, Action::Open);
    assert_eq!(m.screen, Screen::Form);
    let id = m.form.as_ref().unwrap().device_id.clone();
    assert!(m.drafts[&id].is_dirty_any());
    act(&mut m, Action::Back);
    run_command(&mut m, "drafts");
    act(&mut m, Action::DiscardDrafts);
    act(&mut m, Action::ConfirmSend);
    assert_eq!(m.unsaved_count(), 0);
    assert_eq!(m.screen, Screen::Table, "an empty list closes");
}

#[test]
fn a_signal_quits_and_remembers_which() {
    let mut m = fixtures::model(120, 40);
    act(&mut m, Action::Terminated("SIGTERM"));
    assert!(m.quit);
    assert_eq!(m.ended_by, Some("SIGTERM"));
}

fn refusal(status: u16) -> Box<Outcome<Page>> {
    let body = r#"{"error":{"code":"BadRequest","message":"Invalid filter clause"}}"#;
    let e = ServiceError::from_response(status, &[], body);
    Box::new(Outcome {
        exchange: exchange("GET", "/x", status, None, body),
        result: Err(GraphError::Service(Box::new(e))),
    })
}

#[test]
fn a_refused_server_search_keeps_the_rows_and_the_header_it_had() {
    let mut m = fixtures::model(80, 24);
    let before = m.table.rows.len();
    act(&mut m, Action::CommandStart);
    act(&mut m, Action::CommandEdit(EditOp::Paste("filter serialNumber eq 'x'".into())));
    let effects = act(&mut m, Action::CommandRun);
    let [Effect::List { request_id, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    msg(&mut m, Msg::Page { request_id: *request_id, outcome: refusal(400) });
    assert_eq!(m.table.server_filter, None, "the header keeps what the rows are");
    assert_eq!(m.table.rows.len(), before);
    let text = &m.toast.as_ref().unwrap().text;
    assert!(
        text.contains("serialNumber eq 'x' failed") && text.contains("Still showing every device"),
        "{text}"
    );
    assert!(m.table.listing.error.is_none(), "the listing shown is still whole");
}

#[test]
fn reload_runs_the_server_search_again_and_keeps_the_cursor_on_its_device() {
    let mut m = fixtures::model(80, 24);
    m.table.server_filter = Some("contains(serialNumber,'5')".into());
    act(&mut m, Action::Down);
    act(&mut m, Action::Down);
    let selected = m.table.selected_id().unwrap();
    let effects = act(&mut m, Action::Reload);
    let [Effect::List { request_id, query, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(query.filter.as_deref(), Some("contains(serialNumber,'5')"), "the search is run again");
    let devices = fixtures::devices();
    let page = |d: &[crate::graph::resource::Record]| {
        Box::new(Outcome {
            exchange: exchange("GET", "/x", 200, None, "{}"),
            result: Ok(Page { devices: d.to_vec(), next_link: None, count: None, warnings: Vec::new() }),
        })
    };
    msg(&mut m, Msg::Page { request_id: *request_id, outcome: page(&devices[..1]) });
    assert_eq!(m.table.cursor, 0);
    msg(&mut m, Msg::Page { request_id: *request_id, outcome: page(&devices[1..]) });
    assert_eq!(m.table.selected_id().unwrap(), selected, "back on the same device");
    assert_eq!(m.table.server_filter.as_deref(), Some("contains(serialNumber,'5')"));
}

#[test]
fn inspector_wraps_by_default_toggles_and_saves_the_exchange() {
    let mut m = fixtures::model(80, 24);
    m.record(exchange(
        "PATCH",
        "/deviceManagement/x/1",
        400,
        Some(r#"{"groupTag":"a"}"#),
        r#"{"error":{"code":"BadRequest","message":"no"}}"#,
    ));
    act(&mut m, Action::Inspect);
    assert!(m.inspector.wrap);
    act(&mut m, Action::ToggleWrap);
    assert!(!m.inspector.wrap);
    let effects = act(&mut m, Action::SaveExchange);
    let [Effect::SaveExchange { name, text }] = effects.as_slice() else { panic!("{effects:?}") };
    assert!(name.starts_with("PATCH-400-"), "{name}");
    assert!(
        text.contains("Authorization: Bearer [redacted]") && text.contains("HTTP 400 Bad Request"),
        "{text}"
    );
    assert!(text.contains(r#"{"groupTag":"a"}"#));
    msg(&mut m, Msg::ExchangeSaved { result: Ok("/state/exchanges/x.txt".into()) });
    assert_eq!(m.toast_shown().unwrap().text, "Saved to /state/exchanges/x.txt");
}

#[test]
fn a_save_answer_updates_its_record_whatever_form_is_open() {
    let mut m = fixtures::model(80, 24);
    // A save of the first device is in flight (sent from its form, say) ...
    let first = open(&mut m);
    act(&mut m, Action::NextField);
    typing(&mut m, "-x");
    act(&mut m, Action::Save);
    let (request_id, device_id, _) = patch_effect(&act(&mut m, Action::ConfirmSend));
    assert_eq!(device_id, first);
    // ... while the user is on another device's form.
    m.form = None;
    m.screen = Screen::Table;
    act(&mut m, Action::Down);
    let second = open(&mut m);
    assert_ne!(second, first);
    let mut answer = fixtures::devices().into_iter().find(|d| d["id"] == first.as_str()).unwrap();
    answer.insert("groupTag".into(), serde_json::json!("Saved-Elsewhere"));
    let ex = exchange("PATCH", "/x", 200, None, "{}");
    msg(
        &mut m,
        Msg::Patched {
            request_id,
            device_id: first.clone(),
            exchanges: vec![ex],
            result: Box::new(Ok(answer)),
            written: Some(fixtures::written(&first)),
        },
    );
    let row = m.table.rows.find(&first).unwrap();
    assert_eq!(
        m.table.field_text(row, "groupTag").as_deref(),
        Some("Saved-Elsewhere"),
        "the row follows the answer"
    );
    assert_eq!(m.drafts.get(&first).map(Draft::dirty_count), Some(0), "its draft is clean again");
    assert_eq!(m.form.as_ref().unwrap().device_id, second, "the open form is left alone");
    assert!(m.toast.as_ref().unwrap().text.starts_with("Saved PF3ABCDE"), "{:?}", m.toast);
}

#[test]
fn a_failed_task_ends_its_listing_and_says_so() {
    let mut m = Model::new("x", false, false);
    init(&mut m);
    let id = m.table.listing.request_id;
    msg(&mut m, Msg::TaskFailed { request_id: Some(id), error: "boom".into() });
    assert!(!m.table.listing.loading && !m.busy());
    assert_eq!(m.table.listing.error.as_deref(), Some("boom"));
    assert!(m.toast.as_ref().unwrap().text.contains("boom"));
}

#[test]
fn a_read_back_that_does_not_show_the_change_keeps_it_and_offers_to_send_again() {
    let registered = &crate::graph::registered::REGISTERED;
    let mut m = Model::of(registered, false, "x", false, false);
    act(&mut m, Action::Resize(120, 40));
    init(&mut m);
    let record =
        json!({"id": "0b7c4a8e-0000-4000-8000-000000000001", "serialNumber": "PF1", "groupTag": "Old",
                        "enrollmentState": "enrolled", "lastContactedDateTime": "2026-11-30T10:00:00Z"})
        .as_object()
        .cloned()
        .unwrap();
    let page = Page { devices: vec![record.clone()], next_link: None, count: None, warnings: Vec::new() };
    let request_id = m.table.listing.request_id;
    let outcome = Box::new(Outcome { exchange: exchange("GET", "/x", 200, None, "{}"), result: Ok(page) });
    msg(&mut m, Msg::Page { request_id, outcome });
    let effects = act(&mut m, Action::Open);
    let [Effect::Get { request_id, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    let outcome =
        Box::new(Outcome { exchange: exchange("GET", "/x", 200, None, "{}"), result: Ok(record.clone()) });
    msg(&mut m, Msg::Fetched { request_id: *request_id, outcome });
    clear_field(&mut m);
    typing(&mut m, "New");
    act(&mut m, Action::Save);
    let effects = act(&mut m, Action::ConfirmSend);
    let [Effect::Patch { request_id, device_id, body, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(body.to_json(), json!({"groupTag": "New"}));
    // 204, then the record read back still has the old tag.
    let patched = Msg::Patched {
        request_id: *request_id,
        device_id: device_id.clone(),
        exchanges: Vec::new(),
        result: Box::new(Ok(record)),
        written: Some(fixtures::written(device_id)),
    };
    msg(&mut m, patched);
    let draft = m.form_draft().unwrap();
    assert_eq!(draft.dirty_count(), 1, "the change is kept");
    assert_eq!(draft.text(registered.field("groupTag").unwrap()), "New");
    let problem = m.form.as_ref().unwrap().problem.clone().unwrap();
    assert_eq!(problem.title, "Saved, but the record read back does not show the change");
    assert!(
        problem.lines[0].contains(r#"sent "New", the record read back has "Old""#),
        "{:?}",
        problem.lines
    );
    assert!(m.toast_shown().unwrap().text.contains("^S sends it again"));
    // Nothing goes by itself; ^S offers the same request again.
    act(&mut m, Action::Save);
    assert!(matches!(&m.overlay, Some(Overlay::Confirm(c)) if c.url.ends_with("/updateDeviceProperties")));
}

#[test]
fn marks_survive_a_filter_and_the_bulk_form_previews_a_guarded_plan() {
    let mut m = fixtures::model(120, 40);
    // Space marks and moves on; a filter does not lose the marks.
    act(&mut m, Action::Mark);
    act(&mut m, Action::Mark);
    assert_eq!(m.table.marks.len(), 2);
    assert_eq!(m.table.cursor, 2);
    act(&mut m, Action::FilterStart);
    typing_filter(&mut m, "finance");
    act(&mut m, Action::FilterAccept);
    let shown = m.table.view.len();
    assert!((1..8).contains(&shown));
    // `*` asks, naming the count and the filter; n marks nothing, y marks what is shown.
    act(&mut m, Action::MarkShown);
    assert_eq!(
        m.overlay,
        Some(Overlay::Ask(crate::tui::model::Ask::MarkShown {
            count: shown,
            filter: Some("finance".into())
        }))
    );
    act(&mut m, Action::Back);
    assert_eq!(m.table.marks.len(), 2);
    act(&mut m, Action::MarkShown);
    act(&mut m, Action::ConfirmSend);
    let marked = m.table.marks.len();
    assert!(marked > 2, "{marked}");
    act(&mut m, Action::Back); // clear the filter: the marks stay
    assert_eq!(m.table.marks.len(), marked);

    // Enter with marks: the bulk form of every marked row, whatever is shown.
    act(&mut m, Action::Open);
    assert_eq!(m.screen, Screen::Bulk);
    assert_eq!(m.bulk.as_ref().unwrap().rows.len(), marked);
    act(&mut m, Action::Save);
    assert!(m.bulk.as_ref().unwrap().problem.as_ref().unwrap().contains("left as it is"));
    // The user first (form order): ^T sets it; a value that is no UPN is refused.
    act(&mut m, Action::CycleChoice);
    typing(&mut m, "not a upn");
    act(&mut m, Action::Save);
    let problem = m.bulk.as_ref().unwrap().problem.clone().unwrap();
    assert!(problem.starts_with("Cannot preview: Assigned user"), "{problem}");
    assert!(m.overlay.is_none());
    act(&mut m, Action::CycleChoice); // set -> clear
    // The group tag: typing sets it.
    act(&mut m, Action::NextField);
    typing(&mut m, "Finance");
    m.confirm_over = 1;
    act(&mut m, Action::Save);
    let Some(Overlay::Plan(preview)) = &m.overlay else { panic!("{:?}", m.overlay) };
    let plan = &preview.plan;
    assert_eq!(plan.items.len(), marked);
    assert!(plan.already_there() == 0, "a user is cleared on every device with one");
    assert!(preview.guarded);
    let writes = plan.writes();
    // A device already in Finance still gets its user cleared; the tag is left out of its body.
    let finance =
        plan.items.iter().find(|i| i.body().is_some_and(|b| !b.properties.contains_key("groupTag")));
    assert!(finance.is_some(), "a Finance device sends only the cleared user");
    // Guarded: Enter alone says what to type; the number starts the job.
    assert!(act(&mut m, Action::ConfirmSend).is_empty());
    let Some(Overlay::Plan(preview)) = &m.overlay else { panic!() };
    assert_eq!(
        preview.problem.as_deref(),
        Some(format!("Type {writes} (the number of writes) to start the job").as_str())
    );
    typing(&mut m, &writes.to_string());
    let effects = act(&mut m, Action::ConfirmSend);
    let [Effect::RunJob { plan, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(plan.writes(), writes);
    assert!(m.job.is_some());
}

fn typing_filter(m: &mut Model, text: &str) {
    for c in text.chars() {
        act(m, Action::FilterEdit(EditOp::Insert(c)));
    }
}

#[test]
fn a_bulk_edit_in_progress_is_stored_and_comes_back_with_its_marks_and_choices() {
    let mut m = fixtures::model(120, 40);
    act(&mut m, Action::Mark);
    act(&mut m, Action::Mark);
    act(&mut m, Action::Open);
    act(&mut m, Action::NextField);
    typing(&mut m, "Restored-Tag");
    let stored = crate::tui::draft_store::StoredBulk::of(m.bulk.as_ref().unwrap(), &m.table).unwrap();
    assert_eq!(stored.marked.len(), 2);
    assert_eq!(
        stored.fields,
        vec![("groupTag".to_string(), "set to".to_string(), "Restored-Tag".to_string())]
    );
    // Through the store file's JSON, as the next start reads it.
    let drafts =
        crate::tui::draft_store::StoredDrafts::of_drafts(&m.drafts, Some(stored), "demo", "exit", None)
            .unwrap();
    let read: crate::tui::draft_store::StoredDrafts =
        serde_json::from_str(&serde_json::to_string(&drafts).unwrap()).unwrap();

    let mut next = fixtures::model(120, 40);
    next.bulk_restored = read.bulk;
    let note = bulk::restore(&mut next).unwrap();
    assert!(note.contains("2 marked devices"), "{note}");
    assert_eq!(next.table.marks, m.table.marks);
    act(&mut next, Action::Open);
    assert_eq!(next.screen, Screen::Bulk);
    let form = next.bulk.as_ref().unwrap();
    let tag = form.fields.iter().find(|f| f.field.path == "groupTag").unwrap();
    assert_eq!((tag.choice, tag.text.as_str()), (crate::tui::bulk::Choice::Set, "Restored-Tag"));
}
