//! `:journal`: the write log, newest first: when, which record, what changed (before -> after),
//! the answer and what made the write.

use crate::tui::model::{Model, Typing};
use crate::tui::update::journal_view::shown;
use crate::tui::views::{Theme, ellipsize};
use crate::tui::wording::{ago, value_words};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Draws the view.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let list = shown(model);
    let journal = &model.journal;
    let total = crate::tui::update::journal_view::of_target(model).count();
    let count = if journal.filter.is_empty() {
        format!("{total}")
    } else {
        format!("{}/{total} matching {:?}", list.len(), journal.filter)
    };
    let title =
        if journal.loading { " Write log: reading… ".to_string() } else { format!(" Write log: {count} ") };
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    if model.typing == Typing::Filter {
        lines.push(Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(ellipsize(&journal.filter, width)),
        ]));
    }
    lines.push(Line::from(Span::styled(
        ellipsize(
            &format!("  {:<9} {:<14} {:<8} {:<6} {}", "WHEN", "RECORD", "SOURCE", "STATUS", "CHANGE"),
            width,
        ),
        theme.heading(),
    )));
    if list.is_empty() && !journal.loading {
        let empty = if journal.entries.is_empty() {
            "  No writes logged yet."
        } else {
            "  No write matches the filter."
        };
        lines.push(Line::from(Span::styled(empty, theme.dim())));
    }
    let height = (inner.height as usize).saturating_sub(lines.len());
    let selected = journal.selected.min(list.len().saturating_sub(1));
    let offset = (selected + 1).saturating_sub(height);
    for (i, e) in list.iter().enumerate().skip(offset).take(height) {
        let change: Vec<String> = e
            .after
            .iter()
            .map(|(path, after)| {
                let before = e.before.get(path).map_or_else(|| "?".to_string(), value_words);
                format!("{path} {before} → {}", value_words(after))
            })
            .collect();
        let undone = if e.undoes.is_some() { " (undo)" } else { "" };
        let text = format!(
            "  {:<9} {:<14} {:<8} {:<6} {}{undone}",
            ellipsize(&ago(&e.time, model.wall), 9),
            ellipsize(e.serial.as_deref().unwrap_or(&e.id), 14),
            e.source.word(),
            e.status,
            change.join(" · ")
        );
        let style = match (i == selected, e.succeeded()) {
            (true, _) => theme.selected(),
            (false, false) => theme.invalid(),
            (false, true) => Style::new(),
        };
        lines.push(Line::from(Span::styled(format!("{:<width$}", ellipsize(&text, width)), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
