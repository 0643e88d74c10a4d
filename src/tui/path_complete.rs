//! Tab completion of a file path at the end of a command line (`:import ~/Downloads/hw`),
//! as a shell does: one match is completed (a directory gets its `/`), several are completed
//! to what they share and listed. Reads the directory, so it runs as an effect.

use std::path::{Path, PathBuf};

/// What a Tab press makes of `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The line with its last word completed as far as it can be.
    pub line: String,
    /// The names that still match, when more than one does (directories end with `/`).
    pub candidates: Vec<String>,
}

/// Completes the last word of `line` (after the command word) against the file system.
pub fn complete(line: &str) -> Completion {
    let none = || Completion { line: line.to_string(), candidates: Vec::new() };
    let Some((head, word)) = split_last_word(line) else { return none() };
    let (dir_typed, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    let dir = expand_home(if dir_typed.is_empty() { "." } else { dir_typed });
    let Ok(entries) = std::fs::read_dir(&dir) else { return none() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            // Hidden files only when asked for.
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir())
                || std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    let shared = match names.as_slice() {
        [] => return none(),
        [only] => only.clone(),
        many => common_prefix(many),
    };
    let candidates = if names.len() > 1 { names } else { Vec::new() };
    Completion { line: format!("{head}{dir_typed}{shared}"), candidates }
}

/// `~/x` as a path below the home directory; anything else as it is.
pub fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/").or(if path == "~" { Some("") } else { None }) {
        Some(rest) => dirs::home_dir().map_or_else(|| PathBuf::from(path), |home| home.join(rest)),
        None => Path::new(path).to_path_buf(),
    }
}

/// The line up to its last word, and that word (`None` for a line without an argument yet).
fn split_last_word(line: &str) -> Option<(&str, &str)> {
    let first_space = line.find(' ')?;
    let rest = &line[first_space..];
    let start = first_space + rest.len() - rest.trim_start().len();
    let start = start.max(line.rfind(' ').map_or(start, |i| i + 1));
    Some((&line[..start], &line[start..]))
}

fn common_prefix(names: &[String]) -> String {
    let first = &names[0];
    let mut end = first.len();
    for name in &names[1..] {
        end = end.min(first.bytes().zip(name.bytes()).take_while(|(a, b)| a == b).count());
    }
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    first[..end].to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_match_completes_several_complete_to_what_they_share() {
        let dir = std::env::temp_dir().join(format!("ap-complete-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("hashes")).unwrap();
        std::fs::write(dir.join("devices-a.csv"), "").unwrap();
        std::fs::write(dir.join("devices-b.csv"), "").unwrap();
        std::fs::write(dir.join(".hidden.csv"), "").unwrap();
        let d = dir.display();
        assert_eq!(complete(&format!("import {d}/ha")).line, format!("import {d}/hashes/"));
        let several = complete(&format!("import {d}/dev"));
        assert_eq!(several.line, format!("import {d}/devices-"));
        assert_eq!(several.candidates, ["devices-a.csv", "devices-b.csv"]);
        assert_eq!(complete(&format!("import {d}/nothing")).line, format!("import {d}/nothing"));
        assert_eq!(
            complete(&format!("import {d}/")).candidates,
            ["devices-a.csv", "devices-b.csv", "hashes/"]
        );
        assert_eq!(complete("import").line, "import", "no argument yet: nothing to complete");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
