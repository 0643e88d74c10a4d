//! What `y` puts on the clipboard, and how: the OSC 52 sequence a terminal turns into a
//! clipboard write (the text base64-encoded, so nothing in it can reach the terminal as a
//! control), and a request as a `curl` command or a PowerShell `Invoke-MgGraphRequest`, with
//! the token left as a variable (`$TOKEN`, `$token`), never its value. Pure.

use crate::graph::client::Exchange;
use base64::Engine;

/// The OSC 52 sequence that sets the system clipboard to `text`.
pub fn osc52(text: &str) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{payload}\x07")
}

/// `'text'` for a POSIX shell: single quotes, a quote inside written `'\''`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `'text'` for PowerShell: single quotes, a quote inside doubled.
fn ps_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The request as a `curl` command: method, URL, the headers that matter to Graph (the
/// client-request-id kept, so support can find it), `Authorization: Bearer $TOKEN`, the body.
pub fn curl(exchange: &Exchange) -> String {
    let mut parts = vec!["curl".to_string()];
    if exchange.method != "GET" {
        parts.push(format!("-X {}", exchange.method));
    }
    parts.push(sh_quote(&exchange.url));
    // Double quotes so the shell fills in the variable; the token itself is never written.
    parts.push("-H \"Authorization: Bearer $TOKEN\"".to_string());
    for (name, value) in &exchange.request_headers {
        if name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        parts.push(format!("-H {}", sh_quote(&format!("{name}: {value}"))));
    }
    if let Some(body) = &exchange.request_body {
        parts.push(format!("--data-raw {}", sh_quote(body)));
    }
    parts.join(" ")
}

/// The request as PowerShell: signed in with the token in `$token` (as a secure string, the
/// way `Connect-MgGraph -AccessToken` takes it), then `Invoke-MgGraphRequest`.
pub fn powershell(exchange: &Exchange) -> String {
    let mut call =
        format!("Invoke-MgGraphRequest -Method {} -Uri {}", exchange.method, ps_quote(&exchange.url));
    if let Some(body) = &exchange.request_body {
        call.push_str(&format!(" -Body {} -ContentType 'application/json'", ps_quote(body)));
    }
    let client_request_id = exchange
        .request_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("client-request-id"))
        .map(|(_, v)| format!(" -Headers @{{ 'client-request-id' = {} }}", ps_quote(v)))
        .unwrap_or_default();
    call.push_str(&client_request_id);
    format!(
        "Connect-MgGraph -AccessToken (ConvertTo-SecureString $token -AsPlainText -Force) -NoWelcome; {call}"
    )
}

/// The id Microsoft support asks for: the answer's `request-id`, else the `client-request-id`
/// the app sent.
pub fn request_id(exchange: &Exchange) -> Option<String> {
    exchange
        .response_header("request-id")
        .map(String::from)
        .or_else(|| (!exchange.client_request_id.is_empty()).then(|| exchange.client_request_id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::exchange;

    #[test]
    fn osc52_carries_the_text_base64_encoded_and_nothing_else() {
        assert_eq!(osc52("PF3ABCDE"), "\x1b]52;c;UEYzQUJDREU=\x07");
        // A value with a control character cannot reach the terminal as one.
        let seq = osc52("a\x1b]0;x\x07b");
        assert_eq!(seq.matches('\x1b').count(), 1);
        assert_eq!(seq.matches('\x07').count(), 1);
    }

    #[test]
    fn curl_and_powershell_leave_the_token_a_variable() {
        let ex = exchange("PATCH", "/deviceManagement/x/7e1c", 200, Some(r#"{"groupTag":"O'Brien"}"#), "{}");
        let line = curl(&ex);
        assert!(line.starts_with("curl -X PATCH 'http"), "{line}");
        assert!(line.contains(r#"-H "Authorization: Bearer $TOKEN""#), "{line}");
        assert!(!line.contains("[redacted]"), "the recorded header is not copied: {line}");
        assert!(line.contains(r#"--data-raw '{"groupTag":"O'\''Brien"}'"#), "{line}");
        let ps = powershell(&ex);
        assert!(ps.starts_with("Connect-MgGraph -AccessToken (ConvertTo-SecureString $token"), "{ps}");
        assert!(ps.contains("Invoke-MgGraphRequest -Method PATCH -Uri 'http"), "{ps}");
        assert!(ps.contains(r#"-Body '{"groupTag":"O''Brien"}'"#), "{ps}");
        for text in [&line, &ps] {
            assert!(!text.contains("Bearer ey") && !text.contains("[redacted]"), "{text}");
        }
    }
}
