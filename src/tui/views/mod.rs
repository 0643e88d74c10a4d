//! Drawing. Every function here reads the model and writes to the frame: no I/O, no state.

pub mod action_dialog;
pub mod bulk_form;
pub mod confirm;
pub mod conflicts;
pub mod device_form;
pub mod device_table;
pub mod drafts_list;
pub mod help;
pub mod import_preview;
pub mod jobs;
pub mod journal;
pub mod plan_preview;
pub mod response_view;
pub mod sign_in;
pub mod status_bar;

use crate::graph::resource::Tone;
use crate::tui::keymap::{Hint, Priority};
use crate::tui::layout::{MIN_SIZE, too_small};
use crate::tui::model::{Level, Model, Overlay, Screen};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

/// Styles, with or without colour (`NO_COLOR`): without, emphasis is bold/reverse/underline.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// The theme of a model.
    pub fn of(model: &Model) -> Theme {
        Theme { color: !model.no_color }
    }
    fn pick(&self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }
    /// The top bar.
    pub fn header(&self) -> Style {
        self.pick(
            Style::new().bg(Color::Blue).fg(Color::White),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }
    /// A badge such as DEMO.
    pub fn badge(&self) -> Style {
        self.pick(
            Style::new().bg(Color::Magenta).fg(Color::White).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// The READ-ONLY badge.
    pub fn badge_warn(&self) -> Style {
        self.pick(
            Style::new().bg(Color::Red).fg(Color::White).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }
    /// The selected row or item.
    pub fn selected(&self) -> Style {
        self.pick(
            Style::new().bg(Color::Cyan).fg(Color::Black).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }
    /// Column headings and section titles.
    pub fn heading(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// Secondary text.
    pub fn dim(&self) -> Style {
        self.pick(Style::new().fg(Color::DarkGray), Style::new().add_modifier(Modifier::DIM))
    }
    /// A key name in hints and help.
    pub fn key(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// A marked row.
    pub fn marked(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }
    /// A changed field.
    pub fn dirty(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// A refused value.
    pub fn invalid(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }
    /// Text a filter matched, on top of the cell's own style.
    pub fn matched(&self, base: Style) -> Style {
        self.pick(
            base.fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD),
            base.add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
        )
    }
    /// Borders.
    pub fn border(&self) -> Style {
        self.pick(Style::new().fg(Color::Gray), Style::new())
    }
    /// A table cell's colour by its column's tone and its text.
    pub fn tone(&self, tone: Tone, text: &str) -> Style {
        enum Mood {
            Good,
            Bad,
            Waiting,
            Quiet,
        }
        let word = text.split(' ').next().unwrap_or("");
        let mood = match (tone, word) {
            (Tone::Plain, _) => return Style::new(),
            (Tone::ImportStatus, "complete") | (Tone::EnrollmentState, "enrolled") => Mood::Good,
            (Tone::ProfileAssignment, "assignedInSync") => Mood::Good,
            (Tone::ImportStatus, "error") | (Tone::EnrollmentState, "failed" | "blocked") => Mood::Bad,
            (Tone::ProfileAssignment, "failed") => Mood::Bad,
            (Tone::ImportStatus, "pending" | "partial") | (Tone::EnrollmentState, "pendingReset") => {
                Mood::Waiting
            }
            (Tone::ProfileAssignment, "pending" | "assignedOutOfSync" | "assignedUnkownSyncState") => {
                Mood::Waiting
            }
            _ => Mood::Quiet,
        };
        if !self.color {
            return if matches!(mood, Mood::Bad) {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
        }
        match mood {
            Mood::Good => Style::new().fg(Color::Green),
            Mood::Bad => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Mood::Waiting => Style::new().fg(Color::Yellow),
            Mood::Quiet => Style::new().fg(Color::Gray),
        }
    }
    /// A status message.
    pub fn level(&self, l: Level) -> Style {
        if !self.color {
            return match l {
                Level::Error | Level::Warn => Style::new().add_modifier(Modifier::BOLD),
                _ => Style::new(),
            };
        }
        match l {
            Level::Info => Style::new(),
            Level::Success => Style::new().fg(Color::Green),
            Level::Warn => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Level::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
    /// An HTTP status code.
    pub fn http(&self, status: Option<u16>) -> Style {
        match status {
            Some(200..=299) => self.pick(Style::new().fg(Color::Green), Style::new()),
            _ => self.invalid(),
        }
    }
    /// JSON object keys.
    pub fn json_key(&self) -> Style {
        self.pick(Style::new().fg(Color::Cyan), Style::new().add_modifier(Modifier::BOLD))
    }
    /// JSON strings.
    pub fn json_string(&self) -> Style {
        self.pick(Style::new().fg(Color::Green), Style::new())
    }
    /// JSON numbers, booleans and null.
    pub fn json_literal(&self) -> Style {
        self.pick(Style::new().fg(Color::Magenta), Style::new())
    }
}

/// Draws the whole app.
pub fn draw(frame: &mut Frame, model: &Model) {
    let area = frame.area();
    if too_small((area.width, area.height)) {
        let note = format!(
            "Terminal too small ({}x{}). Need {}x{}.",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    status_bar::draw_header(frame, header, model);
    match model.screen {
        Screen::Table => device_table::draw(frame, body, model),
        Screen::Form => device_form::draw(frame, body, model),
        Screen::Inspector => response_view::draw(frame, body, model),
        Screen::SignIn => sign_in::draw(frame, body, model),
        Screen::Bulk => bulk_form::draw(frame, body, model),
        Screen::Drafts => drafts_list::draw(frame, body, model),
        Screen::Journal => journal::draw(frame, body, model),
        Screen::Jobs => jobs::draw(frame, body, model),
    }
    match &model.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, body, model, *scroll),
        Some(Overlay::Confirm(c)) => confirm::draw(frame, body, model, c),
        Some(Overlay::QuitConfirm) => confirm::draw_quit(frame, body, model),
        Some(Overlay::Action(dialog)) => action_dialog::draw(frame, body, model, dialog),
        Some(Overlay::Ask(ask)) => confirm::draw_ask(frame, body, model, ask),
        Some(Overlay::Plan(preview)) => plan_preview::draw(frame, body, model, preview),
        Some(Overlay::Conflicts(view)) => conflicts::draw(frame, body, model, view),
        Some(Overlay::Import(preview)) => import_preview::draw(frame, body, model, preview),
        None => {}
    }
    status_bar::draw_hints(frame, hints, model);
    status_bar::draw_status(frame, status, model);
}

/// Cuts `text` to `width` columns, ending with `…` when cut. Control, bidi and invisible
/// characters are shown as `⟨U+XXXX⟩` (see [`crate::terminal_text`]) so they can never move
/// the cursor, reorder the line or hide what is there.
pub fn ellipsize(text: &str, width: usize) -> String {
    let shown = crate::terminal_text::escape_for_terminal(text);
    if shown.chars().count() <= width {
        return shown.into_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = shown.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// The spinner frame of a model.
pub fn spinner(model: &Model) -> &'static str {
    const FRAMES: [&str; 4] = ["◐", "◓", "◑", "◒"];
    FRAMES[model.spinner % FRAMES.len()]
}

/// The hint bar: every hint that fits, in the key map's order. When the line is too short the
/// least important hints give way first (the last of them first), so help and quit/back stay.
pub fn hint_line(items: &[Hint], theme: Theme, width: u16) -> Line<'static> {
    use ratatui::text::Span;
    let len = |h: &Hint| {
        h.what.chars().count() + 2 + if h.keys.is_empty() { 0 } else { h.keys.chars().count() + 1 }
    };
    let mut shown: Vec<bool> = vec![true; items.len()];
    let mut used: usize = items.iter().map(len).sum();
    while used > width as usize {
        let drop = (0..items.len()).filter(|&i| shown[i]).max_by_key(|&i| (items[i].priority, i));
        match drop {
            Some(i) if items[i].priority > Priority::Always || shown.iter().filter(|s| **s).count() > 1 => {
                shown[i] = false;
                used -= len(&items[i]);
            }
            _ => break,
        }
    }
    let mut spans = Vec::new();
    for (h, _) in items.iter().zip(&shown).filter(|(_, s)| **s) {
        spans.push(Span::raw(" "));
        if !h.keys.is_empty() {
            spans.push(Span::styled(h.keys.clone(), theme.key()));
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(h.what.to_string(), theme.dim()));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The screen as text, one line per row, trailing spaces cut (for tests and snapshots).
pub fn buffer_text(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.y..area.y + area.height {
        let mut line = String::new();
        for x in area.x..area.x + area.width {
            if let Some(cell) = buffer.cell((x, y)) {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsize_shows_controls_bidi_and_invisible_characters() {
        assert_eq!(ellipsize("Sales\u{202e}gpj", 20), "Sales⟨U+202E⟩gpj");
        assert_eq!(ellipsize("a\u{1b}[2Jb", 20), "a⟨U+001B⟩[2Jb");
        assert_eq!(ellipsize("x\u{200b}y", 20), "x⟨U+200B⟩y");
        assert_eq!(ellipsize("\u{2066}abcdefgh", 10), "⟨U+2066⟩a…");
        assert_eq!(ellipsize("plain", 5), "plain");
        assert_eq!(ellipsize("plain", 4), "pla…");
    }
}
