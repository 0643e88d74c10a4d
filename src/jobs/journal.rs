//! The job journal: each job in its own file in the state directory
//! (`$XDG_STATE_HOME/autopilot-tui/jobs/<job id>.jsonl`, readable by the user only), one JSON
//! document a line:
//!
//! 1. `{"job": {...}}`: the plan, enough to resume it: where (base URL, collection), what kind
//!    of record, and every item with its id, label and body (old -> new). Written whole, to a
//!    temporary file renamed into place, so a job's file always starts with its whole plan.
//! 2. `{"sending": {"items": [...]}}` before a batch leaves, and `{"item": {"index", "id",
//!    "result"}}` as each item's result lands: appended with one write per group of lines and
//!    synced, so a crash can cut off the last line only. A cut-off last line is ignored when the
//!    file is read (and cut away before a resumed job appends).
//! 3. `{"finished": {...}}` with the counts, `{"abandoned": {...}}` when the user declined to
//!    resume it, or `{"superseded": {...}}` when a later `apply` of
//!    the same file re-planned it from the records themselves.
//!
//! A job without an end line was cut off (a crash, a kill, a power cut): [`unfinished`] lists
//! them and the runner's resume re-reads every pending item before it writes it. While a job
//! runs, a lock (`<job id>.lock`, an OS file lock, so a killed process leaves none held) keeps a
//! second process from running it too. No token, secret or server answer body is ever written:
//! a plan that sets a secret field is refused.

use super::outcome::{Counts, ItemResult};
use super::plan::{Plan, PlanItem, Step, Unplanned};
use crate::graph::client::{Collection, GraphClient};
use crate::graph::imported::IMPORTED;
use crate::graph::patch::{FieldChange, PatchBody};
use crate::graph::registered::REGISTERED;
use crate::graph::resource::{Kind, Resource};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the first line's `format` says.
pub const FORMAT: &str = "autopilot-tui job journal";
/// The journal format this build writes and reads.
pub const VERSION: u32 = 1;

/// The kinds of record a journal may name.
const RESOURCES: [&Resource; 2] = [&IMPORTED, &REGISTERED];

/// Where job journals live: `jobs/` in the state directory ([`crate::paths::state_dir`]).
pub fn jobs_dir() -> Result<PathBuf, JournalError> {
    crate::paths::state_dir().map(|dir| dir.join("jobs")).ok_or(JournalError::NoStateDir)
}

/// Makes `dir` (readable by the user only) and checks that a file can be written in it:
/// whether jobs can be journaled there.
pub fn check_dir(dir: &Path) -> Result<(), JournalError> {
    make_private_dir(dir)?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|source| io(&probe, source))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Why a journal could not be written or read. Every message names the file or the job.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line that is not what this build writes (not a cut-off last line: those are ignored).
    #[error("{}: line {line}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file is not a job journal, or a newer build's.
    #[error("{}: {message}", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another process runs this job now.
    #[error("job {id} is being run by another autopilot-tui (it holds {})", lock.display())]
    Busy {
        /// The job.
        id: JobId,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The job has ended: there is nothing to resume.
    #[error("job {id} has ended: there is nothing to resume")]
    Ended {
        /// The job.
        id: JobId,
    },
    /// A plan that sets a secret is never written down.
    #[error("the plan sets {field}, a secret: it is never written to a job journal")]
    Secret {
        /// The field's label.
        field: &'static str,
    },
    /// The job was planned for another Graph root, collection or kind of record.
    #[error("job {id} was planned for {planned}, not {given}: resume it connected the same way")]
    OtherTarget {
        /// The job.
        id: JobId,
        /// Where it was planned.
        planned: String,
        /// Where the runner would write.
        given: String,
    },
    /// Neither `XDG_STATE_HOME` nor `HOME` is set.
    #[error("no state directory for job journals: set XDG_STATE_HOME or HOME")]
    NoStateDir,
}

