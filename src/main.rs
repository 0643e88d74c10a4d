//! Thin binary: parse the command line, set up logging, hand over to one mode.

use autopilot_tui::apply::{ChangeFile, FilePlan, Place};
use autopilot_tui::cli::{
    ApplyArgs, Cli, Command, ConnectionArgs, FormatArg, ImportArgs, ListArgs, ResourceArg, ServeArgs,
    default_log_file,
};
use autopilot_tui::config::Settings;
use autopilot_tui::connect::{Prepared, SignInProgress, connect, prepare};
use autopilot_tui::export::{Destination, ExportEvent, ExportFormat, ExportRequest, export};
use autopilot_tui::graph::auth::PollState;
use autopilot_tui::graph::pacer::{PacerConfig, WritePacer};
use autopilot_tui::jobs::journal::{self, JobInfo};
use autopilot_tui::jobs::outcome::ItemResult;
use autopilot_tui::jobs::runner::{JobEvent, Progress, RunOptions, Runner};
use autopilot_tui::server;
use autopilot_tui::terminal_text::escape_for_terminal_keeping_lines;
use autopilot_tui::tui::wording::{duration_words, value_words};
use autopilot_tui::tui::{self, AppOptions, Session};
use autopilot_tui::write_log::{WriteLog, WriteSource};
use clap::Parser;
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `list` finished, but left devices out or altered them (each named on stderr).
const EXIT_INCOMPLETE: u8 = 2;

