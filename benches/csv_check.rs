//! The hardware-hash CSV checker over a 10,000-row file with realistic 4 KB hashes (5,464
//! base64 characters each, 55 MB): a clean file, and one where every tenth row has a problem
//! (a cut hash, a bad user, a repeated serial, a non-ASCII tag, a quote). The file is made once,
//! outside the timed part; each iteration checks the whole file and builds every row to send.
//!
//! Run: `cargo bench --bench csv_check`. Numbers go into the README's Benchmarks section;
//! nothing here asserts a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::csv::{HEADER, check};
use autopilot_tui::server::data::hardware_hash;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const ROWS: u64 = 10_000;

/// A file of `ROWS` devices; with `broken`, every tenth row has one problem, in turn.
fn file(broken: bool) -> Vec<u8> {
    let mut text = format!("{HEADER}\r\n");
    for i in 0..ROWS {
        let hash = hardware_hash(i);
        let serial = format!("PF3B{i:06}");
        let tag = ["Sales", "Kiosk", "Lab", ""][(i % 4) as usize];
        let user = if i % 3 == 0 { format!("user{i}@contoso.com") } else { String::new() };
        let line = match (broken, i % 50) {
            (true, 5) => format!("{serial},,{},{tag},{user}", &hash[..hash.len() - 3]),
            (true, 15) => format!("{serial},,{hash},{tag},user{i}"),
            (true, 25) => format!("PF3B{:06},,{hash},{tag},{user}", i - 1),
            (true, 35) => format!("{serial},,{hash},Zürich,{user}"),
            (true, 45) => format!("\"{serial}\",,{hash},{tag},{user}"),
            _ => format!("{serial},,{hash},{tag},{user}"),
        };
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text.into_bytes()
}

fn csv_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("csv_check_10k");
    g.sampling_mode(SamplingMode::Flat);
    for (name, broken) in [("clean", false), ("every_tenth_row_broken", true)] {
        let bytes = file(broken);
        let report = check(&bytes);
        let expected_rows = if broken { 9_000 } else { 10_000 };
        // The one duplicate pair per 50 rows keeps its first row out too.
        let expected_rows = if broken { expected_rows - 200 } else { expected_rows };
        assert_eq!(report.rows.len(), expected_rows, "{name}: {:?}", report.problems.first());
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| black_box(check(bytes)))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! { name = benches; config = config(); targets = csv_check }
criterion_main!(benches);
