//! The profiles file (`autopilot-tui/config.toml` in the platform's config dir): named
//! connection settings. Precedence is flag > environment > profile > default; clap resolves
//! the first two, [`Profile`] supplies the third.

use crate::graph::auth::{DEFAULT_AUTHORITY, Secret};
use crate::graph::client::Collection;
use crate::graph::pacer::{DEFAULT_WRITE_RATE, Rate};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One named profile. Every setting is optional; what is missing falls back to the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    /// Directory tenant (GUID or `contoso.onmicrosoft.com`).
    pub tenant: Option<String>,
    /// App registration (client) id.
    pub client_id: Option<String>,
    /// Graph version root, e.g. `https://graph.microsoft.com/beta`.
    pub base_url: Option<String>,
    /// `device-management` or `upload`.
    pub collection: Option<String>,
    /// Browse and inspect only; no write leaves the app.
    pub read_only: Option<bool>,
    /// `$top` of each listing page.
    pub page_size: Option<u32>,
    /// Identity platform authority, default `https://login.microsoftonline.com`.
    pub authority: Option<String>,
    /// File holding the client secret (client credentials flow).
    pub client_secret_file: Option<PathBuf>,
    /// PEM file of extra certificates to trust for the authority and Graph.
    pub ca_file: Option<PathBuf>,
    /// The write budget of bulk jobs and `apply`, `N/SECONDS` (`100/20`).
    #[serde(alias = "write_rate")]
    pub write_rate: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Profile used when `--profile` is not given.
    pub default_profile: Option<String>,
    /// Named profiles, `[profiles.NAME]`.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Why the configuration could not be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists (or was named) but cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a wrong type.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A setting that cannot be used, or settings that don't fit together.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The config file the settings were resolved against.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Flags and environment that don't describe a usable connection (no file involved).
    #[error("{0}")]
    Usage(String),
    /// `--profile NAME` (or `default-profile`) names no profile in the file.
    #[error("{}: no profile named '{name}' (profiles: {available})", path.display())]
    UnknownProfile {
        /// The file.
        path: PathBuf,
        /// The missing name.
        name: String,
        /// The names that exist.
        available: String,
    },
}

/// Graph's v1.0 root, the default when credentials are given without a base URL.
pub const GRAPH_V1: &str = "https://graph.microsoft.com/v1.0";
/// The largest page Intune serves; the default `$top` of listings.
pub const MAX_PAGE_SIZE: u32 = 999;

/// How the app gets a token.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    /// No credentials at all: run the embedded server with the demo devices.
    Demo,
    /// A bearer token given as is.
    Token(Secret),
    /// Client credentials (automation).
    ClientSecret {
        /// Tenant.
        tenant: String,
        /// Client id.
        client_id: String,
        /// The secret, from the environment or a file.
        secret: Secret,
    },
    /// Device code (interactive admin).
    DeviceCode {
        /// Tenant.
        tenant: String,
        /// Client id.
        client_id: String,
    },
}

/// Everything the app needs to connect, after flags, environment, profile and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Graph version root; `None` in demo mode (the embedded server's address is not known yet).
    pub base_url: Option<String>,
    /// How to get a token.
    pub sign_in: SignIn,
    /// Identity platform authority.
    pub authority: String,
    /// Which path of the devices.
    pub collection: Collection,
    /// No writes leave the app.
    pub read_only: bool,
    /// `$top` of listing pages.
    pub page_size: u32,
    /// Request timeout.
    pub timeout: std::time::Duration,
    /// PEM file of extra certificates to trust (beside the system's) for the authority and Graph.
    pub ca_file: Option<PathBuf>,
    /// The largest answer read, in bytes.
    pub max_response_bytes: u64,
    /// The profile these settings came from (`--profile` or `default-profile`), if any.
    pub profile: Option<String>,
    /// The write budget bulk jobs and `apply` are paced to.
    pub write_rate: Rate,
}

/// What the command line (flags and environment, merged by clap) says about the connection,
/// as plain values: what [`Settings::resolve`] lays over the selected profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--config`: the profiles file (an explicit one must exist).
    pub config: Option<PathBuf>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `--collection`.
    pub collection: Option<Collection>,
    /// `--tenant`.
    pub tenant: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--client-secret-file`.
    pub client_secret_file: Option<PathBuf>,
    /// `--authority`.
    pub authority: Option<String>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--page-size`.
    pub page_size: Option<u32>,
    /// `--timeout`, seconds.
    pub timeout: u64,
    /// `--max-response-mib`.
    pub max_response_mib: u64,
    /// `--write-rate`.
    pub write_rate: Option<Rate>,
}

