//! Importing hardware-hash CSVs against the embedded server over real HTTP on 127.0.0.1:0: the
//! library's `ImportJob` on a paused clock (a mixed file registered, failed and explained,
//! cleaned up; 807 from a hand-made plan; throttled and faulted imports landing every row
//! exactly once by the server's journal; cancelling between chunks), and the real binary's
//! `import` (exit statuses, `--dry-run` sending nothing, the update made instead of an import,
//! the write log, a state directory that cannot be written).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shared;
use shared::*;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::csv::{self as hash_csv, HardwareHashRow, Report};
use autopilot_tui::graph::import_errors::ImportErrorKind;
use autopilot_tui::graph::pacer::{PacerConfig, WritePacer};
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::jobs::import::{
    CancellationToken, ImportEvent, ImportJob, ImportProgress, ImportRun, Outcome, PlanOptions, RowResult,
    RunOptions, Tenant, WatchEnd, plan,
};
use autopilot_tui::server::faults::FaultConfig;
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{self, DataSet, ImportOptions, RecordedRequest, RunningServer, ServeOptions};
use autopilot_tui::write_log::{WriteEntry, WriteLog, WriteSource};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const TOKEN: &str = "import-test-token";
const IMPORTED: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
const REGISTERED: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
const HEADER: &str = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User";

/// A CSV of `(serial, hash, group tag, user)` rows, CRLF as Windows writes them.
fn csv_text(rows: &[(String, String, &str, &str)]) -> String {
    let mut text = format!("{HEADER}\r\n");
    for (serial, hash, tag, user) in rows {
        text.push_str(&format!("{serial},,{hash},{tag},{user}\r\n"));
    }
    text
}

fn row(serial: &str, n: u32) -> (String, String, &'static str, &'static str) {
    (serial.to_string(), hash(n), "", "")
}

struct Setup {
    delay: Duration,
    other_tenant: Vec<String>,
    data: DataSet,
    throttle: ThrottleConfig,
    faults: FaultConfig,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            delay: Duration::ZERO,
            other_tenant: Vec::new(),
            data: DataSet::Demo,
            throttle: ThrottleConfig::default(),
            faults: FaultConfig::default(),
        }
    }
}

async fn serve(setup: Setup) -> RunningServer {
    server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: setup.data,
        page_size: 999,
        throttle: setup.throttle,
        faults: setup.faults,
        imports: ImportOptions {
            delay: setup.delay,
            other_tenant_serials: setup.other_tenant,
            other_tenant_file: None,
        },
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn client(server: &RunningServer, retry: RetryPolicy) -> GraphClient {
    let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
    config.retry = retry;
    GraphClient::new(config).unwrap()
}

/// A write log in a fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-import-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every record of a collection (the server's `page_size` is 999: demo sets fit one page).
async fn all(server: &RunningServer, path: &str) -> Vec<Value> {
    let url = format!("{}{path}?$top=999", server.base_url());
    let answer: Value =
        reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(answer.get("@odata.nextLink").is_none(), "one page expected");
    answer["value"].as_array().unwrap().clone()
}

fn text<'a>(record: &'a Value, key: &str) -> &'a str {
    record[key].as_str().unwrap_or_default()
}

