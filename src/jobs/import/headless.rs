//! `autopilot-tui import FILE.csv`: the import workflow without a screen, a front on
//! [`ImportJob`]. Messages, the plan and progress go to stderr (progress lines only when it is a
//! terminal), the results to stdout or `--results FILE`, so stdout stays data. Nothing is sent
//! before the user confirms (`--yes`, or a yes on the terminal); rows with problems never are,
//! and a file with problems sends its valid rows only when the user says so (a yes to the
//! question that names them, or `--skip-invalid`).

use super::progress::{ImportEvent, ImportProgress};
use super::reconcile::{Hold, PlanCounts};
use super::results::{self, Outcome, RowResult};
use super::{
    ImportError, ImportJob, ImportPlan, ImportRun, PlanOptions, RunOptions, Step, SyncOutcome, WatchProgress,
};
use crate::graph::client::GraphClient;
use crate::graph::csv::Report;
use crate::graph::pacer::{PacerConfig, WritePacer};
use crate::terminal_text::escape_for_terminal_keeping_lines;
use crate::tui::wording::duration_words as minutes;
use crate::write_log::{WriteLog, WriteLogError};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Rows to import listed one by one in the plan up to this many (the results list every row).
const LISTED_IMPORTS: usize = 20;

/// Asks the user a yes/no question on a terminal.
pub type Ask = Box<dyn FnMut(&str) -> bool + Send>;

/// What the user asked of `import`.
#[derive(Debug, Clone, Default)]
pub struct HeadlessOptions {
    /// Show the plan and stop.
    pub dry_run: bool,
    /// Go ahead without asking.
    pub yes: bool,
    /// Send the valid rows of a file that has rows with problems (with `--yes`).
    pub skip_invalid: bool,
    /// The connection is read-only: the plan is shown, as with `dry_run`.
    pub read_only: bool,
    /// Update registered devices' group tag or user instead of holding their rows.
    pub update_registered: bool,
    /// Ask for the Autopilot sync after the import.
    pub sync: bool,
    /// Where to write the results (default: stdout).
    pub results: Option<PathBuf>,
    /// The write budget.
    pub pacer: PacerConfig,
    /// How the run goes.
    pub run: RunOptions,
}

/// Where `import` talks to the user.
pub struct Console {
    /// Where the results go without `--results`.
    pub out: Box<dyn Write + Send>,
    /// Messages, the plan, progress.
    pub err: Box<dyn Write + Send>,
    /// Whether `err` is a terminal (progress lines are drawn only then).
    pub err_is_terminal: bool,
    /// Asks a yes/no question, when there is a terminal to ask on (`None`: stdin is not one).
    pub ask: Option<Ask>,
    /// A progress line is showing.
    showing: bool,
    /// The counts of the last watch line, so a log (stderr not a terminal) gets a line only
    /// when they change.
    last_watch: Option<super::StatusCounts>,
}

impl Console {
    /// A console on these writers.
    pub fn new(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        err_is_terminal: bool,
        ask: Option<Ask>,
    ) -> Console {
        Console { out, err, err_is_terminal, ask, showing: false, last_watch: None }
    }

    /// One message on its own line (escaped: it holds file and server text).
    fn say(&mut self, text: &str) {
        self.end_progress();
        let _ = writeln!(self.err, "{}", escape_for_terminal_keeping_lines(text));
    }

    /// The progress line, redrawn in place; nothing when stderr is not a terminal.
    fn progress(&mut self, text: &str) {
        if self.err_is_terminal {
            let _ = write!(self.err, "\r\x1b[2K{}", escape_for_terminal_keeping_lines(text));
            let _ = self.err.flush();
            self.showing = true;
        }
    }

    fn end_progress(&mut self) {
        if std::mem::take(&mut self.showing) {
            let _ = writeln!(self.err);
        }
    }

    /// Asks; `None` when there is no terminal to ask on.
    fn confirm(&mut self, question: &str) -> Option<bool> {
        self.end_progress();
        let _ = self.err.flush();
        self.ask.as_mut().map(|ask| ask(question))
    }

