//! `wsbench monitor`: the device console live (or a saved log), with the parsed events
//! highlighted, or as JSON lines for scripts and CI. Composes the console parts; does
//! no parsing of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use super::error::ConsoleError;
use super::event::{ConsoleEvent, EventDetail};
use super::parser::ConsoleParser;
use super::port::{PortSource, reset_into_app};
use super::profile::{UserPattern, UserPatterns};
use super::reader::{self, LineRef, LineSplitter, ReaderItem};
use super::render::Style;
use super::symbols::{ElfSymbols, SymbolTable, Symbolizer};
use super::text;
use crate::exit::{CommandResult, Failure, Outcome};

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The board's serial port (any path: /dev/ttyUSB0, /dev/ttyACM0, the simulated
    /// board's /dev/pts/N). Default: $WSBENCH_PORT. `--input` takes precedence.
    #[arg(long, value_name = "PATH")]
    pub port: Option<PathBuf>,
    /// Baud rate of the port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Parse a saved console log instead of a port; `-` reads standard input.
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Print one JSON object per event (docs/console-events.md) instead of the console.
    #[arg(long)]
    pub json: bool,
    /// Reset the board into its app first (RTS/DTR); a port without those lines is
    /// read without a reset.
    #[arg(long)]
    pub reset: bool,
    /// ELF of the firmware the board runs, to name the functions in a panic's backtrace.
    /// Without it, panics of the bundled firmware are named from its shipped symbols.
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// A scenario whose `console.events` patterns to look for too.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
}

/// Silence after which a halted panic (no `Rebooting...`) is reported.
const IDLE_FLUSH: Duration = Duration::from_millis(1500);