/// A job's name: `20261201T115648Z-devices-3f2a1b` (when it was made, the kind of record, six
/// random hex digits); also its file's name. Sorts by time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A new id for a job on `resource`, made now.
    pub fn new(resource: &Resource) -> JobId {
        let stamp: String = crate::graph::timestamp::format(SystemTime::now())
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        let random = uuid::Uuid::new_v4().simple().to_string();
        JobId(format!("{stamp}-{}-{}", resource.command, &random[..6]))
    }

    /// A job id as written, when it can be one (letters, digits and `-` only: a file name).
    pub fn parse(text: &str) -> Option<JobId> {
        let ok = !text.is_empty()
            && text.len() <= 100
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        ok.then(|| JobId(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a journal says of its job besides the plan: its id, when and from what it was made,
/// and where it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// When it was made (`2026-12-01T11:56:48Z`).
    pub created: String,
    /// What made it, for people: `apply plan.csv`, `bulk edit of 12 marked devices`.
    pub source: String,
    /// The Graph version root it writes to.
    pub base_url: String,
    /// Which path of the imported identities.
    pub collection: Collection,
}

impl JobInfo {
    /// A new job of `plan` through `client` (its base URL and collection), made now.
    pub fn new(source: impl Into<String>, client: &GraphClient, plan: &Plan) -> JobInfo {
        JobInfo {
            id: JobId::new(plan.resource),
            created: crate::graph::timestamp::format(SystemTime::now()),
            source: source.into(),
            base_url: client.config().base_url.clone(),
            collection: client.config().collection,
        }
    }

    /// `https://graph.microsoft.com/v1.0 (registered devices)`: where the job writes, in words.
    fn target(base_url: &str, collection: Collection, resource: &Resource) -> String {
        let path = match (collection, resource.alternate_path) {
            (Collection::Upload, Some((name, _))) => format!(", {name} path"),
            _ => String::new(),
        };
        format!("{} ({}{path})", base_url.trim_end_matches('/'), resource.title)
    }
}

/// How a job's journal ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// The runner finished it (every item ended; some may be not sent, after a cancel).
    Finished {
        /// When.
        at: String,
        /// How its items ended.
        counts: Counts,
    },
    /// A later job re-planned the same changes from the records themselves (`apply` of the
    /// same file again), so this one is not to be resumed.
    Superseded {
        /// When.
        at: String,
        /// The job that took over.
        by: JobId,
    },
    /// The user chose not to resume it (its pending items stay unsent).
    Abandoned {
        /// When.
        at: String,
    },
}

/// A job as its journal tells it.
#[derive(Debug, Clone)]
pub struct SavedJob {
    /// Its file.
    pub path: PathBuf,
    /// Its id and where it writes.
    pub info: JobInfo,
    /// What it was to do.
    pub plan: Plan,
    /// Each item's result so far, in plan order (`None`: pending).
    pub results: Vec<Option<ItemResult>>,
    /// Per item: a batch carrying it was about to leave when the journal was last written and
    /// no result came after, so its write may have landed.
    pub maybe_sent: Vec<bool>,
    /// How it ended; `None`: cut off.
    pub end: Option<JobEnd>,
    /// The last line was cut off (and is ignored).
    pub torn: bool,
    /// Bytes up to the end of the last whole line.
    whole_len: u64,
}

impl SavedJob {
    /// How its items ended so far.
    pub fn counts(&self) -> Counts {
        Counts::of(self.results.iter().map(Option::as_ref))
    }

    /// Whether the runner may write it through `client`: the same Graph root and collection
    /// (demo mode's server is a new one each run, so its jobs are not).
    pub fn matches(&self, client: &GraphClient) -> bool {
        self.target_mismatch(client).is_none()
    }

    /// Where the job was planned and where `client` would write, when they differ.
    pub(crate) fn target_mismatch(&self, client: &GraphClient) -> Option<JournalError> {
        let config = client.config();
        let same = self.info.base_url.trim_end_matches('/') == config.base_url.trim_end_matches('/')
            && (self.info.collection == config.collection || self.plan.resource.alternate_path.is_none());
        (!same).then(|| JournalError::OtherTarget {
            id: self.info.id.clone(),
            planned: JobInfo::target(&self.info.base_url, self.info.collection, self.plan.resource),
            given: JobInfo::target(&config.base_url, config.collection, self.plan.resource),
        })
    }
}

/// An open journal, appended to while its job runs; holds the job's lock until dropped.
#[derive(Debug)]
pub struct Journal {
    id: JobId,
    path: PathBuf,
    file: File,
    /// Held (an OS lock) while this journal is open.
    _lock: File,
    lock_path: PathBuf,
    items: usize,
}

impl Journal {
    /// Starts the journal of a new job in `dir` (made if missing, readable by the user only):
    /// the whole plan is written before this returns.
    pub fn create(dir: &Path, info: &JobInfo, plan: &Plan) -> Result<Journal, JournalError> {
        if let Some(field) = plan
            .items
            .iter()
            .filter_map(PlanItem::body)
            .flat_map(|body| &body.changes)
            .find(|change| change.field.kind == Kind::Secret)
        {
            return Err(JournalError::Secret { field: field.field.label });
        }
        make_private_dir(dir)?;
        let path = dir.join(format!("{}.jsonl", info.id));
        let lock_path = dir.join(format!("{}.lock", info.id));
        let lock = take_lock(&info.id, &lock_path)?;
        let mut text = to_line(&Line::Job(JobLine::of(info, plan)), &path)?;
        text.push('\n');
        crate::paths::write_private(&path, text.as_bytes()).map_err(|source| io(&path, source))?;
        let file = OpenOptions::new().append(true).open(&path).map_err(|source| io(&path, source))?;
        Ok(Journal { id: info.id.clone(), path, file, _lock: lock, lock_path, items: plan.items.len() })
    }

    /// Opens the journal of a cut-off job to go on with it: takes its lock (refused while
    /// another process runs it) and cuts away a cut-off last line.
    pub fn reopen(saved: &SavedJob) -> Result<Journal, JournalError> {
        let id = saved.info.id.clone();
        if saved.end.is_some() {
            return Err(JournalError::Ended { id });
        }
        let lock_path = saved.path.with_extension("lock");
        let lock = take_lock(&id, &lock_path)?;
        let path = saved.path.clone();
        let file = OpenOptions::new().write(true).open(&path).map_err(|source| io(&path, source))?;
        // The file as read, up to its last whole line: what a crash half wrote goes.
        file.set_len(saved.whole_len).map_err(|source| io(&path, source))?;
        drop(file);
        let file = OpenOptions::new().append(true).open(&path).map_err(|source| io(&path, source))?;
        Ok(Journal { id, path, file, _lock: lock, lock_path, items: saved.plan.items.len() })
    }

    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many items its plan has.
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// Notes that a batch carrying these items is about to leave (before it does).
    pub(crate) fn sending(&mut self, items: &[usize]) -> Result<(), JournalError> {
        self.append(&[Line::Sending { items: items.to_vec() }])
    }

    /// Notes how items ended, in one write.
    pub(crate) fn record(&mut self, ended: &[(usize, &str, &ItemResult)]) -> Result<(), JournalError> {
        let lines: Vec<Line> = ended
            .iter()
            .map(|(index, id, result)| Line::Item {
                index: *index,
                id: (*id).to_string(),
                result: (*result).clone(),
            })
            .collect();
        self.append(&lines)
    }

    /// Ends the journal: every item ended. Lets go of the lock.
    pub(crate) fn finish(mut self, counts: Counts) -> Result<(), JournalError> {
        self.append(&[Line::Finished { at: now(), counts }])?;
        let _ = std::fs::remove_file(&self.lock_path);
        Ok(())
    }

    /// Whole lines in one write, then synced: a crash cuts off the last line at most.
    fn append(&mut self, lines: &[Line]) -> Result<(), JournalError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for line in lines {
            text.push_str(&to_line(line, &self.path)?);
            text.push('\n');
        }
        self.file.write_all(text.as_bytes()).map_err(|source| io(&self.path, source))?;
        self.file.sync_data().map_err(|source| io(&self.path, source))
    }
}