    /// Tells one event of a run.
    fn event(&mut self, progress: ImportProgress) {
        match progress.event {
            ImportEvent::Watching(progress) => {
                let text = watch_line(&progress);
                let changed = self.last_watch.replace(progress.counts) != Some(progress.counts);
                match progress.next_poll {
                    Some(_) if self.err_is_terminal => self.progress(&text),
                    Some(_) if changed => self.say(&text),
                    Some(_) => {}
                    None => self.say(&text),
                }
            }
            ref event => match event.words() {
                Some((text, true)) => self.say(&text),
                Some((text, false)) => self.progress(&text),
                None => {}
            },
        }
    }
}

/// Runs one step of the job, telling its progress as it comes; the events left when it ends
/// are told before it returns.
async fn drive<T>(
    console: &mut Console,
    progress: &mut UnboundedReceiver<ImportProgress>,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            Some(event) = progress.recv() => console.event(event),
            out = &mut work => {
                while let Ok(event) = progress.try_recv() {
                    console.event(event);
                }
                return out;
            }
        }
    }
}

/// `watching: 3 complete, 1 error, 2 pending · 40 s · next look in 10 s`.
pub fn watch_line(progress: &WatchProgress) -> String {
    let c = &progress.counts;
    let parts: Vec<String> = [
        (c.complete, "complete"),
        (c.error, "error"),
        (c.pending, "pending"),
        (c.partial, "partial"),
        (c.unknown, "waiting"),
        (c.gone, "gone"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let next = match progress.next_poll {
        Some(wait) => format!(" · next look in {}", minutes(wait)),
        None => " · done watching".into(),
    };
    format!("watching: {} · {}{next}", parts.join(", "), minutes(progress.elapsed))
}

/// What `import` did, for `main` (the exit status) and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadlessReport {
    /// One result per line of the file.
    pub rows: Vec<RowResult>,
    /// The run, when anything was sent.
    pub run: Option<ImportRun>,
    /// The sync, when it was asked for.
    pub sync: Option<SyncOutcome>,
}

impl HeadlessReport {
    /// Exit status 0: every row imported, updated or skipped on purpose (and at least one row).
    pub fn success(&self) -> bool {
        !self.rows.is_empty() && results::all_done(&self.rows)
    }
}

/// Reads the CSV file.
pub fn read_csv(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::ReadCsv { path: path.to_path_buf(), source })
}

