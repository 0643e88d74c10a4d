//! The device code sign-in screen: the identity platform's sentence, the code and the page
//! large enough to read across a room, a countdown to expiry, the polling state, and what to
//! do after a failure. The device code and tokens are never in the model, so never here.

use crate::tui::model::{Model, SignInState};
use crate::tui::update::poll_words;
use crate::tui::views::{Theme, centered, spinner};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

/// `14:59` of a countdown.
pub fn mm_ss(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// The lines of the sign-in box.
pub fn lines(model: &Model, state: &SignInState, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(failed) = &state.failed {
        lines.push(Line::from(Span::styled(failed.clone(), theme.invalid())));
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("r", theme.key()),
            Span::raw(" starts the sign-in again with a new code, "),
            Span::styled("Esc", theme.key()),
            Span::raw(" or "),
            Span::styled("q", theme.key()),
            Span::raw(" quits."),
        ]));
        return lines;
    }
    let Some(prompt) = &state.prompt else {
        lines
            .push(Line::from(format!("{} Asking the identity platform for a sign-in code…", spinner(model))));
        return lines;
    };
    if !prompt.message.is_empty() {
        lines.push(Line::from(prompt.message.clone()));
        lines.push(Line::from(""));
    }
    lines.push(Line::from(vec![
        Span::styled("  Page  ", theme.dim()),
        Span::styled(prompt.verification_uri.clone(), theme.heading()),
    ]));
    lines.push(Line::from(vec![
        Span::styled("  Code  ", theme.dim()),
        Span::styled(prompt.user_code.clone(), theme.badge()),
    ]));
    lines.push(Line::from(""));
    let left = model.remaining(prompt.expires_at);
    lines.push(Line::from(vec![
        Span::raw(format!("{} ", spinner(model))),
        Span::raw(poll_words(state.poll)),
        Span::styled(format!("  · code expires in {}", mm_ss(left)), theme.dim()),
    ]));
    lines
}

/// Draws the sign-in screen.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = Theme::of(model);
    let Some(state) = &model.sign_in else { return };
    let lines = lines(model, state, theme);
    let r = centered(area, 78, lines.len() as u16 + 4);
    let block = Block::bordered()
        .title(Span::styled(" Sign in to Microsoft Graph ", theme.heading()))
        .border_style(theme.border());
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), r);
}
