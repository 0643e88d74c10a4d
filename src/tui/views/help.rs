//! The `?` overlay, generated from the key map.

use crate::tui::event::{Action, EditOp};
use crate::tui::keymap::{Binding, Context, EDITING, GLOBAL, bindings, help_context};
use crate::tui::model::Model;
use crate::tui::views::{Theme, centered};
use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

fn section(lines: &mut Vec<Line<'static>>, title: &str, list: &[Binding], model: &Model, theme: Theme) {
    lines.push(Line::from(Span::styled(title.to_string(), theme.heading())));
    for bd in list {
        if let Action::Sort(_) = bd.action {
            // The sort keys are the table's columns': one line names them all.
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<11}", bd.label), theme.key()),
                Span::raw(bd.help),
            ]));
            let each: Vec<String> =
                model.table.columns().iter().map(|c| format!("{} {}", c.sort_key, c.word)).collect();
            lines.push(Line::from(Span::styled(format!("  {:<11}{}", "", each.join("  ")), theme.dim())));
            continue;
        }
        let read_only = model.read_only;
        let mut help = bd.help.to_string();
        if read_only && bd.writes {
            help.push_str(" (off: read-only)");
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<11}", bd.label), theme.key()),
            Span::raw(help),
        ]));
    }
}

fn edit_help(op: &EditOp) -> &'static str {
    match op {
        EditOp::Backspace => "delete before the cursor",
        EditOp::Delete => "delete under the cursor",
        EditOp::Left => "cursor left (status: previous value)",
        EditOp::Right => "cursor right (status: next value)",
        EditOp::Home => "to the start",
        EditOp::End => "to the end",
        EditOp::DeleteWord => "delete the word before",
        EditOp::DeleteToStart => "delete to the start (clears the field)",
        EditOp::DeleteToEnd => "delete to the end",
        EditOp::Insert(_) | EditOp::Paste(_) => "type",
    }
}

/// The help text for the current screen.
pub fn help_lines(model: &Model, theme: Theme) -> Vec<Line<'static>> {
    let ctx = help_context(model);
    let mut lines = Vec::new();
    section(&mut lines, ctx.title(), bindings(ctx), model, theme);
    match ctx {
        Context::Table => {
            let resource = model.table.resource;
            if !resource.actions.is_empty() {
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(
                    format!("Actions on the selected one of the {}", resource.title),
                    theme.heading(),
                )));
                for a in resource.actions {
                    let key = if a.key == 'd' { "d/Del".to_string() } else { a.key.to_string() };
                    let off = if model.read_only { " (off: read-only)" } else { "" };
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {key:<11}"), theme.key()),
                        Span::raw(format!("{}{off}", a.help)),
                    ]));
                }
                let permission = resource.actions[0].permission;
                lines.push(Line::from(Span::styled(
                    format!("  {:<11}they need {permission}", ""),
                    theme.dim(),
                )));
            }
            lines.push(Line::from(""));
            section(&mut lines, Context::Filter.title(), bindings(Context::Filter), model, theme);
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled("Commands (after :)", theme.heading())));
            for (usage, what) in crate::tui::command::commands(model.table.resource) {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {usage:<15}"), theme.key()),
                    Span::raw(what),
                ]));
            }
        }
        Context::Form => {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled("Editing a field", theme.heading())));
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for (key, op) in EDITING {
                let name = match key.code {
                    KeyCode::Char(c) => format!("^{}", c.to_ascii_uppercase()),
                    KeyCode::Backspace => "Bksp".into(),
                    KeyCode::Delete => "Del".into(),
                    KeyCode::Left => "←".into(),
                    KeyCode::Right => "→".into(),
                    KeyCode::Home => "Home".into(),
                    KeyCode::End => "End".into(),
                    other => format!("{other:?}"),
                };
                let what = edit_help(op);
                match groups.iter_mut().find(|g| g.0 == what) {
                    Some(g) => g.1.push(name),
                    None => groups.push((what, vec![name])),
                }
            }
            for (what, keys) in groups {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<11}", keys.join("/")), theme.key()),
                    Span::raw(what.to_string()),
                ]));
            }
            lines.push(Line::from("  type to edit, paste works; an empty field is sent as null"));
        }
        _ => {}
    }
    lines.push(Line::from(""));
    section(&mut lines, "Everywhere", GLOBAL, model, theme);
    lines
}

/// Draws the help box.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, scroll: u16) {
    let theme = Theme::of(model);
    let lines = help_lines(model, theme);
    let height = (lines.len() as u16 + 2).min(area.height);
    // As wide as the longest entry needs, up to the whole width: nothing is cut on a wide
    // terminal, and a narrow one wraps nothing it could have shown.
    let widest = lines.iter().map(Line::width).max().unwrap_or(0) as u16;
    let r = centered(area, (widest + 2).max(30), height);
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(height);
    frame.render_widget(Clear, r);
    let more = if scroll < max_scroll { " ↓ more (j) ·" } else { "" };
    let block = Block::bordered()
        .title(Span::styled(" Keys ", theme.heading()))
        .title_bottom(Line::from(Span::styled(format!("{more} Esc closes "), theme.dim())))
        .border_style(theme.key());
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll.min(max_scroll), 0)), r);
}
