//! The response inspector: this session's requests, and for the selected one what was sent
//! and what came back, JSON pretty-printed and coloured, scrollable.

use crate::tui::exchange_text::{self, Kind};
use crate::tui::history::HISTORY_CAP;
use crate::tui::layout::inspector_list_height;
use crate::tui::model::Model;
use crate::tui::views::Theme;
use crate::tui::wording::{clock, duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// One line of pretty JSON, coloured: keys, strings, numbers/literals.
pub fn json_line(line: &str, theme: Theme) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut plain = String::new();
    let flush = |plain: &mut String, spans: &mut Vec<Span<'static>>| {
        if !plain.is_empty() {
            spans.push(Span::raw(std::mem::take(plain)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            flush(&mut plain, &mut spans);
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            let text: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            spans.push(Span::styled(text, if is_key { theme.json_key() } else { theme.json_string() }));
        } else if c == '-' || c.is_ascii_digit() || c.is_ascii_alphabetic() {
            flush(&mut plain, &mut spans);
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "+-.".contains(chars[i])) {
                i += 1;
            }
            spans.push(Span::styled(chars[start..i].iter().collect::<String>(), theme.json_literal()));
        } else {
            plain.push(c);
            i += 1;
        }
    }
    flush(&mut plain, &mut spans);
    Line::from(spans)
}

/// The end of `text` in `width` columns (`…` in front when cut): paths differ at their end.
fn left_cut(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(text.chars().skip(n - (width - 1)));
    out
}

/// Draws the inspector screen.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let list_h = inspector_list_height(model.history.len(), area.height).min(area.height);
    let list_area = Rect { height: list_h, ..area };
    let detail_area = Rect { y: area.y + list_h, height: area.height - list_h, ..area };

    let dropped = if model.history_dropped > 0 {
        format!(", {} older dropped (keeps {HISTORY_CAP})", model.history_dropped)
    } else {
        String::new()
    };
    let title = format!(" Requests: {} this session{dropped} ", model.history.len() + model.history_dropped);
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.border());
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    let rows = inner.height as usize;
    let sel = model.inspector.selected;
    let offset = (sel + 1).saturating_sub(rows);
    for (line_no, (i, entry)) in model.history.iter().enumerate().skip(offset).take(rows).enumerate() {
        let ex = &entry.exchange;
        let status = ex.status.map(|s| s.to_string()).unwrap_or_else(|| "---".into());
        let head = format!(" {}  {:<6} ", clock(ex.started_at), ex.method);
        let tail = format!(" {:>8}  ", duration(ex.duration));
        let room = (inner.width as usize).saturating_sub(head.chars().count() + 3 + tail.chars().count());
        let selected = i == sel;
        let base = if selected { theme.selected() } else { Style::new() };
        let line = Line::from(vec![
            Span::styled(head, base),
            Span::styled(status, if selected { base } else { theme.http(ex.status) }),
            Span::styled(tail, base),
            Span::styled(left_cut(&ex.path_and_query(), room), base),
        ]);
        let r = Rect { y: inner.y + line_no as u16, height: 1, ..inner };
        frame.render_widget(Paragraph::new(line).style(base), r);
    }

    let Some(entry) = model.history.get(sel) else { return };
    let wrap = if model.inspector.wrap { "wrapped" } else { "not wrapped" };
    let block = Block::bordered()
        .title(Span::styled(" What was sent and what came back ", theme.heading()))
        .title_bottom(Line::from(Span::styled(format!(" {wrap} (w) · s saves to a file "), theme.dim())))
        .border_style(theme.border());
    let inner_w = detail_area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = exchange_text::lines(entry, model.inspector.wrap.then_some(inner_w))
        .into_iter()
        .skip(model.inspector.scroll as usize)
        .take(detail_area.height.saturating_sub(2) as usize)
        .map(|(kind, text)| match kind {
            Kind::Heading => Line::from(Span::styled(text, theme.heading())),
            Kind::Plain => Line::from(text),
            Kind::Dim => Line::from(Span::styled(text, theme.dim())),
            Kind::Json => json_line(&text, theme),
            Kind::JsonMore => Line::from(Span::styled(text, theme.json_string())),
            Kind::Status => Line::from(Span::styled(text, theme.http(entry.exchange.status))),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), detail_area);
}
