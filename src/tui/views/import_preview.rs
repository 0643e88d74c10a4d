//! The preview of an import: what the checker found (every problem with its line), and what
//! each row will do against the tenant (import, update instead, skip, hold), before anything
//! is sent.

use crate::jobs::import::headless::result_line;
use crate::jobs::import::results::plan_results;
use crate::tui::model::{ImportPreview, Model};
use crate::tui::views::{Theme, centered, ellipsize};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Draws the preview over `area`.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, p: &ImportPreview) {
    let theme = Theme::of(model);
    let width = area.width.saturating_sub(2).min(120);
    let inner = width.saturating_sub(2) as usize;
    let c = p.plan.counts();
    let mut head = vec![
        Line::from(Span::styled(
            ellipsize(
                &format!(
                    "{} rows: {} to import, {} to update instead, {} skipped, {} held, {} with problems",
                    p.report.data_rows, c.import, c.update, c.skip, c.hold, c.invalid
                ),
                inner,
            ),
            theme.heading(),
        )),
        Line::from(Span::styled(
            ellipsize(
                if p.update_registered {
                    "Registered devices with another tag or user are updated instead (u: hold them)"
                } else {
                    "Registered devices with another tag or user are held (u: update them instead)"
                },
                inner,
            ),
            theme.dim(),
        )),
    ];
    if c.invalid > 0 {
        head.push(Line::from(Span::styled(
            ellipsize("Rows with problems are never sent; ⏎ sends the others", inner),
            theme.invalid(),
        )));
    }
    head.push(Line::from(""));
    // The file's own problems (the header, say); a row's problems are in its result line.
    let rows: std::collections::HashSet<usize> = p.plan.rows.iter().map(|r| r.line).collect();
    let mut list: Vec<Line> = p
        .report
        .problems
        .iter()
        .filter(|problem| !rows.contains(&problem.line))
        .map(|problem| {
            Line::from(Span::styled(
                ellipsize(&format!("line {}: {}", problem.line, problem.message), inner),
                theme.invalid(),
            ))
        })
        .collect();
    list.extend(plan_results(&p.plan).iter().map(|r| Line::from(ellipsize(&result_line(r), inner))));
    let room = (area.height as usize).saturating_sub(2 + head.len()).max(1);
    let start = (p.scroll as usize).min(list.len().saturating_sub(room));
    let mut lines = head;
    lines.extend(list.into_iter().skip(start).take(room));
    let height = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let name = p.path.rsplit('/').next().unwrap_or(&p.path);
    let block = Block::bordered()
        .title(Span::styled(format!(" Import of {name}: nothing sent yet "), theme.heading()))
        .border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}
