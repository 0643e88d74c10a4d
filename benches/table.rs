//! Table benchmarks at 10k, 100k and 1M rows: one filter keystroke, a sort, one frame at
//! 120x40, PageDown, and (10k/100k) loading the rows page by page.
//!
//! Run: `cargo bench --bench table` (add `-- filter` etc. to pick groups). Numbers go into the
//! README's Benchmarks section; nothing here asserts a time.
//!
//! The model is driven only through its stable entry points: `Model::new`, `update::update`
//! with `Action`s and `Msg`s (rows arrive as `Msg::Page`, as from the listing task), and
//! `views::draw` into a ratatui `TestBackend`. Devices are the server's deterministic generated
//! devices without hashes, turned into the table's rows as a listing page would be.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::client::{Exchange, Outcome, Page};
use autopilot_tui::graph::resource::Record;
use autopilot_tui::server::data::generated_device;
use autopilot_tui::tui::event::{Action, EditOp, Msg};
use autopilot_tui::tui::model::Model;
use autopilot_tui::tui::update::{self, Input};
use autopilot_tui::tui::views;
use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

const SEED: u64 = 1;
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const PAGE: usize = 999;
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

fn devices(n: usize) -> Vec<Record> {
    (0..n as u64)
        .filter_map(|i| serde_json::to_value(generated_device(SEED, i, false)).ok()?.as_object().cloned())
        .collect()
}

fn exchange() -> Exchange {
    Exchange {
        method: "GET".into(),
        url: "http://127.0.0.1:1/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities".into(),
        request_headers: Vec::new(),
        request_body: None,
        status: Some(200),
        response_headers: Vec::new(),
        response_body: String::new(),
        invalid_utf8: Vec::new(),
        started_at: SystemTime::UNIX_EPOCH,
        duration: Duration::ZERO,
        client_request_id: String::new(),
        transport_error: None,
        attempts: 1,
    }
}

fn page_msg(request_id: u64, devices: Vec<Record>) -> Input {
    let page = Page { devices, next_link: None, count: None, warnings: Vec::new() };
    Input::Msg(Msg::Page {
        request_id,
        outcome: Box::new(Outcome { exchange: exchange(), result: Ok(page) }),
    })
}

fn act(model: &mut Model, action: Action) {
    black_box(update::update(model, Input::Action(action)));
}

/// A 120x40 model whose listing delivered `rows` in pages of `page` and ended.
fn loaded_model(rows: &[Record], page: usize) -> Model {
    model_from_pages(rows.chunks(page).map(<[Record]>::to_vec).collect())
}

/// A 120x40 model whose listing delivered these pages and ended (each page's records are
/// handed over, as the listing task hands them over: nothing is copied on the way).
fn model_from_pages(pages: Vec<Vec<Record>>) -> Model {
    let total: usize = pages.iter().map(Vec::len).sum();
    let mut model = Model::new("BENCH http://127.0.0.1:1/v1.0", false, false);
    act(&mut model, Action::Resize(WIDTH, HEIGHT));
    let _ = update::init(&mut model);
    let id = model.table.listing.request_id;
    for page in pages {
        update::update(&mut model, page_msg(id, page));
    }
    update::update(&mut model, Input::Msg(Msg::ListEnded { request_id: id }));
    assert_eq!(model.table.view.len(), total);
    model
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n => format!("{}k", n / 1000),
    }
}