/// Ends a cut-off job's journal as superseded by `by` (a later job that re-planned the same
/// changes from the records themselves). Refused while another process runs it.
pub fn supersede(saved: &SavedJob, by: &JobId) -> Result<(), JournalError> {
    let mut journal = Journal::reopen(saved)?;
    journal.append(&[Line::Superseded { at: now(), by: by.to_string() }])?;
    let _ = std::fs::remove_file(&journal.lock_path);
    Ok(())
}

/// Ends a cut-off job's journal without resuming it (the user declined): it is not offered
/// again. Refused while another process runs it.
pub fn abandon(saved: &SavedJob) -> Result<(), JournalError> {
    let mut journal = Journal::reopen(saved)?;
    journal.append(&[Line::Abandoned { at: now() }])?;
    let _ = std::fs::remove_file(&journal.lock_path);
    Ok(())
}

/// The cut-off jobs in a journal directory, oldest first, and the files that could not be
/// read. Jobs another process runs now are left out; a missing directory has none.
#[derive(Debug, Default)]
pub struct Unfinished {
    /// Jobs without an end line, not running.
    pub jobs: Vec<SavedJob>,
    /// Journals that could not be read, each error naming its file.
    pub unreadable: Vec<JournalError>,
}

impl Unfinished {
    /// The jobs `client` may resume (planned for its Graph root and collection).
    pub fn for_client<'a>(&'a self, client: &'a GraphClient) -> impl Iterator<Item = &'a SavedJob> + 'a {
        self.jobs.iter().filter(move |job| job.matches(client))
    }
}

