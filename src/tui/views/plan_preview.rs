//! The preview of a bulk change: every record's old -> new, those at the target already, the
//! number of writes and how long they take at the write budget; the guard line above the
//! threshold.

use crate::jobs::plan::Step;
use crate::tui::model::{Model, PlanPreview};
use crate::tui::views::{Theme, centered, ellipsize};
use crate::tui::wording::{changes_words, duration_words, plural};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Draws the preview over `area`.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, p: &PlanPreview) {
    let theme = Theme::of(model);
    let width = area.width.min(110);
    let inner_w = width.saturating_sub(2) as usize;
    let plan = &p.plan;
    let writes = plan.writes();
    let rate = model.write_rate;
    let mut head = vec![
        Line::from(vec![
            Span::styled(plural(writes, "write"), theme.dirty()),
            Span::raw(format!(
                " · {} at the target already (no write) · {}",
                plan.already_there(),
                plural(plan.items.len(), "device")
            )),
        ]),
        Line::from(Span::styled(
            ellipsize(
                &format!(
                    "At the write budget of {} writes per {} s: at least {} (Intune allows about 200 per 20 s a tenant)",
                    rate.count,
                    rate.per.as_secs(),
                    duration_words(plan.duration_at(rate))
                ),
                inner_w,
            ),
            theme.dim(),
        )),
        Line::from(""),
    ];
    let mut list: Vec<Line> = Vec::new();
    for item in &plan.items {
        let label = format!("  {:<14}", ellipsize(&item.label, 14));
        match &item.step {
            Step::AlreadyThere => list.push(Line::from(vec![
                Span::raw(label),
                Span::styled("already at the target: no write", theme.dim()),
            ])),
            Step::Write(body) => {
                let changes = changes_words(&body.changes);
                list.push(Line::from(vec![
                    Span::raw(label),
                    Span::raw(ellipsize(&changes, inner_w.saturating_sub(16))),
                ]));
            }
        }
    }
    let mut foot = Vec::new();
    if p.guarded {
        foot.push(Line::from(""));
        foot.push(Line::from(vec![Span::styled(
            format!("More than {} writes: type {writes} to start ", model.confirm_over),
            theme.heading(),
        )]));
    }
    if let Some(problem) = &p.problem {
        foot.push(Line::from(Span::styled(ellipsize(problem, inner_w), theme.invalid())));
    }
    let room = (area.height as usize).saturating_sub(2 + head.len() + foot.len() + 1).max(1);
    let start = (p.scroll as usize).min(list.len().saturating_sub(room));
    let more = list.len() > start + room;
    let mut lines = head.split_off(0);
    lines.extend(list.into_iter().skip(start).take(room));
    if more {
        lines.push(Line::from(Span::styled("  … ↓ for more", theme.dim())));
    }
    let guard_row = lines.len() + 1;
    lines.extend(foot);
    let height = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, height);
    frame.render_widget(Clear, r);
    let title = format!(" Bulk change of {} ", model.table.resource.title);
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block), r);
    if p.guarded {
        let prompt =
            format!("More than {} writes: type {writes} to start ", model.confirm_over).chars().count();
        let (x, y) = (r.x + 1 + prompt as u16, r.y + 1 + guard_row as u16);
        if y < r.y + r.height.saturating_sub(1) && x + 4 < r.x + r.width {
            frame.render_widget(&p.editor, Rect { x, y, width: 10.min(r.x + r.width - 1 - x), height: 1 });
        }
    }
}
