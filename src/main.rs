//! Thin binary: parse the command line, set up logging, hand over to one mode.

use autopilot_tui::cli::{
    Cli, Command, ConnectionArgs, FormatArg, ImportArgs, ListArgs, ResourceArg, ServeArgs, default_log_file,
};
use autopilot_tui::config::Settings;
use autopilot_tui::connect::{Prepared, SignInProgress, connect, prepare};
use autopilot_tui::export::{Destination, ExportEvent, ExportFormat, ExportRequest, export};
use autopilot_tui::graph::auth::PollState;
use autopilot_tui::server;
use autopilot_tui::terminal_text::escape_for_terminal_keeping_lines;
use autopilot_tui::tui::{self, AppOptions, Session};
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
    let options = args.to_options(settings.read_only, settings.page_size);
    let connection = connect(&settings, print_sign_in).await?;
    let ask: Option<Ask> = if std::io::stdin().is_terminal() {
        Some(Box::new(|question: &str| {
            eprint!("{question}");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).is_ok()
                && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
        }))
    } else {
        None
    };
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
