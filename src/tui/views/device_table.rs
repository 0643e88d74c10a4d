//! The device table: columns that fit the terminal, the filter line, the sort indicator and
//! the unsaved-draft marker. Only the visible rows are built.

use crate::graph::resource::Cell;
use crate::tui::layout::table_shows_filter_line;
use crate::tui::model::{Model, Typing};
use crate::tui::table::columns::layout;
use crate::tui::views::{Theme, ellipsize};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the table screen.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    if area.height < 2 {
        return;
    }
    let filter_line = table_shows_filter_line(model);
    let table_h = area.height.saturating_sub(1 + u16::from(filter_line));
    let headings = Rect { height: 1, ..area };
    let body = Rect { y: area.y + 1, height: table_h, ..area };
    // `●` an unsaved draft; `↔` a linked record of the other kind (only known, and only given
    // room, when that table is loaded whole).
    // `✓` a marked row (room for it only while marks exist).
    let marking = !model.table.marks.is_empty();
    let marker = 2 + usize::from(model.links.is_some()) + usize::from(marking);
    let serial_col = model.table.columns().iter().position(|c| c.cell == Cell::Field("serialNumber"));
    let table = &model.table;
    let (columns, hidden) = layout(&table.rows, (area.width as usize).saturating_sub(marker));

    // Headings with the sort indicator.
    let mut spans = vec![Span::raw(" ".repeat(marker))];
    for (n, (c, w)) in columns.iter().enumerate() {
        let mut title = table.columns()[*c].title.to_string();
        if let Some((sorted, desc)) = table.sort
            && sorted == *c
        {
            title.push_str(if desc { " ▼" } else { " ▲" });
        }
        spans.push(Span::styled(format!("{:<w$}", ellipsize(&title, *w), w = *w), theme.heading()));
        if n + 1 < columns.len() {
            spans.push(Span::raw(" "));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), headings);
    let used: usize = marker + columns.iter().map(|c| c.1 + 1).sum::<usize>();
    if hidden > 0 {
        let note = format!(" +{hidden} cols ");
        let w = note.chars().count() as u16;
        if (area.width as usize) >= used + w as usize {
            frame.render_widget(
                Paragraph::new(Span::styled(note, theme.dim())),
                Rect { x: area.x + area.width - w, width: w, ..headings },
            );
        }
    }

    // Body: only the visible slice of the view.
    let height = table_h as usize;
    let mut offset = model.table.offset.min(model.table.view.len().saturating_sub(1));
    if model.table.cursor < offset {
        offset = model.table.cursor;
    } else if height > 0 && model.table.cursor >= offset + height {
        offset = model.table.cursor + 1 - height;
    }
    if model.table.view.is_empty() {
        let note = if model.table.listing.loading && model.table.rows.is_empty() {
            "Loading devices…".to_string()
        } else if let Some(e) = &model.table.listing.error
            && model.table.rows.is_empty()
        {
            format!("Could not list devices: {e}  (r reloads, i shows the response)")
        } else if !model.filter_text().is_empty() {
            format!("No device matches \"{}\"  (Esc clears the filter)", model.filter_text())
        } else if let Some(f) = &model.table.server_filter {
            if model.table.listing.loading {
                format!("Searching on the server: {f}…")
            } else {
                format!("No device matches the server filter {f}  (Esc or :all lists everything)")
            }
        } else {
            "No devices in this collection.".to_string()
        };
        let note = crate::terminal_text::escape_for_terminal(&note).into_owned();
        frame.render_widget(
            Paragraph::new(Span::styled(note, theme.dim())).wrap(ratatui::widgets::Wrap { trim: true }),
            Rect { x: body.x + 2, width: body.width.saturating_sub(2), ..body },
        );
    }
    let needle: Vec<char> = model.filter_text().to_lowercase().chars().filter(|c| !c.is_control()).collect();
    for (line_no, (pos, &row)) in model.table.view.iter().enumerate().skip(offset).take(height).enumerate() {
        let selected = pos == table.cursor;
        let base = if selected { theme.selected() } else { Style::new() };
        let id = table.rows.id(row);
        let marked = marking && table.marks.contains(&id);
        let base = if marked && !selected { theme.marked() } else { base };
        let mut spans = Vec::new();
        if marking {
            spans.push(Span::styled(if marked { "✓" } else { " " }, base));
        }
        let mark = if model.has_unsaved(&id) { "●" } else { " " };
        spans.push(Span::styled(mark, if selected { base } else { theme.dirty() }));
        if let (Some(links), Some(col)) = (&model.links, serial_col) {
            let linked = links.contains(&crate::tui::update::serial_hash(&table.rows.cell(row, col)));
            spans.push(Span::styled(
                if linked { "↔" } else { " " },
                if selected { base } else { theme.dim() },
            ));
        }
        spans.push(Span::styled(" ", base));
        for (n, (c, w)) in columns.iter().enumerate() {
            let column = table.columns()[*c];
            let cell = table.rows.cell(row, *c);
            let shown = match column.cell {
                Cell::Ago(_) => crate::tui::wording::ago(&cell, model.wall),
                _ => cell.to_string(),
            };
            let text = format!("{:<w$}", ellipsize(&shown, *w), w = *w);
            let style = if selected { base } else { theme.tone(column.tone, &cell) };
            spans.extend(highlighted(text, &needle, style, theme.matched(style)));
            if n + 1 < columns.len() {
                spans.push(Span::styled(" ", base));
            }
        }
        let line_area = Rect { y: body.y + line_no as u16, height: 1, ..body };
        frame.render_widget(Paragraph::new(Line::from(spans)).style(base), line_area);
    }

    if model.typing == Typing::Command {
        let y = area.y + area.height - 1;
        let line_area = Rect { y, height: 1, ..area };
        frame.render_widget(Paragraph::new(Span::styled(" : ", theme.key())), line_area);
        let text_area = Rect { x: area.x + 3, width: area.width.saturating_sub(3), ..line_area };
        frame.render_widget(&model.line, text_area);
    } else if filter_line {
        let y = area.y + area.height - 1;
        let line_area = Rect { y, height: 1, ..area };
        let count = format!("  {} of {} ", model.table.view.len(), model.table.rows.len());
        let label = Span::styled(" / ", theme.key());
        let count_w = count.chars().count() as u16;
        frame.render_widget(Paragraph::new(label), line_area);
        let text_area = Rect { x: area.x + 3, width: area.width.saturating_sub(3 + count_w), ..line_area };
        if model.typing == Typing::Filter {
            frame.render_widget(&model.line, text_area);
        } else {
            frame.render_widget(Paragraph::new(model.filter_text().to_string()), text_area);
        }
        frame.render_widget(
            Paragraph::new(Span::styled(count, theme.dim())),
            Rect {
                x: area.x + area.width.saturating_sub(count_w),
                width: count_w.min(area.width),
                ..line_area
            },
        );
    }
}

