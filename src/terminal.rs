//! What wsbench writes to the terminal, and how: stdout that a closed pipe
//! (`wsbench run … | head -1`) cannot turn into a panic, and one colour decision
//! (`--color`, `NO_COLOR`) every printer follows.
//!
//! Like ripgrep, output to a reader that went away ends quietly: the run itself goes
//! on and still writes its report, only the lines nobody reads are dropped.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--color`: when output may carry ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colours on a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    Always,
    Never,
}

static COLOR: OnceLock<bool> = OnceLock::new();
static CHOICE: OnceLock<ColorChoice> = OnceLock::new();
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Decides colours once, at start-up. `NO_COLOR` (any non-empty value, see
/// no-color.org) turns them off unless `--color always` was given.
pub fn init_color(choice: ColorChoice) -> bool {
    let _ = CHOICE.set(choice);
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && std::io::stderr().is_terminal(),
    };
    *COLOR.get_or_init(|| on)
}

/// Whether output to stdout may carry colours: the same `--color`/`NO_COLOR` decision,
/// with `auto` asking whether stdout (not stderr) is a terminal, for commands whose
/// coloured output is their stdout (`wsbench monitor`).
pub fn stdout_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match CHOICE.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
    }
}

/// Whether colours are on (off when `init_color` was never called).
pub fn color() -> bool {
    COLOR.get().copied().unwrap_or(false)
}

/// Writes `text` to stdout. Once stdout fails (the reader closed the pipe), every
/// later write is dropped without a word, so a run never dies of its own output.
pub fn out(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// [`out`] with a newline.
pub fn out_line(text: &str) {
    out(&format!("{text}\n"));
}

/// Writes to stderr, ignoring a closed stderr the same way.
pub fn err_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
