//! The command-line surface (clap derive): no subcommand opens the TUI; `serve` runs the
//! embedded Graph server; `list` streams devices for scripts; `apply` applies a CSV of changes;
//! `import` imports a hardware-hash CSV.

use crate::config::Overrides;
use crate::graph::client::Collection;
use crate::graph::imported::IMPORTED;
use crate::graph::pacer::{PacerConfig, Rate, parse_rate as parse_count_per_period};
use crate::graph::registered::REGISTERED;
use crate::graph::resource::Resource;
use crate::jobs::import::headless::HeadlessOptions;
use crate::jobs::import::{Cleanup, RunOptions, WatchSchedule};
use crate::server::faults::{FaultConfig, LatencyRange};
use crate::server::oauth::{ClientSecretSource, OAuthConfig};
use crate::server::throttle::ThrottleConfig;
use crate::server::tls::TlsOptions;
use crate::server::{Clock, DEFAULT_IMPORT_DELAY, DEFAULT_PAGE_SIZE, DataSet, ImportOptions, ServeOptions};
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What the top-level `--help` adds below the options.
const CLI_AFTER_HELP: &str = "\
Without credentials (no token, no --tenant/--client-id, no profile that gives them) the app runs
in demo mode: an embedded imitation of Graph on 127.0.0.1 with 250 demo devices.

Secrets stay out of `ps` and shell history: give a token as AUTOPILOT_TUI_TOKEN or with
--token-file PATH (--token works, but any local user can read it in `ps`), and a client secret as
AUTOPILOT_TUI_CLIENT_SECRET or with --client-secret-file PATH (never as a flag value).";

/// What `list --help` adds below the options.
const LIST_AFTER_HELP: &str = "\
Exit status: 0 when every device was written exactly; 1 when the listing failed (stdout then holds
nothing, or the devices before the failure: a JSON array is closed, so it stays well-formed);
2 when it finished but some devices were left out or altered (each is named on stderr with its
id and serial). Written to a terminal, control, bidi and invisible characters are escaped; to a
pipe or file the data stays exact, and a CSV row whose values hold a control character is left
out (exit status 2). Secret properties (deviceAccountPassword) are never written.";

/// What `apply --help` adds below the options.
const APPLY_AFTER_HELP: &str = "\
The file: a header row, then one record a row. The first column is the key, serialNumber or id;
the others are the properties to set, as Graph names them (imported: groupTag,
assignedUserPrincipalName; registered: groupTag, userPrincipalName, addressableUserName,
displayName). An empty cell leaves the property as it is, the literal null clears it. Values are
checked as the form checks them. A key that matches no record, a serial two records share, a key
given twice and a refused value are that row's failure, never guessed.

Each record is read again just before its write: one already at its target is skipped (so a
second run of the same file sends nothing), one changed since the plan by someone else is a
conflict and is not written. Writes go in $batch requests at the write budget (--write-rate).

Exit status: 0 when every row is done or skipped (--dry-run: every row can be planned); 1 when
nothing could be applied (an unreadable file, a failed sign-in or listing, the confirmation
declined); 2 when some rows failed, were conflicts or were not sent (each is named on stderr).";

/// What `import --help` adds below the options.
const IMPORT_AFTER_HELP: &str = "\
Every row is checked first (the header, quotes, columns, the hash's base64 and size, repeated
serials and hashes, group tags, users, non-ANSI bytes) and every problem is named with its line;
rows with problems are never sent. The valid rows are matched with the tenant: new (imported),
registered already (skipped, or with --update-registered its group tag or user updated instead),
in the import queue already (shown, not imported again) or a conflict. The plan goes to stderr;
nothing is sent before --yes or a yes on the terminal, and a file with rows with problems sends
its valid rows with --yes only when --skip-invalid says so. Imports go in chunks of at most 500
at Intune's pace, are watched until complete or error (every 10 s, then 30 s, then a minute, up
to --watch-timeout), explained, and completed import records are deleted (the registered devices
stay; failed ones are kept unless --cleanup-failed). Every write answered goes to the write log
in the state directory. Ctrl-C stops after the requests in flight; a second one quits at once.

Results, one line per CSV row (line, serial, outcome, error code and name, details, registered
device id, import record id), go to stdout as CSV, or to --results FILE.
Exit status: 0 when every row was imported, updated or skipped on purpose; 1 otherwise (a row
invalid, failed, still pending, held back, or nothing confirmed), and when the import could not
start.";

