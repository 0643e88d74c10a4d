//! One request and its answer as text: the inspector's detail lines (bodies indented, long
//! lines wrapped when asked) and the file `s` saves. Pure; the views colour what this returns.

use crate::tui::history::HistoryEntry;
use crate::tui::wording::{clock, duration};

/// What a detail line is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A section title.
    Heading,
    /// Headers and other plain text.
    Plain,
    /// A line of a JSON body.
    Json,
    /// The continuation of a wrapped JSON line (mostly the inside of a long string).
    JsonMore,
    /// Notes.
    Dim,
    /// The status line.
    Status,
}

/// The detail lines of an exchange; with `wrap`, lines longer than that many columns continue
/// on the next lines (indented like the line they continue).
pub fn lines(entry: &HistoryEntry, wrap: Option<usize>) -> Vec<(Kind, String)> {
    let ex = &entry.exchange;
    let mut out = vec![
        (Kind::Heading, format!("{} {}", ex.method, ex.url)),
        (
            Kind::Status,
            format!(
                "{}  ·  {}  ·  started {} UTC",
                ex.status_line(),
                duration(ex.duration),
                clock(ex.started_at)
            ),
        ),
    ];
    if let Some(t) = &ex.transport_error {
        out.push((Kind::Status, format!("no answer: {t}")));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Request headers".into()));
    out.extend(ex.request_headers.iter().map(|(k, v)| (Kind::Plain, format!("  {k}: {v}"))));
    if let Some(body) = entry.request_pretty() {
        out.push((Kind::Plain, String::new()));
        out.push((Kind::Heading, "Request body".into()));
        out.extend(body.lines().map(|l| (Kind::Json, format!("  {l}"))));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Response headers".into()));
    out.extend(ex.response_headers.iter().map(|(k, v)| (Kind::Plain, format!("  {k}: {v}"))));
    if let Some(nested) = &entry.nested_pretty {
        out.push((Kind::Plain, String::new()));
        out.push((Kind::Heading, "Intune error message, decoded".into()));
        out.extend(nested.lines().map(|l| (Kind::Json, format!("  {l}"))));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Response body".into()));
    if let Some(note) = &entry.body_note {
        out.push((Kind::Dim, format!("  ({note})")));
    }
    let response = entry.response_pretty();
    if response.is_empty() {
        out.push((Kind::Dim, "  (empty)".into()));
    }
    out.extend(response.lines().map(|l| (Kind::Json, format!("  {l}"))));
    // Everything above came from a server or holds what it sent back: never raw to a terminal.
    for (_, text) in &mut out {
        if let std::borrow::Cow::Owned(safe) = crate::terminal_text::escape_for_terminal(text) {
            *text = safe;
        }
    }
    match wrap {
        Some(width) if width > 8 => {
            out.into_iter().flat_map(|(kind, text)| wrapped(kind, text, width)).collect()
        }
        _ => out,
    }
}

/// One line cut into `width`-column pieces; continuations keep the line's indentation (plus
/// two) so a wrapped header or string reads as one.
fn wrapped(kind: Kind, text: String, width: usize) -> Vec<(Kind, String)> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return vec![(kind, text)];
    }
    let indent = (chars.iter().take_while(|c| **c == ' ').count() + 2).min(width / 2);
    let more = if kind == Kind::Json { Kind::JsonMore } else { kind };
    let mut out = vec![(kind, chars[..width].iter().collect())];
    let room = width - indent;
    for piece in chars[width..].chunks(room) {
        out.push((more, format!("{}{}", " ".repeat(indent), piece.iter().collect::<String>())));
    }
    out
}

/// The exchange as a text file: the request and the answer the way HTTP writes them, with the
/// `Authorization` header already redacted (the client never records it otherwise).
pub fn as_file(entry: &HistoryEntry) -> String {
    let ex = &entry.exchange;
    let mut out = format!("{} {}\n", ex.method, ex.url);
    for (k, v) in &ex.request_headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(body) = &ex.request_body {
        out.push('\n');
        out.push_str(body);
        out.push('\n');
    }
    out.push('\n');
    match ex.status {
        Some(_) => out.push_str(&format!("HTTP {}\n", ex.status_line())),
        None => {
            out.push_str(&format!("(no answer: {})\n", ex.transport_error.as_deref().unwrap_or("unknown")))
        }
    }
    for (k, v) in &ex.response_headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push('\n');
    if let Some(note) = &entry.body_note {
        out.push_str(&format!("# {note}\n"));
    }
    out.push_str(&ex.response_body);
    out.push('\n');
    out
}

/// The file name `s` saves an exchange under: method, status and the client-request-id
/// support asks for.
pub fn file_name(entry: &HistoryEntry) -> String {
    let ex = &entry.exchange;
    let status = ex.status.map_or_else(|| "no-answer".to_string(), |s| s.to_string());
    let id = if ex.client_request_id.is_empty() { "unsent" } else { ex.client_request_id.as_str() };
    format!("{}-{status}-{id}.txt", ex.method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_escaped_in_every_line() {
        let mut ex = crate::tui::fixtures::exchange(
            "GET",
            "/x",
            400,
            None,
            "{\"error\":\"\u{1b}]52;c;aGk=\u{7}\u{202e}\"}",
        );
        ex.response_headers.push(("x-evil".into(), "\u{1b}[2J".into()));
        let entry = HistoryEntry::new(ex);
        let all: String = lines(&entry, Some(60)).into_iter().map(|(_, t)| t).collect();
        assert!(!all.chars().any(crate::terminal_text::needs_escape), "{all}");
        assert!(all.contains("⟨U+001B⟩]52") && all.contains("⟨U+202E⟩"), "{all}");
    }

    #[test]
    fn wrapping_keeps_indentation_and_every_character() {
        let line = format!("  \"hash\": \"{}\"", "A".repeat(50));
        let pieces = wrapped(Kind::Json, line.clone(), 20);
        assert!(pieces.iter().all(|(_, t)| t.chars().count() <= 20), "{pieces:?}");
        assert_eq!(pieces[1].0, Kind::JsonMore);
        assert!(pieces[1].1.starts_with("    A"));
        let joined: String = pieces.iter().map(|(_, t)| t.trim_start()).collect();
        assert_eq!(joined, line.trim_start());
    }
}
