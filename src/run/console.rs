//! The device console of a run: a serial port or the in-process simulated board, parsed
//! by [`crate::console::ConsoleParser`] on one path, into the run's recorder.
//!
//! reader (owns the port) → parser thread (lines → typed events) → channel → before
//! the run: held, and searched for the ready line that names the target → during the
//! run: [`Console::follow`] puts every line into `serial.log` (host time prefixed) and
//! every event onto the recorder's clock, printing reboots and panics at once.
//!
//! The counting rule: boots whose first line arrived before the run's first step
//! started are the board starting up at attach ("boot", listed, not counted). Every boot
//! after that is one reboot, whichever of ROM banner, bootloader and ready line were
//! seen. A boot into download mode (the chip waiting for a flasher) is listed as
//! `download_mode`, not counted: the app boot that follows it is the reboot.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::error::RunError;
use super::progress::Mode;
use crate::console::event::{Boot, Ready};
use crate::console::port::PortSource;
use crate::console::profile::UserPatterns;
use crate::console::reader::{self, RawLine, ReaderItem};
use crate::console::render::BootWords;
use crate::console::symbols::Symbolizer;
use crate::console::{ConsoleEvent, ConsoleParser, EventDetail};
use crate::recorder::{DeviceLine, Recorder};
use crate::terminal::out_line;

/// The console's speed: what ESP-IDF and the bundled firmware print at.
pub const BAUD: u32 = 115_200;
/// Silence after which a halted panic (no `Rebooting...`) is complete.
const IDLE_FLUSH: Duration = Duration::from_millis(1500);
/// What the simulated board's own lines carry (`W (0) wsbench-sim: simulated: …`).
const SIMULATED_MARK: &str = "wsbench-sim: simulated";
/// Console lines kept to name the line an event came from.
const RECENT_LINES: usize = 256;

/// What the parser thread hands on, in order.
enum Fed {
    Line { arrived: SystemTime, text: String },
    Event(Box<ConsoleEvent>),
    Ended(Option<String>),
}

/// A device console being read, from before the target is resolved to the run's end.
pub struct Console {
    items: mpsc::UnboundedReceiver<Fed>,
    held: Vec<Fed>,
    /// "serial console /dev/ttyUSB0", "the simulated board's console".
    pub label: String,
    stop: StopOnDrop,
    ended: Option<Option<String>>,
    simulated: bool,
}

