//! The scale harness of issue 5: starts `autopilot-tui serve --devices 100000` (release binary)
//! and measures, side by side in one run, with several repetitions and medians:
//!
//! - `autopilot-tui list --format json` to /dev/null versus the wire floor: one `curl` fetching
//!   the same pages (`$top=999`, no `$select`, every `@odata.nextLink` recorded in an untimed
//!   pass) over one kept-alive connection to /dev/null;
//! - the app in a 120x40 pseudo-terminal: time from spawn to the first device row on screen,
//!   time until `Loaded 100000 devices`, how fast a `j` moves the cursor while pages stream in,
//!   peak RSS (VmHWM) once loaded, and idle CPU over 5 s with every row loaded.
//!
//! Run from the repository root: `cargo run --release --example measure` (it builds the release
//! binary first). Options: `--reps N` (default 5), `--devices N` (default 100000),
//! `--idle-secs S` (default 5), `--bin PATH` (skip the build, use this binary).
//! Linux only (/proc); needs `curl` on PATH. Prints a Markdown table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "measure-token";
const COLS: u16 = 120;
const ROWS: u16 = 40;
const PAGE: u32 = 999;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Opts {
    reps: usize,
    devices: u64,
    idle_secs: u64,
    bin: Option<PathBuf>,
}

