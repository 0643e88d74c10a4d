//! The bulk form of the marked rows: each field left, set to one value, or cleared.

use crate::tui::bulk::Choice;
use crate::tui::model::Model;
use crate::tui::views::{Theme, ellipsize};
use crate::tui::wording::plural;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

const LABEL_W: usize = 16;
const CHOICE_W: usize = 7;

/// Draws the bulk form.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let Some(form) = model.bulk.as_ref() else { return };
    let n = form.rows.len();
    let title = format!(" Bulk edit: {} ({}) ", plural(n, "device"), form.resource.title);
    let block = Block::bordered().title(Span::styled(title, theme.heading())).border_style(theme.border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = vec![
        Line::from(Span::styled(
            ellipsize("Each field: ^T leaves it, sets it to one value for every device, or clears it", width),
            theme.dim(),
        )),
        Line::from(""),
    ];
    let first_field = lines.len();
    for (i, bf) in form.fields.iter().enumerate() {
        let focused = i == form.focus;
        let label_style = if focused {
            theme.selected()
        } else if bf.choice == Choice::Leave {
            theme.dim()
        } else {
            theme.dirty()
        };
        let mut spans = vec![
            Span::styled(if focused { "▸ " } else { "  " }, theme.key()),
            Span::styled(format!("{:<LABEL_W$}", ellipsize(bf.field.label, LABEL_W)), label_style),
            Span::raw(" "),
            Span::styled(format!("{:<CHOICE_W$}", bf.choice.word()), theme.key()),
            Span::raw(" "),
        ];
        let value = match bf.choice {
            Choice::Set if !focused => bf.text.clone(),
            Choice::Clear => "null".to_string(),
            _ => String::new(),
        };
        spans.push(Span::raw(ellipsize(&value, width.saturating_sub(LABEL_W + CHOICE_W + 4))));
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    let labels: Vec<String> = form.rows.iter().take(12).map(|&row| model.table.label(row)).collect();
    let more = if n > labels.len() { format!(", … ({n} in all)") } else { String::new() };
    lines.push(Line::from(ellipsize(&format!("Devices: {}{more}", labels.join(", ")), width)));
    if let Some(p) = &form.problem {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(ellipsize(p, width), theme.invalid())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    // The focused field's editor sits on its line when the field is set.
    if form.fields.get(form.focus).is_some_and(|bf| bf.choice != Choice::Clear) {
        let x = inner.x + (2 + LABEL_W + 1 + CHOICE_W + 1) as u16;
        let y = inner.y + (first_field + form.focus) as u16;
        if x < inner.x + inner.width && y < inner.y + inner.height {
            frame.render_widget(&form.editor, Rect { x, y, width: inner.x + inner.width - x, height: 1 });
        }
    }
}
