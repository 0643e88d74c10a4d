//! The embedded server's deterministic throttling over real HTTP on 127.0.0.1:0: token buckets
//! refilled on the server's clock (paused or jumped, never slept through), an integer
//! `Retry-After` from the bucket, Intune's 429, buckets per tenant, writes and requests apart,
//! on top of the random faults, and `serve --throttle-writes` in the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use autopilot_tui::graph::pacer::Rate;
use autopilot_tui::server::faults::{FaultConfig, FaultKind};
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{DataSet, ServeOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_common::*;
use std::time::Duration;

fn throttled(writes: Option<&str>, requests: Option<&str>) -> ServeOptions {
    ServeOptions {
        data: DataSet::Generated { devices: 50, seed: 4 },
        throttle: ThrottleConfig {
            writes: writes.map(|r| r.parse::<Rate>().unwrap()),
            requests: requests.map(|r| r.parse::<Rate>().unwrap()),
        },
        ..ServeOptions::default()
    }
}

impl Api {
    async fn tag(&self, id: &str, tag: &str) -> Answer {
        self.patch(&format!("{DEVICES}/{id}"), &json!({"groupTag": tag})).await
    }

    async fn device_ids(&self, n: usize) -> Vec<String> {
        ids(self.get_json(&format!("{DEVICES}?$top={n}")).await["value"].as_array().unwrap())
    }
}

// Paused: the server's clock follows tokio's, which moves only when the test says so.
#[tokio::test(start_paused = true)]
async fn the_write_bucket_refills_on_a_paused_clock() {
    let api = api_with(throttled(Some("5/10"), None)).await;
    let ids = api.device_ids(10).await;
    for id in &ids[..5] {
        assert_eq!(api.tag(id, "Burst").await.status, StatusCode::OK, "the first bucket goes at once");
    }
    let refused = api.tag(&ids[5], "Refused").await;
    refused.intune_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    assert_eq!(refused.header("retry-after"), "2", "one token every 2 s");
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(api.tag(&ids[5], "Refused").await.header("retry-after"), "1", "0.5 s left, rounded up");
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(api.tag(&ids[5], "Later").await.status, StatusCode::OK);
    assert_eq!(api.tag(&ids[6], "Later").await.status, StatusCode::TOO_MANY_REQUESTS);
    // A long quiet spell fills the bucket, never beyond its size.
    tokio::time::advance(Duration::from_secs(3600)).await;
    let statuses: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for id in &ids[..7] {
            statuses.push(api.tag(id, "Full").await.status);
        }
        statuses
    };
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5, "{statuses:?}");
    // Refused writes changed nothing and reached no handler.
    assert_eq!(api.get_json(&format!("{DEVICES}/{}", ids[4])).await["groupTag"], "Full");
    let untouched = api.get_json(&format!("{DEVICES}/{}", ids[6])).await["groupTag"].clone();
    assert!(untouched != "Full" && untouched != "Later", "{untouched}");
    let journal = api.server.journal();
    let throttled: Vec<_> = journal.iter().filter(|r| r.fault == Some(FaultKind::Throttled)).collect();
    assert_eq!(throttled.len(), 2 + 1 + 2);
    assert!(throttled.iter().all(|r| !r.reached_handler()));
}

#[tokio::test]
async fn retry_after_is_the_time_to_the_next_token_in_whole_seconds() {
    let api = api_with(throttled(Some("3/10"), None)).await;
    let ids = api.device_ids(4).await;
    for id in &ids[..3] {
        assert_eq!(api.tag(id, "x").await.status, StatusCode::OK);
    }
    // 10/3 s = 3.33 s to the next token: 4.
    assert_eq!(api.tag(&ids[3], "x").await.header("retry-after"), "4");
    api.server.clock().advance(Duration::from_secs(1));
    assert_eq!(api.tag(&ids[3], "x").await.header("retry-after"), "3");
    api.server.clock().advance(Duration::from_millis(2334));
    assert_eq!(api.tag(&ids[3], "x").await.status, StatusCode::OK);
    // Waiting exactly what Retry-After said always finds a token.
    let answer = api.tag(&ids[3], "y").await;
    let wait: u64 = answer.header("retry-after").parse().unwrap();
    api.server.clock().advance(Duration::from_secs(wait));
    assert_eq!(api.tag(&ids[3], "y").await.status, StatusCode::OK);
}

