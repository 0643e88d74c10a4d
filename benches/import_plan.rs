//! What `autopilot-tui import FILE --dry-run` does before it shows the plan, for a 10,000-row
//! file with 4 KB hashes against an embedded tenant of 10,000 registered devices and 10,000
//! import records: check the file, read both collections (`$select`ed, pages of 999, over
//! loopback HTTP), plan every row. 1,000 of the rows are serials the tenant has registered
//! already (skipped or held), the rest are new. The file and the server are made once, outside
//! the timed part.
//!
//! Run: `cargo bench --bench import_plan`. Numbers go into the README's Benchmarks section;
//! nothing here asserts a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::csv::HEADER;
use autopilot_tui::graph::pacer::{PacerConfig, WritePacer};
use autopilot_tui::jobs::import::{CancellationToken, ImportJob, PlanOptions, plan};
use autopilot_tui::server::data::hardware_hash;
use autopilot_tui::server::{self, DataSet, ServeOptions};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use futures_util::StreamExt;
use std::hint::black_box;
use std::time::Duration;

const ROWS: u64 = 10_000;
const TENANT: u64 = 10_000;
const REGISTERED_ROWS: usize = 1_000;

fn import_plan(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let server = runtime
        .block_on(server::start(ServeOptions {
            data: DataSet::Generated { devices: TENANT, seed: 5 },
            page_size: 999,
            ..ServeOptions::default()
        }))
        .unwrap();
    let client = GraphClient::new(ClientConfig::new(server.base_url(), Secret::new("bench"))).unwrap();
    // Serials the tenant has registered, for the first rows.
    let registered: Vec<String> = runtime.block_on(async {
        let registered = client.for_resource(&autopilot_tui::graph::registered::REGISTERED);
        let query = autopilot_tui::graph::client::ListQuery {
            select: vec!["serialNumber".into()],
            top: Some(999),
            ..Default::default()
        };
        let page = registered.list(&query).next().await.unwrap().result.unwrap();
        page.devices.iter().map(|d| d["serialNumber"].as_str().unwrap().to_string()).collect()
    });
    let mut text = format!("{HEADER}\r\n");
    for i in 0..ROWS {
        let serial = registered
            .get(i as usize)
            .filter(|_| (i as usize) < REGISTERED_ROWS)
            .cloned()
            .unwrap_or_else(|| format!("BENCH{i:06}"));
        let tag = ["Sales", "Kiosk", "Lab", ""][(i % 4) as usize];
        text.push_str(&format!("{serial},,{},{tag},\r\n", hardware_hash(1_000_000 + i)));
    }
    let bytes = text.into_bytes();

    let mut g = c.benchmark_group("import_dry_run_10k");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("check_survey_plan", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let pacer = WritePacer::new(PacerConfig::default());
                let (job, _progress) = ImportJob::new(&client, pacer, CancellationToken::new(), None);
                let report = job.check(&bytes);
                let tenant = job.survey(&report, 999).await.unwrap();
                let plan = plan(&report, &tenant, PlanOptions::default());
                assert_eq!(plan.rows.len(), ROWS as usize);
                black_box(plan.counts())
            })
        })
    });
    g.finish();
    runtime.block_on(server.shutdown());
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
}

criterion_group! { name = benches; config = config(); targets = import_plan }
criterion_main!(benches);
