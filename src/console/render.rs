//! The live console for people: each device line as it came (colour by level), and a
//! highlighted wsbench line for each event worth seeing at once (boots, panics,
//! watchdogs, the port vanishing, accept errors, the scenario's own events).

use std::io::Write;

use super::event::{Boot, ConsoleEvent, EventDetail};
use super::idf::{IdfLog, Level};

/// The words a boot is summed up in, the same in the monitor's highlight and the run's
/// progress line: ` esp32c3` (or nothing), `reset 0xc RTC_SW_CPU_RST` (or that it was
/// not seen), `, ready at 192.168.4.1:80` (or nothing).
pub struct BootWords {
    pub chip: String,
    pub reset: String,
    pub ready: String,
}

impl BootWords {
    pub fn of(b: &Boot) -> BootWords {
        BootWords {
            chip: b
                .chip
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default(),
            reset: b
                .reset
                .as_ref()
                .map_or("reset reason not seen".to_owned(), |r| {
                    format!("reset 0x{:x} {}", r.code, r.name)
                }),
            ready: b
                .ready
                .as_ref()
                .map(|r| format!(", ready at {}:{}", r.ip, r.ws_port))
                .unwrap_or_default(),
        }
    }
}

/// ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

const RED: &str = "\x1b[31m";
const BOLD_RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[1;36m";
const MAGENTA: &str = "\x1b[1;35m";
const RESET: &str = "\x1b[0m";

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// One device line, as text (colour codes already removed), with the host stamp
    /// it carried.
    pub fn line(
        self,
        out: &mut impl Write,
        text: &str,
        stamp: Option<&str>,
    ) -> std::io::Result<()> {
        let painted = match IdfLog::parse(text).map(|l| l.level) {
            Some(Level::Error) => self.paint(RED, text),
            Some(Level::Warn) => self.paint(YELLOW, text),
            Some(Level::Info) => self.paint(GREEN, text),
            _ => text.to_owned(),
        };
        match stamp {
            Some(s) => writeln!(out, "[{s}] {painted}"),
            None => writeln!(out, "{painted}"),
        }
    }

    /// The highlight for an event, if it deserves one.
    pub fn event(self, out: &mut impl Write, e: &ConsoleEvent, boots: u64) -> std::io::Result<()> {
        let (color, text) = match &e.detail {
            EventDetail::Boot(b) => {
                let BootWords { chip, reset, ready } = BootWords::of(b);
                let reset = match &b.reset {
                    Some(r) => format!("{reset} ({:?})", r.cause).to_lowercase(),
                    None => reset,
                };
                let mode = if b.download_mode {
                    ", DOWNLOAD MODE (waiting for a flasher)"
                } else {
                    ""
                };
                (
                    CYAN,
                    format!(
                        "boot #{boots}{chip}: {reset}{mode}{ready} (lines {}-{})",
                        e.line, e.end_line
                    ),
                )
            }
            EventDetail::Ready(r) => (
                CYAN,
                format!(
                    "ready: ws port {} wss port {} at {} ({})",
                    r.ws_port, r.wss_port, r.ip, r.ssid
                ),
            ),
            EventDetail::Panic(p) => {
                let what = if p.fatal { "PANIC" } else { "WATCHDOG" };
                let mut s = format!(
                    "{what} {}: {} (lines {}-{})",
                    p.kind.as_str(),
                    p.reason,
                    e.line,
                    e.end_line
                );
                if let Some(d) = &p.decoded {
                    for f in &d.frames {
                        s.push_str(&format!(
                            "\n    0x{:08x} {}{}",
                            f.address,
                            f.function.as_deref().unwrap_or("??"),
                            f.location
                                .as_deref()
                                .map(|l| format!(" at {l}"))
                                .unwrap_or_default()
                        ));
                    }
                    if let Some(note) = &d.note {
                        s.push_str(&format!("\n    ({note})"));
                    }
                } else if !p.backtrace.is_empty() {
                    let addrs: Vec<String> =
                        p.backtrace.iter().map(|a| format!("0x{a:08x}")).collect();
                    s.push_str(&format!(
                        "\n    backtrace {} (give --elf to name them)",
                        addrs.join(" ")
                    ));
                }
                (BOLD_RED, s)
            }
            EventDetail::Gap { seconds, why, back } => (
                MAGENTA,
                if *back {
                    format!("the port is back after {seconds:.1} s ({why})")
                } else {
                    format!("the port was lost ({why}) and did not come back")
                },
            ),
            EventDetail::AcceptError { errno } => (
                BOLD_RED,
                format!("accept error {errno}: the server ran out of sockets"),
            ),
            EventDetail::LineCut { dropped } => (
                MAGENTA,
                format!("line {} was too long: {dropped} bytes dropped", e.line),
            ),
            EventDetail::Noise { lines } => (
                MAGENTA,
                format!(
                    "{lines} line(s) of non-text bytes (lines {}-{}): another baud rate?",
                    e.line, e.end_line
                ),
            ),
            EventDetail::User { name, .. } => (MAGENTA, format!("event {name} (line {})", e.line)),
            _ => return Ok(()),
        };
        writeln!(out, "{}", self.paint(color, &format!("── wsbench: {text}")))
    }
}
