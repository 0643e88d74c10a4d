//! The real binary in a pseudo-terminal, its screen read with vt100: browse, edit, save, an
//! invalid edit refused, an error answer that keeps the draft, quit, and a panic; the terminal
//! is restored every time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shared;
use shared::*;

use autopilot_tui::server::{self, DataSet, RunningServer, ServeOptions};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "pty-test-token";
const DEADLINE: Duration = Duration::from_secs(20);

/// The app running in a pseudo-terminal.
struct PtyApp {
    master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    /// The reader saw the end of the output (every process holding the terminal is gone).
    eof: Arc<std::sync::atomic::AtomicBool>,
}

impl PtyApp {
    fn spawn(args: &[&str], env: &[(&str, &str)], rows: u16, cols: u16) -> PtyApp {
        let pty = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_autopilot-tui"));
        cmd.args(args);
        let log_dir = std::env::temp_dir().join(format!("autopilot-tui-pty-{}", std::process::id()));
        std::fs::create_dir_all(&log_dir).unwrap();
        // Files the app writes where it runs (exported results) land in the scratch directory.
        cmd.cwd(&log_dir);
        cmd.env("XDG_STATE_HOME", log_dir.to_string_lossy().as_ref());
        cmd.env("XDG_CONFIG_HOME", log_dir.to_string_lossy().as_ref());
        cmd.env("TERM", "xterm-256color");
        cmd.env("RUST_BACKTRACE", "0");
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("AUTOPILOT_TUI_TOKEN");
        cmd.env_remove("AUTOPILOT_TUI_BASE_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).expect("spawn the binary");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = pty.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, r, e) = (parser.clone(), raw.clone(), eof.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            e.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        PtyApp { master: pty.master, child, writer, parser, raw, eof }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Polls the screen until `pred` holds; fails with the screen after the deadline.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    fn send(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Local flags of the terminal as the app left them (`ICANON`, `ECHO` when cooked).
    fn termios(&self) -> String {
        format!("{:?}", self.master.get_termios().expect("termios"))
    }

    /// Waits for the app to exit and for everything it wrote to be read.
    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while !self.eof.load(std::sync::atomic::Ordering::SeqCst) && start.elapsed() < DEADLINE {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("the app did not exit; screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal is back to normal: main screen, cursor shown, cooked mode.
    fn assert_restored(&self) {
        let raw = String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned();
        let entered = raw.rfind("\x1b[?1049h").expect("the app used the alternate screen");
        let after = &raw[entered..];
        assert!(after.contains("\x1b[?1049l"), "alternate screen not left");
        assert!(after.contains("\x1b[?25h"), "cursor not shown again");
        assert!(after.contains("\x1b[?2004l"), "bracketed paste left on");
        assert!(!self.parser.lock().unwrap().screen().alternate_screen());
        let termios = self.termios();
        assert!(termios.contains("ICANON") && termios.contains("ECHO"), "raw mode left on: {termios}");
    }
}

/// The demo set on 127.0.0.1:0 with the test token, pages of 100.
fn demo_options() -> ServeOptions {
    ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.to_string()),
        data: DataSet::Demo,
        page_size: 100,
        ..ServeOptions::default()
    }
}

async fn serve(strict: bool) -> RunningServer {
    server::start(ServeOptions { strict, ..demo_options() }).await.unwrap()
}

fn patches(server: &RunningServer) -> Vec<serde_json::Value> {
    server
        .journal()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// `GET` below the server's version root, as JSON.
async fn get_json(server: &RunningServer, path: &str) -> serde_json::Value {
    let url = format!("{}{path}", server.base_url());
    reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

/// A serial number of a demo device, to filter to.
async fn some_serial(server: &RunningServer) -> String {
    let page = get_json(server, "/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=5").await;
    page["value"][2]["serialNumber"].as_str().unwrap().to_string()
}

/// Starts the binary against `server`, waits for the table.
fn start_app(server: &RunningServer, extra_env: &[(&str, &str)]) -> PtyApp {
    let base = server.base_url();
    let app =
        PtyApp::spawn(&["--base-url", &base, "--token", TOKEN, "--show", "imported"], extra_env, 40, 120);
    app.wait_text("Loaded 250 devices");
    app
}

/// Filters to `serial`, opens it, moves to the group tag and replaces it with `tag`.
fn open_and_retag(app: &mut PtyApp, serial: &str, tag: &str) {
    app.send("/");
    app.send(serial);
    app.wait_for("the filtered row", |s| s.contains(serial) && s.contains("1 of 250"));
    app.send("\r"); // keep the filter
    app.send("\r"); // open the device
    app.wait_text("(4096 bytes)"); // the whole record has arrived
    app.send("\t"); // from the first editable field (assigned user) to the group tag
    app.send("\x05\x15"); // Ctrl-E, Ctrl-U: clear the field
    app.send(tag);
    app.wait_for("the edited tag", |s| s.contains(tag) && s.contains("1 field changed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_refuse_invalid_save_and_quit() {
    let server = serve(false).await;
    let serial = some_serial(&server).await;
    let mut app = start_app(&server, &[]);
    open_and_retag(&mut app, &serial, "Lab-PTY");

    // An invalid UPN is refused on the field and blocks saving; nothing is sent.
    app.send("\x1b[Z"); // Shift-Tab back to the assigned user
    app.send("\x05 not a upn");
    app.wait_text("not a user principal name");
    app.send("\x13"); // Ctrl-S
    app.wait_text("Cannot save");
    assert!(patches(&server).is_empty());

    // Revert that field; save; the confirmation shows exactly the body; Enter sends it.
    app.send("\x12"); // Ctrl-R
    app.wait_for("the UPN reverted", |s| !s.contains("not a user principal name"));
    app.send("\x13");
    let confirm = app.wait_text("\"groupTag\": \"Lab-PTY\"");
    assert!(confirm.contains("PATCH"), "{confirm}");
    app.send("\r");
    app.wait_text("Saved");
    assert_eq!(patches(&server), vec![serde_json::json!({"groupTag": "Lab-PTY"})]);

    // Back in the table the row shows the server's answer; quitting asks nothing (no drafts).
    app.send("\x1b");
    app.wait_for("the table row", |s| {
        s.contains("Lab-PTY") && s.contains(&serial) && !s.contains("Hardware hash")
    });
    app.send("q");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    app.assert_restored();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_patch_keeps_the_draft_and_quit_asks() {
    let server = serve(true).await;
    let serial = some_serial(&server).await;
    let mut app = start_app(&server, &[]);
    // While the app runs the terminal is raw: the restore check below can fail.
    assert!(!app.termios().contains("ICANON"), "{}", app.termios());
    open_and_retag(&mut app, &serial, "Kept-Draft");
    app.send("\x13");
    app.wait_text("\"groupTag\": \"Kept-Draft\"");
    app.send("\r");
    let screen = app.wait_text("does not accept updates");
    assert!(screen.contains("No method match route template"), "{screen}");
    assert!(screen.contains("Kept-Draft") && screen.contains("1 field changed"), "draft lost:\n{screen}");
    assert_eq!(patches(&server).len(), 1);

    app.send("\x1b");
    app.wait_for("the table", |s| !s.contains("Hardware hash"));
    app.send("q");
    app.wait_text("unsaved");
    app.send("y");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    app.assert_restored();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_restores_the_terminal() {
    let server = serve(false).await;
    let mut app = start_app(&server, &[("AUTOPILOT_TUI_TEST_PANIC_KEY", "1")]);
    app.send("\x1b[24~"); // F12
    let status = app.wait_exit();
    assert!(!status.success());
    app.assert_restored();
    let raw = String::from_utf8_lossy(&app.raw.lock().unwrap()).into_owned();
    assert!(raw.contains("panic requested with F12"), "the panic message should reach the user");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_sighup_sigint_and_sigquit_restore_the_terminal() {
    let server = serve(false).await;
    for signal in ["-TERM", "-HUP", "-INT", "-QUIT"] {
        let mut app = start_app(&server, &[]);
        let pid = app.child.process_id().expect("the child's pid");
        let sent = std::process::Command::new("kill").arg(signal).arg(pid.to_string()).status().unwrap();
        assert!(sent.success());
        let status = app.wait_exit();
        assert!(status.success(), "{signal}: {status:?}");
        app.assert_restored();
        let raw = String::from_utf8_lossy(&app.raw.lock().unwrap()).into_owned();
        assert!(!raw.contains("panicked"), "{signal}: {raw}");
    }
    server.shutdown().await;
}

/// The process state letter from `/proc` (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`: the state follows the last parenthesis.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

fn kill(signal: &str, pid: u32) {
    let sent = std::process::Command::new("kill").arg(signal).arg(pid.to_string()).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_z_suspends_with_the_terminal_restored_and_fg_redraws() {
    let server = serve(false).await;
    let mut app = start_app(&server, &[]);
    let pid = app.child.process_id().expect("the child's pid");
    app.send("\x1a"); // Ctrl-Z
    let start = Instant::now();
    // Stopped, and what it wrote before stopping has been read.
    while process_state(pid) != Some('T') || app.parser.lock().unwrap().screen().alternate_screen() {
        assert!(start.elapsed() < DEADLINE, "the app did not stop: {:?}", process_state(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stopped with the shell's terminal back: main screen, cursor shown, cooked mode.
    app.assert_restored();
    let before = app.raw.lock().unwrap().len();
    kill("-CONT", pid); // what `fg` sends
    app.wait_for("the table drawn again", |s| s.contains("SERIAL") && s.contains("devices"));
    assert!(app.parser.lock().unwrap().screen().alternate_screen(), "the app took the screen back");
    assert!(!app.termios().contains("ICANON"), "raw mode again: {}", app.termios());
    let redrawn = String::from_utf8_lossy(&app.raw.lock().unwrap()[before..]).into_owned();
    assert!(redrawn.contains("\x1b[?1049h") && redrawn.contains("SERIAL"), "not redrawn whole");
    app.send("q");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    app.assert_restored();
    server.shutdown().await;
}

/// Esc back to the table (once the screen no longer shows `gone`), then `q`: the app exits.
fn back_and_quit(app: &mut PtyApp, gone: &str) {
    app.send("\x1b");
    app.wait_for("the table", |s| !s.contains(gone));
    app.send("q");
    app.wait_exit();
}

/// The draft store files of `server`'s target in the pty tests' state directory.
fn draft_stores(server: &RunningServer) -> Vec<std::path::PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("autopilot-tui-pty-{}", std::process::id())).join("autopilot-tui");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("drafts-")))
                .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&server.base_url())))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until the draft store of `server` holds exactly `tags`; returns its text.
fn wait_for_store(server: &RunningServer, tags: &[&str], gone: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let text =
            draft_stores(server).first().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        if tags.iter().all(|t| text.contains(t)) && !gone.iter().any(|t| text.contains(t)) {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "the draft store never held {tags:?} without {gone:?}: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Three demo serials.
async fn three_serials(server: &RunningServer) -> Vec<String> {
    let page = get_json(server, "/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=6").await;
    (3..6).map(|i| page["value"][i]["serialNumber"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_drafts_survive_a_kill_9_and_a_sigterm_and_come_back_on_the_next_start() {
    let server = serve(false).await;
    let serials = three_serials(&server).await;
    let tags = ["Kept-One", "Kept-Two", "Kept-Three"];
    let mut app = start_app(&server, &[]);
    for (serial, tag) in serials.iter().zip(tags) {
        open_and_retag(&mut app, serial, tag);
        app.send("\x1b"); // back to the table, the draft kept
        app.wait_for("the table", |s| !s.contains("Hardware hash"));
        app.send("\x1b"); // clear the filter
        app.wait_for("every row", |s| s.contains("250 devices") && !s.contains("1 of 250"));
    }
    // The store is written a moment after the drafts settle, not only at exit.
    let text = wait_for_store(&server, &tags, &[]);
    assert!(!text.contains(TOKEN), "the token reached the draft store");
    let path = draft_stores(&server).remove(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // SIGKILL: nothing runs at exit, the store is what was written before.
    let pid = app.child.process_id().expect("the child's pid");
    kill("-KILL", pid);
    app.wait_exit();

    let mut app = start_app(&server, &[]);
    app.wait_text("3 drafts restored");
    app.send(":drafts\r");
    app.wait_for("the drafts view", |s| {
        tags.iter().all(|t| s.contains(t)) && serials.iter().all(|x| s.contains(x))
    });
    app.send("\x1b");
    app.wait_for("the table", |s| !s.contains("Unsaved drafts:"));
    // Saving one sends exactly it; the store then holds the other two.
    app.send("/");
    app.send(&serials[0]);
    app.wait_for("the filtered row", |s| s.contains(&serials[0]) && s.contains("1 of 250"));
    app.send("\r\r");
    app.wait_for("the restored draft", |s| s.contains(tags[0]) && s.contains("1 field changed"));
    app.send("\x13");
    app.wait_text(&format!("\"groupTag\": \"{}\"", tags[0]));
    app.send("\r");
    app.wait_text("Saved");
    assert_eq!(patches(&server), vec![serde_json::json!({"groupTag": tags[0]})]);
    wait_for_store(&server, &tags[1..], &tags[..1]);

    // SIGTERM: the terminal is restored and the user told where the drafts are.
    let pid = app.child.process_id().expect("the child's pid");
    kill("-TERM", pid);
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    app.assert_restored();
    let raw = String::from_utf8_lossy(&app.raw.lock().unwrap()).into_owned();
    assert!(raw.contains("2 unsaved draft(s) kept in"), "the user is told where the drafts went");
    let mut app = start_app(&server, &[]);
    app.wait_text("2 drafts restored");
    // Quitting asks; `d` discards them and the store goes.
    app.send("q");
    app.wait_text("They stay saved");
    app.send("d");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(draft_stores(&server).is_empty(), "discarded drafts left a store behind");
    assert_eq!(patches(&server).len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_sign_in_in_the_app_then_the_table() {
    let oauth = server::oauth::OAuthConfig { poll_interval: Duration::from_secs(1), ..Default::default() };
    let server = server::start(ServeOptions { token: None, oauth, ..demo_options() }).await.unwrap();
    let (base, authority) = (server.base_url(), server.authority_base());
    let args = [
        "--base-url",
        &base,
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        "pty-client",
        "--authority",
        &authority,
        "--show",
        "imported",
    ];
    let mut app = PtyApp::spawn(&args, &[], 30, 100);
    let screen = app.wait_for("the code", |s| s.contains("Code  ") && s.contains("code expires in"));
    let code = screen
        .lines()
        .find_map(|l| l.split("Code  ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        .unwrap();
    server.approve_device_code(&code).unwrap();
    app.wait_text("Loaded 250 devices");
    app.send("q");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    app.assert_restored();
    let raw = String::from_utf8_lossy(&app.raw.lock().unwrap()).into_owned();
    assert!(!raw.contains("imitation-"), "a token or device code reached the terminal");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_tenant_the_app_opens_on_devices_and_a_retag_sends_one_update_device_properties() {
    let server = serve(false).await;
    let page = get_json(&server, "/deviceManagement/windowsAutopilotDeviceIdentities?$top=50").await;
    let device = page["value"].as_array().unwrap().iter().find(|d| d["groupTag"] == "Kiosk").unwrap().clone();
    let (id, serial) = (device["id"].as_str().unwrap(), device["serialNumber"].as_str().unwrap());
    // No --show: a tenant opens on the registered devices (what admins edit).
    let base = server.base_url();
    let mut app = PtyApp::spawn(&["--base-url", &base, "--token", TOKEN], &[], 40, 120);
    let shown = app.wait_text("Loaded 403 devices");
    assert!(shown.lines().next().unwrap().contains(" devices "), "{shown}");
    assert!(shown.contains("ENROLLMENT"), "{shown}");
    app.send("/");
    app.send(serial);
    app.wait_for("the filtered row", |s| s.contains(serial) && s.contains("1 of 403"));
    app.send("\r"); // keep the filter
    app.send("\r"); // open the device
    app.wait_for("the form", |s| s.contains(&format!("Edit {serial}")) && s.contains("Enrollment state"));
    app.send("\x15"); // Ctrl-U: clear the group tag, the first field the form edits
    app.send("Retagged-PTY");
    app.wait_text("1 field changed");
    app.send("\x13"); // Ctrl-S
    let confirm = app.wait_text("\"groupTag\": \"Retagged-PTY\"");
    assert!(confirm.contains("updateDeviceProperties"), "{confirm}");
    app.send("y");
    app.wait_text("Saved");
    let updates: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/updateDeviceProperties"))
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        updates[0].path_and_query,
        format!("/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties")
    );
    let body: serde_json::Value = serde_json::from_slice(&updates[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"groupTag": "Retagged-PTY"}));
    assert!(patches(&server).is_empty());
    app.send("\x1b");
    app.wait_for("the table row", |s| s.contains("Retagged-PTY") && !s.contains("Enrollment state"));
    app.send("q");
    assert!(app.wait_exit().success());
    app.assert_restored();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn y_copies_the_serial_through_osc_52_and_nothing_else() {
    use base64::Engine;
    let server = serve(false).await;
    let serial = some_serial(&server).await;
    let mut app = start_app(&server, &[]);
    app.send("/");
    app.send(&serial);
    app.wait_for("the filtered row", |s| s.contains(&serial) && s.contains("1 of 250"));
    app.send("\r");
    let before = app.raw.lock().unwrap().len();
    app.send("y");
    app.wait_text("Copied the serial number");
    let raw = app.raw.lock().unwrap()[before..].to_vec();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let expected = format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(&serial));
    assert_eq!(raw.matches("\x1b]52;").count(), 1, "{raw:?}");
    assert!(raw.contains(&expected), "{raw:?}");
    app.send("q");
    assert!(app.wait_exit().success());
    server.shutdown().await;
}

/// The id, serial and group tag of a demo device, to change it behind the app's back.
async fn some_device(server: &RunningServer, index: usize) -> (String, String, serde_json::Value) {
    let page = get_json(server, "/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=10").await;
    let d = &page["value"][index];
    (
        d["id"].as_str().unwrap().to_string(),
        d["serialNumber"].as_str().unwrap().to_string(),
        d["groupTag"].clone(),
    )
}

/// A colleague's change, made straight on the server.
async fn colleague_patch(server: &RunningServer, id: &str, body: serde_json::Value) {
    let url = format!("{}/deviceManagement/importedWindowsAutopilotDeviceIdentities/{id}", server.base_url());
    let answer = reqwest::Client::new().patch(url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_changed_on_the_server_meanwhile_shows_the_three_way_view_and_only_the_pick_is_written() {
    // With ETags on, the write is also conditional on the version the app read last.
    let server = server::start(ServeOptions { etags: true, ..demo_options() }).await.unwrap();
    let (id, serial, _) = some_device(&server, 6).await;
    let mut app = start_app(&server, &[]);
    open_and_retag(&mut app, &serial, "Mine-Tag");
    // Meanwhile a colleague changes the same field and one the user did not touch.
    colleague_patch(
        &server,
        &id,
        serde_json::json!({"groupTag": "Theirs-Tag", "assignedUserPrincipalName": "colleague@contoso.com"}),
    )
    .await;
    app.send("\x13");
    app.wait_text("\"groupTag\": \"Mine-Tag\"");
    app.send("\r");
    let screen = app.wait_text("Conflicts: changed on the server too");
    assert!(screen.contains("\"Theirs-Tag\"") && screen.contains("\"Mine-Tag\""), "{screen}");
    assert!(screen.contains("to decide"), "{screen}");
    let ours = |server: &RunningServer| {
        patches(server).into_iter().filter(|b| b != &serde_json::json!({"groupTag": "Theirs-Tag", "assignedUserPrincipalName": "colleague@contoso.com"})).collect::<Vec<_>>()
    };
    assert!(ours(&server).is_empty(), "a write went out before the conflict was decided");
    // Enter with nothing picked sends nothing; `m` keeps mine, Enter applies and asks to confirm.
    app.send("\r");
    app.wait_text("1 field still to decide");
    app.send("m");
    app.wait_text("keeping yours");
    app.send("\r");
    app.wait_for("the confirmation", |s| {
        s.contains("\"groupTag\": \"Mine-Tag\"") && !s.contains("Conflicts:")
    });
    app.send("\r");
    let screen = app.wait_text("Saved");
    // The colleague's user stays: the draft was rebased, and only the picked field was sent.
    assert!(screen.contains("colleague@contoso.com"), "{screen}");
    assert_eq!(ours(&server), vec![serde_json::json!({"groupTag": "Mine-Tag"})]);
    let write = server.journal().into_iter().rfind(|r| r.method == "PATCH").unwrap();
    assert!(
        write.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("if-match") && v.starts_with("W/")),
        "{:?}",
        write.headers
    );
    back_and_quit(&mut app, "Hardware hash");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_after_a_save_writes_the_previous_value_back_and_the_journal_lists_both() {
    let server = serve(false).await;
    let (_, serial, before) = some_device(&server, 7).await;
    let mut app = start_app(&server, &[]);
    open_and_retag(&mut app, &serial, "Undo-Me");
    app.send("\x13");
    app.wait_text("\"groupTag\": \"Undo-Me\"");
    app.send("\r");
    app.wait_text("M-U undoes");
    assert_eq!(patches(&server), vec![serde_json::json!({"groupTag": "Undo-Me"})]);
    app.send("\x1bu"); // M-U
    let confirm = app.wait_for("the undo's confirmation", |s| s.contains("PATCH") && s.contains("Undo-Me"));
    assert!(confirm.contains(&format!("\"groupTag\": {before}")), "{confirm}");
    app.send("\r");
    app.wait_text("Undone on");
    assert_eq!(
        patches(&server),
        vec![serde_json::json!({"groupTag": "Undo-Me"}), serde_json::json!({"groupTag": before})]
    );
    // The write log lists both, newest first.
    app.send("\x1b");
    app.wait_for("the table", |s| !s.contains("Hardware hash"));
    app.send(":journal ");
    app.send(&serial);
    app.send("\r");
    let screen = app.wait_for("the journal", |s| s.contains("Write log: 2/") && s.contains("(undo)"));
    let undo_row = screen.lines().position(|l| l.contains("(undo)")).unwrap();
    let save_row = screen.lines().position(|l| l.contains("→ \"Undo-Me\"")).unwrap();
    assert!(undo_row < save_row, "newest first:\n{screen}");
    back_and_quit(&mut app, "Write log");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_from_the_app_checks_previews_imports_watches_and_cleans_up() {
    let imports = server::ImportOptions { delay: Duration::ZERO, ..Default::default() };
    let server = server::start(ServeOptions { imports, ..demo_options() }).await.unwrap();
    let dir = std::env::temp_dir().join(format!("autopilot-tui-pty-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("new-laptops.csv");
    let csv = format!(
        "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\r\n\
         PTYIMP001,,{},Lab,\r\nPTYIMP002,,{},Lab,\r\nPTYIMP003,,not-base64!,Lab,\r\n",
        hash(1),
        hash(2)
    );
    std::fs::write(&file, csv).unwrap();
    let mut app = start_app(&server, &[]);
    // Tab completes the file name.
    app.send(&format!(":import {}/new-la", dir.display()));
    app.wait_text("new-la");
    app.send("\t");
    app.wait_text("new-laptops.csv");
    app.send("\r");
    let preview = app.wait_text("nothing sent yet");
    assert!(preview.contains("2 to import") && preview.contains("1 with problems"), "{preview}");
    assert!(preview.contains("line 4"), "the bad row is named by its line:\n{preview}");
    assert!(
        server.journal().iter().all(|r| r.method == "GET"),
        "something was sent before the preview was confirmed"
    );
    app.send("\r");
    let ended = app.wait_for("the import's end", |s| s.contains("ended:") && s.contains("Results (3)"));
    assert!(ended.contains("2 rows done"), "{ended}");
    // Both rows are registered, their import records cleaned up; the bad row never left.
    let devices: serde_json::Value = get_json(
        &server,
        "/deviceManagement/windowsAutopilotDeviceIdentities?$filter=contains(serialNumber,'PTYIMP')",
    )
    .await;
    let serials: Vec<&str> =
        devices["value"].as_array().unwrap().iter().filter_map(|d| d["serialNumber"].as_str()).collect();
    assert!(
        serials.contains(&"PTYIMP001") && serials.contains(&"PTYIMP002") && !serials.contains(&"PTYIMP003")
    );
    let imports: Vec<serde_json::Value> = server
        .journal()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/import"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(imports.len(), 1);
    assert!(!serde_json::to_string(&imports).unwrap().contains("PTYIMP003"));
    assert!(
        server.journal().iter().filter(|r| r.method == "DELETE").count() >= 2,
        "completed records cleaned up"
    );
    // e exports the results next to where the app runs.
    app.send("e");
    let written = app.wait_text("Results written to");
    assert!(written.contains("autopilot-tui-results-"), "{written}");
    back_and_quit(&mut app, "Results (3)");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_deletes_the_completed_and_failed_import_records_after_the_typed_count() {
    let server = serve(false).await;
    let all: serde_json::Value =
        get_json(&server, "/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=999").await;
    // The smallest import with more settled records than the guard's threshold (25): deleted
    // within the write budget's first burst.
    let mut by_import: std::collections::BTreeMap<String, usize> = Default::default();
    for d in all["value"].as_array().unwrap() {
        if matches!(d["state"]["deviceImportStatus"].as_str(), Some("complete" | "error")) {
            *by_import.entry(d["importId"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    let (import_id, settled) =
        by_import.into_iter().filter(|(_, n)| *n > 25).min_by_key(|(_, n)| *n).unwrap();
    let mut app = start_app(&server, &[]);
    app.send(&format!(":cleanup {import_id}\r"));
    let asked = app.wait_text(&format!("Delete {settled} import records of import"));
    assert!(asked.contains(&format!("type {settled} to delete")), "{asked}");
    app.send("\r"); // nothing typed: refused
    app.wait_text(&format!("Type {settled} (the number of records)"));
    assert_eq!(server.journal().iter().filter(|r| r.method == "DELETE").count(), 0);
    app.send(&settled.to_string());
    app.send("\r");
    app.wait_text(&format!("{settled} import records deleted"));
    assert_eq!(server.journal().iter().filter(|r| r.method == "DELETE").count(), settled);
    back_and_quit(&mut app, "Clean-up of");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_job_killed_midway_is_offered_at_the_next_start_and_resumed_without_a_write_twice() {
    let server = serve(false).await;
    let base = server.base_url();
    // 20 devices at 4 writes a second: long enough to be cut off midway.
    let args = ["--base-url", base.as_str(), "--token", TOKEN, "--show", "imported", "--write-rate", "4/1"];
    let mut app = PtyApp::spawn(&args, &[], 40, 120);
    app.wait_text("Loaded 250 devices");
    for _ in 0..20 {
        app.send(" ");
    }
    app.wait_text("20 marked");
    app.send("\r");
    app.wait_text("Bulk edit");
    app.send("\t");
    app.send("Resume-Tag");
    app.send("\x13");
    app.wait_text("Bulk change of");
    app.send("\r");
    app.wait_for("a few writes done", |s| (2..20).contains(&s.matches(" done (request-id").count()));
    let pid = app.child.process_id().expect("the child's pid");
    kill("-KILL", pid);
    app.wait_exit();
    let written_before = patches(&server).len();
    assert!(written_before < 20, "the job ended before the kill");

    let mut app = PtyApp::spawn(&args, &[], 40, 120);
    app.wait_text("left a job unfinished");
    app.send("y");
    let ended = app.wait_text("Job ended:");
    assert!(ended.contains("failed, 0 conflicts"), "{ended}");
    assert!(ended.contains("done (request-id") && ended.contains("(before the cut)"), "{ended}");
    // Every device got the tag exactly once across both runs.
    let tagged = patches(&server);
    assert_eq!(tagged.len(), 20, "{} writes: one device written twice or missed", tagged.len());
    assert!(tagged.iter().all(|b| b == &serde_json::json!({"groupTag": "Resume-Tag"})));
    back_and_quit(&mut app, "Job ended");
    server.shutdown().await;
}
