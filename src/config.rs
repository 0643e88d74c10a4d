//! The profiles file (`autopilot-tui/config.toml` in the platform's config dir): named
//! connection settings. Precedence is flag > environment > profile > default; clap resolves
//! the first two, [`Profile`] supplies the third.

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

/// Parses config text; `path` only names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_and_column(text, offset);
        ConfigError::Parse { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
    })
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
        let err = file.select(Some("prod"), path).unwrap_err().to_string();
        assert_eq!(err, "config.toml: no profile named 'prod' (profiles: contoso, lab)");
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let path = Path::new("/home/ana/.config/autopilot-tui/config.toml");
        let bad_type = "[profiles.a]\ntenant = \"t\"\nread-only = \"yes\"\n";
        let err = parse(bad_type, path).unwrap_err().to_string();
        assert!(err.starts_with("/home/ana/.config/autopilot-tui/config.toml:3:13: "), "{err}");
        assert!(err.contains("bool"), "{err}");
        let unknown = "[profiles.a]\ntennant = \"t\"\n";
        let err = parse(unknown, path).unwrap_err().to_string();
        assert!(err.contains(":2:1: ") && err.contains("tennant"), "{err}");
        let syntax = "[profiles.a\n";
        assert!(parse(syntax, path).unwrap_err().to_string().contains(":1:"));
    }

    #[test]
    fn missing_file_is_empty_unless_named() {
        let path = Path::new("/nonexistent/autopilot-tui/config.toml");
        assert_eq!(load(path, false).unwrap(), ConfigFile::default());
        assert!(matches!(load(path, true), Err(ConfigError::Read { .. })));
    }
}