/// Browse and edit Windows Autopilot imported device identities through Microsoft Graph.
#[derive(Debug, Parser)]
#[command(name = "autopilot-tui", version, about, after_help = CLI_AFTER_HELP)]
pub struct Cli {
    /// What to do; without a subcommand the interactive app starts.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where the interactive app connects (without any: demo mode).
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Where to write the log (default: $XDG_STATE_HOME/autopilot-tui/autopilot-tui.log).
    #[arg(long, global = true, env = "AUTOPILOT_TUI_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// What the app shows first [default: what this profile showed last; else devices on a
    /// tenant, imported in the demo]
    #[arg(long, value_enum, value_name = "RESOURCE")]
    pub show: Option<ResourceArg>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded imitation of the Graph endpoints and the identity platform (for demos and tests).
    Serve(ServeArgs),
    /// Stream devices to stdout as JSON, CSV or the Autopilot hardware-hash CSV.
    // `list` only reads: the write-only flag is hidden and the collection is one to read.
    #[command(
        after_help = LIST_AFTER_HELP,
        mut_arg("read_only", |a| a.hide(true)),
        mut_arg("write_rate", |a| a.hide(true)),
        mut_arg("collection", |a| a.help("Which of the two paths to read (imported identities) [default: device-management]")),
    )]
    List(ListArgs),
    /// Apply a CSV of changes (a key column, then the properties to set) at the write budget's pace.
    #[command(after_help = APPLY_AFTER_HELP)]
    Apply(ApplyArgs),
    /// Import a hardware-hash CSV: check it, reconcile it with the tenant, import, watch, clean up.
    // The import action lives on one path only, so the collection flag has no say here.
    #[command(after_help = IMPORT_AFTER_HELP, mut_arg("collection", |a| a.hide(true)))]
    Import(ImportArgs),
}

/// Which Graph path of the same devices to read and patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CollectionArg {
    /// `/deviceManagement/importedWindowsAutopilotDeviceIdentities`
    DeviceManagement,
    /// `/importedWindowsAutopilotDeviceIdentityUpload/deviceIdentities`
    Upload,
}

impl From<CollectionArg> for Collection {
    fn from(arg: CollectionArg) -> Collection {
        match arg {
            CollectionArg::DeviceManagement => Collection::DeviceManagement,
            CollectionArg::Upload => Collection::Upload,
        }
    }
}

/// Where and as whom to connect. Precedence: flag > environment > profile > default.
/// The client secret is read from `AUTOPILOT_TUI_CLIENT_SECRET` or `--client-secret-file`,
/// never from a flag value (which would land in shell history and `ps`).
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Graph version root, e.g. https://graph.microsoft.com/v1.0 or .../beta.
    #[arg(long, env = "AUTOPILOT_TUI_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// A bearer token for Graph (any local user sees a flag in `ps`: prefer AUTOPILOT_TUI_TOKEN
    /// or --token-file).
    #[arg(long, env = "AUTOPILOT_TUI_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// File holding the bearer token (its first line).
    #[arg(long, env = "AUTOPILOT_TUI_TOKEN_FILE", value_name = "PATH", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Which of the two paths to read and patch [default: device-management].
    #[arg(long, env = "AUTOPILOT_TUI_COLLECTION", value_enum)]
    pub collection: Option<CollectionArg>,
    /// Directory tenant to sign in to (id or domain); with --client-id.
    #[arg(long, env = "AUTOPILOT_TUI_TENANT", value_name = "TENANT")]
    pub tenant: Option<String>,
    /// App registration (client) id; without a secret the device code flow signs you in.
    #[arg(long, env = "AUTOPILOT_TUI_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// File holding the client secret (client credentials flow).
    #[arg(long, env = "AUTOPILOT_TUI_CLIENT_SECRET_FILE", value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
    /// Identity platform authority [default: https://login.microsoftonline.com].
    #[arg(long, env = "AUTOPILOT_TUI_AUTHORITY", value_name = "URL")]
    pub authority: Option<String>,
    /// PEM file of certificates to trust for the authority and Graph, beside the system's
    /// (e.g. the one `serve --tls` prints).
    #[arg(long, env = "AUTOPILOT_TUI_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Profile of the config file to use.
    #[arg(long, env = "AUTOPILOT_TUI_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Config file [default: <config dir>/autopilot-tui/config.toml].
    #[arg(long, env = "AUTOPILOT_TUI_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Browse and inspect only: no write request leaves the app.
    #[arg(long, env = "AUTOPILOT_TUI_READ_ONLY")]
    pub read_only: bool,
    /// Devices per listing page ($top, up to 999) [default: 999].
    #[arg(long, env = "AUTOPILOT_TUI_PAGE_SIZE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=999))]
    pub page_size: Option<u32>,
    /// Seconds before a request without an answer is given up (and retried).
    #[arg(long, env = "AUTOPILOT_TUI_TIMEOUT", default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// The largest answer read from Graph, in MiB (a page of 999 devices is about 6 MB).
    #[arg(long, env = "AUTOPILOT_TUI_MAX_RESPONSE_MIB", default_value_t = 64, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_response_mib: u64,
    /// Writes per period for bulk jobs and `apply`, e.g. 100/20 (Intune allows about 100 per
    /// 20 s per app) [default: the profile's write-rate, else 100/20].
    #[arg(long, env = "AUTOPILOT_TUI_WRITE_RATE", value_name = "N/SECONDS", value_parser = parse_count_per_period)]
    pub write_rate: Option<Rate>,
}

