//! Thin binary: parse the command line, set up logging, hand over to one mode.

use autopilot_tui::cli::{Cli, CliError, Command, ServeArgs, default_log_file};
use autopilot_tui::server;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("autopilot-tui: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    init_logging(cli.log_file.clone())?;
    match cli.command {
        Some(Command::Serve(args)) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(CliError::Runtime)?;
            runtime.block_on(serve(args))
        }
        None => {
            println!("The interactive app is not built yet. Try `autopilot-tui serve --help`.");
            Ok(())
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM, announcing the address on the first stdout line.
async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let running = server::start(args.to_options()).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", running.base_url()).map_err(CliError::Stdout)?;
    stdout.flush().map_err(CliError::Stdout)?;
    drop(stdout);
    running.wait_with_shutdown(shutdown_signal()).await?;
    tracing::info!("server stopped");
    Ok(())
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
/// cannot be opened is an error; the default location is best effort.
fn init_logging(explicit: Option<std::path::PathBuf>) -> Result<(), CliError> {
    let (path, required) = match explicit {
        Some(path) => (path, true),
        None => match default_log_file() {
            Some(path) => (path, false),
            None => return Ok(()),
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
        Err(_) => return Ok(()),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTOPILOT_TUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}