/// Why the program stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The embedded server failed.
    #[error(transparent)]
    Server(#[from] autopilot_tui::server::ServerError),
    /// The log file could not be opened.
    #[error("cannot open the log file {path}: {source}")]
    LogFile {
        /// The log file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Standard output is gone (the announcement line could not be written).
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    /// The configuration or the flags don't describe a usable connection.
    #[error(transparent)]
    Config(#[from] autopilot_tui::config::ConfigError),
    /// Connecting or signing in failed.
    #[error(transparent)]
    Connect(#[from] autopilot_tui::connect::ConnectError),
    /// The interactive app failed.
    #[error(transparent)]
    Tui(#[from] autopilot_tui::tui::TuiError),
    /// `list` failed.
    #[error(transparent)]
    Export(#[from] autopilot_tui::export::ExportError),
    /// `apply` could not read or plan its file.
    #[error(transparent)]
    Apply(#[from] autopilot_tui::apply::ApplyError),
    /// `apply` was told not to write.
    #[error("{0}")]
    Refused(String),
    /// The results file could not be written.
    #[error("cannot write the results file {path}: {message}")]
    Results {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `import` could not start or finish.
    #[error(transparent)]
    Import(#[from] autopilot_tui::jobs::import::ImportError),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            say(&error.to_string());
            ExitCode::FAILURE
        }
    }
}

/// One message on stderr. Messages carry server text (Graph errors, ids, the sign-in
/// prompt), so every control, bidi and invisible character in them is escaped.
fn say(message: &str) {
    eprintln!("autopilot-tui: {}", escape_for_terminal_keeping_lines(message));
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let unlogged = init_logging(cli.log_file.clone())?;
    // Said once; the command goes on (the app says it on its own screen).
    if let (Some(note), Some(_)) = (&unlogged, &cli.command) {
        say(note);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)?;
    match cli.command {
        Some(Command::Serve(args)) => runtime.block_on(serve(args)).map(|()| ExitCode::SUCCESS),
        Some(Command::List(args)) => runtime.block_on(list(args)),
        Some(Command::Apply(args)) => runtime.block_on(apply(args, unlogged.is_some())),
        Some(Command::Import(args)) => runtime.block_on(import(args)),
        None => runtime
            .block_on(interactive(cli.connection, cli.show, cli.log_file.or_else(default_log_file)))
            .map(|()| ExitCode::SUCCESS),
    }
}

/// Runs the server until Ctrl-C or SIGTERM, announcing the address on the first stdout line
/// and, with TLS, the certificate to trust on the second.
async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let mut options = args.to_options();
    options.token = args.accepted_token()?;
    let running = server::start(options).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", running.base_url()).map_err(CliError::Stdout)?;
    if let Some(path) = running.certificate_path() {
        writeln!(stdout, "certificate {}", path.display()).map_err(CliError::Stdout)?;
    }
    stdout.flush().map_err(CliError::Stdout)?;
    drop(stdout);
    running.wait_with_shutdown(shutdown_signal()).await?;
    tracing::info!("server stopped");
    Ok(())
}

/// The environment variable that holds a client secret (never a flag: shell history, `ps`).
const CLIENT_SECRET_ENV: &str = "AUTOPILOT_TUI_CLIENT_SECRET";

/// The interactive app: demo mode without credentials, else the configured tenant. A device
/// code sign-in runs inside the app, on its own screen.
async fn interactive(
    args: ConnectionArgs,
    show: Option<ResourceArg>,
    log_path: Option<PathBuf>,
) -> Result<(), CliError> {
    let settings = Settings::resolve(&args.overrides(), std::env::var(CLIENT_SECRET_ENV).ok())?;
    let (session, target_label, demo_server) = match prepare(&settings).await? {
        Prepared::Ready(c) => (Session::Client(c.client), c.target_label, c.demo_server),
        Prepared::SignIn(s) => {
            let label = s.target_label.clone();
            (Session::DeviceCode(s), label, None)
        }
    };
    let options = AppOptions {
        session,
        target_label,
        demo: demo_server.is_some(),
        read_only: settings.read_only,
        page_size: settings.page_size,
        log_path,
        profile: settings.profile.clone(),
        show: show.map(ResourceArg::resource),
        write_rate: settings.write_rate,
    };
    let result = tui::run(options).await;
    if let Some(server) = demo_server {
        server.shutdown().await;
    }
    Ok(result?)
}

/// `list`: streams devices page by page to stdout; progress and retries on stderr when it is
/// a terminal; each device left out on stderr always. Exit 0 when whole, 2 when devices were
/// left out or altered, 1 (an error) when the listing failed.
async fn list(args: ListArgs) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(&args.connection.overrides(), std::env::var(CLIENT_SECRET_ENV).ok())?;
    let resource = args.resource.resource();
    let line = StatusLine::new(std::io::stderr().is_terminal());
    let request = ExportRequest {
        format: match args.format {
            FormatArg::Json => ExportFormat::Json,
            FormatArg::Csv => ExportFormat::Csv,
            FormatArg::AutopilotCsv => ExportFormat::AutopilotCsv,
        },
        select: args.select.clone(),
        filter: args.filter.clone(),
        page_size: args.top.map_or(settings.page_size, |t| settings.page_size.min(t.clamp(1, 999) as u32)),
        limit: args.top,
        count: line.terminal,
        destination: if std::io::stdout().is_terminal() { Destination::Terminal } else { Destination::Exact },
    };
    // Refused before signing in: nothing is asked of the user for a listing that cannot be written.
    request.check(resource)?;
    let connection = connect(&settings, print_sign_in).await?;
    let client = connection.client.for_resource(resource);
    let client = if line.terminal {
        let line = line.clone();
        client.with_retry_observer(Arc::new(move |notice| {
            line.say(&format!(
                "attempt {} failed ({}); trying again in {:.1} s",
                notice.attempt,
                notice.reason,
                notice.wait.as_secs_f64()
            ))
        }))
    } else {
        client
    };
    let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = export(&client, &request, stdout, |event| match event {
        ExportEvent::Progress { written, total } if line.terminal => line.progress(&match total {
            Some(total) => format!("{written} of {total} devices"),
            None => format!("{written} devices"),
        }),
        ExportEvent::Progress { .. } => {}
        ExportEvent::Warning(warning) => line.say(&warning),
    })
    .await;
    line.end_progress();
    let summary = result?;
    tracing::info!(
        written = summary.written,
        skipped = summary.skipped,
        altered = summary.altered,
        "list finished"
    );
    if summary.is_whole() {
        return Ok(ExitCode::SUCCESS);
    }
    say(&format!(
        "{} devices written; {} left out and {} altered, each named above (exit status {EXIT_INCOMPLETE})",
        summary.written, summary.skipped, summary.altered
    ));
    Ok(ExitCode::from(EXIT_INCOMPLETE))
}

/// `apply`: reads and checks the file, reads the records, plans, asks (when stdin is a
/// terminal), runs the job at the write budget with progress on stderr (when a terminal), and
/// writes the results file. Exit 0 when every row is done or skipped, 2 when some are not
/// (each named on stderr), 1 (an error) when nothing could be applied. Without a writable state
/// directory it runs unjournaled and unlogged, said once (`state_dir_noted`: said already).
async fn apply(args: ApplyArgs, state_dir_noted: bool) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(&args.connection.overrides(), std::env::var(CLIENT_SECRET_ENV).ok())?;
    if settings.read_only && !args.dry_run {
        return Err(CliError::Refused(
            "--read-only: apply sends no writes (--dry-run shows the plan)".into(),
        ));
    }
    let resource = args.resource.resource();
    let line = StatusLine::new(std::io::stderr().is_terminal());
    let connection = connect(&settings, print_sign_in).await?;
    let beta = autopilot_tui::graph::resource::is_beta(&connection.client.config().base_url);
    let file = ChangeFile::read(&args.file, resource, beta)?;
    let pacer = WritePacer::new(PacerConfig { rate: settings.write_rate, ..PacerConfig::default() });
    let client = connection.client.for_resource(resource).with_pacer(pacer);
    let demo = connection.demo_server.is_some();
    if demo {
        say("no tenant given: applying to the embedded demo server, whose changes are gone when apply ends");
    }
    if line.terminal {
        line.progress(&format!("reading the {} to plan against", resource.title));
    }
    let records = autopilot_tui::apply::read_records(&client, &file, settings.page_size).await;
    line.end_progress();
    let planned = FilePlan::new(&file, &records?);
    let plan = &planned.plan;
    for unplanned in &plan.unplanned {
        say(&format!("{}: failed: {}", unplanned.key, unplanned.reason));
    }
    let rate = settings.write_rate;
    let summary = format!(
        "{} rows: {} to write, {} already at their target, {} that cannot be planned; about {} at {} writes per {}",
        planned.rows.len(),
        plan.writes(),
        plan.already_there(),
        plan.unplanned.len(),
        duration_words(plan.duration_at(rate)),
        rate.count,
        duration_words(rate.per),
    );
    if args.dry_run {
        print_plan(&planned);
        println!("{summary}");
        write_results(args.results.as_deref(), planned.result_rows(None))?;
        return Ok(if plan.unplanned.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_INCOMPLETE)
        });
    }
    say(&summary);
    if plan.writes() > 0 && !args.yes && std::io::stdin().is_terminal() {
        let question = format!(
            "Send {} writes to {} at {}? [y/N] ",
            plan.writes(),
            resource.title,
            client.config().base_url
        );
        if !confirm(&question).await {
            return Err(CliError::Refused("not confirmed: nothing sent".into()));
        }
    }
    let source = format!("apply {}", std::path::absolute(&args.file).unwrap_or(args.file.clone()).display());
    let info = JobInfo::new(&source, &client, plan);
    let mut runner =
        Runner::new(&client).with_options(RunOptions { keep_exchanges: false, ..RunOptions::default() });
    if !demo {
        match journal::jobs_dir().and_then(|dir| journal::check_dir(&dir).map(|()| dir)) {
            Ok(dir) => {
                supersede_earlier_runs(&dir, &source, &client, &info);
                runner = runner.with_journal_dir(dir);
                if let Ok(log) = WriteLog::in_state_dir() {
                    runner = runner.with_write_log(log, WriteSource::Apply);
                }
            }
            // Said once: when the log could not go there either, that was said already.
            Err(_) if state_dir_noted => {}
            Err(error) => say(&format!(
                "the state directory cannot be written ({error}): this run is not journaled and its writes are not logged"
            )),
        }
    }
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let cancel = tokio_util::sync::CancellationToken::new();
    let runner = runner.with_events(tx).with_cancel(cancel.clone());
    let lines: std::collections::HashMap<usize, usize> = planned
        .rows
        .iter()
        .zip(&file.rows)
        .filter_map(|((_, place), row)| match place {
            Place::Item(index) => Some((*index, row.line)),
            Place::Unplanned(_) => None,
        })
        .collect();
    let watcher = tokio::spawn(watch_job(events, line.clone(), lines));
    let interrupt = tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
        say("stopping: the writes in flight finish, nothing more is sent (Ctrl-C again stops at once)");
        shutdown_signal().await;
        say("stopped at once: writes in flight may or may not have landed; apply the file again to finish");
        std::process::exit(130);
    });
    let report = runner.run_as(plan, info).await;
    drop(runner);
    let _ = watcher.await;
    interrupt.abort();
    write_results(args.results.as_deref(), planned.result_rows(Some(&report.results)))?;
    let counts = report.counts;
    let failed_rows = counts.failed + plan.unplanned.len();
    say(&format!(
        "{} done, {} failed, {} conflicts, {} skipped, {} not sent ({} writes sent in {}){}",
        counts.done,
        failed_rows,
        counts.conflicts,
        counts.skipped,
        counts.not_sent,
        report.writes_sent,
        duration_words(report.elapsed),
        if report.cancelled { "; cancelled" } else { "" },
    ));
    tracing::info!(job = %report.id, counts = %counts, "apply finished");
    if counts.all_at_target() && plan.unplanned.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_INCOMPLETE))
    }
}

