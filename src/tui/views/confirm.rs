//! The write confirmation (method, URL, exact body, old -> new), the quit question and the
//! offer to restore an earlier session's drafts.

use crate::graph::resource::Kind;
use crate::terminal_text::escape_json_for_terminal;
use crate::tui::model::{Ask, Confirm, Model};
use crate::tui::views::device_form::short_binary;
use crate::tui::views::response_view::json_line;
use crate::tui::views::{Theme, centered, ellipsize};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use serde_json::Value;

fn show(value: &Value, kind: Kind, width: usize) -> String {
    match value {
        Value::Null => "null".to_string(),
        // A secret is never shown, not even in the confirmation.
        Value::String(_) if kind == Kind::Secret => "\"••••••\"".to_string(),
        Value::String(t) if kind == Kind::Binary => short_binary(t, width),
        Value::String(t) => format!("\"{}\"", ellipsize(t, width.saturating_sub(2))),
        other => other.to_string(),
    }
}

/// Draws the confirmation box.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, c: &Confirm) {
    let theme = Theme::of(model);
    let width = if area.width < 90 { area.width } else { (area.width - 8).min(140) };
    let inner_w = width.saturating_sub(2) as usize;
    let url_len = c.url.chars().count();
    let method = c.method;
    let (mut lines, url_rows) = if url_len + method.len() < inner_w {
        let head = format!("{method} ");
        (vec![Line::from(vec![Span::styled(head, theme.heading()), Span::raw(c.url.clone())])], 1)
    } else {
        let rows = 1 + url_len.div_ceil(inner_w.max(1));
        (vec![Line::from(Span::styled(method, theme.heading())), Line::from(c.url.clone())], rows)
    };
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Changes (old → new)", theme.heading())));
    let fixed_rows = lines.len();
    for ch in &c.body.changes {
        let spec = ch.field;
        let one_line = inner_w.saturating_sub(2 + 16 + 3) / 2;
        let (old, new) = (show(&ch.old, spec.kind, one_line), show(&ch.new, spec.kind, one_line));
        let fits = !old.ends_with('…') && !new.ends_with('…') && !old.contains('…');
        if fits {
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<16}", spec.label)),
                Span::styled(old, theme.dim()),
                Span::raw(" → "),
                Span::styled(new, theme.dirty()),
            ]));
        } else {
            let room = inner_w.saturating_sub(2 + 16 + 5);
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<16}", spec.label)),
                Span::styled(format!("old: {}", show(&ch.old, spec.kind, room)), theme.dim()),
            ]));
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<16}", "")),
                Span::styled(format!("new: {}", show(&ch.new, spec.kind, room)), theme.dirty()),
            ]));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Body (Content-Type: application/json)", theme.heading())));
    // The body as JSON, with what a terminal would not show written as `\uXXXX` (a `state`
    // sent whole may carry the server's own text).
    let mut shown = c.body.clone();
    for ch in c.body.changes.iter().filter(|ch| ch.field.kind == Kind::Secret) {
        if let Some(v) = shown.properties.get_mut(ch.field.path).filter(|v| v.is_string()) {
            *v = Value::String("••••••".into());
        }
    }
    for l in escape_json_for_terminal(&shown.to_pretty()).lines() {
        let l = if l.chars().count() > inner_w { ellipsize(l, inner_w) } else { l.to_string() };
        lines.push(json_line(&l, theme));
    }
    let height = (lines.len() - fixed_rows + 2 + url_rows + 2) as u16;
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let keys = Line::from(vec![
        Span::raw(" "),
        Span::styled("y/⏎", theme.key()),
        Span::raw(" send  "),
        Span::styled("n/Esc", theme.key()),
        Span::raw(" back to editing "),
    ]);
    let block = Block::bordered()
        .title(Span::styled(" Send this change? ", theme.heading()))
        .title_bottom(keys)
        .border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), r);
}

/// Draws the quit question. A save still in flight is named: its change may already have
/// reached the server, so "drops" would not be the truth for it.
pub fn draw_quit(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let n = model.unsaved_count();
    let s = if n == 1 { "device has" } else { "devices have" };
    let mut lines = vec![Line::from(format!("{n} {s} unsaved changes."))];
    match model.form.as_ref().filter(|_| model.form_saving().is_some()) {
        Some(form) => {
            lines.push(Line::from(format!("The save of {} is in flight:", form.label)));
            lines.push(Line::from("it may have reached the server."));
            if n > 1 {
                lines.push(Line::from("The other drafts stay saved."));
            }
        }
        None => lines.push(Line::from("They stay saved: the next start brings them back.")),
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" quit  "),
        Span::styled("d", theme.key()),
        Span::raw(" discard and quit  "),
        Span::styled("n", theme.key()),
        Span::raw(" stay"),
    ]));
    let r = centered(area, 52, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    let block =
        Block::bordered().title(Span::styled(" Quit? ", theme.heading())).border_style(theme.invalid());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}

/// Draws a yes/no question.
pub fn draw_ask(frame: &mut Frame, area: Rect, model: &Model, ask: &Ask) {
    let theme = Theme::of(model);
    let text = match ask {
        Ask::MarkShown { count, filter: Some(f) } => {
            format!("Mark the {count} devices the filter \"{f}\" shows?")
        }
        Ask::MarkShown { count, filter: None } => format!("Mark all {count} devices listed?"),
        Ask::DiscardDraft { label, .. } => {
            format!("Discard the unsaved draft of {label}? It cannot be brought back.")
        }
        Ask::DiscardAll { count } => {
            format!("Discard all {count} unsaved drafts? They cannot be brought back.")
        }
        Ask::ResumeJob { what, .. } => {
            format!(
                "An earlier session left a job unfinished: {what}. Resume it? (the pending records are read first: nothing is written twice)"
            )
        }
        Ask::CancelJob { title } => {
            format!("Cancel the {title}? The requests in flight finish; nothing more is sent.")
        }
    };
    let title = match ask {
        Ask::MarkShown { .. } => " Mark? ",
        Ask::DiscardDraft { .. } | Ask::DiscardAll { .. } => " Discard? ",
        Ask::CancelJob { .. } => " Cancel the job? ",
        Ask::ResumeJob { .. } => " Resume? ",
    };
    let width = area.width.min(64);
    let shown = crate::terminal_text::escape_for_terminal(&text);
    let mut lines: Vec<Line> =
        crate::tui::views::device_form::wrap_words(&shown, width.saturating_sub(2) as usize)
            .into_iter()
            .map(Line::from)
            .collect();
    let no = if matches!(ask, Ask::ResumeJob { .. }) { " drop it   Esc later" } else { " no" };
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" yes   "),
        Span::styled(if matches!(ask, Ask::ResumeJob { .. }) { "n" } else { "n/Esc" }, theme.key()),
        Span::raw(no),
    ]));
    let r = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}
