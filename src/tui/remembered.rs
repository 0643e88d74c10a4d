//! Which kind of record each profile showed last (`devices` or `imported`), so the next start
//! opens where the user left off. One small JSON file in the state directory, written
//! atomically; a file that cannot be read is the same as none (the default applies).

use crate::graph::resource::Resource;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file, in the state directory.
pub fn default_path() -> Option<PathBuf> {
    crate::paths::state_dir().map(|dir| dir.join("last-shown.json"))
}

/// The resource `key` (a profile, or `demo`) showed last, if it is remembered.
pub fn read(path: &Path, key: &str) -> Option<&'static Resource> {
    let text = std::fs::read_to_string(path).ok()?;
    let shown: BTreeMap<String, String> = serde_json::from_str(&text).ok()?;
    shown.get(key).and_then(|command| crate::graph::resource_by_command(command))
}

/// Remembers that `key` shows the resource of `command` now (the other keys stay).
pub fn write(path: &Path, key: &str, command: &str) -> std::io::Result<()> {
    let mut shown: BTreeMap<String, String> = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    if shown.get(key).is_some_and(|c| c == command) {
        return Ok(());
    }
    shown.insert(key.to_string(), command.to_string());
    let text = serde_json::to_string_pretty(&shown).map_err(std::io::Error::other)?;
    crate::paths::write_private(path, text.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_keeps_its_own_and_a_broken_file_is_no_memory() {
        let dir = std::env::temp_dir().join(format!("ap-remembered-{}", uuid::Uuid::new_v4()));
        let path = dir.join("last-shown.json");
        assert!(read(&path, "contoso").is_none());
        write(&path, "contoso", "devices").unwrap();
        write(&path, "demo", "imported").unwrap();
        assert_eq!(read(&path, "contoso").map(|r| r.command), Some("devices"));
        assert_eq!(read(&path, "demo").map(|r| r.command), Some("imported"));
        assert!(read(&path, "lab").is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(read(&path, "contoso").is_none());
        write(&path, "lab", "devices").unwrap();
        assert_eq!(read(&path, "lab").map(|r| r.command), Some("devices"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