/// Ends the journals of earlier runs of the same file on the same target that were cut off:
/// this run plans from the records as they are, so it takes their place.
fn supersede_earlier_runs(
    dir: &std::path::Path,
    source: &str,
    client: &autopilot_tui::graph::client::GraphClient,
    info: &JobInfo,
) {
    let Ok(unfinished) = journal::unfinished(dir) else { return };
    for saved in unfinished.for_client(client).filter(|job| job.info.source == source) {
        match journal::supersede(saved, &info.id) {
            Ok(()) => tracing::info!(job = %saved.info.id, by = %info.id, "superseded"),
            Err(error) => tracing::warn!(job = %saved.info.id, %error, "could not supersede"),
        }
    }
}

/// Follows a job's events: the progress line (a terminal), each failed or conflicting row and
/// each notice (always).
async fn watch_job(
    mut events: tokio::sync::mpsc::UnboundedReceiver<JobEvent>,
    line: StatusLine,
    lines: std::collections::HashMap<usize, usize>,
) {
    while let Some(event) = events.recv().await {
        match event {
            JobEvent::Progress(progress) if line.terminal => line.progress(&progress_words(&progress)),
            JobEvent::Item(item)
                if matches!(item.result, ItemResult::Failed { .. } | ItemResult::Conflict { .. }) =>
            {
                let at = lines.get(&item.index).map(|l| format!("line {l}, ")).unwrap_or_default();
                line.say(&format!("{}{}: {}", at, item.label, item.result));
            }
            JobEvent::Notice(text) => line.say(&text),
            _ => {}
        }
    }
    line.end_progress();
}