/// The whole workflow on one file's bytes (`name` is how messages call the file): `cancel`
/// stops it between requests (Ctrl-C); `write_log` is where writes are journalled (an error:
/// said once, and the import goes on without it).
pub async fn run_headless(
    client: &GraphClient,
    bytes: &[u8],
    name: &str,
    options: &HeadlessOptions,
    console: &mut Console,
    cancel: CancellationToken,
    write_log: Result<WriteLog, WriteLogError>,
) -> Result<HeadlessReport, ImportError> {
    let stop_at_plan = options.dry_run || options.read_only;
    let write_log = match write_log {
        Ok(log) => Some(log),
        Err(e) => {
            if !stop_at_plan {
                console.say(&format!("{e}; the import goes on."));
            }
            None
        }
    };
    let pacer = client.pacer().cloned().unwrap_or_else(|| WritePacer::new(options.pacer));
    let (job, mut progress) = ImportJob::new(client, pacer, cancel, write_log);
    let report = job.check(bytes);
    tell_problems(console, name, &report);
    let tenant = drive(console, &mut progress, job.survey(&report, options.run.page_size)).await?;
    console.end_progress();
    if !report.rows.is_empty() {
        console.say(&format!(
            "Read the tenant: {} registered devices, {} import records.",
            tenant.registered_seen, tenant.queue_seen
        ));
    }
    let mut plan =
        super::plan(&report, &tenant, PlanOptions { update_registered: options.update_registered });
    let differs =
        plan.rows.iter().filter(|r| matches!(r.step, Step::Hold(Hold::RegisteredDiffers { .. }))).count();
    if differs > 0 && !stop_at_plan && !options.yes {
        let question = format!(
            "{differs} rows are registered already with another group tag or user. Update those registered \
             devices (updateDeviceProperties) instead of importing them? [y/N] "
        );
        if console.confirm(&question) == Some(true) {
            plan = super::plan(&report, &tenant, PlanOptions { update_registered: true });
        }
    }
    tell_plan(console, &plan, options);

    let counts = plan.counts();
    if stop_at_plan || !plan.sends_anything() {
        if options.read_only && !options.dry_run {
            console.say("Read-only: nothing is sent; the plan is shown as with --dry-run.");
        } else if !stop_at_plan {
            console.say("Nothing to send.");
        }
        let rows = if stop_at_plan { results::plan_results(&plan) } else { not_sent(&plan) };
        return finish(console, options, HeadlessReport { rows, run: None, sync: None });
    }
    if !confirmed(console, options, &counts) {
        return finish(console, options, HeadlessReport { rows: not_sent(&plan), run: None, sync: None });
    }

    let run = drive(console, &mut progress, job.run(&plan, &options.run)).await?;
    console.end_progress();
    if run.cancelled {
        let unsent = run.rows.iter().filter(|r| r.outcome == Outcome::NotSent).count();
        console.say(&format!(
            "Cancelled: {unsent} rows were not sent; what was sent stays in the import queue (import id {}).",
            run.import_id
        ));
    } else if run.timed_out() {
        let pending = run.rows.iter().filter(|r| r.outcome == Outcome::Pending).count();
        console.say(&format!(
            "Stopped watching after {}: {pending} rows are still in process (import id {}). They stay in the \
             queue; look at them in :imported, or run the same file again later (rows in the queue are shown, \
             not imported twice).",
            minutes(options.run.watch.timeout),
            run.import_id
        ));
    }
    let sync = if run.changed_anything() && !run.cancelled {
        let wanted = options.sync
            || (!options.yes
                && console.confirm("Ask Intune to sync with the Autopilot service now? [y/N] ")
                    == Some(true));
        if wanted {
            let outcome = drive(console, &mut progress, job.sync()).await;
            console.say(&outcome.to_string());
            Some(outcome)
        } else {
            console.say("No Autopilot sync asked for (--sync, or :sync in the app, does it).");
            None
        }
    } else {
        None
    };
    let rows = run.rows.clone();
    finish(console, options, HeadlessReport { rows, run: Some(run), sync })
}

/// Every row as not sent (the user said no, or nothing was to be sent).
fn not_sent(plan: &ImportPlan) -> Vec<RowResult> {
    plan.rows.iter().map(|r| results::planned(r, Outcome::NotSent, Outcome::NotSent)).collect()
}

/// Whether the user said to go ahead: `--yes` (with `--skip-invalid` when rows have problems),
/// or a yes on the terminal to a question that says what is not sent.
fn confirmed(console: &mut Console, options: &HeadlessOptions, counts: &PlanCounts) -> bool {
    if options.yes {
        if counts.invalid > 0 && !options.skip_invalid {
            console.say(&format!(
                "Nothing was sent: {} rows have problems (listed above). Fix them, or add --skip-invalid to send \
                 the {} valid rows without them.",
                counts.invalid,
                counts.import + counts.update
            ));
            return false;
        }
        return true;
    }
    let mut question = format!("Import {} and update {} registered?", counts.import, counts.update);
    if counts.invalid > 0 {
        question.push_str(&format!(" The {} rows with problems are not sent.", counts.invalid));
    }
    question.push_str(" [y/N] ");
    match console.confirm(&question) {
        Some(answer) => answer,
        None => {
            console.say(
                "Nothing was sent: stdin is not a terminal to ask on; run with --yes to send the valid rows \
                 (or --dry-run to see the plan only).",
            );
            false
        }
    }
}