/// Lists the cut-off jobs of `dir` ([`jobs_dir`]).
pub fn unfinished(dir: &Path) -> Result<Unfinished, JournalError> {
    let mut found = Unfinished::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(source) => return Err(io(dir, source)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    paths.sort();
    for path in paths {
        match load(&path) {
            Ok(job) if job.end.is_none() => {
                if !is_locked(&path.with_extension("lock")) {
                    found.jobs.push(job);
                }
            }
            Ok(_) => {}
            Err(e) => found.unreadable.push(e),
        }
    }
    Ok(found)
}

/// Reads a journal: the plan, each item's latest result, how it ended. A cut-off last line is
/// ignored ([`SavedJob::torn`]); any other line that does not read is an error naming it.
pub fn load(path: &Path) -> Result<SavedJob, JournalError> {
    let bytes = std::fs::read(path).map_err(|source| io(path, source))?;
    let not_a_journal =
        |message: &str| JournalError::NotAJournal { path: path.to_path_buf(), message: message.into() };
    let mut whole_len = 0u64;
    let mut torn = false;
    let mut lines = Vec::new();
    for segment in bytes.split_inclusive(|b| *b == b'\n') {
        if segment.last() == Some(&b'\n') {
            whole_len += segment.len() as u64;
            lines.push(&segment[..segment.len() - 1]);
        } else {
            torn = true;
        }
    }
    let corrupt =
        |line: usize, message: String| JournalError::Corrupt { path: path.to_path_buf(), line, message };
    let Some(first) = lines.first() else { return Err(not_a_journal("empty: not a job journal")) };
    let header: Value = serde_json::from_slice(first).map_err(|_| not_a_journal("not a job journal"))?;
    let job = header.get("job").ok_or_else(|| not_a_journal("not a job journal"))?;
    if job.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(not_a_journal("not a job journal of autopilot-tui"));
    }
    match job.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(not_a_journal(&format!(
                "journal version {v}: this build reads version {VERSION} (a newer autopilot-tui wrote it)"
            )));
        }
        None => return Err(not_a_journal("no journal version")),
    }
    let job: JobLine = serde_json::from_value(job.clone()).map_err(|e| corrupt(1, e.to_string()))?;
    let (info, plan) = job.into_plan().map_err(|message| corrupt(1, message))?;
    let mut results = vec![None; plan.items.len()];
    let mut maybe_sent = vec![false; plan.items.len()];
    let mut end = None;
    for (number, line) in lines.iter().enumerate().skip(1) {
        let number = number + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: Line = serde_json::from_slice(line).map_err(|e| corrupt(number, e.to_string()))?;
        match line {
            Line::Job(_) => return Err(corrupt(number, "a second plan".into())),
            Line::Sending { items } => {
                for index in items {
                    *maybe_sent
                        .get_mut(index)
                        .ok_or_else(|| corrupt(number, format!("no item {index} in the plan")))? = true;
                }
            }
            Line::Item { index, id, result } => {
                let item = plan
                    .items
                    .get(index)
                    .ok_or_else(|| corrupt(number, format!("no item {index} in the plan")))?;
                if item.id != id {
                    return Err(corrupt(number, format!("item {index} is {}, not {id}", item.id)));
                }
                results[index] = Some(result);
                maybe_sent[index] = false;
            }
            Line::Finished { at, counts } => end = Some(JobEnd::Finished { at, counts }),
            Line::Superseded { at, by } => {
                let by = JobId::parse(&by).ok_or_else(|| corrupt(number, format!("{by:?} is no job id")))?;
                end = Some(JobEnd::Superseded { at, by });
            }
            Line::Abandoned { at } => end = Some(JobEnd::Abandoned { at }),
        }
    }
    Ok(SavedJob { path: path.to_path_buf(), info, plan, results, maybe_sent, end, torn, whole_len })
}