pub fn main(args: MonitorArgs) -> CommandResult {
    let user = user_patterns(args.scenario.as_deref())?;
    let elf = match &args.elf {
        Some(path) => Some(ElfSymbols::open(path).map_err(Failure::usage)?),
        None => None,
    };
    let symbols = Symbolizer::new(elf, bundled_symbols());
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone());

    // The global `--color` (and NO_COLOR), judged against stdout, where the console goes.
    let color = crate::terminal::stdout_color();
    let mut view = View {
        json: args.json,
        live: args.input.is_none(),
        style: Style { color },
        out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        boots: 0,
        panics: 0,
        warnings: 0,
        errors: 0,
        closed: false,
    };
    let mut parser = ConsoleParser::new(user, symbols);
    let mut events = Vec::new();
    let (lost_at, failed) = if let Some(input) = &args.input {
        let source = open_input(input)?;
        match read_saved(source, &stop, &mut parser, &mut view, &mut events) {
            Some(done) => done,
            None => return Ok(Outcome::Success),
        }
    } else {
        let port = args.port.clone().or_else(|| {
            std::env::var_os("WSBENCH_PORT")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let Some(path) = &port else {
            return Err(Failure::usage(ConsoleError::NoPort));
        };
        let mut source = PortSource::open(
            path,
            args.baud,
            Box::new(crate::serial::BoardPort::at_path(path)),
        )
        .map_err(Failure::unrunnable)?;
        if args.reset
            && let Some(port) = source.port_mut()
        {
            match reset_into_app(port) {
                Ok(true) => eprintln!("wsbench monitor: reset the board on {}", path.display()),
                Ok(false) => eprintln!(
                    "wsbench monitor: {} has no modem control lines (RTS/DTR), so the board was not reset; reading on",
                    path.display()
                ),
                Err(e) => eprintln!(
                    "wsbench monitor: resetting through {} failed ({e}); reading on without a reset",
                    path.display()
                ),
            }
        }
        if !args.json {
            eprintln!(
                "wsbench monitor: reading {} at {} baud (Ctrl-C to stop)",
                path.display(),
                args.baud
            );
        }
        let rx = reader::spawn(source, stop.clone());
        match read_live(&rx, &stop, &mut parser, &mut view, &mut events) {
            Some(done) => done,
            None => return Ok(Outcome::Success),
        }
    };
    if let Some((since, why)) = lost_at {
        let seconds = since.elapsed().unwrap_or_default().as_secs_f64();
        parser.gap(since, seconds, why, false, &mut events);
    }
    parser.finish(&mut events);
    view.show(&mut events);
    let _ = view.out.flush();
    let counts = parser.counts();
    eprintln!(
        "wsbench monitor: {} lines, {} boots, {} panics, {} warnings, {} errors{}{}",
        counts.lines,
        view.boots,
        view.panics,
        view.warnings,
        view.errors,
        if counts.cut_lines > 0 {
            format!(", {} over-long lines cut", counts.cut_lines)
        } else {
            String::new()
        },
        if counts.noise_lines > 0 {
            format!(", {} lines of non-text bytes", counts.noise_lines)
        } else {
            String::new()
        },
    );
    if let Some(why) = failed {
        return Err(Failure::unrunnable(miette::miette!(
            code = "wsbench::console::read",
            help = "check the cable and the port; for a saved log, check the file",
            "reading the console failed: {why}"
        )));
    }
    Ok(Outcome::Success)
}

/// What ended the reading: the port lost and not back (since when, why), a failure.
type Ended = (Option<(SystemTime, String)>, Option<String>);

/// Bytes read from a saved log at a time.
const SAVED_CHUNK: usize = 256 * 1024;

/// A saved log (or stdin) is parsed on this thread, each line where it was read:
/// nothing is live, so nothing needs the reader thread's hand-over (which cost more than
/// the parsing). Stops on Ctrl-C; `None` when stdout went away (`| head`).
fn read_saved<W: Write>(
    mut source: InputSource,
    stop: &AtomicBool,
    parser: &mut ConsoleParser,
    view: &mut View<W>,
    events: &mut Vec<ConsoleEvent>,
) -> Option<Ended> {
    let mut splitter = LineSplitter::new();
    let mut buf = vec![0u8; SAVED_CHUNK];
    while !stop.load(Ordering::Relaxed) {
        if view.closed {
            // Stdout went away (`| head`): nobody reads on, so stop quietly.
            return None;
        }
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => splitter.push_each(&buf[..n], SystemTime::now(), &mut |raw| {
                view.one_line(raw, parser, events)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // As the reader thread does: the input is lost and cannot come back.
                let since = SystemTime::now();
                if let Some(last) = splitter.finish(since) {
                    view.one_line(last.as_line(), parser, events);
                }
                parser.lost(events);
                eprintln!("wsbench monitor: the port was lost ({e}); waiting for it to come back");
                view.show(events);
                return Some((
                    Some((since, e.to_string())),
                    Some("the input cannot be reopened".into()),
                ));
            }
        }
    }
    if let Some(last) = splitter.finish(SystemTime::now()) {
        view.one_line(last.as_line(), parser, events);
    }
    Some((None, None))
}

/// A port, through the reader thread. `None` when stdout went away.
fn read_live<W: Write>(
    rx: &Receiver<ReaderItem>,
    stop: &AtomicBool,
    parser: &mut ConsoleParser,
    view: &mut View<W>,
    events: &mut Vec<ConsoleEvent>,
) -> Option<Ended> {
    let mut last_line = Instant::now();
    let mut idle_flushed = true;
    let mut lost_at = None;
    let mut failed = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ReaderItem::Lines(lines)) => {
                for raw in &lines {
                    view.one_line(raw.as_line(), parser, events);
                }
                last_line = Instant::now();
                idle_flushed = false;
            }
            Ok(ReaderItem::Lost { since, why }) => {
                parser.lost(events);
                eprintln!(
                    "wsbench monitor: the port was lost ({why}); waiting for it to come back"
                );
                lost_at = Some((since, why));
            }
            Ok(ReaderItem::Back { since, gap, path }) => {
                let why = lost_at.take().map_or_else(String::new, |(_, w)| w);
                parser.gap(since, gap.as_secs_f64(), why, true, events);
                eprintln!(
                    "wsbench monitor: {path} is back after {:.1} s",
                    gap.as_secs_f64()
                );
            }
            Ok(ReaderItem::End) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(ReaderItem::Failed(why)) => {
                failed = Some(why);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                if !idle_flushed && last_line.elapsed() >= IDLE_FLUSH {
                    parser.idle(events);
                    idle_flushed = true;
                }
            }
        }
        view.show(events);
        view.flush_live();
        if view.closed {
            // Stdout went away (`| head`): nobody reads on, so stop quietly.
            return None;
        }
    }
    Some((lost_at, failed))
}

