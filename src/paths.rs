//! Where the app keeps its files: the platform's state directory (logs, recovered drafts,
//! saved exchanges). One place decides it, so every file lands beside the others.

use std::path::PathBuf;

/// `$XDG_STATE_HOME/autopilot-tui`, falling back to `~/.local/state/autopilot-tui`; `None`
/// when neither variable is set.
pub fn state_dir() -> Option<PathBuf> {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state_home.join("autopilot-tui"))
}