// ---------------------------------------------------------------------------------------------
// The lines

/// One line of a journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Job(JobLine),
    Sending { items: Vec<usize> },
    Item { index: usize, id: String, result: ItemResult },
    Finished { at: String, counts: Counts },
    Superseded { at: String, by: String },
    Abandoned { at: String },
}

/// The first line: the job and its plan.
#[derive(Debug, Serialize, Deserialize)]
struct JobLine {
    format: String,
    version: u32,
    id: String,
    created: String,
    source: String,
    base_url: String,
    collection: String,
    /// The resource's `:` command (`devices`, `imported`).
    resource: String,
    items: Vec<ItemLine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unplanned: Vec<UnplannedLine>,
}

/// One item of the plan: the body to send (`write`, absent when already at the target) and
/// each change old -> new.
#[derive(Debug, Serialize, Deserialize)]
struct ItemLine {
    id: String,
    label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    write: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<ChangeLine>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChangeLine {
    field: String,
    old: Value,
    new: Value,
    /// The plan did not know the old value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unseen: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct UnplannedLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    key: String,
    reason: String,
}

impl JobLine {
    fn of(info: &JobInfo, plan: &Plan) -> JobLine {
        JobLine {
            format: FORMAT.to_string(),
            version: VERSION,
            id: info.id.to_string(),
            created: info.created.clone(),
            source: info.source.clone(),
            base_url: info.base_url.clone(),
            collection: collection_name(info.collection).to_string(),
            resource: plan.resource.command.to_string(),
            items: plan
                .items
                .iter()
                .map(|item| ItemLine {
                    id: item.id.clone(),
                    label: item.label.clone(),
                    write: item.body().map(|body| body.properties.clone()),
                    changes: item
                        .body()
                        .map(|body| {
                            body.changes
                                .iter()
                                .map(|c| ChangeLine {
                                    field: c.field.path.to_string(),
                                    old: c.old.clone(),
                                    new: c.new.clone(),
                                    unseen: item.unseen.contains(&c.field.path),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            unplanned: plan
                .unplanned
                .iter()
                .map(|u| UnplannedLine { line: u.line, key: u.key.clone(), reason: u.reason.clone() })
                .collect(),
        }
    }

    fn into_plan(self) -> Result<(JobInfo, Plan), String> {
        let id = JobId::parse(&self.id).ok_or_else(|| format!("{:?} is no job id", self.id))?;
        let resource = RESOURCES
            .into_iter()
            .find(|r| r.command == self.resource)
            .ok_or_else(|| format!("unknown kind of record {:?}", self.resource))?;
        let collection = match self.collection.as_str() {
            "device-management" => Collection::DeviceManagement,
            "upload" => Collection::Upload,
            other => return Err(format!("unknown collection {other:?}")),
        };
        let mut items = Vec::with_capacity(self.items.len());
        for item in self.items {
            let mut unseen = Vec::new();
            let step = match item.write {
                None => Step::AlreadyThere,
                Some(properties) => {
                    let mut changes = Vec::with_capacity(item.changes.len());
                    for change in item.changes {
                        let field = resource
                            .field(&change.field)
                            .ok_or_else(|| format!("{} has no field {:?}", resource.title, change.field))?;
                        if change.unseen {
                            unseen.push(field.path);
                        }
                        changes.push(FieldChange { field, old: change.old, new: change.new });
                    }
                    Step::Write(PatchBody { properties, changes })
                }
            };
            items.push(PlanItem { id: item.id, label: item.label, step, unseen });
        }
        let unplanned = self
            .unplanned
            .into_iter()
            .map(|u| Unplanned { line: u.line, key: u.key, reason: u.reason })
            .collect();
        let info =
            JobInfo { id, created: self.created, source: self.source, base_url: self.base_url, collection };
        Ok((info, Plan { resource, items, unplanned }))
    }
}

fn collection_name(collection: Collection) -> &'static str {
    match collection {
        Collection::DeviceManagement => "device-management",
        Collection::Upload => "upload",
    }
}

fn to_line(line: &Line, path: &Path) -> Result<String, JournalError> {
    serde_json::to_string(line).map_err(|e| io(path, std::io::Error::other(e)))
}

fn now() -> String {
    crate::graph::timestamp::format(SystemTime::now())
}

fn io(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io { path: path.to_path_buf(), source }
}

/// The journal directory, readable by the user only.
fn make_private_dir(dir: &Path) -> Result<(), JournalError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| io(dir, source))
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Takes the job's lock, or says who holds it.
fn take_lock(id: &JobId, path: &Path) -> Result<File, JournalError> {
    let file = open_lock(path).map_err(|source| io(path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(JournalError::Busy { id: id.clone(), lock: path.to_path_buf() })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(path, source)),
    }
}

/// Whether a process holds the lock now (a lock that cannot be looked at is taken as free).
fn is_locked(path: &Path) -> bool {
    if !path.exists() {
        return false;
    }
    match open_lock(path) {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::client::ClientConfig;
    use crate::jobs::plan::Target;
    use serde_json::json;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("autopilot-tui-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn client() -> GraphClient {
        GraphClient::new(ClientConfig::new("http://127.0.0.1:9/v1.0", crate::graph::auth::Secret::new("t")))
            .unwrap()
            .for_resource(&REGISTERED)
    }

    fn plan() -> Plan {
        let tag = REGISTERED.field("groupTag").unwrap();
        let targets = [Target { field: tag, value: json!("Lab") }];
        let record = |tag: &str| json!({"id": "x", "groupTag": tag}).as_object().cloned().unwrap();
        let mut plan = Plan::uniform(
            &REGISTERED,
            &targets,
            [
                ("a".to_string(), "SN-A".to_string(), record("Sales")),
                ("b".to_string(), "SN-B".to_string(), record("Lab")),
                ("c".to_string(), "SN-C".to_string(), record("")),
            ],
        );
        plan.unplanned.push(Unplanned { line: Some(5), key: "SN-Z".into(), reason: "no such record".into() });
        plan
    }

    fn done() -> ItemResult {
        ItemResult::Done { status: Some(204), request_id: Some("r-1".into()), verified: false }
    }

    #[test]
    fn a_journal_reads_back_as_it_was_written() {
        let dir = scratch("roundtrip");
        let plan = plan();
        let info = JobInfo::new("apply plan.csv", &client(), &plan);
        let mut journal = Journal::create(&dir, &info, &plan).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(journal.path()), 0o600, "readable by the user only");
            assert_eq!(mode(&dir), 0o700);
        }
        journal.record(&[(1, "b", &ItemResult::Skipped)]).unwrap();
        journal.sending(&[0, 2]).unwrap();
        journal.record(&[(0, "a", &done())]).unwrap();
        let saved = load(journal.path()).unwrap();
        assert_eq!(saved.info, info);
        assert_eq!(saved.plan, plan, "the plan comes back whole, fields resolved");
        assert_eq!(saved.results, [Some(done()), Some(ItemResult::Skipped), None]);
        assert_eq!(saved.maybe_sent, [false, false, true], "c was in a batch that left");
        assert_eq!((saved.end.clone(), saved.torn), (None, false));
        assert!(saved.matches(&client()));
        let elsewhere = GraphClient::new(ClientConfig::new(
            "http://127.0.0.1:10/v1.0",
            crate::graph::auth::Secret::new("t"),
        ))
        .unwrap();
        assert!(!saved.matches(&elsewhere));
        // Running: not listed as cut off (its lock is held), nor can it be run twice.
        assert!(unfinished(&dir).unwrap().jobs.is_empty());
        assert!(matches!(Journal::reopen(&saved), Err(JournalError::Busy { .. })));
        drop(journal);
        let listed = unfinished(&dir).unwrap();
        assert_eq!(listed.jobs.len(), 1);
        assert_eq!(listed.jobs[0].info.id, info.id);
        // Abandoned: no longer offered.
        let copy = dir.join("copy");
        make_private_dir(&copy).unwrap();
        std::fs::copy(&saved.path, copy.join(saved.path.file_name().unwrap())).unwrap();
        let offered = unfinished(&copy).unwrap().jobs.pop().unwrap();
        abandon(&offered).unwrap();
        assert!(matches!(load(&offered.path).unwrap().end, Some(JobEnd::Abandoned { .. })));
        assert!(unfinished(&copy).unwrap().jobs.is_empty());
        // Finished: no longer listed, not to be resumed.
        let journal = Journal::reopen(&saved).unwrap();
        journal.finish(Counts { done: 1, skipped: 1, not_sent: 1, ..Counts::default() }).unwrap();
        let saved = load(&saved.path).unwrap();
        assert!(matches!(saved.end, Some(JobEnd::Finished { counts, .. }) if counts.not_sent == 1));
        assert!(unfinished(&dir).unwrap().jobs.is_empty());
        assert!(matches!(Journal::reopen(&saved), Err(JournalError::Ended { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_away_on_reopening() {
        let dir = scratch("torn");
        let plan = plan();
        let info = JobInfo::new("test", &client(), &plan);
        let mut journal = Journal::create(&dir, &info, &plan).unwrap();
        journal.record(&[(0, "a", &done())]).unwrap();
        let path = journal.path().to_path_buf();
        drop(journal);
        // A crash in the middle of the next line.
        let whole = std::fs::read(&path).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"item":{"index":2,"id":"c","result":{"outcome":"do"#).unwrap();
        drop(file);
        let saved = load(&path).unwrap();
        assert!(saved.torn);
        assert_eq!(saved.results, [Some(done()), None, None], "the torn line counts for nothing");
        // Even a cut that leaves whole JSON but no newline is not trusted.
        let mut journal = Journal::reopen(&saved).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole, "the torn part is cut away");
        journal.record(&[(2, "c", &ItemResult::NotSent)]).unwrap();
        drop(journal);
        let saved = load(&path).unwrap();
        assert!(!saved.torn);
        assert_eq!(saved.results[2], Some(ItemResult::NotSent));
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"item":{"index":1,"id":"b","result":{"outcome":"skipped"}}}"#).unwrap();
        drop(file);
        let saved = load(&path).unwrap();
        assert!(saved.torn && saved.results[1].is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_lines_are_errors_that_name_the_file_and_line() {
        let dir = scratch("corrupt");
        let plan = plan();
        let info = JobInfo::new("test", &client(), &plan);
        let journal = Journal::create(&dir, &info, &plan).unwrap();
        let path = journal.path().to_path_buf();
        drop(journal);
        let plan_line = std::fs::read_to_string(&path).unwrap();
        for (bad, wanted) in [
            (
                "{\"item\":{\"index\":9,\"id\":\"a\",\"result\":{\"outcome\":\"skipped\"}}}\n",
                "line 2: no item 9",
            ),
            (
                "{\"item\":{\"index\":0,\"id\":\"zz\",\"result\":{\"outcome\":\"skipped\"}}}\n",
                "line 2: item 0 is a, not zz",
            ),
            ("not json\n{\"finished\":{}}\n", "line 2: "),
        ] {
            std::fs::write(&path, format!("{plan_line}{bad}")).unwrap();
            let error = load(&path).unwrap_err().to_string();
            assert!(error.starts_with(&path.display().to_string()) && error.contains(wanted), "{error}");
        }
        std::fs::write(&path, "{\"hello\": 1}\n").unwrap();
        assert!(matches!(load(&path), Err(JournalError::NotAJournal { .. })));
        std::fs::write(&path, plan_line.replace("\"version\":1", "\"version\":7")).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("version 7"));
        // An unreadable journal is reported, not a reason to hide the others.
        let listed = unfinished(&dir).unwrap();
        assert_eq!((listed.jobs.len(), listed.unreadable.len()), (0, 1));
        assert!(unfinished(&dir.join("missing")).unwrap().jobs.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_never_reach_a_journal() {
        let dir = scratch("secret");
        let password = REGISTERED.field("deviceAccountPassword").unwrap();
        let targets = [Target { field: password, value: json!("hunter2") }];
        let record = json!({"id": "a"}).as_object().cloned().unwrap();
        let plan = Plan::uniform(&REGISTERED, &targets, [("a".to_string(), "A".to_string(), record)]);
        let info = JobInfo::new("test", &client(), &plan);
        let error = Journal::create(&dir, &info, &plan).unwrap_err();
        assert!(matches!(error, JournalError::Secret { .. }), "{error}");
        assert!(!dir.join(format!("{}.jsonl", info.id)).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn job_ids_are_file_names_that_sort_by_time() {
        let id = JobId::new(&REGISTERED);
        let text = id.to_string();
        assert_eq!(text.len(), "20261201T115648Z-devices-3f2a1b".len(), "{text}");
        assert!(text.contains("-devices-"));
        assert_eq!(JobId::parse(&text), Some(id));
        for bad in ["", "../x", "a/b", "a.b", "a b"] {
            assert_eq!(JobId::parse(bad), None, "{bad}");
        }
    }
}
