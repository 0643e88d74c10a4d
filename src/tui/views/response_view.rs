//! The response inspector: this session's requests, and for the selected one what was sent
//! and what came back, JSON pretty-printed and coloured, scrollable.

use crate::tui::model::{HISTORY_CAP, HistoryEntry, Model};
use crate::tui::views::{Theme, clock, duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heading,
    Plain,
    Json,
    Dim,
    Status,
}

fn detail(entry: &HistoryEntry) -> Vec<(Kind, String)> {
    let ex = &entry.exchange;
    let mut out = vec![
        (Kind::Heading, format!("{} {}", ex.method, ex.url)),
        (
            Kind::Status,
            format!(
                "{}  ·  {}  ·  started {} UTC",
                ex.status_line(),
                duration(ex.duration),
                clock(ex.started_at)
            ),
        ),
    ];
    if let Some(t) = &ex.transport_error {
        out.push((Kind::Status, format!("no answer: {t}")));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Request headers".into()));
    out.extend(ex.request_headers.iter().map(|(k, v)| (Kind::Plain, format!("  {k}: {v}"))));
    if let Some(body) = &entry.request_pretty {
        out.push((Kind::Plain, String::new()));
        out.push((Kind::Heading, "Request body".into()));
        out.extend(body.lines().map(|l| (Kind::Json, format!("  {l}"))));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Response headers".into()));
    out.extend(ex.response_headers.iter().map(|(k, v)| (Kind::Plain, format!("  {k}: {v}"))));
    if let Some(nested) = &entry.nested_pretty {
        out.push((Kind::Plain, String::new()));
        out.push((Kind::Heading, "Intune error message, decoded".into()));
        out.extend(nested.lines().map(|l| (Kind::Json, format!("  {l}"))));
    }
    out.push((Kind::Plain, String::new()));
    out.push((Kind::Heading, "Response body".into()));
    if let Some(note) = &entry.body_note {
        out.push((Kind::Dim, format!("  ({note})")));
    }
    let body = entry.response_pretty.as_deref().unwrap_or(&ex.response_body);
    if body.is_empty() {
        out.push((Kind::Dim, "  (empty)".into()));
    }
    out.extend(body.lines().map(|l| (Kind::Json, format!("  {l}"))));
    out
}

/// How many detail lines an entry has (for clamping the scroll).
pub fn detail_len(entry: &HistoryEntry) -> usize {
    detail(entry).len()
}

fn list_height(model: &Model, body_h: u16) -> u16 {
    let n = model.history.len() as u16;
    n.clamp(1, (body_h / 3).max(3)) + 2
}

/// Rows the detail pane shows at a terminal size (a page for PgUp/PgDn).
pub fn detail_height(size: (u16, u16)) -> usize {
    let body = size.1.saturating_sub(3);
    (body.saturating_sub((body / 3).max(3) + 2 + 2)) as usize
}

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
    let list_h = list_height(model, area.height).min(area.height);
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
    let block = Block::bordered()
        .title(Span::styled(" What was sent and what came back ", theme.heading()))
        .border_style(theme.border());
    let lines: Vec<Line> = detail(entry)
        .into_iter()
        .skip(model.inspector.scroll as usize)
        .take(detail_area.height as usize)
        .map(|(kind, text)| match kind {
            Kind::Heading => Line::from(Span::styled(text, theme.heading())),
            Kind::Plain => Line::from(text),
            Kind::Dim => Line::from(Span::styled(text, theme.dim())),
            Kind::Json => json_line(&text, theme),
            Kind::Status => Line::from(Span::styled(text, theme.http(entry.exchange.status))),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), detail_area);
}
