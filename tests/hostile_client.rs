//! The Graph client against hostile and broken servers on 127.0.0.1: the token stays with
//! its origin, writes never follow redirects, pages are whole or fail loudly, ids stay one
//! path segment, and every resource is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod records;

mod hostile;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{
    ClientConfig, DeviceProblem, GraphClient, ListQuery, MAX_EMPTY_PAGES_IN_A_ROW, Outcome, Page,
};
use autopilot_tui::graph::error::GraphError;
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::patch::PatchBody;
use autopilot_tui::graph::resource::Record;
use futures_util::StreamExt;
use hostile::{DEVICES, Hostile, Reply, device, page};
use records::RecordExt;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "hostile-test-token-1234";

fn client(base_url: &str) -> GraphClient {
    GraphClient::new(ClientConfig::new(base_url, Secret::new(TOKEN))).unwrap()
}

fn client_with(base_url: &str, change: impl FnOnce(&mut ClientConfig)) -> GraphClient {
    let mut config = ClientConfig::new(base_url, Secret::new(TOKEN));
    change(&mut config);
    GraphClient::new(config).unwrap()
}

fn a_change() -> PatchBody {
    let original = device("d1", "S1").as_object().unwrap().clone();
    let mut edited = original.clone();
    edited.set_text("groupTag", Some("Changed"));
    PatchBody::between(&IMPORTED, &original, &edited)
}

