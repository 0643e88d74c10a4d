//! The preview of an import: what the checker found (every problem with its line), and what
//! each row will do against the tenant (import, update instead, skip, hold), before anything
//! is sent.

use crate::jobs::import::headless::result_line;
use crate::jobs::import::results::plan_results;
use crate::tui::model::{CleanupAsk, ImportPreview, Model};
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

/// Draws `:cleanup`'s question over `area`.
pub fn draw_cleanup(frame: &mut Frame, area: Rect, model: &Model, ask: &CleanupAsk) {
    let theme = Theme::of(model);
    let width = area.width.saturating_sub(4).min(76);
    let inner = width.saturating_sub(2) as usize;
    let n = ask.records.len();
    let of = ask.import_id.as_deref().map(|id| format!(" of import {id}")).unwrap_or_default();
    let mut lines = vec![
        Line::from(ellipsize(&format!("Delete {n} import records{of}?"), inner)),
        Line::from(ellipsize(
            &format!(
                "{} completed (devices stay registered), {} failed (errors go with them)",
                ask.complete, ask.failed
            ),
            inner,
        )),
        Line::from(Span::styled(
            ellipsize("The import queue is a staging area; nothing else is deleted.", inner),
            theme.dim(),
        )),
    ];
    let guard_row = lines.len() + 1;
    let prompt = format!("More than {}: type {n} to delete ", model.confirm_over);
    if ask.guarded {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(prompt.clone(), theme.heading())));
    }
    if let Some(problem) = &ask.problem {
        lines.push(Line::from(Span::styled(ellipsize(problem, inner), theme.invalid())));
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let block =
        Block::bordered().title(Span::styled(" Clean up? ", theme.heading())).border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block), r);
    if ask.guarded {
        let (x, y) = (r.x + 1 + prompt.chars().count() as u16, r.y + 1 + guard_row as u16);
        if y < r.y + r.height.saturating_sub(1) && x + 4 < r.x + r.width {
            frame.render_widget(&ask.editor, Rect { x, y, width: 10.min(r.x + r.width - 1 - x), height: 1 });
        }
    }
}
