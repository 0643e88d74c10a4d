//! The device code sign-in screen: the identity platform's sentence, the code and the page
//! large enough to read across a room, a countdown to expiry, the polling state, and what to
//! do after a failure. The device code and tokens are never in the model, so never here.

use crate::tui::model::{Model, SignInState};
use crate::tui::views::{Theme, centered, spinner};
use crate::tui::wording::poll_words;
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
        let failed = crate::terminal_text::escape_for_terminal(failed).into_owned();
        lines.push(Line::from(Span::styled(failed, theme.invalid())));
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
    // The identity platform's words: shown, never obeyed by the terminal.
    let safe = |text: &str| crate::terminal_text::escape_for_terminal(text).into_owned();
    if !prompt.message.is_empty() {
        lines.push(Line::from(safe(&prompt.message)));
        lines.push(Line::from(""));
    }
    lines.push(Line::from(vec![
        Span::styled("  Page  ", theme.dim()),
        Span::styled(safe(&prompt.verification_uri), theme.heading()),
    ]));
    lines.push(Line::from(vec![
        Span::styled("  Code  ", theme.dim()),
        Span::styled(safe(&prompt.user_code), theme.badge()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::event::SignInPrompt;

    #[test]
    fn the_identity_platforms_words_are_escaped() {
        let model = Model::new("x", false, false);
        let prompt = SignInPrompt {
            user_code: "AB\u{1b}[2JCD".into(),
            verification_uri: "https://x/\u{202e}nigol".into(),
            message: "Open \u{1b}]52;c;aGk=\u{7} now".into(),
            expires_at: model.now,
            interval: std::time::Duration::from_secs(5),
        };
        let state = SignInState { request_id: 1, prompt: Some(prompt), poll: None, failed: None };
        let text: String = lines(&model, &state, Theme::of(&model)).iter().map(|l| l.to_string()).collect();
        assert!(!text.chars().any(crate::terminal_text::needs_escape), "{text}");
        assert!(text.contains("⟨U+001B⟩"), "{text}");
    }
}