impl ConnectionArgs {
    /// The flags as plain values for [`Settings::resolve`](crate::config::Settings::resolve).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            profile: self.profile.clone(),
            base_url: self.base_url.clone(),
            token: self.token.clone(),
            token_file: self.token_file.clone(),
            collection: self.collection.map(Collection::from),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret_file: self.client_secret_file.clone(),
            authority: self.authority.clone(),
            ca_file: self.ca_file.clone(),
            read_only: self.read_only,
            page_size: self.page_size,
            timeout: self.timeout,
            max_response_mib: self.max_response_mib,
            write_rate: self.write_rate,
        }
    }
}

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// One JSON array of devices.
    Json,
    /// CSV of the selected properties.
    Csv,
    /// The hardware-hash CSV the Intune portal imports (with hashes).
    AutopilotCsv,
}

/// Which records `list` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResourceArg {
    /// Imported identities: the import queue, with hardware hashes.
    Imported,
    /// Registered Autopilot devices: what is edited on a live tenant (no hashes in Graph).
    #[value(alias = "devices")]
    Registered,
}

impl ResourceArg {
    /// The resource's descriptor.
    pub fn resource(self) -> &'static Resource {
        match self {
            ResourceArg::Imported => &IMPORTED,
            ResourceArg::Registered => &REGISTERED,
        }
    }
}

/// Options of `autopilot-tui list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Which records to list: the import queue (the default, as before) or the registered devices.
    #[arg(long, value_enum, default_value = "imported")]
    pub resource: ResourceArg,
    /// Output format (autopilot-csv needs hashes: imported identities only).
    #[arg(long, value_enum, default_value = "json")]
    pub format: FormatArg,
    /// OData $filter, e.g. "contains(serialNumber,'PF3')" (registered devices take only this form).
    #[arg(long, value_name = "ODATA")]
    pub filter: Option<String>,
    /// Properties to fetch and print, comma-separated (e.g. serialNumber,groupTag,state).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub select: Vec<String>,
    /// Stop after this many devices.
    #[arg(long, value_name = "N")]
    pub top: Option<u64>,
    /// Where and as whom to connect.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Options of `autopilot-tui apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The CSV of changes.
    #[arg(value_name = "PLAN.csv")]
    pub file: PathBuf,
    /// Which records the file changes (the default, as for list: imported).
    #[arg(long, value_enum, default_value = "imported")]
    pub resource: ResourceArg,
    /// Print the plan (old -> new per row, rows already at their target, rows that fail) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before sending (asked otherwise when stdin is a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Write one CSV row per row of the file: key, outcome, old, new, status, request-id, message.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Where and as whom to connect.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Options of `autopilot-tui import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The hardware-hash CSV (`Device Serial Number,Windows Product ID,Hardware Hash[,Group Tag[,Assigned User]]`).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Check and reconcile, show the plan (and write it as results), send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the valid rows without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With --yes: send the valid rows of a file that has rows with problems (never the others).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Write the results CSV to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// For a row registered already with another group tag or user: update the registered device
    /// (updateDeviceProperties) instead of holding the row back.
    #[arg(long)]
    pub update_registered: bool,
    /// Delete the import records that failed too (default: kept, so :imported shows why).
    #[arg(long)]
    pub cleanup_failed: bool,
    /// Keep the completed import records (default: deleted, as Import-AutopilotCSV does).
    #[arg(long)]
    pub no_cleanup: bool,
    /// Ask Intune to sync with the Autopilot service afterwards (asked on a terminal otherwise).
    #[arg(long)]
    pub sync: bool,
    /// Minutes to watch the import before the rows still in process are reported pending.
    #[arg(long, value_name = "MINUTES", default_value_t = 30.0, value_parser = parse_minutes)]
    pub watch_timeout: f64,
    /// Rows per import request (at most 500, as the portal takes).
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u16).range(1..=500).map(usize::from))]
    pub chunk_size: usize,
    /// Where and as whom to connect.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl ImportArgs {
    /// What these flags ask of the workflow (`read_only` and the write budget, `--write-rate`
    /// or the profile's, come from the resolved settings).
    pub fn to_options(&self, read_only: bool, page_size: u32, write_rate: Rate) -> HeadlessOptions {
        HeadlessOptions {
            dry_run: self.dry_run,
            yes: self.yes,
            skip_invalid: self.skip_invalid,
            read_only,
            update_registered: self.update_registered,
            sync: self.sync,
            results: self.results.clone(),
            pacer: PacerConfig { rate: write_rate, ..PacerConfig::default() },
            run: RunOptions {
                chunk_size: self.chunk_size,
                watch: WatchSchedule { timeout: Duration::from_secs_f64(self.watch_timeout * 60.0) },
                cleanup: Cleanup { completed: !self.no_cleanup, failed: self.cleanup_failed },
                page_size,
                ..RunOptions::default()
            },
        }
    }
}

