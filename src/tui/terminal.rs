//! The real terminal: raw mode, alternate screen, bracketed paste. A guard restores it when
//! dropped, and a panic hook restores it before the panic message is printed, so every exit
//! path (quit, error, panic, signal) leaves the shell usable. Suspending (Ctrl-Z) hands the
//! terminal back to the shell and takes it again on `fg`.

use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Owns the terminal while the app runs; restores it on drop.
pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Raw mode, alternate screen, bracketed paste, hidden cursor; undone by [`restore`] on error.
fn take_over() -> std::io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    if let Err(e) = execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste, Hide) {
        restore();
        return Err(e);
    }
    Ok(())
}

impl TerminalGuard {
    /// Switches the terminal to the app's mode.
    pub fn enter() -> std::io::Result<TerminalGuard> {
        install_panic_hook();
        take_over()?;
        match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// The ratatui terminal.
    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back to the shell and stops the process, as Ctrl-Z does for a cooked
/// program; when the shell continues it (`fg`), takes the terminal again and clears it so the
/// next draw repaints everything.
pub fn suspend(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> std::io::Result<()> {
    restore();
    tracing::info!("suspended");
    stop_self();
    tracing::info!("resumed");
    take_over()?;
    // A resize to the (possibly new) size clears the screen and forgets the last frame, so the
    // next draw repaints everything (`Terminal::clear` would query the cursor position).
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

/// Stops this process until a SIGCONT. SIGSTOP cannot be caught, so this works even though
/// the app handles SIGTSTP itself.
fn stop_self() {
    #[cfg(unix)]
    if let Err(error) = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP) {
        tracing::warn!(%error, "could not stop for Ctrl-Z");
    }
}

/// Sets the system clipboard through the terminal (OSC 52), between frames.
pub fn copy(terminal: &mut Terminal<CrosstermBackend<Stdout>>, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let backend = terminal.backend_mut();
    backend.write_all(crate::tui::copy::osc52(text).as_bytes())?;
    backend.flush()
}

/// Puts the terminal back (idempotent; safe to call from a panic hook).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout(), DisableBracketedPaste, LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            tracing::error!(%info, "panic");
            previous(info);
        }));
    });
}
