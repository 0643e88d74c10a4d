//! The real binary in a pseudo-terminal, its screen read with vt100: browse, edit, save, an
//! invalid edit refused, an error answer that keeps the draft, quit, and a panic; the terminal
//! is restored every time.

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
}

impl PtyApp {
    fn spawn(args: &[&str], env: &[(&str, &str)], rows: u16, cols: u16) -> PtyApp {
        let pty = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_autopilot-tui"));
        cmd.args(args);
        let log_dir = std::env::temp_dir().join(format!("autopilot-tui-pty-{}", std::process::id()));
        cmd.env("XDG_STATE_HOME", log_dir.to_string_lossy().as_ref());
        cmd.env("XDG_CONFIG_HOME", log_dir.to_string_lossy().as_ref());
        cmd.env("TERM", "xterm-256color");
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
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyApp { master: pty.master, child, writer, parser, raw }
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

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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
        let raw = self.raw.lock().unwrap().clone();
        let tail = String::from_utf8_lossy(&raw[raw.len().saturating_sub(400)..]).into_owned();
        assert!(tail.contains("\x1b[?1049l"), "alternate screen not left: {tail:?}");
        assert!(tail.contains("\x1b[?25h"), "cursor not shown again: {tail:?}");
        assert!(!self.parser.lock().unwrap().screen().alternate_screen());
        let termios = self.termios();
        assert!(termios.contains("ICANON") && termios.contains("ECHO"), "raw mode left on: {termios}");
    }
}

async fn serve(strict: bool) -> RunningServer {
    server::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.to_string()),
        strict,
        data: DataSet::Demo,
        page_size: 100,
        ..ServeOptions::default()
    })
    .await
    .unwrap()
}

fn patches(server: &RunningServer) -> Vec<serde_json::Value> {
    server
        .journal()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// A serial number of a demo device, to filter to.
async fn some_serial(server: &RunningServer) -> String {
    let url =
        format!("{}/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=5", server.base_url());
    let page: serde_json::Value =
        reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    page["value"][2]["serialNumber"].as_str().unwrap().to_string()
}
