//! The bulk-write benchmark of issue 12: `autopilot-tui apply` (the release binary) of 2,000
//! changes (registered devices retagged) against the embedded server throttled as
//! `serve --throttle-writes 100/20` is, on the real clock. Prints the run's time against the
//! budget's floor (the writes after the bucket's first burst, at the rate), the ratio, the
//! server's 429s and the throttled writes lost (records not at their target afterwards: must be
//! 0), and the requests it took.
//!
//! Run from the repository root after building the binary:
//! `cargo build --release --bin autopilot-tui && cargo run --release --example apply_bench`.
//! Options: `--changes N` (default 2000), `--rate N/SECONDS` (default 100/20, the server's
//! bucket and apply's --write-rate alike), `--bin PATH` (default: the release binary beside
//! this example). About 6.5 minutes at the defaults.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::pacer::Rate;
use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::server::faults::FaultKind;
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{self, DataSet, ServeOptions};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "apply-bench-token";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Opts {
    changes: u64,
    rate: Rate,
    bin: PathBuf,
}

fn parse_opts() -> Res<Opts> {
    let beside = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("autopilot-tui"))
        .ok_or("cannot tell where the release binary is: give --bin")?;
    let mut o = Opts { changes: 2000, rate: Rate::new(100, Duration::from_secs(20)), bin: beside };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--changes" => o.changes = val()?.parse()?,
            "--rate" => o.rate = val()?.parse()?,
            "--bin" => o.bin = PathBuf::from(val()?),
            "-h" | "--help" => {
                println!(
                    "cargo run --release --example apply_bench -- [--changes N] [--rate N/SECONDS] [--bin PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !o.bin.exists() {
        return Err(
            format!("{} is missing: cargo build --release --bin autopilot-tui", o.bin.display()).into()
        );
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> Res<()> {
    let opts = parse_opts()?;
    let server = server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices: opts.changes, seed: 2000 },
        page_size: 999,
        throttle: ThrottleConfig { writes: Some(opts.rate), requests: None },
        ..ServeOptions::default()
    })
    .await?;
    let client =
        GraphClient::new(ClientConfig::new(server.base_url(), Secret::new(TOKEN)))?.for_resource(&REGISTERED);
    let mut serials = Vec::new();
    let mut pages = client.list(&Default::default());
    while let Some(page) = pages.next().await {
        for device in page.result?.devices {
            serials.push(device["serialNumber"].as_str().unwrap_or_default().to_string());
        }
    }
    let dir = std::env::temp_dir().join(format!("autopilot-tui-apply-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let plan = dir.join("retag.csv");
    let mut text = String::from("serialNumber,groupTag\n");
    for serial in &serials {
        text.push_str(&format!("{serial},bench-{serial}\n"));
    }
    std::fs::write(&plan, text)?;
    let results = dir.join("results.csv");
    let rate = opts.rate.to_string();
    eprintln!("apply of {} changes at {rate} against serve --throttle-writes {rate}…", serials.len());
    let started = Instant::now();
    let status = Command::new(&opts.bin)
        .args(["apply", "--resource", "registered", "--yes", "--write-rate", &rate])
        .arg(&plan)
        .arg("--results")
        .arg(&results)
        .args(["--base-url", &server.base_url(), "--token", TOKEN])
        .env("XDG_STATE_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .status()?;
    let took = started.elapsed();

    let journal = server.journal();
    let writes = journal.iter().filter(|r| r.method == "POST" && r.batch_item.is_some());
    let (mut handled, mut throttled) = (0usize, 0usize);
    for write in writes {
        if write.fault == Some(FaultKind::Throttled) {
            throttled += 1;
        } else if write.reached_handler() {
            handled += 1;
        }
    }
    let reads = journal.iter().filter(|r| r.method == "GET" && r.batch_item.is_some()).count();
    let envelopes = journal.iter().filter(|r| r.path_and_query.ends_with("/$batch")).count();
    let mut lost = 0usize;
    let mut pages = client.list(&Default::default());
    while let Some(page) = pages.next().await {
        for device in page.result?.devices {
            let serial = device["serialNumber"].as_str().unwrap_or_default();
            if device["groupTag"].as_str() != Some(&format!("bench-{serial}")) {
                lost += 1;
            }
        }
    }
    let floor = opts.rate.floor(serials.len() as u64);
    println!(
        "| changes | time | floor ((writes - {}) / rate) | floor / time | 429s | writes lost | writes handled | $batch calls | reads |",
        opts.rate.count
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1} s | {:.1} s | {:.3} | {throttled} | {lost} | {handled} | {envelopes} | {reads} |",
        serials.len(),
        took.as_secs_f64(),
        floor.as_secs_f64(),
        floor.as_secs_f64() / took.as_secs_f64(),
    );
    println!("apply exited with {status}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    if lost > 0 || !status.success() {
        return Err(format!("{lost} changes did not land").into());
    }
    Ok(())
}
