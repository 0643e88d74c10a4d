//! The header (target, DEMO and READ-ONLY badges, loading progress), the hint bar and the
//! status message line.

use crate::tui::keymap::{context, hints};
use crate::tui::model::Level;
use crate::tui::model::Model;
use crate::tui::views::{Theme, ellipsize, hint_line, spinner};
use crate::tui::wording::{next_sync_words, plural};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The right side of the header: where the cursor is, how many devices, loading progress.
pub fn progress(model: &Model) -> String {
    let n = model.table.count();
    if model.screen == crate::tui::model::Screen::SignIn {
        return "signing in".to_string();
    }
    // `37/250 devices`: the selected row among those shown; a filter shows fewer than are
    // loaded (`2/12 of 250 devices`).
    let devices = match model.table.view.len() {
        0 if n > 0 => format!("0 of {}", plural(n, "device")),
        0 => plural(n, "device"),
        shown if shown < n => format!("{}/{shown} of {}", model.table.cursor + 1, plural(n, "device")),
        _ => format!("{}/{}", model.table.cursor + 1, plural(n, "device")),
    };
    let devices = match model.table.marks.len() {
        0 => devices,
        m => format!("{m} marked · {devices}"),
    };
    if model.table.listing.loading {
        let pages = model.table.listing.pages;
        if pages == 0 {
            format!("{} loading devices…", spinner(model))
        } else {
            format!("{} {devices}, page {} loading…", spinner(model), pages + 1)
        }
    } else if model.table.listing.error.is_some() {
        format!("{devices} (listing incomplete)")
    } else {
        devices
    }
}

/// Top line.
pub fn draw_header(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    frame.render_widget(Paragraph::new("").style(theme.header()), area);
    let right = progress(model);
    let mut spans =
        vec![Span::styled(" autopilot-tui ", theme.header().add_modifier(ratatui::style::Modifier::BOLD))];
    if model.demo {
        spans.push(Span::styled(" DEMO ", theme.badge()));
        spans.push(Span::styled(" ", theme.header()));
    }
    if model.read_only {
        spans.push(Span::styled(" READ-ONLY ", theme.badge_warn()));
        spans.push(Span::styled(" ", theme.header()));
    }
    if model.screen != crate::tui::model::Screen::SignIn {
        // Which kind of record is shown, by the `:` word that shows it (`:devices`, `:imported`).
        spans.push(Span::styled(format!(" {} ", model.table.resource.command), theme.badge()));
        spans.push(Span::styled(" ", theme.header()));
    }
    // A job running while the user browses: what it does, and `:jobs` to see it.
    if let Some(job) =
        model.job.as_ref().filter(|j| !j.finished && model.screen != crate::tui::model::Screen::Jobs)
    {
        let counts: Vec<String> =
            job.counts.iter().filter(|(_, n)| *n > 0).map(|(w, n)| format!("{n} {w}")).collect();
        let what = if counts.is_empty() { job.phase.clone() } else { counts.join(" ") };
        spans.push(Span::styled(format!(" job: {} (:jobs) ", ellipsize(&what, 28)), theme.badge_warn()));
        spans.push(Span::styled(" ", theme.header()));
    }
    if let Some(f) = &model.table.server_filter {
        let f = match &model.table.exact {
            Some(serial) => format!("serial exactly {serial}"),
            None => format!("server filter: {f}"),
        };
        // The search gives way to the progress on the right, never the other way round.
        let used: usize = spans.iter().map(|s| s.width()).sum();
        // The target gives way first: it is on every screen, the search only says what this is.
        let room = (area.width as usize).saturating_sub(used + right.chars().count() + 8);
        spans.push(Span::styled(format!(" {} ", ellipsize(&f, room)), theme.badge()));
        spans.push(Span::styled(" ", theme.header()));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = (area.width as usize).saturating_sub(used + right.chars().count() + 2);
    let target = model.target_label.strip_prefix("DEMO ").unwrap_or(&model.target_label);
    spans.push(Span::styled(ellipsize(target, room), theme.header()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    frame.render_widget(
        Paragraph::new(format!("{right} ")).style(theme.header()).alignment(Alignment::Right),
        Rect { x: area.x + area.width.saturating_sub(right.chars().count() as u16 + 1), ..area },
    );
}

/// The keys of the current screen.
pub fn draw_hints(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let items = hints(context(model), model);
    frame.render_widget(Paragraph::new(hint_line(&items, theme, area.width)), area);
}

/// What just happened.
pub fn draw_status(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let unsaved = model.unsaved_count();
    let right = if unsaved > 0 { format!("● {unsaved} unsaved ") } else { String::new() };
    let room = (area.width as usize).saturating_sub(right.chars().count() + 1);
    if let Some(r) = &model.retry {
        // A live countdown while a request waits to be tried again; Esc cancels it.
        let secs = model.remaining(r.until).as_secs_f64();
        let text =
            format!("{}, retrying in {secs:.1} s (attempt {} failed) · Esc cancels", r.what(), r.attempt);
        let line = Line::from(Span::styled(
            format!(" {}", ellipsize(&text, room.saturating_sub(1))),
            theme.level(crate::tui::model::Level::Warn),
        ));
        frame.render_widget(Paragraph::new(line), area);
    } else if let Some(t) = model.toast_shown() {
        let (text, level) = match t.countdown {
            Some((at, wall)) if at > model.now => (next_sync_words(model.remaining(at), wall), t.level),
            Some(_) => ("The next Autopilot sync is allowed now (:sync)".to_string(), Level::Info),
            None => (t.text.clone(), t.level),
        };
        let line = Line::from(Span::styled(
            format!(" {}", ellipsize(&text, room.saturating_sub(1))),
            theme.level(level),
        ));
        frame.render_widget(Paragraph::new(line), area);
    }
    if !right.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(right, theme.dirty())).alignment(Alignment::Right),
            area,
        );
    }
}