/// Every problem of the file, by line.
fn tell_problems(console: &mut Console, name: &str, report: &Report) {
    let refused = report.refused_rows();
    console.say(&format!(
        "Checked {name}: {} rows, {} to send{}.",
        report.data_rows,
        report.rows.len(),
        if refused > 0 { format!(", {refused} with problems (never sent)") } else { String::new() }
    ));
    for problem in &report.problems {
        console.say(&format!("  {problem}"));
    }
}

/// The plan: counts, then the rows that are not plain imports (and the imports while few).
fn tell_plan(console: &mut Console, plan: &ImportPlan, options: &HeadlessOptions) {
    let counts = plan.counts();
    let chunk_size = options.run.chunk_size.clamp(1, crate::graph::csv::PORTAL_ROW_LIMIT);
    let requests = counts.import.div_ceil(chunk_size);
    console.say(&format!(
        "Plan: {} to import ({requests} import requests of at most {chunk_size}), {} to update instead, {} \
         skipped, {} not imported (need you), {} invalid.",
        counts.import, counts.update, counts.skip, counts.hold, counts.invalid
    ));
    let list_imports = counts.import <= LISTED_IMPORTS;
    for row in &plan.rows {
        if row.step == Step::Import && !list_imports {
            continue;
        }
        let result = results::planned(row, Outcome::WouldImport, Outcome::WouldUpdate);
        console.say(&format!("  {}", result_line(&result)));
    }
    if !list_imports {
        console.say(&format!("  ... and {} rows to import (the results list every row)", counts.import));
    }
    if counts.import + counts.update > 0 {
        let writes = requests + counts.update + counts.import;
        let floor = options.pacer.rate.floor(writes as u64);
        if floor >= Duration::from_secs(60) {
            console.say(&format!(
                "About {writes} writes (import requests, updates, and deleting the completed records) at {} \
                 writes per {} take at least {}.",
                options.pacer.rate.count,
                minutes(options.pacer.rate.per),
                minutes(floor)
            ));
        }
    }
}

/// `line 4  SERIAL  failed 808 ZtdDeviceAssignedToOtherTenant: details`.
pub fn result_line(result: &RowResult) -> String {
    let serial = result.serial.as_deref().unwrap_or("-");
    let error = result.error.as_ref().map(|e| format!(" {}", e.title())).unwrap_or_default();
    let device = result.registered_id.as_deref().map(|d| format!(" [device {d}]")).unwrap_or_default();
    format!("line {}  {serial}  {}{error}: {}{device}", result.line, result.outcome, result.details)
}

/// Writes the results, tells the summary and what needs the user.
fn finish(
    console: &mut Console,
    options: &HeadlessOptions,
    report: HeadlessReport,
) -> Result<HeadlessReport, ImportError> {
    let csv = results::to_csv(&report.rows);
    match &options.results {
        Some(path) => crate::paths::write_private(path, &csv)
            .map_err(|source| ImportError::Results { path: path.clone(), source })?,
        None => {
            console.out.write_all(&csv).map_err(ImportError::Terminal)?;
            console.out.flush().map_err(ImportError::Terminal)?;
        }
    }
    let planned = report.run.is_none();
    let mut by_outcome: Vec<(Outcome, usize)> = Vec::new();
    for row in &report.rows {
        match by_outcome.iter_mut().find(|(o, _)| *o == row.outcome) {
            Some((_, n)) => *n += 1,
            None => by_outcome.push((row.outcome, 1)),
        }
    }
    let summary: Vec<String> = by_outcome.iter().map(|(o, n)| format!("{n} {o}")).collect();
    let whole = report.success();
    if !planned {
        for row in report.rows.iter().filter(|r| !r.outcome.is_done()) {
            console.say(&format!("  {}", result_line(row)));
        }
    }
    let written = match &options.results {
        Some(path) => format!(" Results in {}.", path.display()),
        None => String::new(),
    };
    console.say(&format!(
        "{}: {}.{written}{}",
        if planned { "Results" } else { "Done" },
        if summary.is_empty() { "no rows".to_string() } else { summary.join(", ") },
        if whole { "" } else { " Not every row was imported or skipped on purpose (exit status 1)." }
    ));
    let _ = console.err.flush();
    Ok(report)
}
