//! Where the app keeps its files: the platform's state directory (logs, recovered drafts,
//! saved exchanges). One place decides it, so every file lands beside the others.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `$XDG_STATE_HOME/autopilot-tui`, falling back to `~/.local/state/autopilot-tui`; `None`
/// when neither variable is set.
pub fn state_dir() -> Option<PathBuf> {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state_home.join("autopilot-tui"))
}

/// Writes a file readable by the user only, atomically: a temporary file beside it, synced,
/// then renamed over it, so a crash leaves the old file or the new one, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
