//! The edit form of one record: one line per field in its resource's field table, changed
//! fields marked with their original value, validation shown on the field, and the last
//! failure. Everything comes from the descriptor: labels, kinds, caps, which fields edit.

use crate::graph::resource::{Field, Kind, Resource, Tone};
use crate::graph::validate::decode_binary;
use crate::terminal_text::{escape_for_terminal, needs_escape, visible};
use crate::tui::drafts::Draft;
use crate::tui::model::{FormState, Model};
use crate::tui::views::{Theme, ellipsize, spinner};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

const LABEL_W: usize = 16;
/// Columns before the value: focus mark, dirty mark, space, label, space.
const VALUE_X: u16 = 3 + LABEL_W as u16 + 1;

/// A hash shown short: `AAECAwQF…8v+A== (4096 bytes)`.
pub fn short_binary(text: &str, width: usize) -> String {
    if text.is_empty() {
        return String::new();
    }
    let size = match decode_binary(text) {
        Ok(bytes) => format!(" ({} bytes)", bytes.len()),
        Err(_) => " (not base64)".to_string(),
    };
    let room = width.saturating_sub(size.chars().count());
    let n = text.chars().count();
    let shown = if n <= room {
        text.to_string()
    } else if room > 12 {
        let tail: String = text.chars().skip(n - 8).collect();
        format!("{}…{tail}", text.chars().take(room - 9).collect::<String>())
    } else {
        ellipsize(text, room)
    };
    format!("{shown}{size}")
}

/// A field's text as the form shows it when not being typed into.
fn shown_value(field: &Field, text: &str, width: usize) -> String {
    match field.kind {
        Kind::Binary => short_binary(text, width),
        Kind::Secret if !text.is_empty() => "••••••".to_string(),
        _ => ellipsize(text, width),
    }
}

/// How an enum field's values are coloured: as the table's column of it is.
fn tone_of(resource: &Resource, field: &Field) -> Tone {
    let top = field.parent().unwrap_or(field.path);
    resource.columns.iter().find(|c| c.fields().contains(&top)).map_or(Tone::Plain, |c| c.tone)
}

