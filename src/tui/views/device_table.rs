//! The device table: columns that fit the terminal, the filter line, the sort indicator and
//! the unsaved-draft marker. Only the visible rows are built.

use crate::tui::event::Column;
use crate::tui::model::{Model, status_text};
use crate::tui::views::{Theme, ellipsize};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Rows the body area holds (the terminal minus header, headings, filter, hints, status).
pub fn body_height(model: &Model) -> usize {
    let filter = usize::from(show_filter(model));
    (model.size.1 as usize).saturating_sub(4 + filter)
}

/// The bottom line of the table shows the `/` filter or the `:` command line.
fn show_filter(model: &Model) -> bool {
    model.command_editing || model.filter_editing || !model.filter_text().is_empty()
}

/// Narrowest a column gets before another column is hidden, widest it gets, and the order in
/// which columns are hidden when the terminal is narrow (last first).
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

/// Columns by how much they matter (what is hidden last comes first).
const PRIORITY: [Column; 7] = [
    Column::Serial,
    Column::Status,
    Column::Tag,
    Column::User,
    Column::Id,
    Column::ImportId,
    Column::ProductKey,
];

/// Decides which columns fit in `width` and how wide each is.
pub fn layout_columns(model: &Model, width: usize) -> (Vec<(Column, usize)>, usize) {
    // Ideal widths from the heading and a sample of rows (the first rows plus the visible ones),
    // so widths do not jump while scrolling and cost nothing on 100k rows.
    let height = body_height(model);
    let sample = model.view.iter().take(300).chain(model.view.iter().skip(model.offset).take(height));
    let mut ideal: Vec<usize> = Column::ALL.iter().map(|c| c.title().len() + 2).collect();
    for &i in sample {
        if let Some(d) = model.rows.get(i) {
            for (n, c) in Column::ALL.iter().enumerate() {
                let len = match c {
                    Column::Status => status_text(d).chars().count(),
                    other => d.text(other.field()).map(|t| t.chars().count()).unwrap_or(0),
                };
                ideal[n] = ideal[n].max(len);
            }
        }
    }
    let uncapped = |c: Column| ideal[Column::ALL.iter().position(|x| *x == c).unwrap_or(0)];
    let ideal_of = |c: Column| uncapped(c).min(limits(c).2);
    let mut shown: Vec<Column> = Column::ALL.to_vec();
    let gaps = |n: usize| n.saturating_sub(1);
    // Hide the least important columns until the rest fit at a comfortable width.
    let comfortable = |c: Column| ideal_of(c).min(limits(c).1);
    while shown.len() > 4 && shown.iter().map(|c| comfortable(*c)).sum::<usize>() + gaps(shown.len()) > width
    {
        if let Some(drop) = PRIORITY.iter().rev().find(|c| shown.contains(c)) {
            shown.retain(|c| c != drop);
        }
    }
    // The four columns admins scan (serial, status, tag, user) get their whole (capped) width
    // before an id column is shown at all.
    let key = |c: &Column| PRIORITY[..4].contains(c);
    let wanted = |c: Column| if key(&c) { ideal_of(c) } else { comfortable(c) };
    while shown.len() > 4 && shown.iter().map(|c| wanted(*c)).sum::<usize>() + gaps(shown.len()) > width {
        if let Some(drop) = PRIORITY.iter().rev().find(|c| shown.contains(c)) {
            shown.retain(|c| c != drop);
        }
    }
    let mut widths: Vec<(Column, usize)> = shown.iter().map(|c| (*c, comfortable(*c))).collect();
    let mut used: usize = widths.iter().map(|w| w.1).sum::<usize>() + gaps(widths.len());
    // Too narrow even so: shrink towards the hard minimum, widest first.
    while used > width {
        let Some(widest) =
            widths.iter_mut().filter(|(c, w)| *w > limits(*c).0).max_by_key(|(c, w)| *w - limits(*c).0)
        else {
            break;
        };
        widest.1 -= 1;
        used -= 1;
    }
    // Room left: grow towards the ideal. The key columns share it a character at a time; the
    // id columns then take it in order of importance, each whole before the next (a cut GUID
    // is of no use to copy); last, a long error name may pass its cap.
    let mut grow = |group: &[Column], share: bool, goal: &dyn Fn(Column) -> usize| loop {
        let mut grew = false;
        for &c in group {
            while used < width
                && let Some(entry) = widths.iter_mut().find(|(x, _)| *x == c)
                && entry.1 < goal(c)
            {
                entry.1 += 1;
                used += 1;
                grew = true;
                if share {
                    break;
                }
            }
        }
        if !grew || used >= width {
            break;
        }
    };
    grow(&PRIORITY[..4], true, &ideal_of);
    grow(&PRIORITY[4..], false, &ideal_of);
    grow(&[Column::Status], false, &uncapped);
    let hidden = Column::ALL.len() - widths.len();
    (widths, hidden)
}

/// Draws the table screen.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    if area.height < 2 {
        return;
    }
    let filter_line = show_filter(model);
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
            spans.push(Span::styled(text, style));
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
