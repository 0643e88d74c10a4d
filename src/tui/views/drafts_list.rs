//! `:drafts`: the unsaved drafts with their record, kind, changed fields and age.

use crate::tui::model::Model;
use crate::tui::update::drafts_view::{label_of, unsaved};
use crate::tui::views::{Theme, ellipsize};
use crate::tui::wording::{ago_of, value_words};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Draws the list.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let list = unsaved(model);
    let title = format!(" Unsaved drafts: {} (kept on disk until saved or discarded) ", list.len());
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        format!("  {:<14} {:<10} {:<10} {}", "SERIAL", "KIND", "AGE", "CHANGED"),
        theme.heading(),
    ))];
    let height = inner.height.saturating_sub(1) as usize;
    let selected = model.drafts_selected.min(list.len().saturating_sub(1));
    let offset = (selected + 1).saturating_sub(height);
    for (i, draft) in list.iter().enumerate().skip(offset).take(height) {
        let fields: Vec<String> = draft
            .dirty_fields()
            .iter()
            .map(|f| {
                let new = draft
                    .value(f)
                    .map_or_else(|_| format!("{:?} (not valid yet)", draft.text(f)), |v| value_words(&v));
                format!("{} {} → {new}", f.label, value_words(&draft.original_value(f)))
            })
            .collect();
        let age = model
            .draft_since
            .get(draft.id())
            .map_or_else(|| "just now".to_string(), |at| ago_of(*at, model.wall));
        let text = format!(
            "  {:<14} {:<10} {:<10} {}",
            ellipsize(&label_of(draft), 14),
            draft.resource.command,
            age,
            fields.join(", ")
        );
        let style = if i == selected { theme.selected() } else { ratatui::style::Style::new() };
        lines.push(Line::from(Span::styled(format!("{:<width$}", ellipsize(&text, width)), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