/// A number of minutes from 0 to a day, fractions allowed.
fn parse_minutes(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(minutes) if minutes.is_finite() && (0.0..=1440.0).contains(&minutes) => Ok(minutes),
        _ => Err(format!("'{text}' is not a number of minutes from 0 to 1440")),
    }
}

/// `serve --help` heading of the fault flags.
const FAULTS_HEADING: &str = "Faults (Graph routes only; the rates are shares and add up to at most 1)";
/// `serve --help` heading of the throttling flags.
const THROTTLE_HEADING: &str = "Throttling (token buckets per tenant, on the Graph routes)";
/// `serve --help` heading of the sign-in imitation's flags.
const SIGN_IN_HEADING: &str = "Sign-in imitation (/{tenant}/oauth2/v2.0/...)";

/// Options of `autopilot-tui serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The only bearer token to accept (default: any non-empty token; a flag shows in `ps`:
    /// prefer AUTOPILOT_TUI_SERVE_TOKEN or --token-file).
    #[arg(long, env = "AUTOPILOT_TUI_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the only bearer token to accept (its first line).
    #[arg(long, value_name = "PATH", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Answer PATCH on an imported identity with the live service's 400 "No method match route
    /// template" (registered devices always do).
    #[arg(long)]
    pub strict: bool,
    /// Give every record an `ETag` and answer 412 to a write whose `If-Match` names an older
    /// version (Graph documents no ETag for these records; for testing conflict handling).
    #[arg(long)]
    pub etags: bool,
    /// Serve this many generated imported identities and as many registered devices instead of
    /// the demo set.
    #[arg(long, value_name = "N")]
    pub devices: Option<u64>,
    /// Seed of the generated devices (same seed, same devices).
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Seconds after which an imported device is complete or failed (pending from half of it;
    /// 0 settles it at the next request).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_IMPORT_DELAY.as_secs_f64(),
          value_parser = parse_seconds)]
    pub import_delay: f64,
    /// File of serials registered in another tenant, one a line: their imports fail with 808
    /// ZtdDeviceAssignedToOtherTenant.
    #[arg(long, value_name = "FILE")]
    pub other_tenant_serials: Option<PathBuf>,
    /// Devices per page when the client sends no $top.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_name = "K",
          value_parser = clap::value_parser!(u16).range(1..=999).map(usize::from))]
    pub page_size: usize,
    /// Serve HTTPS with a self-signed certificate made at start; its path is the second line
    /// on stdout (`certificate PATH`).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the certificate here and leave it (default: a temp file, removed at exit).
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub certificate_file: Option<PathBuf>,
    /// Share of Graph requests answered 429 TooManyRequests with Retry-After (0 to 1).
    #[arg(long = "fault-429", value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_429: f64,
    /// Share of Graph requests answered 503 serviceNotAvailable, half of them with Retry-After.
    #[arg(long = "fault-503", value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_503: f64,
    /// Share of Graph requests answered 500 InternalServerError.
    #[arg(long = "fault-500", value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_500: f64,
    /// Share of Graph requests whose connection is closed without an answer (half before the
    /// request is handled, half after: a PATCH may be applied with its answer lost).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_drop: f64,
    /// Share of successful Graph answers whose JSON body is cut in half (after handling).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_truncate: f64,
    /// Share of successful Graph answers whose JSON body is made invalid (after handling).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate,
          help_heading = FAULTS_HEADING)]
    pub fault_malformed: f64,
    /// Retry-After sent with injected 429s and 503s, in seconds (a fraction is rounded up: 0.25 sends 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_seconds,
          help_heading = FAULTS_HEADING)]
    pub fault_retry_after: f64,
    /// Latency added to every Graph request, in milliseconds: fixed (50) or a range (0-5).
    #[arg(
        long,
        value_name = "MIN[-MAX]",
        help_heading = FAULTS_HEADING
    )]
    pub fault_latency_ms: Option<LatencyRange>,
    /// Seed of the fault sequence: the same seed and requests give the same faults.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 0,
        help_heading = FAULTS_HEADING
    )]
    pub fault_seed: u64,
    /// Writes (POST, PUT, PATCH, DELETE) each tenant may send per period, e.g. 100/20 (Intune
    /// allows about 200/20 per tenant); more get 429 with an integer Retry-After (default: no limit).
    #[arg(long, value_name = "N/SECONDS", value_parser = parse_count_per_period, help_heading = THROTTLE_HEADING)]
    pub throttle_writes: Option<Rate>,
    /// Graph requests of any method each tenant may send per period, e.g. 2000/20 (default: no limit).
    #[arg(long, value_name = "N/SECONDS", value_parser = parse_count_per_period, help_heading = THROTTLE_HEADING)]
    pub throttle_requests: Option<Rate>,
    /// The only client id the sign-in imitation accepts (default: any).
    #[arg(long, value_name = "ID", help_heading = SIGN_IN_HEADING)]
    pub oauth_client_id: Option<String>,
    /// A file holding the client secret that client credentials must present (default: any).
    #[arg(long, value_name = "PATH", help_heading = SIGN_IN_HEADING)]
    pub oauth_client_secret_file: Option<PathBuf>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        help_heading = SIGN_IN_HEADING
    )]
    pub token_lifetime: u64,
    /// Lifetime of issued refresh tokens, in seconds (a refreshed one stays valid until then).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 90 * 24 * 3600,
        help_heading = SIGN_IN_HEADING
    )]
    pub refresh_token_lifetime: u64,
    /// Lifetime of device codes, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 900,
        help_heading = SIGN_IN_HEADING
    )]
    pub device_code_lifetime: u64,
    /// Polling interval handed out with device codes, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600),
          help_heading = SIGN_IN_HEADING)]
    pub device_code_interval: u64,
}