enum Row {
    Main(&'static Field),
    Was(&'static Field),
    Error(&'static Field),
    Note(&'static Field),
}

impl Row {
    fn field(&self) -> &'static Field {
        match self {
            Row::Main(f) | Row::Was(f) | Row::Error(f) | Row::Note(f) => f,
        }
    }
}

fn rows_of(draft: &Draft, fields: &[&'static Field], focus: &Field) -> Vec<Row> {
    let mut rows = Vec::new();
    for &field in fields {
        rows.push(Row::Main(field));
        if draft.is_dirty(field) {
            rows.push(Row::Was(field));
        }
        if draft.error(field).is_some() {
            rows.push(Row::Error(field));
        }
        let focused = field.path == focus.path;
        if focused && (field.kind == Kind::Binary || hidden_char(&draft.text(field)).is_some()) {
            rows.push(Row::Note(field));
        }
    }
    rows
}

/// The note under the fields: what an empty field means, and the marks.
fn legend(resource: &Resource) -> String {
    let required: Vec<&str> = resource.editable().filter(|f| !f.nullable).map(|f| f.label).collect();
    let empty = if required.is_empty() {
        "Empty = null".to_string()
    } else {
        format!("Empty = null (not for {})", required.join(", "))
    };
    format!("{empty} · ● changed · ✗ refused")
}

/// Draws the form screen.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let Some(form) = model.form.as_ref() else { return };
    let draft = model.drafts.get(&form.device_id);
    let changed = draft.map(Draft::dirty_count).unwrap_or(0);
    let verb = if model.read_only { "View" } else { "Edit" };
    let mut title = vec![Span::styled(format!(" {verb} {} ", form.label), theme.heading())];
    if changed > 0 {
        let s = if changed == 1 { "" } else { "s" };
        title.push(Span::styled(format!("· {changed} field{s} changed "), theme.dirty()));
    } else if draft.is_some() {
        title.push(Span::styled("· no changes ", theme.dim()));
    }
    if model.form_saving().is_some() {
        title.push(Span::styled(format!("· {} saving… ", spinner(model)), theme.dim()));
    }
    if model.read_only {
        title.push(Span::styled("· read-only ", theme.badge_warn()));
    }
    let block = Block::bordered().title(Line::from(title)).border_style(theme.border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 10 {
        return;
    }

    let mut problem_lines = problem_lines(form, theme, inner.width as usize);
    if problem_lines.is_empty() {
        problem_lines = import_error_lines(draft, theme, inner.width as usize);
    }
    let problem_h = (problem_lines.len() as u16).min(inner.height / 2);
    let note_h = u16::from(inner.height > problem_h + 3);
    let fields_h = inner.height - problem_h - note_h;
    let fields_area = Rect { height: fields_h, ..inner };
    if problem_h > 0 {
        let r = Rect { y: inner.y + fields_h + note_h, height: problem_h, ..inner };
        frame.render_widget(Paragraph::new(problem_lines), r);
    }
    let Some(draft) = draft else {
        let text = if model.form_fetching().is_some() {
            format!("{} Fetching the whole device (with its hardware hash)…", spinner(model))
        } else {
            "The device could not be fetched. Esc goes back; the response is in the inspector (^O).".into()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())).wrap(Wrap { trim: true }),
            fields_area,
        );
        return;
    };
    if note_h == 1 {
        let r = Rect { y: inner.y + fields_h, height: 1, ..inner };
        let note = legend(form.resource);
        frame.render_widget(
            Paragraph::new(Span::styled(ellipsize(&note, inner.width as usize), theme.dim())),
            r,
        );
    }

    let fields: Vec<&'static Field> = form.resource.fields_at(model.table.beta).collect();
    let rows = rows_of(draft, &fields, form.focus);
    let height = fields_area.height as usize;
    let is_focus = |r: &Row| r.field().path == form.focus.path;
    let focus_first = rows.iter().position(|r| matches!(r, Row::Main(_)) && is_focus(r)).unwrap_or(0);
    let focus_last = rows.iter().rposition(is_focus).unwrap_or(focus_first);
    let offset = (focus_last + 1).saturating_sub(height).min(focus_first);
    let value_w = (inner.width.saturating_sub(VALUE_X)) as usize;
    let indent = || Span::raw(" ".repeat(VALUE_X as usize));
    for (i, row) in rows.iter().skip(offset).take(height).enumerate() {
        let r = Rect { y: fields_area.y + i as u16, height: 1, ..fields_area };
        let line = match row {
            Row::Main(f) => {
                draw_main(frame, r, model, form, draft, f, is_focus(row), value_w);
                continue;
            }
            Row::Was(f) => {
                let orig = f.display(&draft.original).into_owned();
                let orig = if orig.is_empty() && f.nullable { "null".to_string() } else { orig };
                let text = shown_value(f, &orig, value_w.saturating_sub(5));
                Line::from(vec![indent(), Span::styled(format!("was: {text}"), theme.dim())])
            }
            Row::Error(f) => {
                let e = draft.error(f).map(|e| e.to_string()).unwrap_or_default();
                let e = format!("✗ {}", ellipsize(&e, value_w.saturating_sub(2)));
                Line::from(vec![indent(), Span::styled(e, theme.invalid())])
            }
            Row::Note(f) if f.kind != Kind::Binary => {
                // The editor shows the text as it is; say what in it does not show.
                let note = match hidden_char(&draft.text(f)) {
                    Some((position, c)) => {
                        format!(
                            "holds {} at position {position}, which does not show in the editor",
                            visible(c)
                        )
                    }
                    None => String::new(),
                };
                Line::from(vec![indent(), Span::styled(ellipsize(&note, value_w), theme.invalid())])
            }
            Row::Note(f) => {
                let text = draft.text(f);
                let size = match decode_binary(&text) {
                    Ok(b) if !b.is_empty() => format!("{} bytes", b.len()),
                    Ok(_) => "empty: null".to_string(),
                    Err(_) => "does not decode".to_string(),
                };
                let cap = f.max_len.unwrap_or(0);
                let note =
                    format!("{size} · {}/{cap} chars · ^U, then paste a new hash", text.chars().count());
                Line::from(vec![indent(), Span::styled(ellipsize(&note, value_w), theme.dim())])
            }
        };
        frame.render_widget(Paragraph::new(line), r);
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_main(
    frame: &mut Frame,
    r: Rect,
    model: &Model,
    form: &FormState,
    draft: &Draft,
    field: &'static Field,
    focused: bool,
    value_w: usize,
) {
    let theme = Theme::of(model);
    let dirty = draft.is_dirty(field);
    let invalid = draft.error(field).is_some();
    let label_style = if focused {
        theme.selected()
    } else if invalid {
        theme.invalid()
    } else if dirty {
        theme.dirty()
    } else {
        Style::new()
    };
    let mark = if invalid {
        "✗"
    } else if dirty {
        "●"
    } else {
        " "
    };
    let mut spans = vec![
        Span::styled(if focused { "▸" } else { " " }, theme.key()),
        Span::styled(mark, if invalid { theme.invalid() } else { theme.dirty() }),
        Span::raw(" "),
        Span::styled(format!("{:<w$}", field.label, w = LABEL_W), label_style),
        Span::raw(" "),
    ];
    let value_rect = Rect { x: r.x + VALUE_X, width: value_w as u16, ..r };
    let text = draft.text(field);
    match field.kind {
        _ if !field.editable => {
            spans.push(Span::styled(
                ellipsize(&text, value_w.saturating_sub(12)),
                theme.dim().add_modifier(Modifier::ITALIC),
            ));
            spans.push(Span::styled("  read-only", theme.dim()));
            frame.render_widget(Paragraph::new(Line::from(spans)), r);
        }
        Kind::Enum(values) => {
            let tone = tone_of(form.resource, field);
            if focused {
                // The options are padded; start one column early so the text lines up.
                spans.pop();
                for v in values {
                    let style = if *v == text { theme.selected() } else { theme.dim() };
                    spans.push(Span::styled(format!(" {v} "), style));
                }
                spans.push(Span::styled("  ←/→", theme.key()));
            } else {
                spans.push(Span::styled(text.clone(), theme.tone(tone, &text)));
            }
            frame.render_widget(Paragraph::new(Line::from(spans)), r);
        }
        _ => {
            frame.render_widget(Paragraph::new(Line::from(spans)), r);
            if focused && !model.read_only {
                let value_rect = match length_counter(field, &text, value_w) {
                    // The field's cap, shown while typing: `10/512`.
                    Some((counter, over)) => {
                        let w = counter.chars().count() as u16;
                        let style = if over { theme.invalid() } else { theme.dim() };
                        let at = Rect { x: value_rect.x + value_rect.width - w, width: w, ..value_rect };
                        frame.render_widget(Paragraph::new(Span::styled(counter, style)), at);
                        Rect { width: value_rect.width - w, ..value_rect }
                    }
                    None => value_rect,
                };
                frame.render_widget(&form.editor, value_rect);
            } else {
                let line = if text.is_empty() && field.nullable {
                    Span::styled("null", theme.dim())
                } else {
                    Span::raw(shown_value(field, &text, value_w))
                };
                frame.render_widget(Paragraph::new(line), value_rect);
            }
        }
    }
}

/// The first character of `text` that a terminal would not show as itself, and its position
/// (from 1).
fn hidden_char(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| needs_escape(*c)).map(|(i, c)| (i + 1, c))
}

/// ` 10/512` for a focused text field with a cap, when the row has room for it (a hash shows
/// its cap in its note row instead); `true` when the text is over the cap.
fn length_counter(field: &Field, text: &str, value_w: usize) -> Option<(String, bool)> {
    let max = field.max_len.filter(|_| field.kind != Kind::Binary)?;
    let chars = text.chars().count();
    let counter = format!(" {chars}/{max}");
    (value_w >= counter.len() + 20).then_some((counter, chars > max))
}

/// An imported identity that failed: its error in plain words with the next step (the same
/// words `import` prints and the results file holds).
fn import_error_lines(draft: Option<&Draft>, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let Some(explained) = draft.and_then(|d| crate::graph::import_errors::explain_state(&d.original)) else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("Import failed: {}", escape_for_terminal(&explained.title())),
        theme.invalid(),
    ))];
    for chunk in wrap_words(&escape_for_terminal(&explained.words()), width.saturating_sub(4).max(10)) {
        lines.push(Line::from(format!("  {chunk}")));
    }
    lines
}