/// `120 of 380 ended (2 failed, 18 skipped) · 4.9 writes/s · about 1 min 12 s left · paused 4 s by a 429`.
fn progress_words(p: &Progress) -> String {
    let c = p.counts;
    let mut text = format!(
        "{} of {} ended ({} done, {} failed, {} skipped) · {:.1} writes/s · about {} left",
        c.ended(),
        c.total(),
        c.done,
        c.failed + c.conflicts,
        c.skipped,
        p.rate,
        duration_words(p.eta)
    );
    if let Some(wait) = p.pacer.paused_for {
        text.push_str(&format!(
            " · paused {} by a 429",
            duration_words(wait + std::time::Duration::from_millis(999))
        ));
    }
    if p.stopping {
        text.push_str(" · stopping");
    }
    text
}

/// The plan, one line per row of the file (`--dry-run`), escaped: values come from a file and
/// a server.
fn print_plan(planned: &FilePlan) {
    let mut out = std::io::stdout().lock();
    for (key, place) in &planned.rows {
        let what = match *place {
            Place::Item(i) => match planned.plan.items[i].body() {
                Some(body) => body
                    .changes
                    .iter()
                    .map(|c| format!("{}: {} -> {}", c.field.path, value_words(&c.old), value_words(&c.new)))
                    .collect::<Vec<_>>()
                    .join(", "),
                None => "already at the target".to_string(),
            },
            Place::Unplanned(i) => format!("failed: {}", planned.plan.unplanned[i].reason),
        };
        let _ = writeln!(
            out,
            "{}: {}",
            escape_for_terminal_keeping_lines(key),
            escape_for_terminal_keeping_lines(&what)
        );
    }
}

/// Writes the results file, when one was asked for.
fn write_results(
    path: Option<&std::path::Path>,
    rows: Vec<autopilot_tui::jobs::results::ResultRow>,
) -> Result<(), CliError> {
    let Some(path) = path else { return Ok(()) };
    let error = |message: String| CliError::Results { path: path.to_path_buf(), message };
    let file = std::fs::File::create(path).map_err(|e| error(e.to_string()))?;
    autopilot_tui::jobs::results::write_rows(std::io::BufWriter::new(file), rows)
        .map_err(|e| error(e.to_string()))
}