/// A rate: a number from 0 to 1.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("'{text}' is not a rate from 0 to 1")),
    }
}

/// A non-negative number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("'{text}' is not a number of seconds from 0 to 86400")),
    }
}

impl ServeArgs {
    /// The token to accept: `--token` (or its variable), else the first line of `--token-file`.
    pub fn accepted_token(&self) -> Result<Option<String>, crate::config::ConfigError> {
        match (&self.token, &self.token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(path)) => crate::config::read_secret_file(path).map(|s| Some(s.expose().to_string())),
            (None, None) => Ok(None),
        }
    }

    /// The server options these arguments ask for (the token as given by `--token`; see
    /// [`ServeArgs::accepted_token`] for `--token-file`).
    pub fn to_options(&self) -> ServeOptions {
        ServeOptions {
            addr: self.addr,
            token: self.token.clone(),
            strict: self.strict,
            etags: self.etags,
            data: match self.devices {
                Some(devices) => DataSet::Generated { devices, seed: self.seed },
                None => DataSet::Demo,
            },
            page_size: self.page_size,
            faults: FaultConfig {
                throttle: self.fault_429,
                unavailable: self.fault_503,
                internal_error: self.fault_500,
                drop_connection: self.fault_drop,
                truncate_body: self.fault_truncate,
                malformed_body: self.fault_malformed,
                retry_after: Duration::from_secs_f64(self.fault_retry_after),
                latency: self.fault_latency_ms,
                seed: self.fault_seed,
            },
            throttle: ThrottleConfig { writes: self.throttle_writes, requests: self.throttle_requests },
            oauth: OAuthConfig {
                client_id: self.oauth_client_id.clone(),
                // The secret itself never is a flag value (shell history, `ps`); the server
                // reads the file when it starts.
                client_secret: self.oauth_client_secret_file.clone().map(ClientSecretSource::File),
                token_lifetime: Duration::from_secs(self.token_lifetime),
                refresh_token_lifetime: Duration::from_secs(self.refresh_token_lifetime),
                device_code_lifetime: Duration::from_secs(self.device_code_lifetime),
                poll_interval: Duration::from_secs(self.device_code_interval),
                slow_down_first_poll: false,
            },
            tls: self.tls.then(|| TlsOptions { certificate_file: self.certificate_file.clone() }),
            clock: Clock::new(),
            imports: ImportOptions {
                delay: Duration::from_secs_f64(self.import_delay),
                other_tenant_serials: Vec::new(),
                other_tenant_file: self.other_tenant_serials.clone(),
            },
        }
    }
}

