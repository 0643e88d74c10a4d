//! A kind of record the app has never heard of, described here in the test with two fields,
//! gets a working table, filter, sort and form (and a PATCH of exactly the changed field)
//! without a line of `src/tui` knowing it: the descriptor is all the app needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hostile;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::resource::{
    Cell, Column, Field, Kind, Resource, Role, SortBy, Tone, Version, WriteVerb,
};
use autopilot_tui::tui::model::Model;
use common::App;
use crossterm::event::KeyCode;
use hostile::{Hostile, Reply};
use serde_json::json;

const FIELDS: &[Field] = &[
    Field {
        path: "id",
        label: "Id",
        kind: Kind::Key,
        nullable: false,
        editable: false,
        max_len: None,
        version: Version::Both,
    },
    Field {
        path: "name",
        label: "Name",
        kind: Kind::Text,
        nullable: true,
        editable: true,
        max_len: Some(20),
        version: Version::Both,
    },
];

const fn column(title: &'static str, key: char, path: &'static str, role: Role) -> Column {
    Column {
        title,
        sort_key: key,
        word: title,
        cell: Cell::Field(path),
        tone: Tone::Plain,
        sort: SortBy::Text,
        width: (4, 8, 36),
        role,
        rank: 0,
        grows: false,
        version: Version::Both,
        repeats: false,
    }
}

static WIDGETS: Resource = Resource {
    command: "widgets",
    aliases: &[],
    title: "widgets",
    entity: "widget",
    path: "/widgets",
    alternate_path: None,
    fields: FIELDS,
    columns: &[column("NAME", 'A', "name", Role::Key), column("ID", 'D', "id", Role::Whole)],
    write: WriteVerb::Patch,
    searches: &[],
    actions: &[],
    bulk: &[],
    per_record: &[],
};

fn widget(n: u32, name: &str) -> serde_json::Value {
    json!({"id": format!("00000000-0000-4000-8000-00000000000{n}"), "name": name})
}

#[tokio::test]
async fn a_two_field_descriptor_gets_table_filter_sort_and_form() {
    let widgets = vec![widget(1, "gamma"), widget(2, "alpha"), widget(3, "beta")];
    let listed = widgets.clone();
    let server = Hostile::start(move |seen, _| match (seen.method.as_str(), seen.path_and_query.as_str()) {
        ("GET", p) if p.starts_with("/v1.0/widgets?") => Reply::json(json!({"value": listed})),
        ("GET", p) if p.starts_with("/v1.0/widgets/") => {
            let id = p.rsplit('/').next().unwrap();
            Reply::json(listed.iter().find(|w| w["id"] == id).cloned().unwrap())
        }
        ("PATCH", p) => {
            let id = p.rsplit('/').next().unwrap();
            let mut w = listed.iter().find(|w| w["id"] == id).cloned().unwrap();
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
            w["name"] = body["name"].clone();
            Reply::json(w)
        }
        (m, p) => Reply::error(404, "ResourceNotFound", &format!("no such thing: {m} {p}")),
    })
    .await;
    let client = GraphClient::new(ClientConfig::new(server.base_url.clone(), Secret::new("t"))).unwrap();
    let model = Model::of(&WIDGETS, false, format!("TEST {}", server.base_url), false, false);
    let mut app = App::with_model(model, client);

    // The table: both columns, every row; the listing asked for the descriptor's properties.
    let loaded = app.until("the widgets", |s| !s.loading && s.rows == 3).await;
    assert!(
        loaded.screen_text.contains("NAME") && loaded.screen_text.contains("gamma"),
        "{}",
        loaded.screen_text
    );
    let listing = server.seen().into_iter().find(|r| r.method == "GET").unwrap();
    assert!(listing.path_and_query.contains("$select=id,name"), "{}", listing.path_and_query);

    // The filter.
    app.press(KeyCode::Char('/'));
    app.typing("alp");
    let filtered = app.until("the filter", |s| s.view == 1).await;
    assert!(filtered.screen_text.contains("alpha") && !filtered.screen_text.contains("gamma"));
    app.press(KeyCode::Esc);
    app.until("the filter cleared", |s| s.view == 3).await;

    // The sort, by the key the descriptor gives the column.
    app.press(KeyCode::Char('A'));
    let sorted = app.until("the sort", |s| s.toast.starts_with("Sorted by NAME")).await;
    let order: Vec<usize> =
        ["alpha", "beta", "gamma"].iter().map(|n| sorted.screen_text.find(n).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", sorted.screen_text);

    // The form: the first row (alpha) fetched whole, its one editable field changed and saved.
    app.press(KeyCode::Enter);
    let form = app.until("the form", |s| s.form_ready).await;
    assert!(
        form.screen_text.contains("Name") && form.screen_text.contains("read-only"),
        "{}",
        form.screen_text
    );
    app.typing("-2");
    app.until("one field changed", |s| s.dirty == 1).await;
    app.ctrl('s');
    app.until("the confirmation", |s| s.confirm).await;
    app.press(KeyCode::Char('y'));
    app.until("the save", |s| !s.saving && s.toast.starts_with("Saved")).await;
    let patches: Vec<_> = server.seen().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1);
    assert!(patches[0].path_and_query.ends_with("/widgets/00000000-0000-4000-8000-000000000002"));
    let body: serde_json::Value = serde_json::from_slice(&patches[0].body).unwrap();
    assert_eq!(body, json!({"name": "alpha-2"}));
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('q'));
    app.finish().await;
}
