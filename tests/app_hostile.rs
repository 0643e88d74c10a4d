//! The whole app in process against hostile servers on 127.0.0.1: a listing that stops says
//! so and keeps its rows, a skipped device is said, server text is shown escaped, a write
//! answered with a redirect is not "Saved", and invisible characters are refused visibly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hostile;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::tui::model::Model;
use common::{App, retag_and_confirm};
use crossterm::event::KeyCode;
use hostile::{DEVICES, Hostile, Reply, device, page};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn app_for(server: &Hostile) -> App {
    let client = GraphClient::new(ClientConfig::new(&server.base_url, Secret::new("app-token"))).unwrap();
    App::with_model(Model::new(format!("TEST {}", server.base_url), false, false), client)
}

#[tokio::test]
async fn a_listing_that_stops_says_so_keeps_its_rows_and_r_lists_again() {
    let second_pages = Arc::new(AtomicU32::new(0));
    let counted = second_pages.clone();
    let server = Hostile::start(move |seen, base| {
        if seen.path_and_query.contains("skiptoken") {
            // The first time, a page whose `value` holds a non-object; then a good page.
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::json(serde_json::json!({"value": [42]}))
            } else {
                Reply::json(page(vec![device("c3", "SER-3")], None))
            }
        } else {
            let mut tagged = device("c1", "SER-1");
            tagged["groupTag"] = serde_json::json!("Sales\u{202e}gpj");
            Reply::json(page(
                vec![tagged, device("c2", "SER-2")],
                Some(format!("{base}{DEVICES}?$skiptoken=2")),
            ))
        }
    })
    .await;
    let mut app = app_for(&server);
    let stopped = app.until("the listing to stop", |s| s.listing_error.is_some()).await;
    assert_eq!(stopped.rows, 2, "the rows loaded stay");
    assert!(
        stopped.toast.starts_with("Listing stopped: unreadable answer: item 1 of the page"),
        "{}",
        stopped.toast
    );
    assert!(stopped.toast.contains("the 2 devices loaded stay (r lists again)"), "{}", stopped.toast);
    assert!(stopped.screen_text.contains("(listing incomplete)"), "{}", stopped.screen_text);
    // A bidi override from the server is shown, not obeyed (the column cuts it: `Sales⟨U+20…`).
    assert!(stopped.screen_text.contains("Sales⟨U+20"), "{}", stopped.screen_text);
    assert!(!stopped.screen_text.contains('\u{202e}'));

    app.press(KeyCode::Char('r'));
    let again =
        app.until("the listing again", |s| !s.loading && s.listing_error.is_none() && s.rows == 3).await;
    assert!(again.toast.starts_with("Loaded 3 devices in 2 pages"), "{}", again.toast);
    app.press(KeyCode::Char('q'));
    app.finish().await;
}

#[tokio::test]
async fn a_device_left_out_of_a_page_is_said() {
    let server = Hostile::start(|_, _| {
        let mut bad = device("b2", "SER-B2");
        bad["state"]["deviceErrorCode"] = serde_json::json!("806");
        Reply::json(page(vec![device("b1", "SER-B1"), bad], None))
    })
    .await;
    let mut app = app_for(&server);
    let done = app.until("the listing", |s| !s.loading && s.rows == 1).await;
    assert_eq!(done.toast, "Loaded 1 device in 1 page; 1 device left out or altered (see the log)");
    app.press(KeyCode::Char('q'));
    let model = app.finish().await;
    assert_eq!(model.table.listing.warnings, 1);
}

/// A device server whose PATCH is answered with a redirect (to a server that would say 200).
#[tokio::test]
async fn a_save_answered_with_a_redirect_keeps_the_draft() {
    let elsewhere = Hostile::start(|_, _| Reply::json(device("d1", "SER-D1"))).await;
    let target = format!("{}/d1", elsewhere.devices_url());
    let server = Hostile::start(move |seen, _| match seen.method.as_str() {
        "PATCH" => Reply::redirect(302, &target),
        _ if seen.path_and_query.ends_with("/d1") => Reply::json(device("d1", "SER-D1")),
        _ => Reply::json(page(vec![device("d1", "SER-D1")], None)),
    })
    .await;
    let mut app = app_for(&server);
    app.until("the listing", |s| !s.loading && s.rows == 1).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    retag_and_confirm(&mut app, "Lab-7").await;
    app.press(KeyCode::Enter);
    let failed = app.until("the answer", |s| !s.confirm && !s.saving && s.problem.is_some()).await;
    assert!(!failed.toast.starts_with("Saved"), "{}", failed.toast);
    assert_eq!(failed.dirty, 1, "the draft is kept");
    assert!(failed.screen_text.contains("writes never follow"), "{}", failed.screen_text);
    assert!(elsewhere.seen().is_empty(), "the PATCH was followed: {:?}", elsewhere.seen());
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('y'));
    app.finish().await;
}

#[tokio::test]
async fn invisible_characters_are_refused_and_shown() {
    let server = Hostile::start(|seen, _| {
        let mut tagged = device("e1", "SER-E1");
        tagged["groupTag"] = serde_json::json!("Kiosk\u{202e}");
        if seen.path_and_query.ends_with("/e1") {
            Reply::json(tagged)
        } else {
            Reply::json(page(vec![tagged], None))
        }
    })
    .await;
    let mut app = app_for(&server);
    app.until("the listing", |s| !s.loading && s.rows == 1).await;
    app.press(KeyCode::Enter);
    app.until("the form", |s| s.form_ready).await;
    // The assigned user: a zero-width space typed into it is refused, by name and place.
    app.typing("ana\u{200b}@contoso.com");
    let refused = app.until("the refusal", |s| s.screen_text.contains("invisible character")).await;
    assert!(
        refused.screen_text.contains("invisible character ⟨U+200B⟩ at position 4"),
        "{}",
        refused.screen_text
    );
    assert!(refused.screen_text.contains("/256"), "the cap shows while typing: {}", refused.screen_text);
    // The group tag from the server holds a bidi override: the form says where.
    app.press(KeyCode::Tab);
    let tag = app.until("the note", |s| s.screen_text.contains("holds ⟨U+202E⟩")).await;
    assert!(tag.screen_text.contains("holds ⟨U+202E⟩ at position 6"), "{}", tag.screen_text);
    app.ctrl('s');
    let blocked = app.until("the save blocked", |s| s.toast.contains("invisible")).await;
    assert!(!blocked.confirm);
    assert!(server.seen().iter().all(|s| s.method == "GET"));
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('q'));
    app.until("the quit question", |s| s.quit_question).await;
    app.press(KeyCode::Char('y'));
    app.finish().await;
}
