//! Single-line text editing, shared by the form's focused field, the `/` filter and the `:`
//! command line: the edit operations the key map produces, and the editor they apply to.

use ratatui::style::{Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

/// A change to the text of a single-line editor (form field or filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOp {
    /// Type one character.
    Insert(char),
    /// Paste text (bracketed paste); line breaks are handled per field.
    Paste(String),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Cursor left (in a choice field: previous value).
    Left,
    /// Cursor right (in a choice field: next value).
    Right,
    /// Cursor to the start.
    Home,
    /// Cursor to the end.
    End,
    /// Delete the word before the cursor.
    DeleteWord,
    /// Delete from the start to the cursor.
    DeleteToStart,
    /// Delete from the cursor to the end.
    DeleteToEnd,
}

/// A single-line editor holding `text`, cursor at the end.
pub fn line_editor(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut area = TextArea::new(vec![text.to_string()]);
    area.set_max_histories(0);
    area.set_cursor_line_style(Style::default());
    area.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    if !placeholder.is_empty() {
        area.set_placeholder_text(placeholder);
    }
    area.move_cursor(CursorMove::End);
    area
}

/// Applies one edit to a single-line editor. Line breaks in pasted text are dropped when
/// `drop_whitespace` (base64 is often wrapped) and a trailing line break is dropped always;
/// any other control character stays so validation can point at it. Returns whether the text
/// changed.
pub fn apply_edit(area: &mut TextArea<'static>, op: &EditOp, drop_whitespace: bool) -> bool {
    match op {
        EditOp::Insert(c) => {
            area.insert_char(*c);
            true
        }
        EditOp::Paste(text) => {
            let text = text.trim_end_matches(['\r', '\n']);
            let text: String = if drop_whitespace {
                text.chars().filter(|c| !c.is_whitespace()).collect()
            } else {
                text.to_string()
            };
            area.insert_str(text)
        }
        EditOp::Backspace => area.delete_char(),
        EditOp::Delete => area.delete_next_char(),
        EditOp::Left => {
            area.move_cursor(CursorMove::Back);
            false
        }
        EditOp::Right => {
            area.move_cursor(CursorMove::Forward);
            false
        }
        EditOp::Home => {
            area.move_cursor(CursorMove::Head);
            false
        }
        EditOp::End => {
            area.move_cursor(CursorMove::End);
            false
        }
        EditOp::DeleteWord => area.delete_word(),
        EditOp::DeleteToStart => area.delete_line_by_head(),
        EditOp::DeleteToEnd => area.delete_line_by_end(),
    }
}

/// The text of a single-line editor.
pub fn editor_text<'a>(area: &'a TextArea<'a>) -> &'a str {
    area.lines().first().map(String::as_str).unwrap_or("")
}