impl Settings {
    /// Resolves flags and environment (already merged by clap) over the selected profile of the
    /// config file. `secret_env` is `AUTOPILOT_TUI_CLIENT_SECRET`.
    pub fn resolve(args: &Overrides, secret_env: Option<String>) -> Result<Settings, ConfigError> {
        let (path, required) = match &args.config {
            Some(p) => (p.clone(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => (PathBuf::from("config.toml"), false),
            },
        };
        let file = load(&path, required)?;
        let profile = file.select(args.profile.as_deref(), &path)?;
        let profile_name = args.profile.clone().or_else(|| file.default_profile.clone());
        let invalid = |message: String| ConfigError::Invalid { path: path.clone(), message };

        let tenant = args.tenant.clone().or(profile.tenant);
        let client_id = args.client_id.clone().or(profile.client_id);
        let secret_file = args.client_secret_file.clone().or(profile.client_secret_file);
        let secret = match (secret_env.filter(|s| !s.is_empty()), secret_file) {
            (Some(s), _) => Some(Secret::new(s)),
            (None, Some(file)) => Some(read_secret_file(&file)?),
            (None, None) => None,
        };
        let token = match (args.token.clone().filter(|t| !t.is_empty()), &args.token_file) {
            (Some(token), _) => Some(Secret::new(token)),
            (None, Some(file)) => Some(read_secret_file(file)?),
            (None, None) => None,
        };
        let sign_in = match (token, tenant, client_id) {
            (Some(token), _, _) => SignIn::Token(token),
            (None, Some(tenant), Some(client_id)) => match secret {
                Some(secret) => SignIn::ClientSecret { tenant, client_id, secret },
                None => SignIn::DeviceCode { tenant, client_id },
            },
            (None, Some(_), None) => return Err(ConfigError::Usage("--tenant needs --client-id".into())),
            (None, None, Some(_)) => return Err(ConfigError::Usage("--client-id needs --tenant".into())),
            (None, None, None) => SignIn::Demo,
        };
        let profile_url = profile.base_url.is_some() && args.base_url.is_none();
        let base_url = args.base_url.clone().or(profile.base_url);
        let base_url = match (&sign_in, base_url) {
            (SignIn::Demo, Some(url)) => {
                // Only a file that gave the URL is named: flags alone blame no file.
                let from = if profile_url {
                    format!(" (the URL comes from {})", path.display())
                } else {
                    String::new()
                };
                return Err(ConfigError::Usage(format!(
                    "no token for {url}{from}: give AUTOPILOT_TUI_TOKEN, --token-file, --token, or a sign-in \
                     (--tenant and --client-id); see --help"
                )));
            }
            (SignIn::Demo, None) => None,
            (_, url) => Some(url.unwrap_or_else(|| GRAPH_V1.to_string())),
        };
        let collection = match args.collection {
            Some(collection) => collection,
            None => match profile.collection.as_deref() {
                None | Some("device-management") => Collection::DeviceManagement,
                Some("upload") => Collection::Upload,
                Some(other) => {
                    return Err(invalid(format!(
                        "collection '{other}' is not one of device-management, upload"
                    )));
                }
            },
        };
        let write_rate = match (args.write_rate, &profile.write_rate) {
            (Some(rate), _) => rate,
            (None, Some(text)) => text.parse().map_err(|e| invalid(format!("write-rate {e}")))?,
            (None, None) => DEFAULT_WRITE_RATE,
        };
        let page_size = args.page_size.or(profile.page_size).unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(invalid(format!("page-size {page_size} is not between 1 and {MAX_PAGE_SIZE}")));
        }
        Ok(Settings {
            base_url,
            sign_in,
            authority: args
                .authority
                .clone()
                .or(profile.authority)
                .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
            collection,
            read_only: args.read_only || profile.read_only.unwrap_or(false),
            page_size,
            timeout: std::time::Duration::from_secs(args.timeout.max(1)),
            ca_file: args.ca_file.clone().or(profile.ca_file),
            max_response_bytes: args.max_response_mib.max(1) << 20,
            profile: profile_name,
            write_rate,
        })
    }
}

/// Reads a secret (token, client secret) from a file: its first line, trimmed. The error
/// names the file, never the content.
pub fn read_secret_file(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let secret = text.lines().next().unwrap_or("").trim();
    if secret.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: "the secret file is empty".into(),
        });
    }
    Ok(Secret::new(secret))
}

/// `<config dir>/autopilot-tui/config.toml` (`~/.config/...` on Linux).
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("autopilot-tui").join("config.toml"))
}

/// Reads and parses a config file. A missing file is an empty config unless `required`
/// (it was named with `--config`).
pub fn load(path: &Path, required: bool) -> Result<ConfigFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(ConfigFile::default()),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    parse(&text, path)
}

/// Parses config text; `path` only names the file in errors, which never repeat a value
/// (a secret put in the wrong field must not be echoed to the screen).
pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_and_column(text, offset);
        let message = without_values(e.message().trim());
        ConfigError::Parse { path: path.to_path_buf(), line, column, message }
    })
}