async fn listed(client: &GraphClient) -> Vec<Outcome<Page>> {
    client.list(&ListQuery::default()).collect().await
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_never_gets_the_token() {
    let elsewhere = Hostile::start(|_, _| Reply::json(page(vec![device("b1", "SB")], None))).await;
    let other_port = format!("{}?$skiptoken=2", elsewhere.devices_url());
    /// The next link, from the server's own base URL and the other server's page URL.
    type Link = fn(&str, &str) -> String;
    let cases: [(&str, Link); 3] = [
        ("another port", |_, other| other.to_string()),
        ("another scheme", |base, _| {
            format!("{}{DEVICES}?$skiptoken=2", base.replace("http://", "https://"))
        }),
        ("another host", |base, _| {
            format!("{}{DEVICES}?$skiptoken=2", base.replace("127.0.0.1", "localhost"))
        }),
    ];
    for (case, link) in cases {
        let other = other_port.clone();
        let server = Hostile::start(move |_, base| {
            Reply::json(page(vec![device("a1", "SA1")], Some(link(base, &other))))
        })
        .await;
        let outcomes = listed(&client(&server.base_url)).await;
        assert_eq!(outcomes.len(), 2, "{case}");
        assert_eq!(outcomes[0].result.as_ref().unwrap().devices[0].id(), "a1", "{case}");
        let err = outcomes[1].result.as_ref().unwrap_err();
        assert!(
            matches!(err, GraphError::ForeignOrigin { origin, .. } if *origin == server.origin),
            "{case}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("not followed") && !text.contains(TOKEN), "{case}: {text}");
        if case == "another port" {
            assert!(text.contains(&elsewhere.origin), "the error names the host: {text}");
        }
        // The server itself saw one request, with the token.
        let seen = server.seen();
        assert_eq!(seen.len(), 1, "{case}");
        assert_eq!(seen[0].authorization.as_deref(), Some(&*format!("Bearer {TOKEN}")), "{case}");
    }
    assert!(elsewhere.seen().is_empty(), "the other origin was contacted: {:?}", elsewhere.seen());
}

#[tokio::test]
async fn a_relative_next_link_is_followed_on_the_same_origin() {
    let server = Hostile::start(|seen, _| {
        if seen.path_and_query.contains("skiptoken") {
            Reply::json(page(vec![device("a2", "SA2")], None))
        } else {
            Reply::json(page(
                vec![device("a1", "SA1")],
                Some(
                    format!("{DEVICES}?$skiptoken=2").replace("/deviceManagement", "/v1.0/deviceManagement"),
                ),
            ))
        }
    })
    .await;
    let outcomes = listed(&client(&server.base_url)).await;
    let ids: Vec<String> =
        outcomes.iter().flat_map(|o| o.result.as_ref().unwrap().devices.iter().map(|d| d.id())).collect();
    assert_eq!(ids, ["a1", "a2"]);
}

#[tokio::test]
async fn reads_follow_redirects_without_the_token_and_writes_never_follow_them() {
    let elsewhere = Hostile::start(|_, _| Reply::json(device("d1", "ELSEWHERE"))).await;
    let target = format!("{}/d1", elsewhere.devices_url());
    let redirect_to = target.clone();
    let status = Arc::new(Mutex::new(302u16));
    let answer_with = status.clone();
    let server = Hostile::start(move |seen, _| {
        let code = *answer_with.lock().unwrap();
        if seen.path_and_query.ends_with("/moved") {
            Reply::json(device("d1", "MOVED"))
        } else if seen.path_and_query.ends_with("/same") {
            Reply::redirect(
                code,
                &format!("{DEVICES}/moved").replace("/deviceManagement", "/v1.0/deviceManagement"),
            )
        } else {
            Reply::redirect(code, &redirect_to)
        }
    })
    .await;
    let client = client(&server.base_url);

    // A GET redirected to another origin is followed, without the Authorization header.
    let got = client.get("d1").await;
    assert_eq!(got.result.unwrap().text("serialNumber"), Some("ELSEWHERE"));
    let there = elsewhere.seen();
    assert_eq!(there.len(), 1);
    assert_eq!(there[0].authorization, None, "the token followed a redirect to another origin");
    // On the same origin it keeps it.
    let got = client.get("same").await;
    assert_eq!(got.result.unwrap().text("serialNumber"), Some("MOVED"));
    let moved = server.seen().into_iter().find(|s| s.path_and_query.ends_with("/moved")).unwrap();
    assert!(moved.authorization.is_some());

    // A write answered with any redirect is an error, sent once, followed nowhere.
    for code in [301, 302, 303, 307, 308] {
        *status.lock().unwrap() = code;
        let before = server.seen().len();
        let outcome = client.write("d1", &a_change()).await;
        let err = outcome.result.unwrap_err();
        assert!(
            matches!(&err, GraphError::Redirected { status, location: Some(l), .. } if *status == code && *l == target),
            "{code}: {err:?}"
        );
        assert!(err.to_string().contains("not confirmed saved"), "{err}");
        assert_eq!(outcome.exchange.status, Some(code));
        let sent: Vec<_> = server.seen().into_iter().skip(before).collect();
        assert_eq!(sent.len(), 1, "{code}: the write was retried: {sent:?}");
        assert_eq!(sent[0].method, "PATCH");
    }
    assert_eq!(elsewhere.seen().len(), 1, "a write followed the redirect: {:?}", elsewhere.seen());
}

#[tokio::test]
async fn a_page_is_whole_or_fails_loudly() {
    let server = Hostile::start(|seen, base| {
        let next = |n: u32| Some(format!("{base}{DEVICES}?$skiptoken={n}"));
        let mut bad = device("a2", "SA2");
        bad["state"]["deviceErrorCode"] = serde_json::json!("806");
        if seen.path_and_query.ends_with("skiptoken=2") {
            Reply::json(page(vec![device("a4", "SA4")], next(3)))
        } else if seen.path_and_query.ends_with("skiptoken=3") {
            Reply::json(page(vec![serde_json::json!(1), device("a5", "SA5")], next(4)))
        } else if seen.path_and_query.ends_with("skiptoken=4") {
            panic!("the listing went on past a page that failed")
        } else {
            Reply::json(page(vec![device("a1", "SA1"), bad, device("a3", "SA3")], next(2)))
        }
    })
    .await;
    let client = client(&server.base_url);

    let outcomes = listed(&client).await;
    assert_eq!(outcomes.len(), 3);
    let first = outcomes[0].result.as_ref().unwrap();
    let ids: Vec<&str> = first.devices.iter().map(|d| d.text("id").unwrap_or("")).collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert_eq!(first.warnings.len(), 1);
    let warning = &first.warnings[0];
    assert_eq!((warning.device_id.as_str(), warning.serial_number.as_deref()), ("a2", Some("SA2")));
    assert!(warning.skipped());
    assert!(matches!(&warning.problem, DeviceProblem::Unreadable(r) if r.contains("\"806\"")), "{warning}");
    assert!(warning.to_string().starts_with("device a2 (serial SA2) skipped: invalid type"), "{warning}");
    assert_eq!(outcomes[1].result.as_ref().unwrap().devices[0].id(), "a4");
    let err = outcomes[2].result.as_ref().unwrap_err();
    assert!(matches!(err, GraphError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("item 1 of the page is not a device (it is a number)"), "{err}");

    // The pass-through listing checks each device the same way.
    let raw: Vec<_> = client.list_raw(&ListQuery::default()).collect().await;
    assert_eq!(raw.len(), 3);
    let first = raw[0].result.as_ref().unwrap();
    let body = &raw[0].exchange.response_body;
    let ids: Vec<String> = first
        .devices
        .iter()
        .map(|r| serde_json::from_str::<Record>(&body[r.clone()]).unwrap().id())
        .collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert_eq!(first.warnings, outcomes[0].result.as_ref().unwrap().warnings);
    assert!(raw[2].result.as_ref().unwrap_err().to_string().contains("item 1"));

    // A `value` that is not an array at all.
    let server = Hostile::start(|_, _| Reply::json(serde_json::json!({"value": {"id": "x"}}))).await;
    let outcomes = listed(&self::client(&server.base_url)).await;
    assert_eq!(outcomes.len(), 1);
    let err = outcomes[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("\"value\" is not an array but an object"), "{err}");
}

#[tokio::test]
async fn ids_are_always_one_path_segment() {
    let server = Hostile::start(|_, _| Reply::error(404, "ResourceNotFound", "no such device")).await;
    let client = client(&server.base_url);
    for id in ["..", ".", ""] {
        let got = client.get(id).await;
        assert!(matches!(&got.result, Err(GraphError::InvalidId(i)) if i == id), "{id:?}: {:?}", got.result);
        let patched = client.write(id, &a_change()).await;
        assert!(matches!(&patched.result, Err(GraphError::InvalidId(_))), "{id:?}: {:?}", patched.result);
    }
    assert!(server.seen().is_empty(), "a dot segment was sent: {:?}", server.seen());
    for (id, segment) in [
        ("a/b?c#d%e f", "a%2Fb%3Fc%23d%25e%20f"),
        ("%2e%2E", "%252e%252E"),
        ("..a", "..a"),
        ("\\..", "%5C.."),
        ("O'Brien(1)", "O%27Brien%281%29"),
    ] {
        let outcome = client.write(id, &a_change()).await;
        assert_eq!(outcome.result.unwrap_err().service().map(|e| e.status), Some(404), "{id}");
        let last = server.seen().pop().unwrap();
        assert_eq!(last.method, "PATCH");
        assert_eq!(last.path_and_query, format!("/v1.0{DEVICES}/{segment}"), "{id}");
    }
}

#[tokio::test]
async fn answers_are_capped_and_the_cap_is_not_retried() {
    for chunked in [false, true] {
        let server = Hostile::start(move |_, _| {
            let mut reply = Reply::json(device("d1", &"S".repeat(5000)));
            reply.chunked = chunked;
            reply
        })
        .await;
        let client = client_with(&server.base_url, |c| c.max_response_bytes = 4096);
        let outcome = client.get("d1").await;
        assert!(
            matches!(outcome.result, Err(GraphError::TooLarge { limit: 4096 })),
            "chunked {chunked}: {:?}",
            outcome.result
        );
        assert_eq!(server.seen().len(), 1, "chunked {chunked}: retried");
        // The same answer under the default cap of 64 MiB reads.
        assert!(self::client(&server.base_url).get("d1").await.result.is_ok());
    }
}

#[tokio::test]
async fn endless_listings_stop_with_an_error() {
    // Every page carries one device and a link never seen before.
    let server = Hostile::start(|seen, base| {
        let n: u64 = seen.path_and_query.rsplit('=').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Reply::json(page(
            vec![device(&format!("d{n}"), "S")],
            Some(format!("{base}{DEVICES}?$skiptoken={}", n + 1)),
        ))
    })
    .await;
    let client = client_with(&server.base_url, |c| c.max_pages = 30);
    let outcomes: Vec<_> = client.list(&ListQuery::default()).take(200).collect().await;
    assert_eq!(outcomes.len(), 31);
    assert!(outcomes[..30].iter().all(|o| o.result.is_ok()));
    let err = outcomes[30].result.as_ref().unwrap_err();
    assert!(matches!(err, GraphError::EndlessListing(_)), "{err:?}");
    assert!(err.to_string().contains("30 pages"), "{err}");

    // Only empty pages, each with a new link: no progress.
    let server = Hostile::start(|seen, base| {
        let n: u64 = seen.path_and_query.rsplit('=').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Reply::json(page(Vec::new(), Some(format!("{base}{DEVICES}?$skiptoken={}", n + 1))))
    })
    .await;
    let outcomes: Vec<_> =
        self::client(&server.base_url).list(&ListQuery::default()).take(500).collect().await;
    let limit = MAX_EMPTY_PAGES_IN_A_ROW as usize;
    assert_eq!(outcomes.len(), limit + 1);
    assert!(outcomes[limit].result.as_ref().unwrap_err().to_string().contains("empty pages in a row"));
    assert_eq!(server.seen().len(), limit);
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_reported_at_once() {
    let server = Hostile::start(|_, _| Reply::json(page(Vec::new(), None))).await;
    let notices = Arc::new(Mutex::new(0));
    let counted = notices.clone();
    let client =
        client(&server.base_url).with_retry_observer(Arc::new(move |_| *counted.lock().unwrap() += 1));
    let search = "A".repeat(1 << 20);
    let query =
        ListQuery { filter: Some(format!("contains(serialNumber,'{search}')")), ..ListQuery::default() };
    let outcomes: Vec<_> = client.list(&query).collect().await;
    assert_eq!(outcomes.len(), 1);
    let err = outcomes[0].result.as_ref().unwrap_err();
    assert!(matches!(err, GraphError::Request(_)), "{err:?}");
    assert_eq!(outcomes[0].exchange.attempts, 1);
    assert_eq!(*notices.lock().unwrap(), 0, "a local error was retried");
    let text = err.to_string();
    assert!(text.len() < 1000 && text.contains("bytes in all"), "{} bytes: {}", text.len(), &text[..200]);
    assert!(
        text.ends_with("the URL is longer than HTTP's limit of 65534 bytes (a shorter search?)"),
        "{text}"
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn invalid_utf8_is_reported_with_the_device_id() {
    // One byte that is not UTF-8 where the serial has its `~`.
    let with_bad_byte = |doc: serde_json::Value| {
        let mut bytes = doc.to_string().into_bytes();
        let at = bytes.iter().position(|b| *b == b'~').unwrap();
        bytes[at] = 0xff;
        bytes
    };
    let bytes = with_bad_byte(page(vec![device("u1", "SER~"), device("u2", "S2")], None));
    let single = with_bad_byte(device("u1", "SER~"));
    let server = Hostile::start(move |seen, _| {
        if seen.path_and_query.ends_with("/u1") {
            Reply::raw(200, single.clone())
        } else {
            Reply::raw(200, bytes.clone())
        }
    })
    .await;
    let client = client(&server.base_url);
    let outcomes = listed(&client).await;
    let first = outcomes[0].result.as_ref().unwrap();
    assert_eq!(first.devices.len(), 2, "a device with bad bytes is kept");
    assert_eq!(first.devices[0].text("serialNumber"), Some("SER\u{fffd}"));
    assert_eq!(first.warnings.len(), 1);
    assert_eq!(first.warnings[0].device_id, "u1");
    assert_eq!(first.warnings[0].problem, DeviceProblem::InvalidUtf8);
    assert!(first.warnings[0].to_string().contains("not UTF-8"));
    let got = client.get("u1").await;
    assert_eq!(got.result.unwrap().text("serialNumber"), Some("SER\u{fffd}"));
    assert!(got.exchange.body_warning().is_some_and(|w| w.contains("not UTF-8")));
}

#[tokio::test]
async fn a_refused_connection_is_tried_three_times_and_names_the_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let client = client(&format!("http://{closed}/v1.0"))
        .with_retry_observer(Arc::new(move |n| seen.lock().unwrap().push(n.reason)));
    let outcome = client.get("d1").await;
    assert_eq!(outcome.exchange.attempts, 3);
    assert_eq!(notices.lock().unwrap().len(), 2);
    let text = outcome.result.unwrap_err().to_string();
    assert!(text.starts_with(&format!("cannot connect: http://{closed}/v1.0{DEVICES}/d1: ")), "{text}");
}

#[tokio::test]
async fn a_sign_in_is_never_redirected_with_its_secret() {
    use autopilot_tui::config::{Settings, SignIn};
    let elsewhere = Hostile::start(|_, _| {
        Reply::json(serde_json::json!({"access_token": "stolen", "expires_in": 3600, "token_type": "Bearer"}))
    })
    .await;
    let target = format!("{}/contoso/oauth2/v2.0/token", elsewhere.origin);
    let authority = Hostile::start(move |_, _| Reply::redirect(307, &target)).await;
    let settings = Settings {
        base_url: Some("http://127.0.0.1:9/v1.0".into()),
        sign_in: SignIn::ClientSecret {
            tenant: "contoso".into(),
            client_id: "app".into(),
            secret: Secret::new("client-s3cret"),
        },
        authority: authority.origin.clone(),
        collection: Default::default(),
        read_only: false,
        page_size: 999,
        timeout: std::time::Duration::from_secs(5),
        max_response_bytes: 1 << 20,
        ca_file: None,
        profile: None,
        write_rate: autopilot_tui::graph::pacer::DEFAULT_WRITE_RATE,
    };
    let result = autopilot_tui::connect::prepare(&settings).await;
    assert!(result.is_err(), "the redirected sign-in succeeded");
    assert_eq!(authority.seen().len(), 1);
    assert!(elsewhere.seen().is_empty(), "the secret followed a redirect: {:?}", elsewhere.seen());
}
