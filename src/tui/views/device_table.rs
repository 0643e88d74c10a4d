//! The device table: columns that fit the terminal, the filter line, the sort indicator and
//! the unsaved-draft marker. Only the visible rows are built.

use crate::tui::event::Column;
use crate::tui::layout::table_shows_filter_line;
use crate::tui::model::Model;
use crate::tui::views::{Theme, ellipsize};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Narrowest a column gets, the width it is comfortable at, and the widest it gets.
fn limits(c: Column) -> (usize, usize, usize) {
    // (hard minimum, comfortable minimum, cap)
    match c {
        Column::Serial => (8, 12, 24),
        Column::Tag => (6, 10, 24),
        Column::User => (8, 16, 34),
        // Capped so a long error name cannot starve the user and tag columns; the cut name
        // keeps its code (`error 808 ZtdDeviceAssignedTo…`) and the form shows it whole.
        Column::Status => (8, 16, 30),
        Column::ImportId => (6, 10, 38),
        Column::ProductKey => (6, 10, 29),
        Column::Id => (8, 13, 36),
    }
}

/// The four columns admins scan: always shown, shrunk before anything else is cut.
const KEY_COLUMNS: [Column; 4] = [Column::Serial, Column::Status, Column::Tag, Column::User];

/// The id columns, shown whole (a cut GUID is of no use to copy) in this order while room is left.
const ID_COLUMNS: [Column; 3] = [Column::Id, Column::ImportId, Column::ProductKey];

/// Decides which columns fit in `width` and how wide each is: `(columns in display order,
/// how many are hidden)`. Only the terminal's width and the longest value of each column over
/// every row loaded decide it (the row index keeps those as rows arrive), so typing a filter,
/// scrolling or sorting never moves a column.
pub fn layout_columns(model: &Model, width: usize) -> (Vec<(Column, usize)>, usize) {
    let longest = |c: Column| model.index.widest(c);
    // Room for the heading and its sort arrow, and for the longest value (up to a cap).
    let uncapped = |c: Column| (c.title().len() + 2).max(longest(c));
    let ideal = |c: Column| uncapped(c).min(limits(c).2);
    let mut widths: Vec<(Column, usize)> = KEY_COLUMNS.iter().map(|&c| (c, ideal(c))).collect();
    let mut used = widths.iter().map(|w| w.1).sum::<usize>() + KEY_COLUMNS.len() - 1;
    // Too narrow: shrink to a comfortable width, then to the minimum, the widest first.
    for floor in [|c: Column| limits(c).1, |c: Column| limits(c).0] {
        while used > width {
            let Some(widest) =
                widths.iter_mut().filter(|(c, w)| *w > floor(*c)).max_by_key(|(c, w)| *w - floor(*c))
            else {
                break;
            };
            widest.1 -= 1;
            used -= 1;
        }
    }
    // Room left: each id column that has any value and fits whole, in order of importance.
    for c in ID_COLUMNS {
        let need = ideal(c);
        if longest(c) > 0 && used + 1 + need <= width {
            widths.push((c, need));
            used += 1 + need;
        }
    }
    // Still room: a long error name may pass its cap.
    if let Some(status) = widths.iter_mut().find(|(c, _)| *c == Column::Status) {
        let more = uncapped(Column::Status).saturating_sub(status.1).min(width.saturating_sub(used));
        status.1 += more;
    }
    let hidden = Column::ALL.len() - widths.len();
    widths.sort_by_key(|(c, _)| Column::ALL.iter().position(|x| x == c));
    (widths, hidden)
}

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
    let marker = 2usize;
    let (columns, hidden) = layout_columns(model, (area.width as usize).saturating_sub(marker));

    // Headings with the sort indicator.
    let mut spans = vec![Span::raw(" ".repeat(marker))];
    for (n, (c, w)) in columns.iter().enumerate() {
        let mut title = c.title().to_string();
        if let Some((sorted, desc)) = model.sort
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
    let mut offset = model.offset.min(model.view.len().saturating_sub(1));
    if model.cursor < offset {
        offset = model.cursor;
    } else if height > 0 && model.cursor >= offset + height {
        offset = model.cursor + 1 - height;
    }
    if model.view.is_empty() {
        let note = if model.listing.loading && model.rows.is_empty() {
            "Loading devices…".to_string()
        } else if let Some(e) = &model.listing.error
            && model.rows.is_empty()
        {
            format!("Could not list devices: {e}  (r reloads, i shows the response)")
        } else if !model.filter_text().is_empty() {
            format!("No device matches \"{}\"  (Esc clears the filter)", model.filter_text())
        } else if let Some(f) = &model.server_filter {
            if model.listing.loading {
                format!("Searching on the server: {f}…")
            } else {
                format!("No device matches the server filter {f}  (Esc or :all lists everything)")
            }
        } else {
            "No devices in this collection.".to_string()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(note, theme.dim())).wrap(ratatui::widgets::Wrap { trim: true }),
            Rect { x: body.x + 2, width: body.width.saturating_sub(2), ..body },
        );
    }
    let needle: Vec<char> = model.filter_text().to_lowercase().chars().filter(|c| !c.is_control()).collect();
    for (line_no, (pos, &row)) in model.view.iter().enumerate().skip(offset).take(height).enumerate() {
        let Some(d) = model.rows.get(row) else { continue };
        let selected = pos == model.cursor;
        let base = if selected { theme.selected() } else { Style::new() };
        let mark = if model.has_unsaved(&d.id) { "● " } else { "  " };
        let mut spans = vec![Span::styled(mark, if selected { base } else { theme.dirty() })];
        for (n, (c, w)) in columns.iter().enumerate() {
            let text = format!("{:<w$}", ellipsize(&c.cell(d), *w), w = *w);
            let style = match c {
                Column::Status if !selected => theme.status(d.state.device_import_status),
                _ => base,
            };
            spans.extend(highlighted(text, &needle, style, theme.matched(style)));
            if n + 1 < columns.len() {
                spans.push(Span::styled(" ", base));
            }
        }
        let line_area = Rect { y: body.y + line_no as u16, height: 1, ..body };
        frame.render_widget(Paragraph::new(Line::from(spans)).style(base), line_area);
    }

    if model.command_editing {
        let y = area.y + area.height - 1;
        let line_area = Rect { y, height: 1, ..area };
        frame.render_widget(Paragraph::new(Span::styled(" : ", theme.key())), line_area);
        let text_area = Rect { x: area.x + 3, width: area.width.saturating_sub(3), ..line_area };
        frame.render_widget(&model.command, text_area);
    } else if filter_line {
        let y = area.y + area.height - 1;
        let line_area = Rect { y, height: 1, ..area };
        let count = format!("  {} of {} ", model.view.len(), model.rows.len());
        let label = Span::styled(" / ", theme.key());
        let count_w = count.chars().count() as u16;
        frame.render_widget(Paragraph::new(label), line_area);
        let text_area = Rect { x: area.x + 3, width: area.width.saturating_sub(3 + count_w), ..line_area };
        if model.filter_editing {
            frame.render_widget(&model.filter, text_area);
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