fn problem_lines(form: &FormState, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let Some(p) = &form.problem else { return Vec::new() };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("✗ {}", escape_for_terminal(&p.title)), theme.invalid()),
        Span::styled("  ^O full response", theme.dim()),
    ])];
    // Wrapped here (not by the paragraph) so the box knows its height; continuation indented.
    // The lines hold the server's message: escaped like every server text.
    let room = width.saturating_sub(4).max(10);
    for l in &p.lines {
        for (i, chunk) in wrap_words(&escape_for_terminal(l), room).into_iter().enumerate() {
            let indent = if i == 0 { "  " } else { "    " };
            lines.push(Line::from(format!("{indent}{chunk}")));
        }
    }
    lines
}

/// Greedy word wrap to `width` columns; a word longer than a line is cut hard.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                out.push(std::mem::take(&mut line));
                continue;
            }
            let rest = word.split_off(width);
            out.push(word.iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap_words("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap_words("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
        assert_eq!(wrap_words("", 3), [""]);
    }

    #[test]
    fn short_hash_keeps_both_ends_and_the_size() {
        let h = crate::graph::validate::encode_binary(&[7u8; 4096]);
        let s = short_binary(&h, 40);
        assert!(s.ends_with("(4096 bytes)"), "{s}");
        assert!(s.chars().count() <= 40);
        assert_eq!(short_binary("%%", 40), "%% (not base64)");
    }
}
