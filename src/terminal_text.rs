//! Text from a server (or any other stranger) made safe to show on a terminal: control
//! characters that would move the cursor, change the title, write the clipboard (OSC 52) or
//! clear the screen, bidi controls that reorder what is shown, and characters that show as
//! nothing are all written as a visible `⟨U+XXXX⟩`. Every place that prints such text to a
//! terminal (the CLI's messages, `list` to a terminal, the TUI's cells) goes through here.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a character can drive or mislead a terminal: C0 controls, DEL, C1 controls (8-bit
/// CSI, OSC, ...), and the bidi embeddings, overrides, isolates and marks that reorder text.
pub fn is_terminal_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether a character shows as nothing (or nearly) though it is there: zero-width spaces and
/// joiners, invisible operators, the byte-order mark, soft hyphen, fillers, tag characters
/// (which can smuggle hidden ASCII), line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}'
        | '\u{2060}'..='\u{2065}' | '\u{206a}'..='\u{206f}' | '\u{3164}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// Whether a character is written as `⟨U+XXXX⟩` by [`escape_for_terminal`].
pub fn needs_escape(c: char) -> bool {
    is_terminal_control(c) || is_invisible(c)
}

/// How a character is shown when escaped: `⟨U+001B⟩`.
pub fn visible(c: char) -> String {
    format!("⟨U+{:04X}⟩", c as u32)
}

/// The text with every control, bidi and invisible character written as `⟨U+XXXX⟩`; one line,
/// so line breaks and tabs are escaped too. Borrowed when nothing needed escaping.
pub fn escape_for_terminal(text: &str) -> Cow<'_, str> {
    escape_with(text, needs_escape)
}

/// [`escape_for_terminal`] keeping `\n` and `\t`, for messages of several lines.
pub fn escape_for_terminal_keeping_lines(text: &str) -> Cow<'_, str> {
    escape_with(text, |c| c != '\n' && c != '\t' && needs_escape(c))
}

fn escape_with(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = text.find(&escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if escape(c) {
            out.push_str(&visible(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where JSON text read a character at a time stands: inside a string or not (escapes
/// followed), for code that walks JSON text without parsing it (it may be cut short).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonStrings {
    in_string: bool,
    escaped: bool,
}

impl JsonStrings {
    /// Takes the next character; true when it belongs to a string (its quotes included).
    pub fn step(&mut self, c: char) -> bool {
        if !self.in_string {
            self.in_string = c == '"';
            return self.in_string;
        }
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' {
            self.escaped = true;
        } else if c == '"' {
            self.in_string = false;
        }
        true
    }
}

/// JSON text made safe for a terminal while staying JSON: characters that [`needs_escape`]
/// would flag become `\uXXXX` escapes (they can only stand inside strings in JSON written by
/// serde, and raw whitespace other than a space or `\n` is dropped between tokens).
pub fn escape_json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.contains(|c: char| c != '\n' && needs_escape(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut strings = JsonStrings::default();
    for c in json.chars() {
        let in_string = strings.step(c);
        if c == '\n' || !needs_escape(c) {
            out.push(c);
        } else if in_string {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
        // Outside a string only JSON whitespace can be a control (`\r`, `\t`): drop it.
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_attacks_are_made_visible() {
        let osc52 = "copy \u{1b}]52;c;ZWNobyBoaQ==\u{7} done";
        assert_eq!(escape_for_terminal(osc52), "copy ⟨U+001B⟩]52;c;ZWNobyBoaQ==⟨U+0007⟩ done");
        assert_eq!(escape_for_terminal("\u{1b}[2J"), "⟨U+001B⟩[2J");
        assert_eq!(escape_for_terminal("a\u{9b}2Jb\u{7f}"), "a⟨U+009B⟩2Jb⟨U+007F⟩");
        assert_eq!(escape_for_terminal("user\u{202e}gpj.exe"), "user⟨U+202E⟩gpj.exe");
        assert_eq!(escape_for_terminal("\u{2066}x\u{2069}"), "⟨U+2066⟩x⟨U+2069⟩");
        assert_eq!(escape_for_terminal("Sales\u{200b}"), "Sales⟨U+200B⟩");
        assert_eq!(escape_for_terminal("tag\u{e0041}"), "tag⟨U+E0041⟩");
        assert_eq!(escape_for_terminal("a\nb\tc\r"), "a⟨U+000A⟩b⟨U+0009⟩c⟨U+000D⟩");
        assert_eq!(escape_for_terminal_keeping_lines("a\nb\tc\r"), "a\nb\tc⟨U+000D⟩");
    }

    #[test]
    fn plain_text_is_borrowed_untouched() {
        for text in ["", "PF3ABCDE", "jia.tanaka@contoso.com", "Zürich – 東京 ✓ émoji 🙂"] {
            assert!(matches!(escape_for_terminal(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }

    #[test]
    fn json_stays_json() {
        let doc = serde_json::json!({"groupTag": "a\u{202e}b\u{9b}c\u{1b}d", "n": 1, "e": "\\\"\u{200b}"});
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let safe = escape_json_for_terminal(&text);
        assert!(!safe.chars().any(|c| c != '\n' && needs_escape(c)), "{safe}");
        assert!(safe.contains("\\u202e") && safe.contains("\\u009b") && safe.contains("\\u200b"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, doc);
        assert_eq!(escape_json_for_terminal("{\r\"a\":\t1}"), "{\"a\":1}");
        let astral = serde_json::to_string(&"x\u{e0041}").unwrap();
        let back: String = serde_json::from_str(&escape_json_for_terminal(&astral)).unwrap();
        assert_eq!(back, "x\u{e0041}");
    }
}
