//! The dialog of an action on one record: the request it sends, what is typed for it (a user
//! to assign, the serial a delete asks for), the body, and what went wrong.

use crate::graph::client::{action_url_in, item_url_in};
use crate::graph::resource::{Guard, Kind};
use crate::tui::model::{ActionDialog, Model};
use crate::tui::views::{Theme, centered, ellipsize};
use crate::tui::wording::capitalised;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// How wide a label column is.
const LABEL_W: usize = 22;

/// Draws the dialog over `area`.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, d: &ActionDialog) {
    let theme = Theme::of(model);
    let width = area.width.min(96);
    let inner = width.saturating_sub(2) as usize;
    let item = item_url_in(&model.collection_url(d.resource), &d.device_id);
    let (method, url) = action_url_in(&item, d.action.request);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{method} "), theme.heading()),
        Span::raw(ellipsize(&url, inner.saturating_sub(method.len() + 1))),
    ])];
    let about = format!("{} · needs {}", d.action.help, d.action.permission);
    for piece in wrap_words(&about, inner) {
        lines.push(Line::from(Span::styled(piece, theme.dim())));
    }
    lines.push(Line::from(""));
    if d.action.guard == Guard::Confirm && d.action.inputs.is_empty() {
        lines.push(Line::from(ellipsize(&format!("{} on {}?", capitalised(d.action.name), d.label), inner)));
    }
    // One line per input, then the serial a delete asks for; the focused one is an editor.
    let mut editor_at = None;
    let typed = d.action.inputs.iter().zip(&d.inputs).map(|(f, text)| (f.label, f.kind, text.clone()));
    let guard = (d.action.guard == Guard::TypeSerial)
        .then(|| ("Serial, to confirm", Kind::Text, d.guard_text.clone()));
    for (i, (label, kind, text)) in typed.chain(guard).enumerate() {
        let focused = i == d.focus && d.sending.is_none();
        let shown = match (kind, text) {
            (Kind::Secret, t) if !t.is_empty() => "••••••".to_string(),
            (_, t) => t,
        };
        let label_style = if focused { theme.selected() } else { theme.heading() };
        if focused {
            editor_at = Some(lines.len());
        }
        lines.push(Line::from(vec![
            Span::styled(if focused { "▸ " } else { "  " }, theme.key()),
            Span::styled(format!("{:<LABEL_W$}", ellipsize(label, LABEL_W)), label_style),
            Span::raw(" "),
            Span::raw(if focused {
                String::new()
            } else {
                ellipsize(&shown, inner.saturating_sub(LABEL_W + 3))
            }),
        ]));
    }
    if d.action.guard == Guard::TypeSerial {
        lines.push(Line::from(Span::styled(
            ellipsize(
                &format!("  {} cannot be taken back: type {} above", capitalised(d.action.name), d.label),
                inner,
            ),
            theme.dim(),
        )));
    }
    if let Some(body) = preview_body(d) {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("Body", theme.heading())));
        for l in crate::terminal_text::escape_json_for_terminal(&body).lines() {
            lines.push(Line::from(ellipsize(&format!("  {l}"), inner)));
        }
    }
    if let Some(p) = &d.problem {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(ellipsize(&p.title, inner), theme.invalid())));
        for l in &p.lines {
            // Long advice wraps at word boundaries by hand, so nothing is lost off the edge.
            for piece in wrap_words(&crate::terminal_text::escape_for_terminal(l), inner.saturating_sub(2)) {
                lines.push(Line::from(Span::styled(format!("  {piece}"), theme.invalid())));
            }
        }
    }
    if d.sending.is_some() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("Sending… (Esc closes; the answer still shows)", theme.dim())));
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let title = format!(" {} {} ", capitalised(d.action.name), d.label);
    let block = Block::bordered()
        .title(Span::styled(ellipsize(&title, inner), theme.heading()))
        .border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block), r);
    if let Some(row) = editor_at {
        let y = r.y + 1 + row as u16;
        let x = r.x + 1 + 2 + LABEL_W as u16 + 1;
        if y < r.y + r.height.saturating_sub(1) && x < r.x + r.width.saturating_sub(1) {
            let editor = Rect { x, y, width: r.x + r.width - 1 - x, height: 1 };
            frame.render_widget(&d.editor, editor);
        }
    }
}

/// The body the action would send now, inputs as typed (secret ones hidden).
fn preview_body(d: &ActionDialog) -> Option<String> {
    if d.action.inputs.is_empty() {
        return None;
    }
    let body: serde_json::Map<String, serde_json::Value> = d
        .action
        .inputs
        .iter()
        .zip(&d.inputs)
        .map(|(f, text)| {
            let shown =
                if f.kind == Kind::Secret && !text.is_empty() { "••••••" } else { text.trim() };
            (f.path.to_string(), serde_json::Value::String(shown.to_string()))
        })
        .collect();
    serde_json::to_string_pretty(&body).ok()
}

/// Cuts text into lines of at most `width` characters at spaces (a longer word is cut).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let rest: String = line.chars().skip(width).collect();
            out.push(line.chars().take(width).collect());
            line = rest;
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}