/// The import requests the server handled (faulted ones that never reached it left out).
fn import_requests(journal: &[RecordedRequest]) -> Vec<Value> {
    journal
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/import") && r.reached_handler())
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn serials_sent(body: &Value) -> Vec<String> {
    body["importedWindowsAutopilotDeviceIdentities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| text(e, "serialNumber").to_string())
        .collect()
}

fn drain(progress: &mut UnboundedReceiver<ImportProgress>) -> Vec<ImportProgress> {
    let mut events = Vec::new();
    while let Ok(event) = progress.try_recv() {
        events.push(event);
    }
    events
}

fn result(run: &ImportRun, line: usize) -> &RowResult {
    run.rows.iter().find(|r| r.line == line).unwrap_or_else(|| panic!("no result for line {line}"))
}

/// Checks, surveys, plans and runs `bytes` as one job.
async fn import(
    client: &GraphClient,
    pacer: WritePacer,
    bytes: &[u8],
    options: PlanOptions,
    run: &RunOptions,
    log: Option<WriteLog>,
) -> (Report, ImportRun, Vec<ImportProgress>) {
    let (job, mut progress) = ImportJob::new(client, pacer, CancellationToken::new(), log);
    let report = job.check(bytes);
    let tenant = job.survey(&report, 999).await.unwrap();
    let plan = plan(&report, &tenant, options);
    let run = job.run(&plan, run).await.unwrap();
    (report, run, drain(&mut progress))
}

/// What the demo tenant offers a mixed file.
struct DemoMaterial {
    /// A registered device with a group tag and no user, and that tag.
    same: (String, String),
    /// Another registered device (its id and serial) to retag.
    differs: (String, String, Value),
    /// A serial whose only import record is still in process, and that record's id.
    in_process: (String, String),
    /// A serial whose only import record failed with 807, not registered.
    failed_807: String,
    /// The hash of a completed import (so of its registered twin).
    twin_hash: String,
}

async fn demo_material(server: &RunningServer) -> DemoMaterial {
    let registered = all(server, REGISTERED).await;
    let imports = all(server, IMPORTED).await;
    let mut serial_count: HashMap<String, usize> = HashMap::new();
    for r in registered.iter().chain(&imports) {
        *serial_count.entry(text(r, "serialNumber").to_uppercase()).or_default() += 1;
    }
    let once = |r: &Value| serial_count[&text(r, "serialNumber").to_uppercase()] == 1;
    let tagged: Vec<&Value> = registered
        .iter()
        .filter(|r| {
            once(r)
                && !text(r, "groupTag").is_empty()
                && r["userPrincipalName"].as_str().is_none_or(str::is_empty)
        })
        .collect();
    let same = (text(tagged[0], "serialNumber").to_string(), text(tagged[0], "groupTag").to_string());
    let differs = (
        text(tagged[1], "id").to_string(),
        text(tagged[1], "serialNumber").to_string(),
        tagged[1]["groupTag"].clone(),
    );
    let status = |r: &Value| r["state"]["deviceImportStatus"].as_str().unwrap_or_default().to_string();
    let pending = imports.iter().find(|r| once(r) && status(r) == "pending").unwrap();
    let failed = imports.iter().find(|r| once(r) && r["state"]["deviceErrorCode"] == 807).unwrap();
    let completed = imports.iter().find(|r| status(r) == "complete").unwrap();
    DemoMaterial {
        same,
        differs,
        in_process: (text(pending, "serialNumber").to_string(), text(pending, "id").to_string()),
        failed_807: text(failed, "serialNumber").to_string(),
        twin_hash: text(completed, "hardwareIdentifier").to_string(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_mixed_csv_is_registered_failed_and_explained_then_cleaned_up() {
    let server = serve(Setup {
        delay: Duration::from_secs(60),
        other_tenant: vec!["CSV-OT-0001".into()],
        ..Setup::default()
    })
    .await;
    let demo = demo_material(&server).await;
    let new_a = ("CSV-NEW-A".to_string(), hash(1), "Lab", "ana@contoso.com");
    let csv = csv_text(&[
        new_a.clone(),                                            // 2: imported
        ("CSV-NEW-B".into(), demo.twin_hash.clone(), "", ""),     // 3: 806 (its hash is registered)
        row("CSV-OT-0001", 3),                                    // 4: 808
        (demo.same.0.clone(), hash(4), demo.same.1.as_str(), ""), // 5: registered as the file says
        (demo.differs.1.to_lowercase(), hash(5), "Retagged", ""), // 6: updated instead
        row(&demo.in_process.0, 6),                               // 7: in the queue, in process
        row(&demo.failed_807.clone(), 7),                         // 8: in the queue, failed 807
        ("CSV-BAD-UPN".into(), hash(8), "", "ben"),               // 9: invalid
        new_a,                                                    // 10: repeats line 2
    ]);
    let dir = scratch("mixed");
    let log = WriteLog::at(dir.join("writes.jsonl"));
    let pacer = WritePacer::new(PacerConfig::default());
    let options = RunOptions { chunk_size: 2, ..RunOptions::default() };
    let client = client(&server, RetryPolicy::default());
    let (report, run, events) = import(
        &client,
        pacer,
        csv.as_bytes(),
        PlanOptions { update_registered: true },
        &options,
        Some(log.clone()),
    )
    .await;
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);

    // One result per line, each with its outcome.
    let outcomes: Vec<(usize, Outcome)> = run.rows.iter().map(|r| (r.line, r.outcome)).collect();
    use Outcome::*;
    assert_eq!(
        outcomes,
        [
            (2, Imported),
            (3, Failed),
            (4, Failed),
            (5, Skipped),
            (6, UpdatedInstead),
            (7, NotImported),
            (8, NotImported),
            (9, Invalid),
            (10, Skipped)
        ]
    );
    assert_eq!(run.watch, Some(WatchEnd::Settled));
    assert!(!run.all_done() && !run.cancelled);

    // Line 2 is registered as the file says, and its import record is gone.
    let imported = result(&run, 2);
    let device_id = imported.registered_id.clone().unwrap();
    let devices = all(&server, REGISTERED).await;
    let device = devices.iter().find(|d| d["id"] == device_id.as_str()).unwrap();
    assert_eq!(
        (text(device, "serialNumber"), text(device, "groupTag"), text(device, "userPrincipalName")),
        ("CSV-NEW-A", "Lab", "ana@contoso.com")
    );
    assert_eq!(imported.import_record_id, None);
    let queue = all(&server, IMPORTED).await;
    let ours: Vec<&Value> = queue.iter().filter(|r| r["importId"] == run.import_id.as_str()).collect();
    let mut kept: Vec<&str> = ours.iter().map(|r| text(r, "serialNumber")).collect();
    kept.sort();
    assert_eq!(kept, ["CSV-NEW-B", "CSV-OT-0001"], "completed records deleted, failed ones kept");

    // 806 and 808 explained in plain words, with their records named.
    for (line, kind, code) in
        [(3, ImportErrorKind::AlreadyAssigned, 806), (4, ImportErrorKind::AssignedToOtherTenant, 808)]
    {
        let failed = result(&run, line);
        let error = failed.error.as_ref().unwrap();
        assert_eq!((error.kind, error.code), (kind, code));
        assert!(failed.details.starts_with(&error.words()), "{}", failed.details);
        assert!(failed.details.contains("stays in the queue"));
        let record = ours.iter().find(|r| r["id"] == failed.import_record_id.as_deref().unwrap()).unwrap();
        assert_eq!(record["state"]["deviceErrorCode"], code);
    }
    assert!(result(&run, 4).details.contains("proof of ownership"));

    // The retag went through updateDeviceProperties with exactly the tag, instead of an import.
    let journal = server.journal();
    let updates: Vec<&RecordedRequest> =
        journal.iter().filter(|r| r.path_and_query.ends_with("/updateDeviceProperties")).collect();
    assert_eq!(updates.len(), 1);
    assert!(updates[0].path_and_query.contains(&demo.differs.0));
    assert_eq!(
        serde_json::from_slice::<Value>(&updates[0].body).unwrap(),
        serde_json::json!({"groupTag": "Retagged"})
    );
    let retagged = devices.iter().find(|d| d["id"] == demo.differs.0.as_str()).unwrap();
    assert_eq!(retagged["groupTag"], "Retagged");
    assert_eq!(result(&run, 6).registered_id.as_deref(), Some(demo.differs.0.as_str()));

    // Rows in the queue already show their state; the 807 its explanation.
    let in_process = result(&run, 7);
    assert!(in_process.details.contains("in the import queue already"), "{}", in_process.details);
    assert_eq!(in_process.import_record_id.as_deref(), Some(demo.in_process.1.as_str()));
    let failed_before = result(&run, 8);
    assert_eq!(failed_before.error.as_ref().unwrap().kind, ImportErrorKind::Duplicated);
    assert!(failed_before.details.contains("an earlier import failed"));
    assert!(result(&run, 9).details.contains("line 9, Assigned User"));
    assert_eq!(result(&run, 9).serial.as_deref(), Some("CSV-BAD-UPN"), "the serial of a row with problems");
    assert!(result(&run, 10).details.contains("repeats line 2"));

    // Two chunks (at most 2 rows), one importId; nothing of the held, skipped or invalid rows sent.
    let requests = import_requests(&journal);
    let sent: Vec<Vec<String>> = requests.iter().map(serials_sent).collect();
    assert_eq!(sent, [vec!["CSV-NEW-A", "CSV-NEW-B"], vec!["CSV-OT-0001"]]);
    for body in &requests {
        for entry in body["importedWindowsAutopilotDeviceIdentities"].as_array().unwrap() {
            assert_eq!(entry["importId"], run.import_id.as_str());
        }
    }
    let deletes: Vec<&RecordedRequest> = journal.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "the completed record only");

    // The watch: at once, then every 10 s until the 60 s import settled.
    let polls: Vec<_> = events
        .iter()
        .filter_map(|p| match &p.event {
            ImportEvent::Watching(w) => Some(*w),
            _ => None,
        })
        .collect();
    assert!(polls.len() >= 7, "{polls:?}");
    assert_eq!(polls[0].elapsed, Duration::ZERO);
    assert!(polls[..polls.len() - 1].iter().all(|w| w.next_poll == Some(Duration::from_secs(10))));
    let last = polls.last().unwrap();
    assert_eq!((last.counts.complete, last.counts.error, last.next_poll), (1, 2, None));
    assert!(last.elapsed >= Duration::from_secs(60) && last.elapsed < Duration::from_secs(75));
    assert!(polls.iter().any(|w| w.counts.pending > 0 || w.counts.unknown > 0));

    // The write log: one entry per row sent, the update with old and new, the delete.
    let (entries, unreadable) = log.read().unwrap();
    assert_eq!(unreadable, 0);
    let verbs: Vec<(&str, Option<&str>, WriteSource)> =
        entries.iter().map(|e| (e.verb.as_str(), e.serial.as_deref(), e.source)).collect();
    assert_eq!(verbs.iter().filter(|(v, _, _)| *v == "POST import").count(), 3);
    let update: &WriteEntry = entries.iter().find(|e| e.verb == "POST updateDeviceProperties").unwrap();
    assert_eq!(update.before["groupTag"], demo.differs.2);
    assert_eq!(update.after["groupTag"], "Retagged");
    assert_eq!((update.status, update.id.as_str()), (204, demo.differs.0.as_str()));
    let delete = entries.iter().find(|e| e.verb == "DELETE").unwrap();
    assert_eq!(
        (delete.source, delete.serial.as_deref(), delete.status),
        (WriteSource::Cleanup, Some("CSV-NEW-A"), 204)
    );
    assert!(entries.iter().all(|e| e.job.as_deref() == Some(run.import_id.as_str())));
    assert!(
        entries.iter().all(|e| !e.after.contains_key("hardwareIdentifier")),
        "hashes stay out of the log"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_same_hash_twice_in_one_import_is_ztd_device_duplicated_explained() {
    // The checker refuses such a file; a plan made by hand (as a caller could) still gets the
    // service's verdict explained.
    let server = serve(Setup { delay: Duration::from_secs(5), ..Setup::default() }).await;
    let row = |line: usize, serial: &str| HardwareHashRow {
        line,
        serial_number: serial.into(),
        product_key: None,
        hardware_identifier: hash(40),
        group_tag: None,
        assigned_user_principal_name: None,
    };
    let report = Report {
        rows: vec![row(2, "CSV-DUP-1"), row(3, "CSV-DUP-2")],
        ..hash_csv::check(format!("{HEADER}\r\n").as_bytes())
    };
    let plan = plan(&report, &Tenant::default(), PlanOptions::default());
    let (job, _progress) = ImportJob::new(
        &client(&server, RetryPolicy::default()),
        WritePacer::new(PacerConfig::default()),
        CancellationToken::new(),
        None,
    );
    let run = job.run(&plan, &RunOptions::default()).await.unwrap();
    for line in [2, 3] {
        let failed = result(&run, line);
        assert_eq!(failed.outcome, Outcome::Failed);
        let error = failed.error.as_ref().unwrap();
        assert_eq!(
            (error.kind, error.name.as_deref()),
            (ImportErrorKind::Duplicated, Some("ZtdDeviceDuplicated"))
        );
        assert!(failed.details.contains("more than once in one import"), "{}", failed.details);
    }
    assert_eq!(run.deleted, 0);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_and_faulted_import_lands_every_row_exactly_once() {
    let rows: Vec<_> = (0..300).map(|n| row(&format!("CSV-FLT-{n:04}"), 1000 + n)).collect();
    let server = serve(Setup {
        delay: Duration::from_secs(30),
        data: DataSet::Generated { devices: 20, seed: 3 },
        throttle: ThrottleConfig { writes: Some("6/10".parse().unwrap()), requests: None },
        faults: FaultConfig::every_kind(0.04, 11),
        ..Setup::default()
    })
    .await;
    let retry = RetryPolicy {
        max_attempts: 40,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(10),
        ..RetryPolicy::default()
    };
    // The client's own budget is generous, so the server's 429s are what paces it.
    let pacer = WritePacer::new(PacerConfig { rate: "100/1".parse().unwrap(), concurrency: 4 });
    let dir = scratch("faults");
    let log = WriteLog::at(dir.join("writes.jsonl"));
    let options = RunOptions { chunk_size: 50, ..RunOptions::default() };
    let (_, run, events) = import(
        &client(&server, retry),
        pacer,
        csv_text(&rows).as_bytes(),
        PlanOptions::default(),
        &options,
        Some(log.clone()),
    )
    .await;
    // The test's own reads below see no faults.
    server.set_faults(FaultConfig::default()).unwrap();
    server.set_throttle(ThrottleConfig::default());
    let not_imported: Vec<&RowResult> = run.rows.iter().filter(|r| r.outcome != Outcome::Imported).collect();
    assert!(not_imported.is_empty(), "{not_imported:#?}");

    // Every serial reached the import handler exactly once: no request stored twice.
    let journal = server.journal();
    let mut handled: HashMap<String, usize> = HashMap::new();
    for body in import_requests(&journal) {
        for serial in serials_sent(&body) {
            *handled.entry(serial).or_default() += 1;
        }
    }
    assert_eq!(handled.len(), 300);
    assert!(
        handled.values().all(|n| *n == 1),
        "{:?}",
        handled.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    // The server's faults and throttling did happen, and the 429s paused the writes.
    assert!(journal.iter().any(|r| r.path_and_query.ends_with("/import") && !r.reached_handler()));
    assert!(
        journal
            .iter()
            .any(|r| r.path_and_query.ends_with("/import") && r.fault.is_some() && r.reached_handler())
    );
    assert!(events.iter().any(|p| matches!(p.event, ImportEvent::Paused { .. })));
    assert!(events.iter().any(|p| p.paused_for.is_some()));

    // One registered device per serial; the queue holds nothing of this import any more.
    let registered = all(&server, REGISTERED).await;
    let mut devices: HashMap<&str, usize> = HashMap::new();
    for device in &registered {
        *devices.entry(text(device, "serialNumber")).or_default() += 1;
    }
    assert!(rows.iter().all(|(serial, ..)| devices.get(serial.as_str()) == Some(&1)));
    assert!(all(&server, IMPORTED).await.iter().all(|r| r["importId"] != run.import_id.as_str()));
    assert_eq!(run.deleted, 300);

    // The write log holds each row's landing once, with the record's id.
    let (entries, _) = log.read().unwrap();
    let landed: Vec<&WriteEntry> =
        entries.iter().filter(|e| e.verb == "POST import" && !e.id.is_empty()).collect();
    assert_eq!(landed.len(), 300);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_before_the_next_chunk_and_the_results_say_which_rows_went() {
    let server = serve(Setup::default()).await;
    let rows: Vec<_> = (0..4).map(|n| row(&format!("CSV-CAN-{n}"), 2000 + n)).collect();
    // One write a minute: the second chunk waits for the budget, and is cancelled there.
    let pacer = WritePacer::new(PacerConfig { rate: "1/60".parse().unwrap(), concurrency: 1 });
    let cancel = CancellationToken::new();
    let (job, mut progress) =
        ImportJob::new(&client(&server, RetryPolicy::default()), pacer, cancel.clone(), None);
    let report = job.check(csv_text(&rows).as_bytes());
    let tenant = job.survey(&report, 999).await.unwrap();
    let plan = plan(&report, &tenant, PlanOptions::default());
    let running = tokio::spawn({
        let job = job.clone();
        async move { job.run(&plan, &RunOptions { chunk_size: 2, ..RunOptions::default() }).await }
    });
    while let Some(event) = progress.recv().await {
        if matches!(event.event, ImportEvent::Sent { chunk: 1, .. }) {
            cancel.cancel();
            break;
        }
    }
    let run = running.await.unwrap().unwrap();
    assert!(run.cancelled);
    let outcomes: Vec<Outcome> = run.rows.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Imported, Outcome::Imported, Outcome::NotSent, Outcome::NotSent]);
    assert!(run.rows[2].details.contains("cancelled"));
    // The cancelled job deletes nothing: the completed records are kept and named.
    assert!(run.rows[0].details.contains("was kept"), "{}", run.rows[0].details);
    let journal = server.journal();
    assert_eq!(import_requests(&journal).len(), 1);
    assert!(!journal.iter().any(|r| r.method == "DELETE"));
}

// ---- the real binary ----

/// Runs the binary with `args`, its state in `state` (the write log's directory), its config in
/// `config`, and no connection settings from the environment; stdin is not a terminal.
async fn run_binary(args: Vec<String>, state: &Path, config: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"));
    cmd.args(&args).env("XDG_STATE_HOME", state).env("XDG_CONFIG_HOME", config);
    for var in
        ["AUTOPILOT_TUI_PROFILE", "AUTOPILOT_TUI_TOKEN", "AUTOPILOT_TUI_BASE_URL", "AUTOPILOT_TUI_CONFIG"]
    {
        cmd.env_remove(var);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// `autopilot-tui import FILE --base-url ... --token ... extra...`, the CSV written to a
/// scratch directory that is also the state directory.
async fn import_binary(server: &RunningServer, csv: &str, extra: &[&str]) -> (Output, PathBuf) {
    let dir = scratch("bin");
    let file = dir.join("devices.csv");
    std::fs::write(&file, csv).unwrap();
    (run_binary(import_args(&server.base_url(), &file, extra), &dir, &dir).await, dir)
}

/// `import FILE --base-url ... --token ... extra...`.
fn import_args(base_url: &str, file: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["import".into(), file.display().to_string()];
    args.extend(["--base-url".into(), base_url.to_string(), "--token".into(), TOKEN.into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The results CSV on stdout: (line, serial, outcome, code, name, details, device).
fn results(out: &Output) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new().from_reader(out.stdout.as_slice());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "Line");
    reader.records().map(Result::unwrap).collect()
}

fn writes(journal: &[RecordedRequest]) -> usize {
    journal.iter().filter(|r| r.method != "GET").count()
}

fn written_log(dir: &Path) -> Vec<WriteEntry> {
    WriteLog::at(dir.join("autopilot-tui").join("writes.jsonl")).read().unwrap().0
}

#[tokio::test]
async fn import_exits_0_when_every_row_is_imported_and_logs_its_writes() {
    let server = serve(Setup::default()).await;
    let csv = csv_text(&[row("CSV-BIN-1", 3001), row("CSV-BIN-2", 3002), row("CSV-BIN-3", 3003)]);
    let (out, dir) = import_binary(&server, &csv, &["--yes"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = results(&out);
    assert_eq!(rows.len(), 3);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            (&r[0], &r[1], &r[2]),
            (format!("{}", i + 2).as_str(), format!("CSV-BIN-{}", i + 1).as_str(), "imported")
        );
        assert!(!r[6].is_empty(), "the registered device's id");
    }
    let err = stderr(&out);
    assert!(err.contains("Plan: 3 to import") && err.contains("Done: 3 imported."), "{err}");
    let log = written_log(&dir);
    assert_eq!(log.iter().filter(|e| e.verb == "POST import").count(), 3);
    assert_eq!(log.iter().filter(|e| e.verb == "DELETE").count(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_failed_row_exits_1_with_its_code_and_explanation() {
    let server = serve(Setup { other_tenant: vec!["CSV-OT-BIN".into()], ..Setup::default() }).await;
    let csv = csv_text(&[row("CSV-OK-BIN", 3101), row("CSV-OT-BIN", 3102)]);
    let (out, dir) = import_binary(&server, &csv, &["--yes"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows = results(&out);
    assert_eq!((&rows[0][2], &rows[1][2]), ("imported", "failed"));
    assert_eq!((&rows[1][3], &rows[1][4]), ("808", "ZtdDeviceAssignedToOtherTenant"));
    assert!(rows[1][5].contains("another tenant") && rows[1][5].contains("reseller"), "{}", &rows[1][5]);
    assert!(!rows[1][7].is_empty(), "the failed import record is kept and named");
    assert!(stderr(&out).contains("exit status 1"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn nothing_is_sent_without_a_yes_and_rows_with_problems_need_skip_invalid() {
    let server = serve(Setup::default()).await;
    let fixture = std::fs::read_to_string("tests/fixtures/hashes-mixed.csv").unwrap();

    // Not a terminal, no --yes: nothing sent.
    let (out, dir) = import_binary(&server, &fixture, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("stdin is not a terminal"), "{}", stderr(&out));
    assert!(results(&out).iter().all(|r| matches!(&r[2], "not sent" | "invalid")));
    std::fs::remove_dir_all(dir).unwrap();

    // --yes alone on a file with problems: nothing sent, the way out named.
    let (out, dir) = import_binary(&server, &fixture, &["--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("add --skip-invalid"), "{}", stderr(&out));
    assert_eq!(writes(&server.journal()), 0);
    std::fs::remove_dir_all(dir).unwrap();

    // --yes --skip-invalid: the six valid rows go, the invalid ones never; exit 1 for them.
    let (out, dir) = import_binary(&server, &fixture, &["--yes", "--skip-invalid"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(results(&out).len(), 10, "one result per line holding a row");
    let err = stderr(&out);
    for line in [
        "line 3, Device Serial Number",
        "line 8, Device Serial Number",
        "line 9, Hardware Hash",
        "line 10, Assigned User",
        "line 11:",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    let sent: Vec<String> = import_requests(&server.journal()).iter().flat_map(serials_sent).collect();
    assert_eq!(
        sent,
        ["CSV-MX-0002", "CSV-MX-0004", "CSV-MX-0005", "CSV-MX-0006", "CSV-MX-0007", "CSV-MX-0012"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_results_file_holds_one_line_per_csv_row() {
    let server = serve(Setup::default()).await;
    let fixture = std::fs::read_to_string("tests/fixtures/hashes-mixed.csv").unwrap();
    let dir = scratch("results");
    let file = dir.join("devices.csv");
    std::fs::write(&file, &fixture).unwrap();
    let results_file = dir.join("results.csv");
    let results_arg = results_file.display().to_string();
    let args =
        import_args(&server.base_url(), &file, &["--yes", "--skip-invalid", "--results", &results_arg]);
    let out = run_binary(args, &dir, &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the results went to the file");
    let mut reader = csv::Reader::from_path(&results_file).unwrap();
    let lines: Vec<(String, String, String)> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[0].to_string(), r[1].to_string(), r[2].to_string()))
        .collect();
    let expected = [
        ("2", "CSV-MX-0002", "imported"),
        ("3", "CSV-MX-0003", "invalid"),
        ("4", "CSV-MX-0004", "imported"),
        ("5", "CSV-MX-0005", "imported"),
        ("6", "CSV-MX-0006", "imported"),
        ("7", "CSV-MX-0007", "imported"),
        ("8", "CSV-MX-0003", "invalid"),
        ("9", "CSV-MX-0009", "invalid"),
        ("10", "CSV-MX-0010", "invalid"),
        ("12", "CSV-MX-0012", "imported"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(lines, expected, "the blank line 11 holds no row");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn dry_run_sends_nothing_and_exits_0_for_a_clean_plan() {
    let server = serve(Setup::default()).await;
    let csv = csv_text(&[row("CSV-DRY-1", 3201), row("CSV-DRY-2", 3202)]);
    let (out, dir) = import_binary(&server, &csv, &["--dry-run", "--yes", "--sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(results(&out).iter().all(|r| &r[2] == "would import"));
    let journal = server.journal();
    assert!(!journal.is_empty() && journal.iter().all(|r| r.method == "GET"), "reads only");
    assert!(!dir.join("autopilot-tui").join("writes.jsonl").exists());
    // A plan that leaves rows out is not a clean one.
    let csv = csv_text(&[row("CSV-DRY-3", 3203), ("CSV-DRY-4".into(), "abc".into(), "", "")]);
    let (out, dir2) = import_binary(&server, &csv, &["--dry-run"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(writes(&server.journal()), 0);
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[tokio::test]
async fn a_registered_device_with_another_tag_is_updated_instead_of_imported() {
    let server = serve(Setup::default()).await;
    let demo = demo_material(&server).await;
    let (id, serial, old_tag) = demo.differs;
    let csv = csv_text(&[(serial.clone(), hash(3301), "Kiosk-7", "")]);

    // Without the flag (and no terminal to ask on) the row is held, and says how to update it.
    let (out, dir) = import_binary(&server, &csv, &["--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    let rows = results(&out);
    assert_eq!(&rows[0][2], "not imported");
    assert!(rows[0][5].contains("--update-registered") && rows[0][5].contains("Kiosk-7"), "{}", &rows[0][5]);
    assert_eq!(writes(&server.journal()), 0);
    std::fs::remove_dir_all(dir).unwrap();

    let (out, dir) = import_binary(&server, &csv, &["--yes", "--update-registered"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = results(&out);
    assert_eq!((&rows[0][2], &rows[0][6]), ("updated instead", id.as_str()));
    let journal = server.journal();
    let written: Vec<&RecordedRequest> = journal.iter().filter(|r| r.method != "GET").collect();
    assert_eq!(written.len(), 1, "one update, no import");
    assert!(written[0].path_and_query.ends_with(&format!("{id}/updateDeviceProperties")));
    assert_eq!(
        serde_json::from_slice::<Value>(&written[0].body).unwrap(),
        serde_json::json!({"groupTag": "Kiosk-7"})
    );
    let log = written_log(&dir);
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].before["groupTag"].clone(), log[0].after["groupTag"].clone()),
        (old_tag, "Kiosk-7".into())
    );
    assert_eq!(log[0].source, WriteSource::Import);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_unwritable_state_dir_is_said_once_and_the_import_goes_on() {
    let server = serve(Setup::default()).await;
    let dir = scratch("nostate");
    let csv_file = dir.join("devices.csv");
    std::fs::write(&csv_file, csv_text(&[row("CSV-NS-1", 3401), row("CSV-NS-2", 3402)])).unwrap();
    // The state "directory" is a file: nothing can be created below it.
    let state = dir.join("not-a-directory");
    std::fs::write(&state, "").unwrap();
    let args = import_args(&server.base_url(), &csv_file, &["--yes"]);
    let out = run_binary(args, &state, &dir).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("not logged").count(), 1, "{err}");
    assert_eq!(import_requests(&server.journal()).len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_file_that_cannot_be_read_exits_1_naming_it_before_signing_in() {
    let dir = scratch("missing");
    let args = import_args("http://127.0.0.1:9/v1.0", &dir.join("nope.csv"), &[]);
    let out = run_binary(args, &dir, &dir).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read") && stderr(&out).contains("nope.csv"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).unwrap();
}

// ---- the headless front in process, as on a terminal ----

/// A writer whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn on_a_terminal_the_update_is_offered_and_nothing_goes_before_a_yes() {
    use autopilot_tui::jobs::import::headless::{Console, HeadlessOptions, run_headless};
    let server = serve(Setup { delay: Duration::from_secs(20), ..Setup::default() }).await;
    let demo = demo_material(&server).await;
    let csv = csv_text(&[row("CSV-TTY-1", 3501), (demo.differs.1.clone(), hash(3502), "Kiosk-9", "")]);
    let questions = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let asked = questions.clone();
    let (out, err) = (Shared::default(), Shared::default());
    let mut console = Console::new(
        Box::new(out.clone()),
        Box::new(err.clone()),
        true,
        Some(Box::new(move |question: &str| {
            asked.lock().unwrap().push(question.to_string());
            !question.contains("sync")
        })),
    );
    let options = HeadlessOptions::default();
    let report = run_headless(
        &client(&server, RetryPolicy::default()),
        csv.as_bytes(),
        "devices.csv",
        &options,
        &mut console,
        CancellationToken::new(),
        Err(autopilot_tui::write_log::WriteLogError::NoStateDir),
    )
    .await
    .unwrap();
    assert!(report.success(), "{}", err.text());
    let questions = questions.lock().unwrap().clone();
    assert_eq!(questions.len(), 3, "{questions:?}");
    assert!(questions[0].starts_with("1 rows are registered already with another group tag or user"));
    assert!(questions[1].starts_with("Import 1 and update 1 registered?"));
    assert!(questions[2].contains("Autopilot service now?"));
    let outcomes: Vec<Outcome> = report.rows.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Imported, Outcome::UpdatedInstead]);
    let err = err.text();
    assert_eq!(err.matches("writes are not logged; the import goes on.").count(), 1, "{err}");
    assert!(err.contains("\r\x1b[2Kwatching: 1 waiting · 0 s · next look in 10 s"), "a progress line: {err}");
    assert!(err.contains("No Autopilot sync asked for"));
    assert!(!server.journal().iter().any(|r| r.path_and_query.ends_with("/sync")));
    assert!(out.text().starts_with("Line,Serial,Outcome"));
}