impl Console {
    /// Opens `path` (the only owner of the open port is its reader) and starts reading.
    pub fn open_port(path: &Path, user: UserPatterns) -> Result<Console, RunError> {
        let source = PortSource::open(
            path,
            BAUD,
            Box::new(crate::serial::BoardPort::at_path(path)),
        )
        .map_err(|e| RunError::Console {
            port: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let lines = reader::spawn(source, stop.clone());
        Ok(Console::start(
            lines,
            user,
            stop,
            format!("serial console {}", path.display()),
        ))
    }

    /// The simulated board's console lines, through the same parser.
    pub fn simulated(lines: broadcast::Receiver<String>, user: UserPatterns) -> Console {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let _ = std::thread::Builder::new()
            .name("sim-console".into())
            .spawn(move || relay_sim(lines, &tx));
        Console::start(rx, user, stop, "the simulated board's console".into())
    }

    fn start(
        lines: std::sync::mpsc::Receiver<ReaderItem>,
        user: UserPatterns,
        stop: Arc<AtomicBool>,
        label: String,
    ) -> Console {
        let (tx, rx) = mpsc::unbounded_channel();
        let parser = ConsoleParser::new(
            user,
            Symbolizer::new(None, crate::console::monitor::bundled_symbols()),
        );
        let stopping = stop.clone();
        let _ = std::thread::Builder::new()
            .name("run-console".into())
            .spawn(move || parse_loop(lines, parser, &tx, &stopping));
        Console {
            items: rx,
            held: Vec::new(),
            label,
            stop: StopOnDrop(stop),
            ended: None,
            simulated: false,
        }
    }

    /// Reads until the firmware's ready line (held for the run) or `timeout`. `Err`
    /// carries the last console lines seen, for the message.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, Vec<String>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last: VecDeque<String> = VecDeque::new();
        loop {
            let item = match tokio::time::timeout_at(deadline, self.items.recv()).await {
                Ok(Some(item)) => item,
                Ok(None) | Err(_) => return Err(last.into()),
            };
            let ready = match &item {
                Fed::Line { text, .. } => {
                    self.simulated |= text.contains(SIMULATED_MARK);
                    if text.chars().any(|c| c.is_ascii_graphic()) {
                        last.push_back(text.clone());
                        if last.len() > 6 {
                            last.pop_front();
                        }
                    }
                    None
                }
                Fed::Event(e) => match &e.detail {
                    EventDetail::Boot(b) => b.ready.clone(),
                    EventDetail::Ready(r) => Some(r.clone()),
                    _ => None,
                },
                Fed::Ended(why) => {
                    self.ended = Some(why.clone());
                    None
                }
            };
            let ended = matches!(item, Fed::Ended(_));
            self.held.push(item);
            if let Some(r) = ready {
                return Ok(r);
            }
            if ended {
                return Err(last.into());
            }
        }
    }

    /// Whether the lines read so far are the simulated board's (its own `simulated:`
    /// lines): a `wsbench sim` on a pty is reported as simulated, not as a board.
    pub fn says_simulated(&self) -> bool {
        self.simulated
    }

    /// Feeds the recorder from now until [`Following::stop`]: what was read before the
    /// run first (boots there are the attach boot, not reboots).
    pub fn follow(self, recorder: Recorder, mode: Mode) -> Following {
        recorder.device_source(self.label.clone(), true);
        let run_started = SystemTime::now();
        let Console {
            mut items,
            held,
            stop,
            ..
        } = self;
        let task = tokio::spawn(async move {
            let mut sink = Sink {
                recorder,
                mode,
                run_started,
                recent: VecDeque::new(),
            };
            for item in held {
                sink.take(item);
            }
            while let Some(item) = items.recv().await {
                let ended = matches!(item, Fed::Ended(_));
                sink.take(item);
                if ended {
                    break;
                }
            }
        });
        Following { task, stop }
    }
}

/// Stops the console's threads when the run lets go of it (dropped or stopped).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The console being followed during a run.
pub struct Following {
    task: JoinHandle<()>,
    stop: StopOnDrop,
}

impl Following {
    /// Stops reading; what was read so far stays recorded.
    pub async fn stop(self) {
        drop(self.stop);
        // The parser thread ends within its poll (and flushes what it holds).
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// Into the recorder: one place that decides what each event counts as.
struct Sink {
    recorder: Recorder,
    mode: Mode,
    run_started: SystemTime,
    recent: VecDeque<(u64, String)>,
}

impl Sink {
    fn take(&mut self, item: Fed) {
        match item {
            Fed::Line { arrived, text } => {
                self.recorder
                    .serial_line(&format!("[{}] {text}", time_of_day(arrived)));
                let n = self.recent.back().map_or(1, |(n, _)| n + 1);
                self.recent.push_back((n, text));
                if self.recent.len() > RECENT_LINES {
                    self.recent.pop_front();
                }
            }
            Fed::Event(e) => self.event(*e),
            Fed::Ended(Some(why)) => {
                let line = format!("the console stopped: {why}");
                self.say(&line);
                self.recorder.device_line(DeviceLine {
                    kind: "error".into(),
                    line,
                    ..DeviceLine::default()
                });
            }
            Fed::Ended(None) => {}
        }
    }

    fn line_text(&self, number: u64) -> String {
        self.recent
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }

    fn event(&mut self, e: ConsoleEvent) {
        let before_run = e.arrived < self.run_started;
        let at = (!before_run).then(|| {
            let lag = SystemTime::now()
                .duration_since(e.arrived)
                .unwrap_or_default();
            self.recorder.elapsed().saturating_sub(lag)
        });
        let mut d = DeviceLine {
            kind: e.kind().to_owned(),
            line: self.line_text(e.line),
            before_run,
            at,
            ..DeviceLine::default()
        };
        match &e.detail {
            EventDetail::Boot(b) => {
                d.kind = if b.download_mode {
                    "download_mode"
                } else if before_run {
                    "boot"
                } else {
                    "reboot"
                }
                .into();
                d.line = boot_summary(b, &e);
                if d.kind != "boot" {
                    self.say(&format!(
                        "device  {} at {}: {}",
                        d.kind.replace('_', " "),
                        seconds(at),
                        d.line
                    ));
                }
            }
            EventDetail::Panic(p) => {
                d.line = p.text.clone();
                self.say(&format!(
                    "device  {} at {}: {} {} (console lines {}-{})",
                    if p.fatal { "PANIC" } else { "watchdog" },
                    seconds(at),
                    p.kind.as_str(),
                    p.reason,
                    e.line,
                    e.end_line
                ));
            }
            EventDetail::Heap {
                free,
                min_free,
                source,
            } => {
                d.heap_free = Some(*free);
                d.heap_min = *min_free;
                d.heap_source = source.clone();
            }
            EventDetail::ClientOpen { clients, .. } | EventDetail::ClientClose { clients, .. } => {
                d.kind = if matches!(e.detail, EventDetail::ClientOpen { .. }) {
                    "open"
                } else {
                    "close"
                }
                .into();
                d.clients = *clients;
            }
            EventDetail::Purge { clients, .. } | EventDetail::Refuse { clients, .. } => {
                d.clients = *clients;
            }
            EventDetail::User { name, .. } => {
                d.kind = "event".into();
                d.line = format!("{name}: {}", d.line);
                d.name = Some(name.clone());
            }
            EventDetail::Gap { seconds, why, back } => {
                d.line = format!(
                    "the port was gone for {seconds:.1} s ({why}){}",
                    if *back { "" } else { ", and did not come back" }
                );
                self.say(&format!("device  {}", d.line));
            }
            EventDetail::Ready(_) => {}
            _ => {}
        }
        self.recorder.device_line(d);
    }

    fn say(&self, line: &str) {
        if self.mode != Mode::Quiet {
            out_line(line);
        }
    }
}

fn seconds(at: Option<Duration>) -> String {
    match at {
        Some(at) => format!("{:.1} s", at.as_secs_f64()),
        None => "attach".into(),
    }
}

fn boot_summary(b: &Boot, e: &ConsoleEvent) -> String {
    let BootWords { chip, reset, ready } = BootWords::of(b);
    format!(
        "boot{chip}: {reset}{ready} (console lines {}-{})",
        e.line, e.end_line
    )
}

/// `hh:mm:ss.mmm` in UTC: the host prefix `wsbench monitor --input` reads back.
fn time_of_day(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// The simulated board's lines as the reader's items (stamped on arrival).
fn relay_sim(mut lines: broadcast::Receiver<String>, tx: &SyncSender<ReaderItem>) {
    let mut number = 0u64;
    loop {
        let text = match lines.blocking_recv() {
            Ok(line) => line,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                format!("[wsbench: {n} console lines lost: the reader fell behind]")
            }
            Err(broadcast::error::RecvError::Closed) => {
                let _ = tx.send(ReaderItem::End);
                return;
            }
        };
        number += 1;
        let raw = RawLine {
            number,
            bytes: text.into_bytes(),
            dropped: 0,
            arrived: SystemTime::now(),
        };
        if tx.send(ReaderItem::Lines(vec![raw])).is_err() {
            return;
        }
    }
}

fn parse_loop(
    rx: std::sync::mpsc::Receiver<ReaderItem>,
    mut parser: ConsoleParser,
    tx: &mpsc::UnboundedSender<Fed>,
    stop: &AtomicBool,
) {
    let mut events = Vec::new();
    let mut last_line = std::time::Instant::now();
    let mut idle_flushed = true;
    let mut lost: Option<String> = None;
    let send_events = |events: &mut Vec<ConsoleEvent>| {
        events
            .drain(..)
            .all(|e| tx.send(Fed::Event(Box::new(e))).is_ok())
    };
    let mut end = None;
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(ReaderItem::Lines(lines)) => {
                for raw in &lines {
                    let clean = crate::console::text::clean(&raw.bytes);
                    let line = Fed::Line {
                        arrived: raw.arrived,
                        text: clean.text,
                    };
                    if tx.send(line).is_err() {
                        return;
                    }
                    parser.feed(raw.as_line(), &mut events);
                    if !send_events(&mut events) {
                        return;
                    }
                }
                last_line = std::time::Instant::now();
                idle_flushed = false;
            }
            Ok(ReaderItem::Lost { why, .. }) => {
                parser.lost(&mut events);
                lost = Some(why);
            }
            Ok(ReaderItem::Back { since, gap, .. }) => {
                let why = lost.take().unwrap_or_default();
                parser.gap(since, gap.as_secs_f64(), why, true, &mut events);
            }
            Ok(ReaderItem::End) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(ReaderItem::Failed(why)) => {
                end = Some(why);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                if !idle_flushed && last_line.elapsed() >= IDLE_FLUSH {
                    parser.idle(&mut events);
                    idle_flushed = true;
                }
            }
        }
        if !send_events(&mut events) {
            return;
        }
    }
    parser.finish(&mut events);
    send_events(&mut events);
    let _ = tx.send(Fed::Ended(end));
}
