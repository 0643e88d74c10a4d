//! This session's requests as the inspector keeps them: each exchange, a listing page's
//! megabytes cut to its first kilobytes. Bodies are laid out for reading when shown (only the
//! selected one is), so two hundred kept pages do not cost a second, indented copy each.

use crate::graph::client::Exchange;
use crate::tui::wording::human_bytes;

/// How many requests the history keeps (older ones are dropped).
pub const HISTORY_CAP: usize = 200;
/// How much of a response body the history keeps per request.
pub const BODY_CAP: usize = 32 * 1024;
/// One request of the session, as the inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The exchange; a long response body is cut to [`BODY_CAP`].
    pub exchange: Exchange,
    /// The JSON document an Intune error nests in its message, pretty-printed.
    pub nested_pretty: Option<String>,
    /// Says the body was cut, and how large it was.
    pub body_note: Option<String>,
}

impl HistoryEntry {
    /// Records an exchange, keeping at most [`BODY_CAP`] bytes of its response body.
    pub fn new(mut exchange: Exchange) -> HistoryEntry {
        let full_len = exchange.response_body.len();
        let body_note = if full_len > BODY_CAP {
            let mut cut = BODY_CAP;
            while !exchange.response_body.is_char_boundary(cut) {
                cut -= 1;
            }
            exchange.response_body.truncate(cut);
            exchange.response_body.shrink_to_fit();
            Some(format!(
                "body cut to its first {} KB of {} to keep memory bounded",
                BODY_CAP / 1024,
                human_bytes(full_len)
            ))
        } else {
            None
        };
        // Only error answers nest a document in their message (pages are megabytes: not parsed).
        let failed = exchange.status.is_some_and(|s| !(200..300).contains(&s));
        let nested_pretty = serde_json::from_str::<serde_json::Value>(&exchange.response_body)
            .ok()
            .filter(|_| failed)
            .and_then(|doc| doc.pointer("/error/message").and_then(|m| m.as_str()).map(String::from))
            .and_then(|m| crate::graph::error::nested_document(&m))
            .and_then(|d| serde_json::to_string_pretty(&d).ok());
        HistoryEntry { exchange, nested_pretty, body_note }
    }

    /// The request body laid out for reading (JSON indented).
    pub fn request_pretty(&self) -> Option<String> {
        self.exchange.request_body.as_deref().map(readable_body)
    }

    /// The response body laid out for reading: JSON indented (as far as it goes when cut),
    /// anything else as received.
    pub fn response_pretty(&self) -> String {
        readable_body(&self.exchange.response_body)
    }
}

/// A body as the inspector shows it: JSON (whole, or cut short to its first kilobytes) laid
/// out two spaces a level; anything else exactly as received.
pub fn readable_body(text: &str) -> String {
    if text.trim_start().starts_with(['{', '[']) { indent_json(text) } else { text.to_string() }
}

/// JSON laid out two spaces a level, as `serde_json`'s pretty printer does, from JSON text that
/// may be cut short: it is indented as far as it goes instead of staying one long line.
/// Strings and numbers are kept exactly.
fn indent_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut strings = crate::terminal_text::JsonStrings::default();
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if strings.step(c) {
            out.push(c);
            continue;
        }
        match c {
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indenting_matches_serde_pretty_on_whole_json() {
        let text = r#"{"value":[{"id":"a","n":1.50,"s":"x, {y}: \"z\""},{}],"e":[],"t":true}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap().replace("1.5", "1.50");
        assert_eq!(indent_json(text), pretty);
    }

    #[test]
    fn indenting_a_cut_body_goes_as_far_as_it_can() {
        let cut = r#"{"value":[{"id":"a","hash":"AAEC"#;
        assert_eq!(
            indent_json(cut),
            "{\n  \"value\": [\n    {\n      \"id\": \"a\",\n      \"hash\": \"AAEC"
        );
        assert_eq!(readable_body("<html>Bad gateway</html>"), "<html>Bad gateway</html>");
        assert_eq!(readable_body(" [1,2]"), "[\n  1,\n  2\n]");
    }
}
