//! The jobs view: the running or last job (a bulk change, an import): what it is doing, counts
//! by outcome or state, rate and time left, a 429's countdown, what happened, and one line
//! per item or CSV row.

use crate::tui::model::Model;
use crate::tui::views::{Theme, ellipsize};
use crate::tui::wording::duration_words;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Draws the view.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let Some(job) = model.job.as_ref() else { return };
    let state = match (job.finished, job.cancelling) {
        (true, _) => "ended",
        (false, true) => "cancelling",
        (false, false) => "running",
    };
    let title = format!(
        " {} · {state} · {} ",
        job.title,
        duration_words(job.ended_at.unwrap_or(model.now).saturating_duration_since(job.started))
    );
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = vec![Line::from(ellipsize(&job.phase, width))];
    if !job.counts.is_empty() {
        let counts: Vec<String> = job.counts.iter().map(|(word, n)| format!("{n} {word}")).collect();
        lines.push(Line::from(Span::styled(ellipsize(&counts.join(" · "), width), theme.heading())));
    }
    let mut pace = Vec::new();
    if let Some(rate) = job.rate {
        pace.push(format!("{rate:.0} writes/min"));
    }
    if let Some(eta) = job.eta.filter(|_| !job.finished) {
        pace.push(format!("about {} left", duration_words(eta)));
    }
    if !pace.is_empty() {
        lines.push(Line::from(ellipsize(&pace.join(" · "), width)));
    }
    if let Some(until) = job.paused_until.filter(|u| *u > model.now) {
        let left = until.saturating_duration_since(model.now);
        lines.push(Line::from(Span::styled(
            ellipsize(
                &format!("Paused by the server (429): every write waits {} more", duration_words(left)),
                width,
            ),
            theme.invalid(),
        )));
    }
    if let Some((level, summary)) = &job.summary {
        let shown = crate::terminal_text::escape_for_terminal(summary);
        for chunk in crate::tui::views::device_form::wrap_words(&shown, width) {
            lines.push(Line::from(Span::styled(chunk, theme.level(*level))));
        }
    }
    lines.push(Line::from(""));
    let log_room = 6.min(job.log.len());
    for line in job.log.iter().skip(job.log.len() - log_room) {
        lines.push(Line::from(Span::styled(ellipsize(line, width), theme.dim())));
    }
    if log_room > 0 {
        lines.push(Line::from(""));
    }
    let heading = if job.finished { "Results" } else { "Rows" };
    lines.push(Line::from(Span::styled(format!("{heading} ({})", job.results.len()), theme.heading())));
    let room = (inner.height as usize).saturating_sub(lines.len());
    let start = (job.scroll as usize).min(job.results.len().saturating_sub(room));
    for line in job.results.iter().skip(start).take(room) {
        lines.push(Line::from(ellipsize(line, width)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