/// A parser message with the values it quotes left out: `invalid type: string "s3cr3t",
/// expected a boolean` becomes `invalid type: string, expected a boolean`. Key names (in
/// backquotes in `unknown field` messages) stay.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((what, expected)) =
            message.strip_prefix(prefix).and_then(|rest| rest.split_once(", expected"))
        {
            let kind = what.split(['"', '`', '\'']).next().unwrap_or("").trim();
            return format!("{prefix}{kind}, expected{expected}");
        }
    }
    // Anything else in double quotes may be a value.
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl ConfigFile {
    /// The profile to use: `name` if given, else `default-profile`, else none (all defaults).
    pub fn select(&self, name: Option<&str>, path: &Path) -> Result<Profile, ConfigError> {
        let Some(name) = name.or(self.default_profile.as_deref()) else {
            return Ok(Profile::default());
        };
        self.profiles.get(name).cloned().ok_or_else(|| ConfigError::UnknownProfile {
            path: path.to_path_buf(),
            name: name.to_string(),
            available: if self.profiles.is_empty() {
                "none".to_string()
            } else {
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
default-profile = "contoso"

[profiles.contoso]
tenant = "contoso.onmicrosoft.com"
client-id = "11111111-2222-3333-4444-555555555555"
base-url = "https://graph.microsoft.com/beta"
collection = "upload"
read-only = true
page-size = 999

[profiles.lab]
base-url = "http://127.0.0.1:8080/v1.0"

[profiles.tls]
base-url = "https://127.0.0.1:8443/v1.0"
authority = "https://127.0.0.1:8443"
ca-file = "/tmp/autopilot-tui-serve.pem"
"#;

    #[test]
    fn example_parses_and_selects() {
        let path = Path::new("config.toml");
        let file = parse(EXAMPLE, path).unwrap();
        let p = file.select(None, path).unwrap();
        assert_eq!(p.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
        assert_eq!(p.read_only, Some(true));
        assert_eq!(p.page_size, Some(999));
        assert_eq!(file.select(Some("lab"), path).unwrap().read_only, None);
        assert_eq!(
            file.select(Some("tls"), path).unwrap().ca_file,
            Some("/tmp/autopilot-tui-serve.pem".into())
        );
        let err = file.select(Some("prod"), path).unwrap_err().to_string();
        assert_eq!(err, "config.toml: no profile named 'prod' (profiles: contoso, lab, tls)");
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let path = Path::new("/home/ana/.config/autopilot-tui/config.toml");
        let bad_type = "[profiles.a]\ntenant = \"t\"\nread-only = \"yes\"\n";
        let err = parse(bad_type, path).unwrap_err().to_string();
        assert!(err.starts_with("/home/ana/.config/autopilot-tui/config.toml:3:13: "), "{err}");
        assert!(err.contains("bool"), "{err}");
        assert!(!err.contains("yes"), "{err}");
        let unknown = "[profiles.a]\ntennant = \"t\"\n";
        let err = parse(unknown, path).unwrap_err().to_string();
        assert!(err.contains(":2:1: ") && err.contains("tennant"), "{err}");
        let syntax = "[profiles.a\n";
        assert!(parse(syntax, path).unwrap_err().to_string().contains(":1:"));
    }

    #[test]
    fn a_secret_in_a_wrongly_typed_field_is_not_echoed() {
        let path = Path::new("config.toml");
        for text in [
            "[profiles.a]\nread-only = \"s3cr3t\"\n",
            "[profiles.a]\npage-size = \"s3cr3t\"\n",
            "[profiles.a]\nread-only = 'single-s3cr3t'\n",
            "[profiles.a]\ntenant = [\"s3cr3t\"]\n",
            "[profiles.a]\nclient-secret-file = { v = \"s3cr3t\" }\n",
            "[profiles.a]\nread-only = \"\"\"multi\ns3cr3t\"\"\"\n",
            "default-profile = 12345678\n",
        ] {
            let err = parse(text, path).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t") && !err.contains("12345678"), "{text:?} gave {err}");
            assert!(err.starts_with("config.toml:"), "{err}");
        }
        let err = parse("[profiles.a]\nread-only = \"s3cr3t\"\n", path).unwrap_err().to_string();
        assert_eq!(err, "config.toml:2:13: invalid type: string, expected a boolean");
    }

    fn args_with(config: &Path) -> Overrides {
        Overrides {
            config: Some(config.to_path_buf()),
            timeout: 30,
            max_response_mib: 64,
            ..Overrides::default()
        }
    }

    #[test]
    fn write_rate_from_flag_over_profile_over_default() {
        let dir = std::env::temp_dir().join(format!("autopilot-tui-config-rate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "default-profile = \"a\"\n[profiles.a]\nwrite-rate = \"50/20\"\n[profiles.b]\nwrite_rate = \"7/1\"\n[profiles.bad]\nwrite-rate = \"fast\"\n").unwrap();
        let s = Settings::resolve(&args_with(&path), None).unwrap();
        assert_eq!(s.write_rate, Rate::new(50, std::time::Duration::from_secs(20)));
        let mut args = args_with(&path);
        args.profile = Some("b".into());
        assert_eq!(
            Settings::resolve(&args, None).unwrap().write_rate,
            Rate::new(7, std::time::Duration::from_secs(1))
        );
        args.write_rate = Some(Rate::new(10, std::time::Duration::from_secs(2)));
        assert_eq!(
            Settings::resolve(&args, None).unwrap().write_rate,
            Rate::new(10, std::time::Duration::from_secs(2))
        );
        args.profile = Some("bad".into());
        args.write_rate = None;
        let err = Settings::resolve(&args, None).unwrap_err().to_string();
        assert!(err.contains("config.toml: write-rate 'fast' is not a rate"), "{err}");
        std::fs::write(&path, "").unwrap();
        assert_eq!(Settings::resolve(&args_with(&path), None).unwrap().write_rate, DEFAULT_WRITE_RATE);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn precedence_flag_over_profile_over_default() {
        let dir = std::env::temp_dir().join(format!("autopilot-tui-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        let secret_path = dir.join("secret");
        std::fs::write(&secret_path, "s3cret-value\n").unwrap();
        let text = EXAMPLE.replace(
            "page-size = 999\n",
            &format!("page-size = 999\nclient-secret-file = {secret_path:?}\n"),
        );
        std::fs::write(&path, text).unwrap();

        let s = Settings::resolve(&args_with(&path), None).unwrap();
        assert_eq!(s.base_url.as_deref(), Some("https://graph.microsoft.com/beta"));
        assert_eq!(s.collection, Collection::Upload);
        assert!(s.read_only);
        assert_eq!(s.page_size, 999);
        assert!(
            matches!(&s.sign_in, SignIn::ClientSecret { secret, .. } if secret.expose() == "s3cret-value")
        );

        let mut args = args_with(&path);
        args.collection = Some(Collection::DeviceManagement);
        args.page_size = Some(50);
        args.token = Some("tok".into());
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.collection, Collection::DeviceManagement);
        assert_eq!(s.page_size, 50);
        assert_eq!(s.sign_in, SignIn::Token(Secret::new("tok")));

        // The environment's secret wins over the profile's file.
        let s = Settings::resolve(&args_with(&path), Some("from-env".into())).unwrap();
        assert!(matches!(&s.sign_in, SignIn::ClientSecret { secret, .. } if secret.expose() == "from-env"));

        // No profile at all: demo mode; a URL without credentials is refused.
        let empty = dir.join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let s = Settings::resolve(&args_with(&empty), None).unwrap();
        assert_eq!((s.sign_in, s.base_url, s.page_size, s.read_only), (SignIn::Demo, None, 999, false));
        let mut args = args_with(&empty);
        args.base_url = Some("https://graph.microsoft.com/v1.0".into());
        let err = Settings::resolve(&args, None).unwrap_err().to_string();
        assert!(
            err.starts_with("no token for https://graph.microsoft.com/v1.0: give AUTOPILOT_TUI_TOKEN"),
            "{err}"
        );
        assert!(!err.contains("empty.toml"), "a file that gave nothing is blamed: {err}");
        // A token from a file.
        let token_file = dir.join("token");
        std::fs::write(&token_file, "file-token\n").unwrap();
        args.token_file = Some(token_file);
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.sign_in, SignIn::Token(Secret::new("file-token")));
        let mut args = args_with(&empty);
        args.tenant = Some("t".into());
        args.client_id = Some("c".into());
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.sign_in, SignIn::DeviceCode { tenant: "t".into(), client_id: "c".into() });
        assert_eq!(s.base_url.as_deref(), Some(GRAPH_V1));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn ca_file_from_flag_over_profile() {
        let dir = std::env::temp_dir().join(format!("autopilot-tui-config-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, EXAMPLE.replace("default-profile = \"contoso\"", "default-profile = \"tls\""))
            .unwrap();
        let mut args = args_with(&path);
        args.token = Some("tok".into());
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/tmp/autopilot-tui-serve.pem")));
        args.ca_file = Some("/elsewhere/ca.pem".into());
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/elsewhere/ca.pem")));
        assert_eq!(s.authority, "https://127.0.0.1:8443");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_file_is_empty_unless_named() {
        let path = Path::new("/nonexistent/autopilot-tui/config.toml");
        assert_eq!(load(path, false).unwrap(), ConfigFile::default());
        assert!(matches!(load(path, true), Err(ConfigError::Read { .. })));
    }
}