/// A client-credentials token for `tenant` from the server's sign-in imitation.
async fn app_token(api: &Api, tenant: &str) -> String {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", api.server.authority_base());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "bulk-app"),
        ("client_secret", "s3cret"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let answer: Value = api.http.post(url).form(&form).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_tenant_has_its_own_buckets() {
    let api = api_with(throttled(Some("2/20"), None)).await;
    let ids = api.device_ids(3).await;
    let contoso = app_token(&api, "contoso.onmicrosoft.com").await;
    let fabrikam = app_token(&api, "fabrikam.onmicrosoft.com").await;
    let contoso_again = app_token(&api, "contoso.onmicrosoft.com").await;
    let write = |token: String, id: String| {
        let api = &api;
        async move {
            api.http
                .patch(api.url(&format!("{DEVICES}/{id}")))
                .bearer_auth(token)
                .json(&json!({"groupTag": "T"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let mut seen = Vec::new();
    for (token, id) in
        [(&contoso, 0), (&contoso_again, 1), (&contoso, 2), (&fabrikam, 0), (&fabrikam, 1), (&fabrikam, 2)]
    {
        seen.push(write(token.clone(), ids[id].clone()).await.as_u16());
    }
    // Two tokens of one tenant share its bucket; another tenant has its own.
    assert_eq!(seen, [200, 200, 429, 200, 200, 429]);
    // Tokens not issued here (the tests' static token) are one tenant of their own.
    assert_eq!(api.tag(&ids[0], "T").await.status, StatusCode::OK);
    assert_eq!(api.tag(&ids[1], "T").await.status, StatusCode::OK);
    assert_eq!(api.tag(&ids[2], "T").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn writes_and_requests_are_counted_apart() {
    // Writes only: reads are never refused.
    let api = api_with(throttled(Some("2/20"), None)).await;
    let ids = api.device_ids(3).await;
    assert_eq!(api.tag(&ids[0], "a").await.status, StatusCode::OK);
    let delete = api.send(Method::DELETE, &format!("{DEVICES}/{}", ids[1]), None).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "DELETE is a write too");
    assert_eq!(api.tag(&ids[2], "a").await.status, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..30 {
        assert_eq!(api.get(&format!("{DEVICES}/{}", ids[0])).await.status, StatusCode::OK);
    }

    // Requests: every method counts, and a write needs a token from both buckets.
    let api = api_with(throttled(Some("10/20"), Some("4/20"))).await;
    let ids = api.device_ids(2).await; // 1
    assert_eq!(api.get(&format!("{DEVICES}/{}", ids[0])).await.status, StatusCode::OK); // 2
    assert_eq!(api.tag(&ids[0], "b").await.status, StatusCode::OK); // 3
    assert_eq!(api.get(&format!("{DEVICES}/$count")).await.status, StatusCode::OK); // 4
    let refused = api.tag(&ids[1], "b").await;
    refused.intune_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    assert_eq!(refused.header("retry-after"), "5");
    assert_eq!(api.get(DEVICES).await.status, StatusCode::TOO_MANY_REQUESTS);
    // `$metadata` is not throttled (nor faulted).
    assert_eq!(api.get("/$metadata").await.status, StatusCode::OK);
    // Off by default: nothing is ever refused.
    let api = api_with(throttled(None, None)).await;
    let id = api.first_id().await;
    for _ in 0..60 {
        assert_eq!(api.tag(&id, "c").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn throttling_comes_before_the_random_faults() {
    let api = api_with(throttled(Some("1/60"), None)).await;
    let ids = api.device_ids(2).await;
    api.server.set_faults(FaultConfig { internal_error: 1.0, ..FaultConfig::default() }).unwrap();
    // The admitted write takes its token and then meets its fault; the next is throttled first.
    assert_eq!(api.tag(&ids[0], "x").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.tag(&ids[1], "x").await.status, StatusCode::TOO_MANY_REQUESTS);
    let faults: Vec<Option<FaultKind>> =
        api.server.journal().iter().filter(|r| r.method == "PATCH").map(|r| r.fault).collect();
    assert_eq!(faults, [Some(FaultKind::InternalError), Some(FaultKind::Throttled)]);
    // Switched off while running: everything passes again.
    api.server.set_throttle(ThrottleConfig::default());
    api.server.set_faults(FaultConfig::default()).unwrap();
    assert_eq!(api.tag(&ids[1], "x").await.status, StatusCode::OK);
}

#[test]
fn serve_binary_throttles_writes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot-tui"))
        .args(["serve", "--addr", "127.0.0.1:0", "--devices", "5", "--throttle-writes", "1/90"])
        .args(["--log-file", std::env::temp_dir().join("autopilot-tui-throttle-test.log").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let statuses = runtime.block_on(async {
        let http = reqwest::Client::new();
        let page: Value =
            http.get(format!("{base}{DEVICES}")).bearer_auth("t").send().await.unwrap().json().await.unwrap();
        let id = page["value"][0]["id"].as_str().unwrap().to_string();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let response = http
                .patch(format!("{base}{DEVICES}/{id}"))
                .bearer_auth("t")
                .json(&json!({"groupTag": "Bin"}))
                .send()
                .await
                .unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            seen.push((response.status().as_u16(), retry_after));
        }
        seen
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(statuses, [(200, None), (429, Some("90".to_string()))]);
}