fn table(c: &mut Criterion) {
    for &n in &SIZES {
        let rows = devices(n);
        // Loading in 100k-row chunks: same model, fewer recomputations while setting up.
        let mut model = loaded_model(&rows, 100_000);
        let size = label(n);
        let slow = n >= 1_000_000;

        // One frame of the table at 120x40 (draw + ratatui's diff into the test backend).
        {
            let mut g = c.benchmark_group("render_120x40");
            let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
            g.bench_function(BenchmarkId::from_parameter(&size), |b| {
                b.iter(|| {
                    terminal.draw(|f| views::draw(f, &model)).unwrap();
                })
            });
            // The same while moving: every frame shows a different slice (PageDown between
            // frames, untimed), so the diff writes every row.
            g.bench_function(BenchmarkId::new("scrolling", &size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        act(&mut model, Action::PageDown);
                        if model.table.cursor + 1 >= model.table.view.len() {
                            act(&mut model, Action::Top);
                        }
                        let t = Instant::now();
                        terminal.draw(|f| views::draw(f, &model)).unwrap();
                        total += t.elapsed();
                    }
                    total
                })
            });
            g.finish();
            act(&mut model, Action::Top);
        }

        // Navigation: PageDown (update only), back to the top when at the end (untimed).
        {
            let mut g = c.benchmark_group("page_down");
            g.bench_function(BenchmarkId::from_parameter(&size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if model.table.cursor + 1 >= model.table.view.len() {
                            act(&mut model, Action::Top);
                        }
                        let t = Instant::now();
                        act(&mut model, Action::PageDown);
                        total += t.elapsed();
                    }
                    total
                })
            });
            g.finish();
            act(&mut model, Action::Top);
        }

        // One filter keystroke: the filter already says "pf"; the user types "3" (timed), then
        // deletes it (untimed); and the reverse, Backspace from "pf3" back to "pf".
        {
            act(&mut model, Action::FilterStart);
            act(&mut model, Action::FilterEdit(EditOp::Insert('p')));
            act(&mut model, Action::FilterEdit(EditOp::Insert('f')));
            let mut g = c.benchmark_group("filter_keystroke");
            if slow {
                g.sampling_mode(SamplingMode::Flat).sample_size(10);
            }
            g.bench_function(BenchmarkId::new("type_pf+3", &size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        act(&mut model, Action::FilterEdit(EditOp::Insert('3')));
                        total += t.elapsed();
                        act(&mut model, Action::FilterEdit(EditOp::Backspace));
                    }
                    total
                })
            });
            g.bench_function(BenchmarkId::new("backspace_pf3-3", &size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        act(&mut model, Action::FilterEdit(EditOp::Insert('3')));
                        let t = Instant::now();
                        act(&mut model, Action::FilterEdit(EditOp::Backspace));
                        total += t.elapsed();
                    }
                    total
                })
            });
            // The first character on the full table ("" -> "p").
            g.bench_function(BenchmarkId::new("type_first_char", &size), |b| {
                act(&mut model, Action::Back);
                act(&mut model, Action::FilterStart);
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        act(&mut model, Action::FilterEdit(EditOp::Insert('p')));
                        total += t.elapsed();
                        act(&mut model, Action::FilterEdit(EditOp::Backspace));
                    }
                    total
                })
            });
            g.finish();
            act(&mut model, Action::Back);
            act(&mut model, Action::Back);
            assert_eq!(model.table.view.len(), n);
        }

        // Sort the whole table, alternating ascending/descending. From 20,000 rows the app
        // sorts off the event loop (`Effect::Sort`); `sort_now` is the same work, timed here.
        {
            let mut g = c.benchmark_group("sort");
            g.sampling_mode(SamplingMode::Flat);
            if slow {
                g.sample_size(10);
            }
            for (name, key) in [("serial", 'S'), ("status", 'I')] {
                let column = model.table.column_of_key(key).unwrap();
                let mut descending = false;
                g.bench_function(BenchmarkId::new(name, &size), |b| {
                    b.iter(|| {
                        descending = !descending;
                        model.table.sort_now(Some((column, descending)));
                    })
                });
            }
            g.finish();
        }

        // One frame of the sorted table (sort by status is in force now).
        {
            let mut g = c.benchmark_group("render_120x40_sorted");
            let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
            g.bench_function(BenchmarkId::from_parameter(&size), |b| {
                b.iter(|| {
                    terminal.draw(|f| views::draw(f, &model)).unwrap();
                })
            });
            g.finish();
        }
        drop(model);

        // Loading all rows as the listing delivers them: pages of 999 through `update`
        // (whole load; divide by the page count for the cost per page). 1M is left out: one
        // load takes seconds and the cost per page is the 100k trend.
        if !slow {
            let mut g = c.benchmark_group("load_pages_of_999");
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
            g.bench_function(BenchmarkId::from_parameter(&size), |b| {
                b.iter_batched(
                    || rows.chunks(PAGE).map(<[Record]>::to_vec).collect(),
                    |pages| black_box(model_from_pages(pages)),
                    BatchSize::PerIteration,
                )
            });
            g.finish();
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = table }
criterion_main!(benches);
