//! The command-line surface (clap derive): no subcommand opens the TUI; `serve` runs the
//! embedded Graph server.

use crate::server::{DEFAULT_PAGE_SIZE, DataSet, ServeOptions, ServerError};
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Browse and edit Windows Autopilot imported device identities through Microsoft Graph.
#[derive(Debug, Parser)]
#[command(name = "autopilot-tui", version, about)]
pub struct Cli {
    /// What to do; without a subcommand the interactive app starts.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where to write the log (default: $XDG_STATE_HOME/autopilot-tui/autopilot-tui.log).
    #[arg(long, global = true, env = "AUTOPILOT_TUI_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded imitation of the Graph endpoints (for demos and tests).
    Serve(ServeArgs),
}

/// Options of `autopilot-tui serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The only bearer token to accept (default: any non-empty token).
    #[arg(long, env = "AUTOPILOT_TUI_SERVE_TOKEN")]
    pub token: Option<String>,
    /// Answer PATCH on an item with the live service's 400 "No method match route template".
    #[arg(long)]
    pub strict: bool,
    /// Serve this many generated devices instead of the demo set.
    #[arg(long, value_name = "N")]
    pub devices: Option<u64>,
    /// Seed of the generated devices (same seed, same devices).
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Devices per page when the client sends no $top.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_name = "K",
          value_parser = clap::value_parser!(u16).range(1..=999).map(usize::from))]
    pub page_size: usize,
}

impl ServeArgs {
    /// The server options these arguments ask for.
    pub fn to_options(&self) -> ServeOptions {
        ServeOptions {
            addr: self.addr,
            token: self.token.clone(),
            strict: self.strict,
            data: match self.devices {
                Some(devices) => DataSet::Generated { devices, seed: self.seed },
                None => DataSet::Demo,
            },
            page_size: self.page_size,
        }
    }
}

/// Why the program stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The embedded server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
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
}

/// The default log file: `$XDG_STATE_HOME/autopilot-tui/autopilot-tui.log`, falling back to
/// `~/.local/state/...`; `None` when neither variable is set.
pub fn default_log_file() -> Option<PathBuf> {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state_home.join("autopilot-tui").join("autopilot-tui.log"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_and_generated_set() {
        let cli = Cli::parse_from(["autopilot-tui", "serve"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let opts = args.to_options();
        assert_eq!(opts.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(opts.data, DataSet::Demo);
        assert_eq!(opts.page_size, 100);
        let cli =
            Cli::parse_from(["autopilot-tui", "serve", "--devices", "1000", "--page-size", "7", "--strict"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let opts = args.to_options();
        assert_eq!(opts.data, DataSet::Generated { devices: 1000, seed: 1 });
        assert!(opts.strict);
        assert_eq!(opts.page_size, 7);
        assert!(Cli::try_parse_from(["autopilot-tui", "serve", "--page-size", "1000"]).is_err());
        assert!(Cli::parse_from(["autopilot-tui"]).command.is_none());
    }
}
