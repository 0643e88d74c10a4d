//! `autopilot-tui apply PLAN.csv`, the real binary against the embedded server (throttled as
//! `serve --throttle-writes 100/20` is) over loopback HTTP, its state in a scratch directory:
//! what reaches the server (its journal), the results file, exit statuses, idempotence, a run
//! killed midway and applied again, `--dry-run`, a server without `$batch`, no state directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;

mod shared;
use shared::*;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::pacer::Rate;
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::graph::resource::{Record, Resource};
use autopilot_tui::jobs::journal;
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{self, DataSet, RecordedRequest, RunningServer, ServeOptions};
use autopilot_tui::tui::wording::value_words;
use autopilot_tui::write_log::{WriteLog, WriteSource};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "apply-test-token";

async fn serve(devices: u64) -> RunningServer {
    serve_at(devices, Rate::new(100, Duration::from_secs(20))).await
}

/// `serve --devices N --throttle-writes RATE`.
async fn serve_at(devices: u64, writes: Rate) -> RunningServer {
    server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices, seed: 33 },
        page_size: 999,
        throttle: ThrottleConfig { writes: Some(writes), requests: None },
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

/// A scratch directory for one test: its CSVs, results and the binary's state.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-apply-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `autopilot-tui apply` with connection flags for `base_url`, its state and config in
/// `state`, no connection settings from the environment.
fn command(base_url: &str, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"));
    cmd.arg("apply").args(args).args(["--base-url", base_url, "--token", TOKEN]);
    cmd.env("XDG_STATE_HOME", state).env("XDG_CONFIG_HOME", state);
    for var in [
        "AUTOPILOT_TUI_PROFILE",
        "AUTOPILOT_TUI_TOKEN",
        "AUTOPILOT_TUI_BASE_URL",
        "AUTOPILOT_TUI_CONFIG",
        "AUTOPILOT_TUI_WRITE_RATE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

async fn apply(base_url: &str, state: &Path, args: &[&str]) -> Output {
    let mut cmd = command(base_url, state, args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn client(server: &RunningServer, resource: &'static Resource) -> GraphClient {
    GraphClient::new(ClientConfig::new(server.base_url(), Secret::new(TOKEN))).unwrap().for_resource(resource)
}

fn text(record: &Record, field: &str) -> String {
    record.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Writes a CSV of `serialNumber,groupTag` rows, each tag `tag-{serial}`.
fn retag_file(dir: &Path, name: &str, serials: &[String]) -> PathBuf {
    let mut text = String::from("serialNumber,groupTag\n");
    for serial in serials {
        text.push_str(&format!("{serial},tag-{serial}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The writes the server handled (not refused before its handler).
fn writes(journal: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    journal
        .iter()
        .filter(|r| r.method != "GET" && !r.path_and_query.ends_with("/$batch") && r.reached_handler())
        .collect()
}

fn results(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["key", "outcome", "old", "new", "status", "request-id", "message"]
    );
    reader.records().map(Result::unwrap).collect()
}

// The same file applied twice: the first run writes every row once (in $batches, logged in the
// write log with its job), the second sends no write at all (the server's journal shows only
// reads) and says every row was skipped; both exit 0, and their journals are ended.
#[tokio::test]
async fn applying_the_same_file_twice_sends_no_write_the_second_time() {
    let server = serve(40).await;
    let devices = records(&client(&server, &REGISTERED)).await;
    let serials: Vec<String> = devices.iter().map(|d| text(d, "serialNumber")).collect();
    let dir = scratch("twice");
    let plan = retag_file(&dir, "retag.csv", &serials);
    let first_results = dir.join("first.csv");
    let args =
        ["--resource", "registered", plan.to_str().unwrap(), "--results", first_results.to_str().unwrap()];
    let out = apply(&server.base_url(), &dir, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout without --dry-run");
    let journal = server.journal();
    let written = writes(&journal);
    assert_eq!(written.len(), 40);
    assert!(
        written
            .iter()
            .all(|w| w.batch_item.is_some() && w.path_and_query.ends_with("/updateDeviceProperties"))
    );
    for device in records(&client(&server, &REGISTERED)).await {
        assert_eq!(text(&device, "groupTag"), format!("tag-{}", text(&device, "serialNumber")));
    }
    let rows = results(&first_results);
    assert_eq!(rows.len(), 40);
    for (row, device) in rows.iter().zip(&devices) {
        assert_eq!(&row[0], text(device, "serialNumber"));
        assert_eq!(&row[1], "done");
        assert_eq!(
            serde_json::from_str::<Value>(&row[2]).unwrap(),
            json!({"groupTag": device.get("groupTag").cloned().unwrap_or(Value::Null)})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&row[3]).unwrap(),
            json!({"groupTag": format!("tag-{}", &row[0])})
        );
        assert_eq!(&row[4], "204");
        assert!(!row[5].is_empty(), "the request-id is kept");
    }
    let log = WriteLog::at(dir.join("autopilot-tui/writes.jsonl"));
    let (entries, _) = log.read().unwrap();
    assert_eq!(entries.len(), 40);
    assert!(entries.iter().all(|e| e.source == WriteSource::Apply && e.job.is_some() && e.succeeded()));

    let mark = server.journal().len();
    let second_results = dir.join("second.csv");
    let args =
        ["--resource", "registered", plan.to_str().unwrap(), "--results", second_results.to_str().unwrap()];
    let out = apply(&server.base_url(), &dir, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let after = &server.journal()[mark..];
    assert!(after.iter().all(|r| r.method == "GET"), "the second run only reads");
    assert!(results(&second_results).iter().all(|row| &row[1] == "skipped" && row[4].is_empty()));
    assert_eq!(log.read().unwrap().0.len(), 40, "nothing more logged");
    let jobs = dir.join("autopilot-tui/jobs");
    assert!(journal::unfinished(&jobs).unwrap().jobs.is_empty(), "both runs ended their journals");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// --dry-run prints the plan (old -> new, rows at their target, rows that fail) and sends
// nothing; its results file says what would be done.
#[tokio::test]
async fn a_dry_run_prints_the_plan_and_sends_nothing() {
    let server = serve(5).await;
    let devices = records(&client(&server, &IMPORTED)).await;
    let dir = scratch("dry-run");
    let plan = dir.join("plan.csv");
    let (a, b) = (text(&devices[0], "serialNumber"), text(&devices[1], "serialNumber"));
    let b_tag = text(&devices[1], "groupTag");
    std::fs::write(&plan, format!("serialNumber,groupTag\n{a},Lab-dry\n{b},{b_tag}\nNO-SUCH,Lab\n")).unwrap();
    let out_file = dir.join("plan-results.csv");
    let out = apply(
        &server.base_url(),
        &dir,
        &["--dry-run", plan.to_str().unwrap(), "--results", out_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "a row cannot be planned: {}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{a}: groupTag: {} -> \"Lab-dry\"",
            value_words(devices[0].get("groupTag").unwrap_or(&Value::Null))
        )
    );
    assert_eq!(lines[1], format!("{b}: already at the target"));
    assert_eq!(
        lines[2],
        "NO-SUCH: failed: line 4: serial number NO-SUCH matches none of the imported identities"
    );
    assert!(
        lines[3].starts_with("3 rows: 1 to write, 1 already at their target, 1 that cannot be planned"),
        "{}",
        lines[3]
    );
    assert!(server.journal().iter().all(|r| r.method == "GET"), "a dry run sends no write");
    let rows = results(&out_file);
    let outcomes: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(outcomes, ["to write", "skipped", "failed"]);
    assert!(journal::unfinished(&dir.join("autopilot-tui/jobs")).unwrap().jobs.is_empty());
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sets an imported identity's serial number to `serial` (as a second import of it would).
async fn set_serial(client: &GraphClient, record: &Record, serial: &str) {
    let mut edited = record.clone();
    edited.insert("serialNumber".into(), json!(serial));
    let id = record["id"].as_str().unwrap();
    client.write(id, &PatchBody::between(&IMPORTED, record, &edited)).await.result.unwrap();
}

// A row whose key matches no record, a serial two records hold, a key given twice and a value
// the form refuses each fail on their own (named on stderr, in the results file), never
// guessed; the other rows are applied, and the exit status is 2.
#[tokio::test]
async fn unknown_keys_shared_serials_and_refused_values_fail_their_rows_and_exit_2() {
    let server = serve(8).await;
    let imported = client(&server, &IMPORTED);
    let devices = records(&imported).await;
    let shared = text(&devices[2], "serialNumber");
    set_serial(&imported, &devices[3], &shared.to_lowercase()).await;
    let serial = |i: usize| text(&devices[i], "serialNumber");
    let dir = scratch("bad-rows");
    let plan = dir.join("plan.csv");
    std::fs::write(
        &plan,
        format!(
            "serialNumber,groupTag,assignedUserPrincipalName\n\
             {},Lab-new,\n\
             NO-SUCH-SERIAL,Lab,\n\
             {shared},Lab,\n\
             {},Lab,not a user\n\
             {},Lab,\n\
             {},Kiosk,\n\
             {},,someone@contoso.com\n",
            serial(0),
            serial(1),
            serial(4),
            serial(4),
            serial(5),
        ),
    )
    .unwrap();
    let mark = server.journal().len();
    let out_file = dir.join("results.csv");
    let out =
        apply(&server.base_url(), &dir, &[plan.to_str().unwrap(), "--results", out_file.to_str().unwrap()])
            .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let rows = results(&out_file);
    let outcomes: Vec<(&str, &str)> = rows.iter().map(|r| (&r[0], &r[1])).collect();
    assert_eq!(outcomes[0], (serial(0).as_str(), "done"));
    assert_eq!(outcomes[1], ("NO-SUCH-SERIAL", "failed"));
    assert_eq!(outcomes[2], (shared.as_str(), "failed"));
    assert_eq!(outcomes[3], (serial(1).as_str(), "failed"));
    assert_eq!(
        (outcomes[4].1, outcomes[5].1),
        ("failed", "failed"),
        "a key given twice: neither row guessed"
    );
    assert_eq!(outcomes[6], (serial(5).as_str(), "done"));
    assert!(rows[1][6].contains("matches none of the imported identities"), "{}", &rows[1][6]);
    assert!(rows[2][6].contains("is held by 2 imported identities"), "{}", &rows[2][6]);
    assert!(rows[3][6].contains("assignedUserPrincipalName: "), "{}", &rows[3][6]);
    assert!(rows[4][6].contains("is also on line 7"), "{}", &rows[4][6]);
    for message in [&rows[1][6], &rows[2][6], &rows[3][6], &rows[4][6], &rows[5][6]] {
        assert!(err.contains(message), "named on stderr: {message}\n{err}");
    }
    let written = writes(&server.journal()[mark..]).len();
    assert_eq!(written, 2, "only the two good rows were written");
    let six = imported.get(devices[5]["id"].as_str().unwrap()).await.result.unwrap();
    assert_eq!(six["assignedUserPrincipalName"], "someone@contoso.com");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// What makes apply refuse to start exits 1 and names the problem; nothing is written.
#[tokio::test]
async fn a_file_that_cannot_be_applied_exits_1_and_sends_nothing() {
    let server = serve(3).await;
    let dir = scratch("refused");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "serialNumber,colour\nX,blue\n").unwrap();
    let out = apply(&server.base_url(), &dir, &[bad.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad.csv: column 'colour' is no property of imported identities"),
        "{}",
        stderr(&out)
    );
    let out = apply(&server.base_url(), &dir, &[dir.join("missing.csv").to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.csv"), "{}", stderr(&out));
    let good = dir.join("good.csv");
    std::fs::write(&good, "id,groupTag\nx,Lab\n").unwrap();
    let out = apply(&server.base_url(), &dir, &[good.to_str().unwrap(), "--read-only"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--read-only: apply sends no writes"), "{}", stderr(&out));
    assert!(server.journal().iter().all(|r| r.method == "GET"));
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// A run killed midway (SIGKILL, its journal cut off) and the same file applied again: the second
// run plans from the records as they are, writes only what the first did not, and no record is
// written twice; the first run's journal is ended as superseded.
#[tokio::test]
async fn a_run_killed_midway_and_applied_again_writes_no_record_twice() {
    // Throttled at the pace the runs are told to keep, so the test takes seconds.
    let server = serve_at(160, Rate::new(40, Duration::from_secs(1))).await;
    let devices = records(&client(&server, &REGISTERED)).await;
    let serials: Vec<String> = devices.iter().map(|d| text(d, "serialNumber")).collect();
    let dir = scratch("killed");
    let plan = retag_file(&dir, "retag.csv", &serials);
    let args = ["--resource", "registered", "--write-rate", "40/1", plan.to_str().unwrap()];
    let mut child =
        command(&server.base_url(), &dir, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while writes(&server.journal()).len() < 80 {
        assert!(Instant::now() < deadline, "the first run did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first = writes(&server.journal()).len();
    assert!(first < 160, "killed midway: {first}");
    let jobs = dir.join("autopilot-tui/jobs");
    let cut = journal::unfinished(&jobs).unwrap();
    assert_eq!(cut.jobs.len(), 1, "the killed run's journal is cut off");

    let out = apply(&server.base_url(), &dir, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = server.journal();
    let written = writes(&journal);
    for device in &devices {
        let at = format!("/{}/", device["id"].as_str().unwrap());
        let times = written.iter().filter(|w| w.path_and_query.contains(&at)).count();
        assert_eq!(times, 1, "{}: written {times} times over both runs", text(device, "serialNumber"));
    }
    assert!(journal::unfinished(&jobs).unwrap().jobs.is_empty(), "the cut-off journal is superseded");
    let old = journal::load(&cut.jobs[0].path).unwrap();
    assert!(matches!(old.end, Some(journal::JobEnd::Superseded { .. })));
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// With no state directory to write (XDG_STATE_HOME is a file), apply still applies, and says
// once that it keeps no journal and no write log.
#[tokio::test]
async fn apply_works_without_a_writable_state_directory_and_says_so_once() {
    let server = serve(6).await;
    let devices = records(&client(&server, &IMPORTED)).await;
    let serials: Vec<String> = devices.iter().map(|d| text(d, "serialNumber")).collect();
    let dir = scratch("no-state");
    let plan = retag_file(&dir, "retag.csv", &serials);
    let state = dir.join("a-file");
    std::fs::write(&state, "").unwrap();
    let mut cmd = command(&server.base_url(), &state, &[plan.to_str().unwrap()]);
    cmd.env("XDG_CONFIG_HOME", &dir);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("state directory").count(), 1, "said once: {}", stderr(&out));
    assert_eq!(writes(&server.journal()).len(), 6);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// A server that answers $batch with 400 gets apply's reads and writes one by one, each once.
#[tokio::test]
async fn a_server_without_batch_gets_single_requests() {
    let refusal = hostile::Reply::error(400, "BadRequest", "Resource not found for the segment '$batch'.");
    let (hostile, tags) = hostile::without_batch(25, refusal).await;
    let dir = scratch("no-batch");
    let serials: Vec<String> = (0..25).map(|i| format!("SN-dev-{i}")).collect();
    let plan = retag_file(&dir, "retag.csv", &serials);
    let out = apply(&hostile.base_url, &dir, &[plan.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    hostile::assert_one_by_one(&hostile.seen(), 25);
    for (id, tag) in tags.lock().unwrap().iter() {
        assert_eq!(tag, &format!("tag-SN-{id}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `apply` in a pseudo-terminal (stdin, stdout and stderr a terminal): everything it wrote, as
/// text, and a way to type.
struct OnTerminal {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn std::io::Write + Send>,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl OnTerminal {
    fn spawn(base_url: &str, state: &Path, args: &[&str]) -> OnTerminal {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let pty = native_pty_system()
            .openpty(PtySize { rows: 40, cols: 200, pixel_width: 0, pixel_height: 0 })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_autopilot-tui"));
        cmd.arg("apply");
        cmd.args(args);
        cmd.args(["--base-url", base_url, "--token", TOKEN]);
        cmd.env("XDG_STATE_HOME", state.to_string_lossy().as_ref());
        cmd.env("XDG_CONFIG_HOME", state.to_string_lossy().as_ref());
        cmd.env_remove("AUTOPILOT_TUI_TOKEN");
        cmd.env_remove("AUTOPILOT_TUI_BASE_URL");
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let writer = pty.master.take_writer().unwrap();
        OnTerminal { child, writer, output, _master: pty.master }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits (with a deadline) until the output holds `what`.
    async fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(Instant::now() < deadline, "no {what:?} in:\n{}", self.text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn type_line(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    async fn exit_code(mut self) -> u32 {
        tokio::task::spawn_blocking(move || self.child.wait().unwrap().exit_code()).await.unwrap()
    }
}

// On a terminal apply asks before it sends (no: nothing is sent, exit 1; yes: it runs) and keeps
// a progress line on stderr; with --yes it does not ask.
#[tokio::test]
async fn on_a_terminal_apply_asks_first_and_shows_its_progress() {
    let server = serve_at(100, Rate::new(50, Duration::from_secs(1))).await;
    let devices = records(&client(&server, &REGISTERED)).await;
    let serials: Vec<String> = devices.iter().map(|d| text(d, "serialNumber")).collect();
    let dir = scratch("terminal");
    let plan = retag_file(&dir, "retag.csv", &serials);
    let args = ["--resource", "registered", "--write-rate", "50/1", plan.to_str().unwrap()];

    let mut declined = OnTerminal::spawn(&server.base_url(), &dir, &args);
    declined.wait_for("Send 100 writes to registered devices at").await;
    declined.type_line("n");
    assert_eq!(declined.exit_code().await, 1);
    assert!(server.journal().iter().all(|r| r.method == "GET"), "declined: nothing sent");

    let mut accepted = OnTerminal::spawn(&server.base_url(), &dir, &args);
    accepted.wait_for("[y/N]").await;
    accepted.type_line("y");
    accepted.wait_for("100 done, 0 failed, 0 conflicts, 0 skipped").await;
    let output = accepted.text();
    assert_eq!(accepted.exit_code().await, 0, "{output}");
    assert!(output.contains("of 100 ended"), "a progress line: {output}");
    assert!(output.contains("writes/s"), "{output}");
    assert_eq!(writes(&server.journal()).len(), 100);

    let again = dir.join("again.csv");
    let rows: String = serials.iter().map(|s| format!("{s},again-{s}\n")).collect();
    std::fs::write(&again, format!("serialNumber,groupTag\n{rows}")).unwrap();
    let args = ["--resource", "registered", "--write-rate", "50/1", "--yes", again.to_str().unwrap()];
    let unasked = OnTerminal::spawn(&server.base_url(), &dir, &args);
    unasked.wait_for("100 done, 0 failed").await;
    assert!(!unasked.text().contains("[y/N]"), "--yes does not ask");
    assert_eq!(unasked.exit_code().await, 0);
    assert_eq!(writes(&server.journal()).len(), 200);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
