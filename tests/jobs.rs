//! The job runner and its journal against the embedded server, over real HTTP on 127.0.0.1:0
//! and on a paused clock: under Intune-like throttling with every fault on, each item lands
//! exactly once or is reported (the server's journal proves it); a cancel lets the writes in
//! flight finish and sends nothing more; a job cut off midway and resumed writes no item twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;

mod shared;
use shared::*;

use autopilot_tui::graph::auth::Secret;
use autopilot_tui::graph::client::{ClientConfig, GraphClient};
use autopilot_tui::graph::imported::IMPORTED;
use autopilot_tui::graph::pacer::{PacerConfig, Rate, WritePacer};
use autopilot_tui::graph::registered::REGISTERED;
use autopilot_tui::graph::resource::{Record, Resource};
use autopilot_tui::graph::retry::RetryPolicy;
use autopilot_tui::jobs::journal::{self, JobEnd, JobInfo};
use autopilot_tui::jobs::outcome::ItemResult;
use autopilot_tui::jobs::plan::{Plan, PlanItem, Target};
use autopilot_tui::jobs::runner::{JobEvent, Report, Runner};
use autopilot_tui::server::faults::{FaultConfig, LatencyRange};
use autopilot_tui::server::throttle::ThrottleConfig;
use autopilot_tui::server::{self, DataSet, RecordedRequest, RunningServer, ServeOptions};
use autopilot_tui::write_log::{WriteLog, WriteSource};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "jobs-test-token";

fn budget() -> Rate {
    Rate::new(100, Duration::from_secs(20))
}

async fn serve(devices: u64) -> RunningServer {
    server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices, seed: 21 },
        page_size: 999,
        throttle: ThrottleConfig { writes: Some(budget()), requests: None },
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

/// A client paced at the server's budget, with retries enough to ride out the faults.
fn client(server: &RunningServer, resource: &'static Resource) -> GraphClient {
    let mut config = ClientConfig::new(server.base_url(), Secret::new(TOKEN));
    config.retry =
        RetryPolicy { max_attempts: 40, base_delay: Duration::from_millis(50), ..RetryPolicy::default() };
    let pacer = WritePacer::new(PacerConfig { rate: budget(), concurrency: 4 });
    GraphClient::new(config).unwrap().for_resource(resource).with_pacer(pacer)
}

/// Each record's group tag set to `tag-{id}`, except the first `at_target` records, whose
/// target is the tag they hold (nothing to send).
fn retag(resource: &'static Resource, records: &[Record], at_target: usize) -> Plan {
    let tag = resource.field("groupTag").unwrap();
    let items = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let id = record["id"].as_str().unwrap().to_string();
            let value = if i < at_target { record["groupTag"].clone() } else { json!(format!("tag-{id}")) };
            let label = record["serialNumber"].as_str().unwrap().to_string();
            PlanItem::new(id, label, record, &[Target { field: tag, value }])
        })
        .collect();
    Plan { resource, items, unplanned: Vec::new() }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-tui-jobs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The journaled writes of one record that reached its handler (unfaulted, or faulted after
/// handling): the writes that may have changed it.
fn handled_writes(journal: &[RecordedRequest], resource: &Resource, id: &str) -> usize {
    let at = format!("{}/{id}", resource.path);
    journal
        .iter()
        .filter(|r| r.method != "GET" && r.path_and_query.contains(&at) && r.reached_handler())
        .count()
}

/// Every done item is at its target and reached the server exactly once; every other item
/// that was to be written reached it never (not sent) or is reported failed with a reason.
async fn assert_each_item_once_or_reported(
    server: &RunningServer,
    client: &GraphClient,
    plan: &Plan,
    report: &Report,
) {
    let journal = server.journal();
    for (item, result) in plan.items.iter().zip(&report.results) {
        let handled = handled_writes(&journal, plan.resource, &item.id);
        match result {
            ItemResult::Done { .. } => {
                assert_eq!(handled, 1, "{}: written exactly once ({result})", item.id);
                let record = client.get(&item.id).await.result.unwrap();
                assert!(item.reached(&record), "{}: done but not at the target", item.id);
            }
            ItemResult::Skipped => {
                assert!(item.body().is_none());
                assert_eq!(handled, 0, "{}: skipped yet written", item.id);
            }
            ItemResult::NotSent => assert_eq!(handled, 0, "{}: not sent yet written", item.id),
            ItemResult::Failed { message, .. } => {
                assert!(!message.is_empty(), "{}: a failure says why", item.id);
                assert!(handled <= 1, "{}: failed after {handled} writes", item.id);
            }
            ItemResult::Conflict { .. } => panic!("{}: a conflict nobody made ({result})", item.id),
        }
    }
}

fn drain(events: &mut mpsc::UnboundedReceiver<JobEvent>) -> Vec<JobEvent> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    seen
}