/// Asks a yes/no question on stderr and reads the answer from stdin (blocking): yes only for
/// `y` or `yes`.
fn ask_yes(question: &str) -> bool {
    eprint!("{}", escape_for_terminal_keeping_lines(question));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// [`ask_yes`] off the async workers.
async fn confirm(question: &str) -> bool {
    let question = question.to_string();
    tokio::task::spawn_blocking(move || ask_yes(&question)).await.unwrap_or(false)
}

/// `import`: the CSV is read before signing in (a file that cannot be read asks nothing of
/// the user); the workflow's messages on stderr, the results on stdout or in `--results`. The
/// first Ctrl-C stops it after the requests in flight (what was sent is reported); a second one
/// quits at once. Exit 0 when every row was imported, updated or skipped on purpose, else 1.
async fn import(args: ImportArgs) -> Result<ExitCode, CliError> {
    use autopilot_tui::jobs::import::CancellationToken;
    use autopilot_tui::jobs::import::headless::{Ask, Console, read_csv, run_headless};
    use autopilot_tui::write_log::WriteLog;
    let settings = Settings::resolve(&args.connection.overrides(), std::env::var(CLIENT_SECRET_ENV).ok())?;
    let bytes = read_csv(&args.file)?;
    let options = args.to_options(settings.read_only, settings.page_size, settings.write_rate);
    let connection = connect(&settings, print_sign_in).await?;
    let ask: Option<Ask> = if std::io::stdin().is_terminal() { Some(Box::new(ask_yes)) } else { None };
    let mut console = Console::new(
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
        std::io::stderr().is_terminal(),
        ask,
    );
    let cancel = CancellationToken::new();
    let interrupted = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                say("Stopping after the requests in flight (Ctrl-C again quits at once).");
                cancel.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        }
    });
    let name = args.file.display().to_string();
    let report = run_headless(
        &connection.client,
        &bytes,
        &name,
        &options,
        &mut console,
        cancel,
        WriteLog::in_state_dir(),
    )
    .await;
    interrupted.abort();
    if let Some(server) = connection.demo_server {
        server.shutdown().await;
    }
    let report = report?;
    tracing::info!(rows = report.rows.len(), success = report.success(), "import finished");
    Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The progress line `list` keeps at the bottom of a terminal's stderr, and the messages that
/// interrupt it (from any thread: retries are told from the client's tasks).
#[derive(Clone)]
struct StatusLine {
    terminal: bool,
    /// A progress line is showing and must be cleared before a message.
    showing: Arc<AtomicBool>,
}

impl StatusLine {
    fn new(terminal: bool) -> StatusLine {
        StatusLine { terminal, showing: Arc::new(AtomicBool::new(false)) }
    }

    fn progress(&self, text: &str) {
        eprint!("\r\x1b[2K{text}");
        self.showing.store(true, Ordering::SeqCst);
    }

    fn say(&self, message: &str) {
        if self.showing.swap(false, Ordering::SeqCst) {
            eprint!("\r\x1b[2K");
        }
        say(message);
    }

    fn end_progress(&self) {
        if self.showing.swap(false, Ordering::SeqCst) {
            eprintln!();
        }
    }
}

/// The device code prompt for commands without a screen: on stderr, so stdout stays data.
/// The identity platform's text is escaped like any server text.
fn print_sign_in(progress: SignInProgress<'_>) {
    match progress {
        SignInProgress::Prompt(prompt) => say(&format!(
            "To sign in, open {} and enter the code {} (waiting; Ctrl-C cancels).",
            prompt.verification_uri, prompt.user_code
        )),
        SignInProgress::Polled(PollState::SlowedDown { interval }) => {
            say(&format!("The identity platform asked to slow down; polling every {} s.", interval.as_secs()))
        }
        SignInProgress::Polled(PollState::Pending { .. }) => {}
    }
}

/// Resolves on Ctrl-C, or on SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs go to a file, never to the terminal (the TUI owns it). An explicit `--log-file` that
/// cannot be opened is an error; the default location is best effort: when it cannot be used,
/// the note to say (once) is returned.
fn init_logging(explicit: Option<std::path::PathBuf>) -> Result<Option<String>, CliError> {
    let (path, required) = match explicit {
        Some(path) => (path, true),
        None => match default_log_file() {
            Some(path) => (path, false),
            None => {
                return Ok(Some(
                    "no state directory (set XDG_STATE_HOME or HOME): no log, no write log this run".into(),
                ));
            }
        },
    };
    let open = || -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new().create(true).append(true).open(&path)
    };
    let file = match open() {
        Ok(file) => file,
        Err(source) if required => return Err(CliError::LogFile { path, source }),
        Err(e) => {
            let dir = path.parent().unwrap_or(&path).display().to_string();
            return Ok(Some(format!(
                "the state directory {dir} is not writable ({e}): no log, no write log this run"
            )));
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTOPILOT_TUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(None)
}
