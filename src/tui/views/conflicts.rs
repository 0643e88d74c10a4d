//! The three-way view of a save stopped by conflicts: for each field both changed, the value
//! the draft started from, the server's value now, and the user's, with the pick so far.

use crate::tui::model::{ConflictView, Model, Pick};
use crate::tui::views::{Theme, centered, ellipsize};
use crate::tui::wording::value_words;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Draws the view over `area`.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, view: &ConflictView) {
    let theme = Theme::of(model);
    let width = area.width.saturating_sub(4).min(100);
    let inner = width.saturating_sub(2) as usize;
    let mut lines = vec![
        Line::from(ellipsize(
            &format!("{} changed on the server too; nothing has been sent.", view.label),
            inner,
        )),
        Line::from(Span::styled(
            ellipsize("Pick a value per field (o / s / m), then ⏎; the save is confirmed after.", inner),
            theme.dim(),
        )),
        Line::from(""),
    ];
    let value_w = inner.saturating_sub(16).max(10);
    // Where each field's lines start, so the selected one is kept on screen.
    let mut starts = Vec::new();
    for (i, (c, pick)) in view.items.iter().enumerate() {
        starts.push(lines.len());
        let here = i == view.selected;
        let marker = if here { "▶ " } else { "  " };
        let state = match pick {
            None => Span::styled("  (to decide)", theme.invalid()),
            Some(p) => Span::styled(format!("  (keeping {})", word(*p)), theme.dirty()),
        };
        let head = if here { theme.selected() } else { theme.heading() };
        lines.push(Line::from(vec![Span::styled(format!("{marker}{}", c.field.label), head), state]));
        for (p, value) in [(Pick::Original, &c.original), (Pick::Server, &c.server), (Pick::Mine, &c.mine)] {
            let chosen = *pick == Some(p);
            let style = if chosen { theme.dirty() } else { Style::new() };
            let mark = if chosen { "●" } else { " " };
            // A long value wraps under itself rather than being cut: it is what is decided on.
            let wrapped = crate::tui::views::device_form::wrap_words(&value_words(value), value_w);
            for (n, chunk) in wrapped.into_iter().enumerate() {
                let lead = if n == 0 { format!("   {mark} {:<10}", label(p)) } else { " ".repeat(15) };
                lines.push(Line::from(vec![
                    Span::styled(lead, if chosen { theme.dirty() } else { theme.dim() }),
                    Span::styled(chunk, style),
                ]));
            }
        }
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .title(Span::styled(" Conflicts: changed on the server too ", theme.heading()))
        .border_style(theme.key());
    let room = height.saturating_sub(2) as usize;
    let selected_end = starts.get(view.selected + 1).copied().unwrap_or(lines.len());
    let scroll = selected_end.saturating_sub(room) as u16;
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), r);
}

fn label(p: Pick) -> &'static str {
    match p {
        Pick::Original => "original",
        Pick::Server => "server",
        Pick::Mine => "mine",
    }
}

fn word(p: Pick) -> &'static str {
    match p {
        Pick::Original => "the original",
        Pick::Server => "the server's",
        Pick::Mine => "yours",
    }
}
