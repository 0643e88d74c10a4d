//! `autopilot-tui list`, the real binary against the embedded server over loopback HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use autopilot_tui::export::{AUTOPILOT_CSV_HEADER, parse_autopilot_csv};
use autopilot_tui::graph::model::Device;
use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
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

/// Runs `autopilot-tui list` with connection flags for `server` and `extra` arguments.
async fn list(server: &RunningServer, token: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"));
    cmd.args(["list", "--base-url", &server.base_url(), "--token", token]).args(extra);
    let dir = std::env::temp_dir().join(format!("autopilot-tui-list-{}", std::process::id()));
    cmd.env("XDG_STATE_HOME", &dir).env("XDG_CONFIG_HOME", &dir).env_remove("AUTOPILOT_TUI_PROFILE");
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
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
    assert_eq!(lines.next(), Some("serialNumber,groupTag,state"));
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
    let rows = parse_autopilot_csv(&csv).unwrap();
    assert_eq!(rows.len(), json.len());
    for (row, device) in rows.iter().zip(&json) {
        assert_eq!(Some(row.serial_number.as_str()), device.serial_number.as_deref());
        assert_eq!(Some(row.hardware_hash.as_str()), device.hardware_identifier.as_deref());
        assert_eq!(row.group_tag.as_deref(), device.group_tag.as_deref().filter(|t| !t.is_empty()));
        assert_eq!(
            row.assigned_user.as_deref(),
            device.assigned_user_principal_name.as_deref().filter(|u| !u.is_empty())
        );
        assert_eq!(row.product_key.as_deref(), device.product_key.as_deref().filter(|k| !k.is_empty()));
        // The hash decodes to the 4 KB blob the portal expects.
        assert_eq!(autopilot_tui::graph::validate::decode_binary(&row.hardware_hash).unwrap().len(), 4096);
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
