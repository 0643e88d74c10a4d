//! Values put into words for the screen: times, durations, sizes, counts, the sign-in's
//! state. Pure; the views and the messages `update` writes share them.

use crate::graph::auth::PollState;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `10:00:05` (UTC) of a point in time.
pub fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `12 ms`, `1.20 s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.2} s", d.as_secs_f64()) }
}

/// `1.2 MB`, `34 KB`, `512 B`.
pub fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{} KB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// `1 device`, `2 devices`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// `3 d ago` of a Graph timestamp, as seen at `now`; the text itself when it is not one.
pub fn ago(timestamp: &str, now: SystemTime) -> String {
    // Graph writes "never" as the first day of year 1 (a device that never contacted Intune).
    if timestamp.starts_with("0001-01-01") {
        return "never".to_string();
    }
    let Some(at) = crate::graph::timestamp::parse(timestamp) else { return timestamp.to_string() };
    ago_of(at, now)
}

/// `3 d ago`: how long before `now` a point in time was (`just now` for one after it).
pub fn ago_of(at: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(at).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..5_184_000 => format!("{} d ago", secs / 86_400),
        5_184_000..63_072_000 => format!("{} mo ago", secs / 2_592_000),
        _ => format!("{} y ago", secs / 31_536_000),
    }
}

/// The sign-in's poll state in words.
pub fn poll_words(state: Option<PollState>) -> String {
    match state {
        None | Some(PollState::Pending { .. }) => "waiting for you to sign in…".into(),
        Some(PollState::SlowedDown { interval }) => {
            format!("asked to slow down: polling every {} s", interval.as_secs())
        }
    }
}

/// The text with its first letter in upper case (`assign user` -> `Assign user`).
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// "The next Autopilot sync is allowed in 7:42 (at 14:05:10 UTC)".
pub fn next_sync_words(left: std::time::Duration, wall: SystemTime) -> String {
    let secs = left.as_secs();
    format!(
        "Intune takes one manual sync every 10 minutes: the next is allowed in {}:{:02} (at {} UTC)",
        secs / 60,
        secs % 60,
        clock(wall)
    )
}

/// `6 min 20 s`, `45 s`, `2 h 5 min`: a duration as a person says it.
pub fn duration_words(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs / 60 % 60),
    }
}

/// A field's value as a change shows it (`"Sales"`, `null`), escaped for the terminal.
pub fn value_words(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Null => "null".to_string(),
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    crate::terminal_text::escape_for_terminal(&text).into_owned()
}

/// A write's changes as a line: `Group tag "Sales" → "Lab" · User null → "a@contoso.com"`.
pub fn changes_words(changes: &[crate::graph::patch::FieldChange]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} → {}", c.field.label, value_words(&c.old), value_words(&c.new)))
        .collect();
    parts.join(" · ")
}