fn parse_opts() -> Res<Opts> {
    let mut o = Opts { reps: 5, devices: 100_000, idle_secs: 5, bin: None };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--reps" => o.reps = val()?.parse()?,
            "--devices" => o.devices = val()?.parse()?,
            "--idle-secs" => o.idle_secs = val()?.parse()?,
            "--bin" => o.bin = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                println!(
                    "cargo run --release --example measure -- [--reps N] [--devices N] [--idle-secs S] [--bin PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(o)
}

/// Builds (or finds) the release binary.
fn binary(opts: &Opts) -> Res<PathBuf> {
    if let Some(b) = &opts.bin {
        return Ok(b.clone());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the release binary…");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "autopilot-tui"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("autopilot-tui"))
}

/// A private config/state home so no profile or log of the user's is read or written.
fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("autopilot-tui-measure-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn clean_env(cmd: &mut Command, scratch: &Path) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AUTOPILOT_TUI_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("XDG_CONFIG_HOME", scratch).env("XDG_STATE_HOME", scratch);
}

struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets it stop cleanly; kill if it lingers.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bin: &Path, devices: u64, scratch: &Path) -> Res<Server> {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--devices", &devices.to_string(), "--seed", "1", "--addr", "127.0.0.1:0"])
        .args(["--log-file", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    clean_env(&mut cmd, scratch);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base_url =
        line.trim().strip_prefix("listening on ").ok_or_else(|| format!("unexpected first line {line:?}"))?;
    Ok(Server { base_url: base_url.to_string(), child })
}

fn collection_url(base: &str) -> String {
    format!("{}/deviceManagement/importedWindowsAutopilotDeviceIdentities", base.trim_end_matches('/'))
}

/// One untimed pass over the listing as `list` asks for it: every page URL, and the first
/// device's serial number.
fn page_urls(base: &str) -> Res<(Vec<String>, String, u64)> {
    let mut urls = vec![format!("{}?$top={PAGE}", collection_url(base))];
    let mut first_serial = String::new();
    let mut devices = 0u64;
    loop {
        let url = urls.last().cloned().ok_or("no url")?;
        let out = Command::new("curl")
            .args(["-s", "--fail", "-H", &format!("Authorization: Bearer {TOKEN}"), &url])
            .output()?;
        if !out.status.success() {
            return Err(format!("curl {url} failed").into());
        }
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let value = doc["value"].as_array().ok_or("page without value")?;
        devices += value.len() as u64;
        if first_serial.is_empty() {
            first_serial = value.first().and_then(|d| d["serialNumber"].as_str()).unwrap_or("").to_string();
        }
        match doc["@odata.nextLink"].as_str() {
            Some(next) => urls.push(next.to_string()),
            None => break,
        }
    }
    Ok((urls, first_serial, devices))
}

fn time_list(bin: &Path, base: &str, scratch: &Path) -> Res<Duration> {
    let mut cmd = Command::new(bin);
    cmd.args(["list", "--format", "json", "--base-url", base, "--token", TOKEN, "--log-file", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    clean_env(&mut cmd, scratch);
    let start = Instant::now();
    let out = cmd.output()?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!("list failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(took)
}

fn time_curl(config: &Path) -> Res<Duration> {
    let start = Instant::now();
    let status = Command::new("curl")
        .args(["-s", "--fail", "-H", &format!("Authorization: Bearer {TOKEN}"), "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .status()?;
    let took = start.elapsed();
    if !status.success() {
        return Err("curl over the page URLs failed".into());
    }
    Ok(took)
}

/// What the pty reader saw, with times.
#[derive(Default)]
struct Seen {
    first_row: Option<Instant>,
    loaded: Option<Instant>,
    /// Text of the highlighted row and when it last changed.
    selected: String,
    selected_at: Option<Instant>,
    screen: String,
}

/// The text of the highlighted table row (cyan background, or reverse video without colour).
fn selected_row(screen: &vt100::Screen) -> String {
    for r in 1..ROWS {
        if let Some(cell) = screen.cell(r, 0)
            && (cell.bgcolor() == vt100::Color::Idx(6) || cell.inverse())
        {
            return screen.contents_between(r, 0, r, COLS).trim().to_string();
        }
    }
    String::new()
}

struct TuiRun {
    first_row: Duration,
    loaded: Duration,
    key_latencies: Vec<Duration>,
    keys_missed: usize,
    rss_kb: u64,
    rss_now_kb: u64,
    idle_cpu_pct: f64,
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn run_tui(
    bin: &Path,
    base: &str,
    first_serial: &str,
    devices: u64,
    idle: Duration,
    scratch: &Path,
) -> Res<TuiRun> {
    let pty =
        native_pty_system().openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })?;
    let mut cmd = CommandBuilder::new(bin);
    cmd.args(["--base-url", base, "--token", TOKEN, "--log-file", "/dev/null"]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AUTOPILOT_TUI_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("XDG_CONFIG_HOME", scratch);
    cmd.env("XDG_STATE_HOME", scratch);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let loaded_text = format!("Loaded {devices} devices");
    let start = Instant::now();
    let mut child = pty.slave.spawn_command(cmd)?;
    drop(pty.slave);
    let pid = child.process_id().ok_or("no pid")?;
    let mut reader = pty.master.try_clone_reader()?;
    let mut writer = pty.master.take_writer()?;
    {
        let seen = seen.clone();
        let serial = first_serial.to_string();
        std::thread::spawn(move || {
            let mut parser = vt100::Parser::new(ROWS, COLS, 0);
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                parser.process(&buf[..n]);
                let screen = parser.screen();
                let text = screen.contents();
                let sel = selected_row(screen);
                let mut s = seen.lock().unwrap();
                if s.first_row.is_none() && !serial.is_empty() && text.contains(&serial) {
                    s.first_row = Some(now);
                }
                if s.loaded.is_none() && text.contains(&loaded_text) {
                    s.loaded = Some(now);
                }
                if !sel.is_empty() && sel != s.selected {
                    s.selected = sel;
                    s.selected_at = Some(now);
                }
                s.screen = text;
            }
        });
    }
    let deadline = start + Duration::from_secs(60);
    let wait = |what: &str, pred: &dyn Fn(&Seen) -> bool| -> Res<()> {
        loop {
            if pred(&seen.lock().unwrap()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out waiting for {what}; screen:\n{}",
                    seen.lock().unwrap().screen
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait("the first device row", &|s| s.first_row.is_some())?;
    // While pages stream in: press j, wait for the highlight to move, repeat.
    let mut key_latencies = Vec::new();
    let mut keys_missed = 0;
    while seen.lock().unwrap().loaded.is_none() && Instant::now() < deadline {
        let before = seen.lock().unwrap().selected.clone();
        let sent = Instant::now();
        writer.write_all(b"j")?;
        writer.flush()?;
        let mut moved = None;
        while sent.elapsed() < Duration::from_secs(2) {
            {
                let s = seen.lock().unwrap();
                if s.selected != before
                    && let Some(at) = s.selected_at
                {
                    moved = Some(at.saturating_duration_since(sent));
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        match moved {
            Some(d) => {
                if d > Duration::from_millis(50) {
                    eprintln!(
                        "slow key at {:.2} s: {:.0} ms",
                        (sent - start).as_secs_f64(),
                        d.as_secs_f64() * 1000.0
                    );
                }
                key_latencies.push(d)
            }
            None => keys_missed += 1,
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    wait("all devices loaded", &|s| s.loaded.is_some())?;
    let (first_row, loaded) = {
        let s = seen.lock().unwrap();
        (s.first_row.unwrap() - start, s.loaded.unwrap() - start)
    };
    std::thread::sleep(Duration::from_millis(500));
    let rss_kb = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    let rss_now_kb = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let t0 = proc_cpu_ticks(pid).ok_or("no /proc stat")?;
    let w0 = Instant::now();
    std::thread::sleep(idle);
    let t1 = proc_cpu_ticks(pid).ok_or("no /proc stat")?;
    let wall = w0.elapsed().as_secs_f64();
    let idle_cpu_pct = (t1 - t0) as f64 / clock_ticks() as f64 / wall * 100.0;
    writer.write_all(b"q")?;
    writer.flush()?;
    let quit_by = Instant::now() + Duration::from_secs(5);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > quit_by {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(TuiRun { first_row, loaded, key_latencies, keys_missed, rss_kb, rss_now_kb, idle_cpu_pct })
}

/// Median, min and max.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median, v[0], v[n - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = proc_meminfo_total()
        .map(|kb| format!(", {:.0} GB RAM", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpus} CPUs (nproc), {model}{mem}, Linux {kernel}")
}

fn proc_meminfo_total() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Res<()> {
    let opts = parse_opts()?;
    let bin = binary(&opts)?;
    let scratch = scratch_dir();
    let n = opts.devices;
    eprintln!("starting {} serve --devices {n}…", bin.display());
    let server = start_server(&bin, n, &scratch)?;
    let base = server.base_url.clone();
    let (urls, first_serial, listed) = page_urls(&base)?;
    if listed != n {
        return Err(format!("the server listed {listed} devices, expected {n}").into());
    }
    let config = scratch.join("curl-pages.conf");
    {
        let mut f = std::fs::File::create(&config)?;
        for u in &urls {
            writeln!(f, "url = \"{u}\"\noutput = \"/dev/null\"")?;
        }
    }
    eprintln!("{} pages of up to {PAGE}; first serial {first_serial}", urls.len());

    // list vs curl, alternating which goes first; one untimed warm-up of each.
    time_list(&bin, &base, &scratch)?;
    time_curl(&config)?;
    let (mut list_ms, mut curl_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..opts.reps {
        let (l, c) = if rep % 2 == 0 {
            let l = time_list(&bin, &base, &scratch)?;
            (l, time_curl(&config)?)
        } else {
            let c = time_curl(&config)?;
            (time_list(&bin, &base, &scratch)?, c)
        };
        eprintln!("rep {rep}: list {:.0} ms, curl {:.0} ms", ms(l), ms(c));
        list_ms.push(ms(l));
        curl_ms.push(ms(c));
        ratios.push(ms(l) / ms(c));
    }

    // The app in a pseudo-terminal.
    let idle = Duration::from_secs(opts.idle_secs);
    let (mut first, mut loaded, mut rss, mut rss_now, mut cpu, mut keys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for rep in 0..opts.reps {
        let r = run_tui(&bin, &base, &first_serial, n, idle, &scratch)?;
        eprintln!(
            "tui rep {rep}: first row {:.0} ms, loaded {:.0} ms, {} key moves (max {:.0} ms, {} missed), VmHWM {} kB, VmRSS {} kB, idle CPU {:.2}%",
            ms(r.first_row),
            ms(r.loaded),
            r.key_latencies.len(),
            r.key_latencies.iter().map(|d| ms(*d)).fold(0.0, f64::max),
            r.keys_missed,
            r.rss_kb,
            r.rss_now_kb,
            r.idle_cpu_pct
        );
        first.push(ms(r.first_row));
        loaded.push(ms(r.loaded));
        rss.push(r.rss_kb as f64 / 1024.0);
        rss_now.push(r.rss_now_kb as f64 / 1024.0);
        cpu.push(r.idle_cpu_pct);
        keys.extend(r.key_latencies.iter().map(|d| ms(*d)));
        missed += r.keys_missed;
    }
    let serve_rss = proc_status_kb(server.child.id(), "VmHWM:").unwrap_or(0);
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);

    let pass = |ok: bool| if ok { "pass" } else { "**miss**" };
    let (lm, lmin, lmax) = stats(list_ms);
    let (cm, cmin, cmax) = stats(curl_ms);
    let (rm, rmin, rmax) = stats(ratios);
    let (fm, fmin, fmax) = stats(first);
    let (am, amin, amax) = stats(loaded);
    let (km, kmin, kmax) = stats(keys.clone());
    let (sm, smin, smax) = stats(rss);
    let (nm, nmin, nmax) = stats(rss_now);
    let (im, imin, imax) = stats(cpu);
    println!("Machine: {}", machine());
    println!(
        "Data: `serve --devices {n} --seed 1` (separate release process, peak RSS {:.0} MiB), {} pages of {PAGE}; {} repetitions each; list and curl alternate.\n",
        serve_rss as f64 / 1024.0,
        urls.len(),
        opts.reps
    );
    println!("| Measure | Median | Min | Max | Target | Result |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    println!(
        "| `list --format json` of {n} devices to /dev/null | {lm:.0} ms | {lmin:.0} ms | {lmax:.0} ms | | |"
    );
    println!(
        "| curl, same {} pages, one connection, to /dev/null (wire floor) | {cm:.0} ms | {cmin:.0} ms | {cmax:.0} ms | | |",
        urls.len()
    );
    println!(
        "| Ratio list / curl (per repetition) | {rm:.2}x | {rmin:.2}x | {rmax:.2}x | < 1.3x | {} |",
        pass(rm < 1.3)
    );
    println!(
        "| First device row on screen (spawn to drawn, 120x40 pty) | {fm:.0} ms | {fmin:.0} ms | {fmax:.0} ms | < 150 ms | {} |",
        pass(fm < 150.0)
    );
    println!(
        "| All {n} rows loaded (spawn to `Loaded {n} devices`) | {am:.0} ms | {amin:.0} ms | {amax:.0} ms | | |"
    );
    println!(
        "| `j` to cursor moved, while loading ({} presses, {missed} unanswered within 2 s) | {km:.1} ms | {kmin:.1} ms | {kmax:.1} ms | responsive | {} |",
        keys.len(),
        pass(missed == 0 && !keys.is_empty() && kmax < 100.0)
    );
    // Issue 10's targets: 100k rows under 50 MiB, 1M under 300 MiB (in between, by rows).
    let rss_target = 50.0 + 250.0 * (n.saturating_sub(100_000) as f64 / 900_000.0).min(1.0);
    println!(
        "| Peak RSS of the app, {n} rows loaded (VmHWM) | {sm:.1} MiB | {smin:.1} MiB | {smax:.1} MiB | < {rss_target:.0} MiB | {} |",
        pass(sm < rss_target)
    );
    println!(
        "| RSS of the app after loading (VmRSS, for comparison) | {nm:.1} MiB | {nmin:.1} MiB | {nmax:.1} MiB | | |"
    );
    println!(
        "| Idle CPU, {n} rows loaded, over {} s | {im:.2}% | {imin:.2}% | {imax:.2}% | < 1% of a core | {} |",
        opts.idle_secs,
        pass(im < 1.0)
    );
    Ok(())
}
