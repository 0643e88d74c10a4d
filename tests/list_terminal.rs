//! `autopilot-tui list` with stdout and stderr on a real pseudo-terminal: server text is
//! escaped before it reaches the terminal, and retries are announced while they happen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;

use hostile::{Hostile, Reply, device, page};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::Read;

const TOKEN: &str = "terminal-test-token";

/// Runs the binary with `args` on a pseudo-terminal until it exits; returns its exit code and
/// every byte it wrote to the terminal.
async fn on_a_terminal(args: Vec<String>) -> (u32, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let pty = native_pty_system()
            .openpty(PtySize { rows: 40, cols: 200, pixel_width: 0, pixel_height: 0 })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_autopilot-tui"));
        cmd.args(&args);
        let dir = std::env::temp_dir().join(format!("autopilot-tui-list-tty-{}", std::process::id()));
        cmd.env("XDG_STATE_HOME", dir.to_string_lossy().as_ref());
        cmd.env("XDG_CONFIG_HOME", dir.to_string_lossy().as_ref());
        for var in ["AUTOPILOT_TUI_TOKEN", "AUTOPILOT_TUI_BASE_URL", "AUTOPILOT_TUI_PROFILE"] {
            cmd.env_remove(var);
        }
        let mut child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let collected = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            out
        });
        let status = child.wait().unwrap();
        drop(pty.master);
        (status.exit_code(), collected.join().unwrap())
    })
    .await
    .unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_written_to_a_terminal_is_escaped() {
    let serial = "PF\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{202e}X";
    let server = Hostile::start(move |_, _| Reply::json(page(vec![device("t1", serial)], None))).await;
    for format in ["csv", "json"] {
        let args = ["list", "--base-url", &server.base_url, "--token", TOKEN, "--format", format];
        let (code, out) = on_a_terminal(args.iter().map(|s| s.to_string()).collect()).await;
        assert_eq!(code, 0, "{format}: {}", String::from_utf8_lossy(&out));
        for raw in ["\u{1b}]52", "\u{1b}[2J", "\u{7}", "\u{202e}"] {
            assert!(
                !contains(&out, raw),
                "{format}: {raw:?} reached the terminal: {}",
                String::from_utf8_lossy(&out)
            );
        }
        let shown = if format == "csv" {
            "PF⟨U+001B⟩]52;c;cHduZWQ=⟨U+0007⟩⟨U+001B⟩[2J⟨U+202E⟩X"
        } else {
            "PF\\u001b]52;c;cHduZWQ=\\u0007\\u001b[2J\\u202eX"
        };
        assert!(contains(&out, shown), "{format}: {}", String::from_utf8_lossy(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_are_announced_on_a_terminal() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let base = format!("http://{closed}/v1.0");
    let (code, out) =
        on_a_terminal(vec!["list".into(), "--base-url".into(), base.clone(), "--token".into(), TOKEN.into()])
            .await;
    assert_eq!(code, 1);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("failed (cannot connect: ").count(), 2, "{text}");
    assert!(text.contains("attempt 1 failed") && text.contains("attempt 2 failed"), "{text}");
    assert!(text.contains(&format!("the listing stopped at page 1: cannot connect: {base}")), "{text}");

    // Throttling is announced too, and the listing goes on.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = calls.clone();
    let server = Hostile::start(move |_, _| {
        if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let mut reply = Reply::error(429, "TooManyRequests", "slow down");
            reply.headers.push(("retry-after".into(), "0.05".into()));
            reply
        } else {
            Reply::json(page(vec![device("t1", "S1")], None))
        }
    })
    .await;
    let args = [
        "list",
        "--base-url",
        &server.base_url,
        "--token",
        TOKEN,
        "--format",
        "csv",
        "--select",
        "serialNumber",
    ];
    let (code, out) = on_a_terminal(args.iter().map(|s| s.to_string()).collect()).await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("attempt 1 failed (429 Too Many Requests); trying again in 0.1 s"), "{text}");
    assert!(text.contains("S1"), "{text}");
}