// Intune's budget on the server (100 writes per 20 s), every kind of fault on each inner
// request: 400 retags, 20 already at their target. Every item ends done, skipped or failed
// with its reason; a done item was written exactly once (a lost answer is read back, never
// resent blind); the events tell each item once and show the 429 pauses counting down.
#[tokio::test(start_paused = true)]
async fn every_item_lands_exactly_once_or_is_reported_under_throttling_and_faults() {
    let server = serve(400).await;
    let client = client(&server, &IMPORTED);
    let plan = retag(&IMPORTED, &records(&client).await, 20);
    assert_eq!((plan.writes(), plan.already_there()), (380, 20));
    server
        .set_faults(FaultConfig { retry_after: Duration::from_secs(2), ..FaultConfig::every_kind(0.05, 91) })
        .unwrap();
    let dir = scratch("faults");
    let (tx, mut events) = mpsc::unbounded_channel();
    let runner = Runner::new(&client).with_events(tx).with_journal_dir(&dir);
    let report = runner.run(&plan, "test").await;
    server.set_faults(FaultConfig::default()).unwrap();

    assert!(!report.cancelled && report.notices.is_empty(), "{:?}", report.notices);
    assert_eq!(report.counts.pending + report.counts.not_sent, 0, "{}", report.counts);
    assert_eq!(report.counts.skipped, 20);
    assert!(report.counts.done >= 360, "{}", report.counts);
    let verified =
        report.results.iter().filter(|r| matches!(r, ItemResult::Done { verified: true, .. })).count();
    assert!(verified > 0, "answers were lost and read back");
    let kinds: std::collections::HashSet<String> = server
        .journal()
        .iter()
        .filter(|r| r.batch_item.is_some())
        .filter_map(|r| r.fault)
        .map(|f| format!("{f:?}"))
        .collect();
    assert!(kinds.len() >= 6, "faults hit the batches' requests: {kinds:?}");
    assert_each_item_once_or_reported(&server, &client, &plan, &report).await;

    let events = drain(&mut events);
    let mut told: HashMap<usize, usize> = HashMap::new();
    for event in &events {
        if let JobEvent::Item(item) = event {
            *told.entry(item.index).or_default() += 1;
            assert_eq!(item.result, report.results[item.index]);
        }
    }
    assert_eq!(told.len(), 400);
    assert!(told.values().all(|n| *n == 1), "each item told once");
    let progress: Vec<_> =
        events.iter().filter_map(|e| if let JobEvent::Progress(p) = e { Some(*p) } else { None }).collect();
    assert!(
        progress.iter().any(|p| p.pacer.paused_for.is_some()),
        "a 429 pause was shown with its countdown"
    );
    assert!(progress.iter().any(|p| p.eta > Duration::from_secs(60)), "the ETA counted the budget");
    let last = progress.last().unwrap();
    assert_eq!((last.counts, last.writes_left), (report.counts, 0));

    // The journal holds the plan and every result, and is ended.
    let saved = journal::load(report.journal.as_ref().unwrap()).unwrap();
    assert_eq!(saved.plan, plan);
    assert_eq!(saved.results.iter().map(|r| r.clone().unwrap()).collect::<Vec<_>>(), report.results);
    assert!(matches!(saved.end, Some(JobEnd::Finished { counts, .. }) if counts == report.counts));
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// Cancelled once the first burst has landed: the batches in flight finish, nothing more is
// sent, and the rest end not sent; the journal is ended with them.
#[tokio::test(start_paused = true)]
async fn a_cancel_lets_the_writes_in_flight_finish_and_sends_nothing_more() {
    let server = serve(200).await;
    let client = client(&server, &REGISTERED);
    let plan = retag(&REGISTERED, &records(&client).await, 0);
    let dir = scratch("cancel");
    let (tx, mut events) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let runner = Runner::new(&client).with_events(tx).with_cancel(cancel.clone()).with_journal_dir(&dir);
    // The runner goes with the run, so the events end with it.
    let run = {
        let plan = plan.clone();
        async move { runner.run(&plan, "test").await }
    };
    let watch = async {
        let mut done = 0;
        while let Some(event) = events.recv().await {
            if matches!(event, JobEvent::Item(_)) {
                done += 1;
                if done == 100 {
                    cancel.cancel();
                }
            }
            if matches!(event, JobEvent::Progress(p) if p.stopping) {
                assert!(cancel.is_cancelled());
            }
        }
    };
    let (report, ()) = tokio::join!(run, async {
        tokio::select! {
            () = watch => {}
            () = tokio::time::sleep(Duration::from_secs(3600)) => panic!("no events"),
        }
    });
    let counts = report.counts;
    assert!(report.cancelled);
    assert!(counts.done >= 100 && counts.done < 200, "{counts}");
    assert_eq!((counts.done + counts.not_sent, counts.failed, counts.pending), (200, 0, 0), "{counts}");
    assert_each_item_once_or_reported(&server, &client, &plan, &report).await;
    let writes = server.journal().iter().filter(|r| r.method == "POST" && r.batch_item.is_some()).count();
    assert_eq!(writes, counts.done, "no write after the cancel but those in flight");
    let saved = journal::load(report.journal.as_ref().unwrap()).unwrap();
    assert!(matches!(saved.end, Some(JobEnd::Finished { counts: c, .. }) if c.not_sent == counts.not_sent));
    assert!(journal::unfinished(&dir).unwrap().jobs.is_empty(), "a cancelled job ended: not to resume");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// A job cut off midway (its task dropped while batches are in flight, as a crash would leave
// it) is listed as unfinished, with the items of the batches that had left marked; resumed, it
// re-reads every pending item, writes only those not at their target, and no item is written
// twice.
#[tokio::test(start_paused = true)]
async fn a_job_cut_off_midway_and_resumed_writes_no_item_twice() {
    let server = serve(300).await;
    let client = client(&server, &IMPORTED);
    let plan = retag(&IMPORTED, &records(&client).await, 10);
    // Answers take a while, so batches are in flight when the job is cut off.
    server
        .set_faults(FaultConfig {
            latency: Some(LatencyRange { min: Duration::from_millis(300), max: Duration::from_millis(300) }),
            ..FaultConfig::default()
        })
        .unwrap();
    let dir = scratch("resume");
    let info = JobInfo::new("test", &client, &plan);
    let runner = Runner::new(&client).with_journal_dir(&dir);
    let job = tokio::spawn({
        let (runner, plan, info) = (runner.clone(), plan.clone(), info.clone());
        async move { runner.run_as(&plan, info).await }
    });
    // Cut off once 150 writes reached the server.
    let writes = || server.journal().iter().filter(|r| r.batch_item.is_some() && r.method == "PATCH").count();
    while writes() < 150 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.abort();
    assert!(job.await.unwrap_err().is_cancelled());
    // Whatever the server still had in hand is done by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A crash can also come after the server applied a batch and before its results were
    // journaled: the last five results are lost (their batch's `sending` line stays).
    let path = dir.join(format!("{}.jsonl", info.id));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    for _ in 0..5 {
        let last = lines.iter().rposition(|l| l.contains(r#""outcome":"done""#)).unwrap();
        lines.remove(last);
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let listed = journal::unfinished(&dir).unwrap();
    assert_eq!(listed.jobs.len(), 1, "the cut-off job is offered: {:?}", listed.unreadable);
    let saved = listed.jobs.into_iter().next().unwrap();
    assert_eq!(saved.info.id, info.id);
    let counts = saved.counts();
    assert!(counts.pending > 0 && counts.done > 0, "{counts}");
    let in_flight = saved.maybe_sent.iter().filter(|m| **m).count();
    assert!(in_flight > 0, "batches had left without their answers journaled");
    // What the server holds now: the pending items already at their target.
    let now: HashMap<String, Record> =
        records(&client).await.into_iter().map(|r| (r["id"].as_str().unwrap().to_string(), r)).collect();
    let landed: Vec<usize> = (0..plan.items.len())
        .filter(|i| saved.results[*i].is_none() && plan.items[*i].body().is_some())
        .filter(|i| plan.items[*i].reached(&now[&plan.items[*i].id]))
        .collect();
    assert!(landed.len() >= 5, "writes landed whose results the journal lacks");
    let mark = server.journal().len();

    server.set_faults(FaultConfig::default()).unwrap();
    let report = runner.resume(saved.clone()).await.unwrap();
    assert!(!report.cancelled);
    assert!(report.counts.all_at_target(), "{}", report.counts);
    let after = &server.journal()[mark..];
    let gets = after.iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, counts.pending, "every pending item re-read once, first");
    for (index, item) in plan.items.iter().enumerate() {
        let resent = handled_writes(after, plan.resource, &item.id);
        let wanted =
            usize::from(saved.results[index].is_none() && item.body().is_some() && !landed.contains(&index));
        assert_eq!(resent, wanted, "{}: written {resent} times by the resume", item.id);
    }
    for &index in &landed {
        assert_eq!(
            report.results[index],
            ItemResult::Done { status: None, request_id: None, verified: true },
            "landed before the cut: verified, not rewritten"
        );
    }
    for (item, result) in plan.items.iter().zip(&report.results) {
        assert!(result.is_at_target());
        assert!(item.reached(&client.get(&item.id).await.result.unwrap()), "{}", item.id);
    }
    assert!(journal::unfinished(&dir).unwrap().jobs.is_empty());
    // Resuming again is refused: the job ended.
    assert!(runner.resume(journal::load(&saved.path).unwrap()).await.is_err());
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// A job planned for one Graph root is not resumed through another.
#[tokio::test(start_paused = true)]
async fn a_job_is_resumed_only_where_it_was_planned() {
    let server = serve(5).await;
    let client = client(&server, &IMPORTED);
    let plan = retag(&IMPORTED, &records(&client).await, 0);
    let dir = scratch("elsewhere");
    let info = JobInfo::new("test", &client, &plan);
    drop(autopilot_tui::jobs::journal::Journal::create(&dir, &info, &plan).unwrap());
    let saved = journal::unfinished(&dir).unwrap().jobs.pop().unwrap();
    let other = GraphClient::new(ClientConfig::new("http://127.0.0.1:9/beta", Secret::new(TOKEN))).unwrap();
    let error = Runner::new(&other).resume(saved).await.unwrap_err().to_string();
    assert!(error.contains("was planned for") && error.contains("/v1.0"), "{error}");
    assert!(server.journal().iter().all(|r| r.method == "GET"), "nothing written");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A client of the same server without a pacer: a colleague changing records in the portal.
fn colleague(server: &RunningServer, resource: &'static Resource) -> GraphClient {
    GraphClient::new(ClientConfig::new(server.base_url(), Secret::new(TOKEN))).unwrap().for_resource(resource)
}

async fn set_tag(client: &GraphClient, id: &str, tag: &str) {
    let tag_field = client.resource().field("groupTag").unwrap();
    let record = client.get(id).await.result.unwrap();
    let body = autopilot_tui::graph::patch::PatchBody::between(client.resource(), &record, &{
        let mut edited = record.clone();
        tag_field.set(&mut edited, json!(tag));
        edited
    });
    client.write(id, &body).await.result.unwrap();
}

// Records changed through the server after the plan was made: a targeted field that holds
// neither what the plan saw nor its target is a conflict (reported old-at-plan / server-now,
// never written); one someone already set to the target is skipped (nothing sent). The reads
// before the writes go in $batches. Each write that reached the server is in the write log
// once, with the job's id, its before and after values, its status and request-id.
#[tokio::test(start_paused = true)]
async fn a_record_changed_since_the_plan_is_a_conflict_and_is_not_written() {
    let server = serve(60).await;
    let client = client(&server, &REGISTERED);
    let records = records(&client).await;
    let plan = retag(&REGISTERED, &records, 0);
    let portal = colleague(&server, &REGISTERED);
    for item in &plan.items[..5] {
        set_tag(&portal, &item.id, "changed-by-a-colleague").await;
    }
    for item in &plan.items[5..8] {
        set_tag(&portal, &item.id, &format!("tag-{}", item.id)).await;
    }
    let mark = server.journal().len();
    let dir = scratch("conflict");
    let log = WriteLog::at(dir.join("writes.jsonl"));
    let (tx, mut events) = mpsc::unbounded_channel();
    let runner = Runner::new(&client).with_events(tx).with_write_log(log.clone(), WriteSource::Bulk);
    let report = runner.run(&plan, "bulk edit of 60 marked devices").await;

    assert_eq!(
        (report.counts.conflicts, report.counts.skipped, report.counts.done),
        (5, 3, 52),
        "{}",
        report.counts
    );
    let after = &server.journal()[mark..];
    for (index, item) in plan.items.iter().enumerate() {
        let written = handled_writes(after, &REGISTERED, &item.id);
        match index {
            0..5 => {
                let ItemResult::Conflict { fields } = &report.results[index] else {
                    panic!("{}: {}", item.id, report.results[index])
                };
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].field, "groupTag");
                assert_eq!(fields[0].planned, records[index]["groupTag"]);
                assert_eq!(fields[0].now, json!("changed-by-a-colleague"));
                assert_eq!(fields[0].target, json!(format!("tag-{}", item.id)));
                assert_eq!(written, 0, "a conflict is not written");
                let now = client.get(&item.id).await.result.unwrap();
                assert_eq!(now["groupTag"], "changed-by-a-colleague", "the colleague's value stays");
            }
            5..8 => {
                assert_eq!(report.results[index], ItemResult::Skipped);
                assert_eq!(written, 0, "already at the target: nothing sent");
            }
            _ => {
                assert!(matches!(report.results[index], ItemResult::Done { verified: false, .. }));
                assert_eq!(written, 1);
            }
        }
    }
    let reads: Vec<_> = after.iter().filter(|r| r.method == "GET" && r.batch_item.is_some()).collect();
    assert_eq!(reads.len(), 60, "every record read once before its write, inside $batches");
    assert_eq!(report.writes_sent, 52);

    let (entries, unreadable) = log.read().unwrap();
    assert_eq!((entries.len(), unreadable), (52, 0));
    for entry in &entries {
        let index = plan.items.iter().position(|i| i.id == entry.id).unwrap();
        assert!(index >= 8, "only writes that reached the server are logged");
        assert_eq!(entry.source, WriteSource::Bulk);
        assert_eq!(entry.job.as_deref(), Some(report.id.as_str()));
        assert_eq!(entry.verb, "POST updateDeviceProperties");
        assert_eq!(entry.collection, "windowsAutopilotDeviceIdentities");
        assert_eq!(entry.serial.as_deref(), Some(plan.items[index].label.as_str()));
        assert_eq!(entry.before["groupTag"], records[index]["groupTag"]);
        assert_eq!(entry.after["groupTag"], json!(format!("tag-{}", entry.id)));
        assert!(entry.succeeded() && entry.request_id.is_some());
    }
    let seen = drain(&mut events);
    assert!(matches!(seen.first(), Some(JobEvent::Started { items: 60, pending: 60, .. })));
    let conflicts = seen
        .iter()
        .filter(|e| matches!(e, JobEvent::Item(i) if matches!(i.result, ItemResult::Conflict { .. })))
        .count();
    assert_eq!(conflicts, 5);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// With no place to keep its journal or write log (the state directory is a file), the job
// still runs to the end, and says so once for each.
#[tokio::test(start_paused = true)]
async fn a_job_runs_without_its_journal_and_write_log_when_they_cannot_be_written() {
    let server = serve(30).await;
    let client = client(&server, &IMPORTED);
    let plan = retag(&IMPORTED, &records(&client).await, 0);
    let dir = scratch("unwritable");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let runner = Runner::new(&client)
        .with_events(tx)
        .with_journal_dir(file.join("jobs"))
        .with_write_log(WriteLog::at(file.join("writes.jsonl")), WriteSource::Apply);
    let report = runner.run(&plan, "test").await;
    assert_eq!(report.counts.done, 30, "{}", report.counts);
    assert!(report.journal.is_none());
    assert_eq!(report.notices.len(), 2, "{:?}", report.notices);
    assert!(report.notices[0].contains("job journal cannot be written"), "{}", report.notices[0]);
    assert!(report.notices[1].contains("write log cannot be written"), "{}", report.notices[1]);
    let notices = drain(&mut events).into_iter().filter(|e| matches!(e, JobEvent::Notice(_))).count();
    assert_eq!(notices, 2, "each said once");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

// A server that answers $batch with 404 gets the job's reads and writes one by one, each
// write exactly once.
#[tokio::test(start_paused = true)]
async fn a_server_without_batch_gets_the_jobs_reads_and_writes_one_by_one() {
    let refusal = hostile::Reply::error(404, "NotFound", "Resource not found for the segment '$batch'.");
    let (hostile, tags) = hostile::without_batch(30, refusal).await;
    let mut config = ClientConfig::new(&hostile.base_url, Secret::new(TOKEN));
    config.retry = RetryPolicy { base_delay: Duration::from_millis(50), ..RetryPolicy::default() };
    let client = GraphClient::new(config)
        .unwrap()
        .with_pacer(WritePacer::new(PacerConfig { rate: budget(), concurrency: 4 }));
    let records: Vec<Record> = (0..30)
        .map(|i| hostile::device(&format!("dev-{i}"), &format!("SN-dev-{i}")).as_object().cloned().unwrap())
        .collect();
    let plan = retag(&IMPORTED, &records, 0);
    let report = Runner::new(&client).run(&plan, "test").await;
    assert_eq!(report.counts.done, 30, "{}", report.counts);
    hostile::assert_one_by_one(&hostile.seen(), 30);
    for (id, tag) in tags.lock().unwrap().iter() {
        assert_eq!(tag, &format!("tag-{id}"));
    }
}

/// Sets one text field of a record through `client` (a colleague in the portal).
async fn set_field(client: &GraphClient, id: &str, path: &str, value: &str) {
    let field = client.resource().field(path).unwrap();
    let record = client.get(id).await.result.unwrap();
    let mut edited = record.clone();
    field.set(&mut edited, json!(value));
    let body = autopilot_tui::graph::patch::PatchBody::between(client.resource(), &record, &edited);
    client.write(id, &body).await.result.unwrap();
}

// With a server that gives ETags (serve --etags), each write carries the version its read saw
// (If-Match): a record changed between that read and the write is refused (412) and read again.
// Another field changed: written again, the colleague's change kept. The targeted field
// changed: a conflict, not written. No blind overwrite even in that window.
#[tokio::test(start_paused = true)]
async fn with_etags_a_record_changed_between_its_read_and_its_write_is_read_again() {
    let server = server::start(ServeOptions {
        token: Some(TOKEN.into()),
        data: DataSet::Generated { devices: 200, seed: 21 },
        page_size: 999,
        throttle: ThrottleConfig { writes: Some(budget()), requests: None },
        etags: true,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let client = client(&server, &REGISTERED);
    let plan = retag(&REGISTERED, &records(&client).await, 0);
    let (other, targeted) = (plan.items[150].id.clone(), plan.items[160].id.clone());
    let job = tokio::spawn({
        let (runner, plan) = (Runner::new(&client), plan.clone());
        async move { runner.run(&plan, "test").await }
    });
    // Both were read (inside a batch), neither written yet: the budget holds them back.
    let journal_of = |id: &str, method: &str| {
        server
            .journal()
            .into_iter()
            .filter(|r| {
                r.method == method && r.batch_item.is_some() && r.path_and_query.contains(&format!("/{id}"))
            })
            .collect::<Vec<_>>()
    };
    while journal_of(&other, "GET").is_empty() || journal_of(&targeted, "GET").is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(journal_of(&other, "POST").is_empty() && journal_of(&targeted, "POST").is_empty());
    let portal = colleague(&server, &REGISTERED);
    set_field(&portal, &other, "displayName", "Desk-150").await;
    set_field(&portal, &targeted, "groupTag", "colleague").await;
    let report = job.await.unwrap();

    assert!(
        matches!(report.results[150], ItemResult::Done { verified: false, .. }),
        "{}",
        report.results[150]
    );
    let record = client.get(&other).await.result.unwrap();
    assert_eq!(
        (record["displayName"].as_str(), record["groupTag"].clone()),
        (Some("Desk-150"), json!(format!("tag-{other}")))
    );
    let writes = journal_of(&other, "POST");
    assert_eq!(writes.len(), 2, "refused once (412), then written");
    let if_match: Vec<&str> = writes
        .iter()
        .map(|w| {
            w.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("if-match"))
                .map(|(_, v)| v.as_str())
                .unwrap()
        })
        .collect();
    assert_ne!(if_match[0], if_match[1], "the second write names the version read again");

    let ItemResult::Conflict { fields } = &report.results[160] else { panic!("{}", report.results[160]) };
    assert_eq!(fields[0].now, json!("colleague"));
    assert_eq!(journal_of(&targeted, "POST").len(), 1, "refused, then not sent again");
    assert_eq!(client.get(&targeted).await.result.unwrap()["groupTag"], "colleague");
    assert_eq!(report.counts.done, 199);
    server.shutdown().await;
}
