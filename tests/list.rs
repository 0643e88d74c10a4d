//! `autopilot-tui list`, the real binary against the embedded server (and hostile ones) over
//! loopback HTTP: formats over the whole demo set, both resources, exit statuses, what reaches
//! stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;

use autopilot_tui::graph::csv::{self as hash_csv, HEADER as AUTOPILOT_CSV_HEADER};
use autopilot_tui::graph::model::Device;
use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::graph::resource::{Kind, Record};
use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
use hostile::{DEVICES, Hostile, Reply, device, page};
use std::process::{Command, Output};

const TOKEN: &str = "list-test-token";

async fn serve(data: DataSet) -> RunningServer {
    server::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.to_string()),
        data,
        page_size: 100,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

/// Runs the binary with `args`, its config and state in a scratch directory and no
/// connection settings from the environment.
async fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"));
    cmd.args(args);
    let dir = std::env::temp_dir().join(format!("autopilot-tui-list-{}", std::process::id()));
    cmd.env("XDG_STATE_HOME", &dir).env("XDG_CONFIG_HOME", &dir);
    for var in
        ["AUTOPILOT_TUI_PROFILE", "AUTOPILOT_TUI_TOKEN", "AUTOPILOT_TUI_BASE_URL", "AUTOPILOT_TUI_CONFIG"]
    {
        cmd.env_remove(var);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// Runs `autopilot-tui list` with connection flags for `server` and `extra` arguments.
async fn list(server: &RunningServer, token: &str, extra: &[&str]) -> Output {
    list_at(&server.base_url(), token, extra).await
}

/// `autopilot-tui list` against any base URL.
async fn list_at(base_url: &str, token: &str, extra: &[&str]) -> Output {
    let mut args = vec!["list", "--base-url", base_url, "--token", token];
    args.extend_from_slice(extra);
    run(&args).await
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "list failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lists_every_device_across_pages() {
    let server = serve(DataSet::Generated { devices: 2500, seed: 3 }).await;
    let out = list(&server, TOKEN, &["--page-size", "999"]).await;
    let devices: Vec<Device> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(devices.len(), 2500);
    let ids: std::collections::HashSet<_> = devices.iter().map(|d| &d.id).collect();
    assert_eq!(ids.len(), 2500);
    assert!(devices.iter().all(|d| d.hardware_identifier.is_some()));
    // Three pages of 999: the page size reached the server.
    let gets = server.journal().into_iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_with_filter_select_and_top() {
    let server = serve(DataSet::Demo).await;
    let out = list(
        &server,
        TOKEN,
        &[
            "--format",
            "csv",
            "--filter",
            "state/deviceImportStatus eq 'error'",
            "--select",
            "serialNumber,groupTag,state",
        ],
    )
    .await;
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "serialNumber,groupTag,state/deviceImportStatus,state/deviceRegistrationId,\
             state/deviceErrorCode,state/deviceErrorName"
        )
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    let first = server.journal().into_iter().find(|r| r.method == "GET").unwrap();
    assert!(first.path_and_query.contains("$select=serialNumber,groupTag,state"), "{}", first.path_and_query);
    assert!(first.path_and_query.contains("$filter="), "{}", first.path_and_query);

    let out = list(&server, TOKEN, &["--format", "csv", "--select", "id", "--top", "7"]).await;
    assert_eq!(stdout(&out).lines().count(), 1 + 7);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autopilot_csv_parses_back_to_the_same_devices() {
    let server = serve(DataSet::Generated { devices: 300, seed: 11 }).await;
    let json: Vec<Device> = serde_json::from_str(&stdout(&list(&server, TOKEN, &[]).await)).unwrap();
    let csv = stdout(&list(&server, TOKEN, &["--format", "autopilot-csv"]).await);
    assert_eq!(csv.lines().next(), Some(AUTOPILOT_CSV_HEADER));
    // What `list` writes passes the import checker as it is.
    let report = hash_csv::check(csv.as_bytes());
    assert!(report.is_clean(), "{:#?}", report.problems);
    let rows = report.rows;
    assert_eq!(rows.len(), json.len());
    for (row, device) in rows.iter().zip(&json) {
        assert_eq!(Some(row.serial_number.as_str()), device.serial_number.as_deref());
        assert_eq!(Some(row.hardware_identifier.as_str()), device.hardware_identifier.as_deref());
        assert_eq!(row.group_tag.as_deref(), device.group_tag.as_deref().filter(|t| !t.is_empty()));
        assert_eq!(
            row.assigned_user_principal_name.as_deref(),
            device.assigned_user_principal_name.as_deref().filter(|u| !u.is_empty())
        );
        assert_eq!(row.product_key.as_deref(), device.product_key.as_deref().filter(|k| !k.is_empty()));
        // The hash decodes to the 4096-byte blob the portal expects.
        assert_eq!(
            autopilot_tui::graph::validate::decode_binary(&row.hardware_identifier).unwrap().len(),
            4096
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_non_zero_with_the_graph_error() {
    let server = serve(DataSet::Demo).await;
    let out = list(&server, "wrong-token", &[]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401 InvalidAuthenticationToken"), "{stderr}");
    assert!(stderr.contains("request-id: "), "{stderr}");
    assert!(!stderr.contains("wrong-token"), "the token leaked: {stderr}");

    let out = list(&server, TOKEN, &["--filter", "serialNumber eq"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400 BadRequest"), "{stderr}");
    server.shutdown().await;
}

/// The demo devices as `list` writes them in JSON.
async fn demo_devices(server: &RunningServer) -> Vec<Device> {
    serde_json::from_str(&stdout(&list(server, TOKEN, &[]).await)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn autopilot_csv_over_the_demo_set_writes_every_device_with_a_hash() {
    let server = serve(DataSet::Demo).await;
    let all = demo_devices(&server).await;
    assert_eq!(all.len(), 250);
    let without_hash: Vec<&Device> =
        all.iter().filter(|d| d.hardware_identifier.as_deref().unwrap_or("").is_empty()).collect();
    assert!(!without_hash.is_empty());
    let out = list(&server, TOKEN, &["--format", "autopilot-csv"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let report = hash_csv::check(text.as_bytes());
    assert_eq!(report.data_rows, all.len() - without_hash.len());
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let err = stderr(&out);
    for device in &without_hash {
        let serial = device.serial_number.as_deref().unwrap();
        assert!(
            err.contains(&format!("device {} (serial {serial}) skipped: no hardware hash", device.id)),
            "{err}"
        );
    }
    assert!(err.contains(&format!("{} left out", without_hash.len())), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn select_state_fills_the_state_columns_and_a_sub_property_selects_state() {
    let server = serve(DataSet::Demo).await;
    let all = demo_devices(&server).await;
    let out = list(&server, TOKEN, &["--format", "csv", "--select", "serialNumber,groupTag,state"]).await;
    let text = stdout(&out);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), all.len());
    for (record, device) in records.iter().zip(&all) {
        assert_eq!(&record[0], device.serial_number.as_deref().unwrap_or(""));
        assert_eq!(&record[2], device.state.device_import_status.as_str());
        assert_eq!(&record[4], device.state.device_error_code.to_string());
        assert_eq!(&record[5], device.state.device_error_name.as_deref().unwrap_or(""));
    }
    assert!(records.iter().any(|r| &r[2] == "error" && &r[4] == "806"), "the state columns stayed empty");

    let out =
        list(&server, TOKEN, &["--format", "csv", "--select", "serialNumber,state/deviceImportStatus"]).await;
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("serialNumber,state/deviceImportStatus"));
    let statuses: Vec<&str> = text.lines().skip(1).map(|l| l.rsplit(',').next().unwrap()).collect();
    let expected: Vec<&str> = all.iter().map(|d| d.state.device_import_status.as_str()).collect();
    assert_eq!(statuses, expected);
    let last = server.journal().into_iter().rfind(|r| r.method == "GET").unwrap();
    assert!(last.path_and_query.contains("$select=serialNumber,state&"), "{}", last.path_and_query);
    server.shutdown().await;
}

/// A server whose first page is fine and whose second is answered with `second`.
async fn failing_on_page_two(second: Reply) -> Hostile {
    Hostile::start(move |seen, base| {
        if seen.path_and_query.contains("skiptoken") {
            second.clone()
        } else {
            Reply::json(page(
                vec![device("a1", "SA1"), device("a2", "SA2")],
                Some(format!("{base}{DEVICES}?$skiptoken=2")),
            ))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_fails_writes_well_formed_json_or_nothing() {
    let server = failing_on_page_two(Reply::error(400, "BadRequest", "the skip token expired")).await;
    let out = list_at(&server.base_url, TOKEN, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let devices: Vec<Device> = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(devices.len(), 2);
    let err = stderr(&out);
    assert!(err.contains("the listing stopped at page 2: 400 BadRequest: the skip token expired"), "{err}");
    assert!(err.contains("well-formed but incomplete JSON array"), "{err}");

    // A first page that fails leaves stdout empty, in every format.
    let server = Hostile::start(|_, _| Reply::error(403, "Forbidden", "no")).await;
    for format in ["json", "csv", "autopilot-csv"] {
        let out = list_at(&server.base_url, TOKEN, &["--format", format]).await;
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert!(out.stdout.is_empty(), "{format}: {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr(&out).contains("page 1: 403 Forbidden: no; nothing was written"), "{}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_does_not_decode_is_named_and_fails_or_is_skipped_loudly() {
    // `value` holding a non-object: the listing fails, naming the page and the reason.
    let server = failing_on_page_two(Reply::json(serde_json::json!({"value": [1, 2]}))).await;
    for format in ["json", "csv"] {
        let out = list_at(&server.base_url, TOKEN, &["--format", format]).await;
        assert_eq!(out.status.code(), Some(1), "{format}");
        let err = stderr(&out);
        assert!(
            err.contains("page 2: unreadable answer: item 1 of the page is not a device (it is a number)"),
            "{err}"
        );
        assert!(err.contains("2 devices before it"), "{err}");
    }
    // One device with a string error code: left out, named on stderr, exit status 2.
    let mut bad = device("b2", "SB2");
    bad["state"]["deviceErrorCode"] = serde_json::json!("806");
    let server = failing_on_page_two(Reply::json(page(vec![device("b1", "SB1"), bad], None))).await;
    for format in ["json", "csv"] {
        let out = list_at(&server.base_url, TOKEN, &["--format", format]).await;
        assert_eq!(out.status.code(), Some(2), "{format}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("device b2 (serial SB2) skipped: invalid type: string \"806\""), "{err}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("SB1") && !text.contains("SB2"), "{format}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_reaches_stderr_escaped() {
    let hostile = "gotcha \u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{9b}1m \u{202e}txt.exe";
    let server = Hostile::start(move |_, _| Reply::error(400, "Bad\u{1b}[31mRequest", hostile)).await;
    let out = list_at(&server.base_url, TOKEN, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for raw in ["\u{1b}", "\u{7}", "\u{9b}", "\u{202e}"] {
        assert!(!err.contains(raw), "{raw:?} reached stderr: {err:?}");
    }
    assert!(
        err.contains("gotcha ⟨U+001B⟩]52;c;ZWNobyBwd25lZA==⟨U+0007⟩⟨U+001B⟩[2J⟨U+009B⟩1m ⟨U+202E⟩txt.exe"),
        "{err}"
    );
    assert!(err.contains("400 Bad⟨U+001B⟩[31mRequest"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn to_a_file_json_stays_exact_and_csv_refuses_control_characters() {
    let serial = "PF\u{1b}[2JX\u{202e}";
    let server =
        Hostile::start(move |_, _| Reply::json(page(vec![device("c1", serial), device("c2", "OK2")], None)))
            .await;
    let out = list_at(&server.base_url, TOKEN, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let devices: Vec<Device> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices[0].serial_number.as_deref(), Some(serial), "JSON to a pipe keeps the data exact");
    for format in ["csv", "autopilot-csv"] {
        let out = list_at(&server.base_url, TOKEN, &["--format", format]).await;
        assert_eq!(out.status.code(), Some(2), "{format}");
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        assert!(!text.contains('\u{1b}') && text.contains("OK2"), "{format}: {text:?}");
        let err = stderr(&out);
        assert!(err.contains("device c1 (serial PF⟨U+001B⟩[2JX⟨U+202E⟩) skipped: a value holds the control character ⟨U+001B⟩"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_to_another_origin_fails_naming_the_host() {
    let elsewhere = Hostile::start(|_, _| Reply::json(page(vec![device("x", "X")], None))).await;
    let link = format!("{}?$skiptoken=2", elsewhere.devices_url());
    let server =
        Hostile::start(move |_, _| Reply::json(page(vec![device("a1", "SA1")], Some(link.clone())))).await;
    let out = list_at(&server.base_url, TOKEN, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("the server sent a link to {}", elsewhere.origin)), "{err}");
    assert!(!err.contains(TOKEN));
    let devices: Vec<Device> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices.len(), 1);
    assert!(elsewhere.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_from_the_server_is_named_per_device() {
    let mut body = page(vec![device("u1", "SER~"), device("u2", "S2")], None).to_string().into_bytes();
    let at = body.iter().position(|b| *b == b'~').unwrap();
    body[at] = 0xff;
    let server = Hostile::start(move |_, _| Reply::raw(200, body.clone())).await;
    let out = list_at(&server.base_url, TOKEN, &["--format", "csv", "--select", "id,serialNumber"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("device u1 (serial SER\u{fffd}): the server sent bytes that are not UTF-8"),
        "{}",
        stderr(&out)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "id,serialNumber\nu1,SER\u{fffd}\nu2,S2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_reported_with_the_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let base = format!("http://{closed}/v1.0");
    let out = list_at(&base, TOKEN, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("page 1: cannot connect: {base}{DEVICES}?$top=999: ")), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn help_says_what_list_does_and_how_to_pass_secrets() {
    let out = run(&["list", "--help"]).await;
    let help = stdout(&out);
    assert!(!help.contains("--read-only"), "{help}");
    assert!(help.contains("Which of the two paths to read (imported identities) [default"), "{help}");
    assert!(help.contains("--resource <RESOURCE>") && help.contains("registered"), "{help}");
    assert!(help.contains("Exit status: 0 when every device was written exactly"), "{help}");
    let out = run(&["--help"]).await;
    let help = stdout(&out);
    assert!(help.contains("demo mode"), "{help}");
    assert!(help.contains("AUTOPILOT_TUI_CLIENT_SECRET") && help.contains("--token-file"), "{help}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base_url_without_a_token_says_so_without_blaming_a_file() {
    let out = run(&["list", "--base-url", "http://127.0.0.1:9/v1.0"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        "autopilot-tui: no token for http://127.0.0.1:9/v1.0: give AUTOPILOT_TUI_TOKEN, --token-file, --token, \
         or a sign-in (--tenant and --client-id); see --help"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_come_from_files_and_are_never_echoed() {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let server = serve(DataSet::Demo).await;
    let base = server.base_url();
    let token_path = token_file.to_str().unwrap();
    let out = run(&["list", "--base-url", &base, "--token-file", token_path, "--top", "3"]).await;
    let devices: Vec<Device> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(devices.len(), 3);
    let both = run(&["list", "--base-url", &base, "--token-file", token_path, "--token", "x"]).await;
    assert!(!both.status.success() && stderr(&both).contains("cannot be used with"), "{}", stderr(&both));

    // A secret typed into a field of the wrong type is not repeated in the error.
    let config = dir.join("config.toml");
    std::fs::write(&config, "[profiles.lab]\nread-only = \"s3cr3t-value\"\n").unwrap();
    let out = run(&["list", "--config", config.to_str().unwrap(), "--profile", "lab"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("config.toml:2:13: invalid type: string, expected a boolean"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_takes_its_token_from_a_file() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("autopilot-tui-serve-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "serve-file-token\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"))
        .args(["serve", "--addr", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()])
        .env("XDG_STATE_HOME", &dir)
        .env_remove("AUTOPILOT_TUI_SERVE_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let base = first.trim().strip_prefix("listening on ").unwrap().to_string();
    let url = format!("{base}{DEVICES}?$top=1");
    let http = reqwest::Client::new();
    let ok = http.get(&url).bearer_auth("serve-file-token").send().await.unwrap().status();
    let refused = http.get(&url).bearer_auth("another").send().await.unwrap().status();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!((ok.as_u16(), refused.as_u16()), (200, 401));
    std::fs::remove_dir_all(&dir).ok();
}

/// The registered devices' collection path.
const REGISTERED_PATH: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";

/// The CSV columns `list` writes for registered devices at a version root: the descriptor's
/// fields there, secrets left out.
fn registered_columns(beta: bool) -> Vec<&'static str> {
    REGISTERED.fields_at(beta).filter(|f| f.kind != Kind::Secret).map(|f| f.path).collect()
}

fn csv_rows(text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    (header, reader.records().map(Result::unwrap).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_devices_are_listed_as_json_and_as_csv_with_the_descriptors_columns() {
    let server = serve(DataSet::Generated { devices: 1200, seed: 5 }).await;
    let out = list(&server, TOKEN, &["--resource", "registered", "--page-size", "999"]).await;
    let devices: Vec<Record> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(devices.len(), 1200);
    let ids: std::collections::HashSet<_> = devices.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1200);
    assert!(
        devices.iter().all(|d| d.contains_key("enrollmentState") && !d.contains_key("hardwareIdentifier"))
    );
    let gets: Vec<String> =
        server.journal().into_iter().filter(|r| r.method == "GET").map(|r| r.path_and_query).collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets.iter().all(|p| p.contains(REGISTERED_PATH)), "{gets:?}");

    for (root, beta) in [("/v1.0", false), ("/beta", true)] {
        let base = server.base_url().replace("/v1.0", root);
        let out = list_at(&base, TOKEN, &["--resource", "registered", "--format", "csv"]).await;
        let text = stdout(&out);
        let (header, rows) = csv_rows(&text);
        assert_eq!(header.iter().collect::<Vec<_>>(), registered_columns(beta), "{root}");
        assert_eq!(header.iter().any(|h| h == "deploymentProfileAssignmentStatus"), beta);
        assert!(!text.contains("deviceAccountPassword"), "{root}");
        assert_eq!(rows.len(), 1200);
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        for (row, device) in rows.iter().zip(&devices) {
            for name in ["id", "serialNumber", "groupTag", "userPrincipalName", "enrollmentState"] {
                assert_eq!(&row[column(name)], device[name].as_str().unwrap_or(""), "{root} {name}");
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_stays_the_default_resource() {
    let server = serve(DataSet::Demo).await;
    let default = stdout(&list(&server, TOKEN, &["--top", "5"]).await);
    let explicit = stdout(&list(&server, TOKEN, &["--resource", "imported", "--top", "5"]).await);
    assert_eq!(default, explicit);
    let devices: Vec<Device> = serde_json::from_str(&default).unwrap();
    assert_eq!(devices.len(), 5);
    let gets: Vec<String> =
        server.journal().into_iter().filter(|r| r.method == "GET").map(|r| r.path_and_query).collect();
    assert!(gets.iter().all(|p| p.contains(DEVICES)), "{gets:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hash_csv_of_registered_devices_is_refused_before_anything_is_sent() {
    let server = serve(DataSet::Demo).await;
    for resource in ["registered", "devices"] {
        let out = list(&server, TOKEN, &["--resource", resource, "--format", "autopilot-csv"]).await;
        assert_eq!(out.status.code(), Some(1), "{resource}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(
            err.contains("Registered devices have no hardware hash in Graph, so they cannot be written as the Autopilot hardware-hash CSV"),
            "{err}"
        );
        assert!(err.contains("use `--resource imported --format autopilot-csv`"), "{err}");
        assert!(
            err.contains("Get-WindowsAutopilotInfo") && err.contains("use --format csv or json"),
            "{err}"
        );
    }
    assert!(server.journal().is_empty(), "a request was sent: {:?}", server.journal());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_filter_and_select_reach_the_server_and_a_refused_filter_says_what_works() {
    let server = serve(DataSet::Generated { devices: 300, seed: 7 }).await;
    let all: Vec<Record> =
        serde_json::from_str(&stdout(&list(&server, TOKEN, &["--resource", "registered"]).await)).unwrap();
    let serial = all[17]["serialNumber"].as_str().unwrap().to_string();
    let needle = &serial[serial.len() - 5..];
    let filter = format!("contains(serialNumber,'{needle}')");
    let out = list(
        &server,
        TOKEN,
        &[
            "--resource",
            "registered",
            "--format",
            "csv",
            "--filter",
            &filter,
            "--select",
            "serialNumber,groupTag",
        ],
    )
    .await;
    let (header, rows) = csv_rows(&stdout(&out));
    assert_eq!(header.iter().collect::<Vec<_>>(), ["serialNumber", "groupTag"]);
    let expected: Vec<&str> = all
        .iter()
        .filter_map(|d| d["serialNumber"].as_str())
        .filter(|s| s.to_lowercase().contains(&needle.to_lowercase()))
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(rows.iter().map(|r| &r[0]).collect::<Vec<_>>(), expected);
    let last = server.journal().into_iter().rfind(|r| r.method == "GET").unwrap();
    assert!(last.path_and_query.starts_with(&format!("/v1.0{REGISTERED_PATH}?")), "{}", last.path_and_query);
    assert!(last.path_and_query.contains("$select=serialNumber,groupTag"), "{}", last.path_and_query);
    assert!(last.path_and_query.contains("$filter=contains"), "{}", last.path_and_query);

    // `eq` is refused as the live service refuses it, and the message says what works.
    let out = list(
        &server,
        TOKEN,
        &["--resource", "registered", "--filter", &format!("serialNumber eq '{serial}'")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("page 1: 400 BadRequest"), "{err}");
    assert!(
        err.contains("nothing was written (the --filter forms known to work on registered devices: contains(serialNumber,'TEXT'))"),
        "{err}"
    );
    server.shutdown().await;
}

/// A registered device as a server that fills in the secret might send it.
fn registered_device_with_secret(id: &str, serial: &str) -> serde_json::Value {
    serde_json::json!({
        "@odata.type": "#microsoft.graph.windowsAutopilotDeviceIdentity",
        "id": id,
        "serialNumber": serial,
        "groupTag": "Rooms",
        "enrollmentState": "enrolled",
        "lastContactedDateTime": "2026-11-02T08:00:00Z",
        "deviceAccountUpn": "room1@contoso.com",
        "deviceAccountPassword": "hunter2-secret",
        "DEVICEACCOUNTPASSWORD": "hunter2-shouted",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_fields_are_never_written() {
    let server = Hostile::start(|_, _| {
        Reply::json(page(
            vec![registered_device_with_secret("r1", "SR1"), registered_device_with_secret("r2", "SR2")],
            None,
        ))
    })
    .await;
    for root in ["/v1.0", "/beta"] {
        let base = server.base_url.replace("/v1.0", root);
        for format in ["json", "csv"] {
            let out = list_at(&base, TOKEN, &["--resource", "registered", "--format", format]).await;
            let text = stdout(&out);
            assert!(text.contains("SR1") && text.contains("SR2"), "{root} {format}: {text}");
            assert!(!text.contains("hunter2"), "{root} {format}: the secret was written: {text}");
            assert!(!text.to_lowercase().contains("deviceaccountpassword"), "{root} {format}: {text}");
            if format == "json" {
                let devices: Vec<Record> = serde_json::from_str(&text).unwrap();
                assert_eq!(devices[0]["deviceAccountUpn"], "room1@contoso.com", "other properties stay");
            }
        }
    }
    let before = server.seen().len();
    let out = list_at(
        &server.base_url.replace("/v1.0", "/beta"),
        TOKEN,
        &["--resource", "registered", "--format", "csv", "--select", "serialNumber,deviceAccountPassword"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("deviceAccountPassword (Account password) is a secret: it is never written; leave it out of --select"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.seen().len(), before, "nothing is sent for a refused --select");
}

#[tokio::test]
async fn with_no_writable_state_directory_list_says_so_once_and_lists_everything() {
    let server = serve(DataSet::Demo).await;
    // A file where the state directory should be: nothing can be created below it.
    let blocker = std::env::temp_dir().join(format!("autopilot-tui-list-blocker-{}", std::process::id()));
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"));
    cmd.args(["list", "--base-url", &server.base_url(), "--token", TOKEN, "--format", "csv"]);
    let config = std::env::temp_dir().join(format!("autopilot-tui-list-{}", std::process::id()));
    cmd.env("XDG_STATE_HOME", &blocker).env("XDG_CONFIG_HOME", config).env_remove("AUTOPILOT_TUI_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("is not writable").count(), 1, "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 251, "header and 250 rows");
    std::fs::remove_file(blocker).unwrap();
    server.shutdown().await;
}