struct View<W: Write> {
    json: bool,
    live: bool,
    style: Style,
    out: W,
    boots: u64,
    panics: u64,
    warnings: u64,
    errors: u64,
    /// Writing to stdout failed.
    closed: bool,
}

impl<W: Write> View<W> {
    fn show(&mut self, events: &mut Vec<ConsoleEvent>) {
        for e in events.drain(..) {
            match &e.detail {
                EventDetail::Boot(_) => self.boots += 1,
                EventDetail::Panic(p) if p.fatal => self.panics += 1,
                EventDetail::Warning { .. } => self.warnings += 1,
                EventDetail::Error { .. } => self.errors += 1,
                _ => {}
            }
            let written = if self.json {
                e.write_json(&mut self.out, self.live)
                    .and_then(|()| self.out.write_all(b"\n"))
            } else {
                self.style.event(&mut self.out, &e, self.boots)
            };
            self.closed |= written.is_err();
        }
    }

    /// One console line: shown (unless printing JSON), parsed, its events shown.
    fn one_line(
        &mut self,
        raw: LineRef<'_>,
        parser: &mut ConsoleParser,
        events: &mut Vec<ConsoleEvent>,
    ) {
        self.raw_line(raw);
        parser.feed(raw, events);
        self.show(events);
    }

    /// The console line itself, shown before its events unless printing JSON.
    fn raw_line(&mut self, raw: LineRef<'_>) {
        if self.json {
            return;
        }
        let clean = text::clean(raw.bytes);
        if self
            .style
            .line(&mut self.out, &clean.text, clean.host_stamp.as_deref())
            .is_err()
        {
            self.closed = true;
        }
    }

    fn flush_live(&mut self) {
        if self.live && self.out.flush().is_err() {
            self.closed = true;
        }
    }
}

/// A saved log or stdin, as one reader type.
type InputSource = Box<dyn std::io::Read + Send>;

fn open_input(path: &Path) -> Result<InputSource, Failure> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(Failure::usage(ConsoleError::Input {
            path: shown,
            reason: "it is a directory".into(),
        }));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        Failure::usage(ConsoleError::Input {
            path: shown,
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".into(),
                _ => e.to_string(),
            },
        })
    })?;
    Ok(Box::new(file))
}

fn user_patterns(scenario: Option<&Path>) -> Result<UserPatterns, Failure> {
    let Some(path) = scenario else {
        return Ok(UserPatterns::default());
    };
    let loaded = crate::scenario::load(path).map_err(|e| Failure::usage(*e))?;
    scenario_patterns(&loaded).map_err(Failure::usage)
}

/// A loaded scenario's `console.events`, compiled (the run's console uses them too).
pub fn scenario_patterns(
    loaded: &crate::scenario::LoadedScenario,
) -> Result<UserPatterns, miette::Report> {
    let mut patterns = Vec::new();
    for p in loaded.scenario.console.iter().flat_map(|c| &c.events) {
        // Checked at load; a failure here would be a defect, still reported plainly.
        let pattern = UserPattern::new(&p.name, &p.regex, p.level.map(|l| l.as_str()))
            .map_err(|e| miette::miette!("{}: {e}", loaded.path.display()))?;
        patterns.push(pattern);
    }
    Ok(UserPatterns::new(patterns))
}

/// The shipped symbol files of the bundled firmware, one per chip.
pub fn bundled_symbols() -> Vec<(String, SymbolTable)> {
    let version = crate::bundled_firmware::manifest()
        .map(|m| m.version)
        .unwrap_or_default();
    crate::bundled_firmware::SYMBOLS
        .iter()
        .filter_map(|(chip, text)| {
            let label = format!("bundled wsbench-firmware {version} ({chip}) symbols");
            Some(((*chip).to_owned(), SymbolTable::parse(text, label)?))
        })
        .collect()
}

/// Ctrl-C and SIGTERM end the monitor cleanly (what was read is still reported).
fn watch_signals(stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("monitor-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(t) => t,
                        Err(_) => return,
                    };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            stop.store(true, Ordering::Relaxed);
        });
}