/// A cell's text as spans, the parts that match the filter (case-insensitively) marked.
fn highlighted(text: String, needle: &[char], style: Style, mark: Style) -> Vec<Span<'static>> {
    if needle.is_empty() {
        return vec![Span::styled(text, style)];
    }
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let mut spans = Vec::new();
    let (mut plain_from, mut i) = (0, 0);
    while i + needle.len() <= lower.len() {
        if lower[i..i + needle.len()] == *needle {
            if plain_from < i {
                spans.push(Span::styled(chars[plain_from..i].iter().collect::<String>(), style));
            }
            spans.push(Span::styled(chars[i..i + needle.len()].iter().collect::<String>(), mark));
            i += needle.len();
            plain_from = i;
        } else {
            i += 1;
        }
    }
    if plain_from < chars.len() {
        spans.push(Span::styled(chars[plain_from..].iter().collect::<String>(), style));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_marked_without_changing_the_text() {
        let (plain, mark) = (Style::new(), Style::new().add_modifier(ratatui::style::Modifier::UNDERLINED));
        let spans = highlighted("error 806 Ztd806".into(), &['8', '0', '6'], plain, mark);
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "error 806 Ztd806");
        let marked: Vec<&str> =
            spans.iter().filter(|s| s.style == mark).map(|s| s.content.as_ref()).collect();
        assert_eq!(marked, ["806", "806"]);
        let upper = highlighted("PF3ABC".into(), &['f', '3'], plain, mark);
        assert_eq!(
            upper.iter().filter(|s| s.style == mark).map(|s| s.content.as_ref()).collect::<Vec<_>>(),
            ["F3"]
        );
    }
}