/// The default log file: `autopilot-tui.log` in the state directory ([`crate::paths::state_dir`]).
pub fn default_log_file() -> Option<PathBuf> {
    Some(crate::paths::state_dir()?.join("autopilot-tui.log"))
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
        assert_eq!(opts.tls, None);
        let cli =
            Cli::parse_from(["autopilot-tui", "serve", "--devices", "1000", "--page-size", "7", "--strict"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let opts = args.to_options();
        assert_eq!(opts.data, DataSet::Generated { devices: 1000, seed: 1 });
        assert!(opts.strict);
        assert_eq!(opts.page_size, 7);
        let cli = Cli::parse_from(["autopilot-tui", "serve", "--tls", "--certificate-file", "/tmp/c.pem"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        assert_eq!(args.to_options().tls, Some(TlsOptions { certificate_file: Some("/tmp/c.pem".into()) }));
        assert!(Cli::try_parse_from(["autopilot-tui", "serve", "--certificate-file", "/tmp/c.pem"]).is_err());
        assert!(Cli::try_parse_from(["autopilot-tui", "serve", "--page-size", "1000"]).is_err());
        assert!(Cli::parse_from(["autopilot-tui"]).command.is_none());
        assert!(!opts.faults.is_active());
        assert!(!opts.throttle.is_active());
    }

    #[test]
    fn serve_throttle_flags() {
        let cli = Cli::parse_from([
            "autopilot-tui",
            "serve",
            "--throttle-writes",
            "100/20",
            "--throttle-requests",
            "2000/20",
        ]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let throttle = args.to_options().throttle;
        assert_eq!(throttle.writes, Some(Rate::new(100, Duration::from_secs(20))));
        assert_eq!(throttle.requests, Some(Rate::new(2000, Duration::from_secs(20))));
        for bad in ["100", "0/20", "100/0", "x/20"] {
            assert!(
                Cli::try_parse_from(["autopilot-tui", "serve", "--throttle-writes", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn serve_import_flags() {
        let cli = Cli::parse_from(["autopilot-tui", "serve"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        assert_eq!(args.to_options().imports, ImportOptions::default());
        assert_eq!(ImportOptions::default().delay, Duration::from_secs(5));
        let cli = Cli::parse_from([
            "autopilot-tui",
            "serve",
            "--import-delay",
            "0",
            "--other-tenant-serials",
            "/tmp/serials.txt",
        ]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let imports = args.to_options().imports;
        assert_eq!(imports.delay, Duration::ZERO);
        assert_eq!(imports.other_tenant_file, Some(PathBuf::from("/tmp/serials.txt")));
        let cli = Cli::parse_from(["autopilot-tui", "serve", "--import-delay", "2.5"]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        assert_eq!(args.to_options().imports.delay, Duration::from_millis(2500));
        for bad in ["-1", "soon", "90000"] {
            assert!(Cli::try_parse_from(["autopilot-tui", "serve", "--import-delay", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn import_flags() {
        let cli = Cli::parse_from(["autopilot-tui", "import", "devices.csv"]);
        let Some(Command::Import(args)) = cli.command else { panic!("import expected") };
        let options = args.to_options(false, 999, crate::graph::pacer::DEFAULT_WRITE_RATE);
        assert_eq!(args.file, PathBuf::from("devices.csv"));
        assert!(!options.dry_run && !options.yes && !options.update_registered && !options.sync);
        assert_eq!(options.run.chunk_size, 500);
        assert_eq!(options.run.cleanup, Cleanup { completed: true, failed: false });
        assert_eq!(options.run.watch.timeout, Duration::from_secs(1800));
        assert_eq!(options.pacer.rate, Rate::new(100, Duration::from_secs(20)));
        assert!(!options.skip_invalid);
        let cli = Cli::parse_from([
            "autopilot-tui",
            "import",
            "d.csv",
            "--dry-run",
            "-y",
            "--skip-invalid",
            "--results",
            "out.csv",
            "--update-registered",
            "--cleanup-failed",
            "--no-cleanup",
            "--sync",
            "--watch-timeout",
            "0.5",
            "--write-rate",
            "10/1",
            "--chunk-size",
            "3",
        ]);
        let Some(Command::Import(args)) = cli.command else { panic!("import expected") };
        // --write-rate is a connection flag now: resolved with the profile's into the settings.
        assert_eq!(args.connection.write_rate, Some(Rate::new(10, Duration::from_secs(1))));
        let options = args.to_options(true, 50, Rate::new(10, Duration::from_secs(1)));
        assert_eq!(options.pacer.rate, Rate::new(10, Duration::from_secs(1)));
        assert!(
            options.dry_run && options.yes && options.read_only && options.update_registered && options.sync
        );
        assert!(options.skip_invalid);
        assert_eq!(options.results, Some(PathBuf::from("out.csv")));
        assert_eq!(options.run.cleanup, Cleanup { completed: false, failed: true });
        assert_eq!(options.run.watch.timeout, Duration::from_secs(30));
        assert_eq!((options.run.chunk_size, options.run.page_size), (3, 50));
        for bad in [
            ["--chunk-size", "501"],
            ["--chunk-size", "0"],
            ["--watch-timeout", "-1"],
            ["--write-rate", "0/1"],
        ] {
            assert!(
                Cli::try_parse_from(["autopilot-tui", "import", "d.csv", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Cli::try_parse_from(["autopilot-tui", "import"]).is_err(), "the file is required");
    }

    #[test]
    fn serve_fault_and_sign_in_flags() {
        let cli = Cli::parse_from([
            "autopilot-tui",
            "serve",
            "--fault-429",
            "0.2",
            "--fault-503",
            "0.1",
            "--fault-500",
            "0.05",
            "--fault-drop",
            "0.05",
            "--fault-truncate",
            "0.05",
            "--fault-malformed",
            "0.05",
            "--fault-retry-after",
            "0.25",
            "--fault-latency-ms",
            "0-5",
            "--fault-seed",
            "42",
            "--oauth-client-id",
            "app-1",
            "--oauth-client-secret-file",
            "/run/secret",
            "--token-lifetime",
            "60",
            "--refresh-token-lifetime",
            "600",
            "--device-code-lifetime",
            "120",
            "--device-code-interval",
            "1",
        ]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve expected") };
        let opts = args.to_options();
        assert_eq!(opts.faults.throttle, 0.2);
        assert_eq!(opts.faults.retry_after, Duration::from_millis(250));
        assert_eq!(opts.faults.latency.map(|l| l.max), Some(Duration::from_millis(5)));
        assert_eq!(opts.faults.seed, 42);
        assert!(opts.faults.validate().is_ok());
        assert_eq!(opts.oauth.client_id.as_deref(), Some("app-1"));
        assert_eq!(opts.oauth.client_secret, Some(ClientSecretSource::File("/run/secret".into())));
        assert_eq!(opts.oauth.token_lifetime, Duration::from_secs(60));
        assert_eq!(opts.oauth.refresh_token_lifetime, Duration::from_secs(600));
        assert_eq!(opts.oauth.poll_interval, Duration::from_secs(1));
        for bad in [
            ["--fault-429", "1.5"],
            ["--fault-drop", "x"],
            ["--fault-retry-after", "-1"],
            ["--fault-latency-ms", "9-1"],
        ] {
            assert!(Cli::try_parse_from(["autopilot-tui", "serve", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
