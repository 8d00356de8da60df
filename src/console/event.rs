//! The events the console parser produces: the typed form other parts use (the run's
//! recorder, the monitor's highlights) and the JSON form of `wsbench monitor --json`
//! (written by `json`, documented in `docs/console-events.md`).

use std::time::SystemTime;

use super::rom::ResetCause;

/// One thing the device said, with the console lines it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleEvent {
    /// First console line (1-based).
    pub line: u64,
    /// Last console line, for an event spanning several (a boot, a panic).
    pub end_line: u64,
    /// Host time the first line arrived.
    pub arrived: SystemTime,
    /// The host's own time prefix on the first line, as written in a saved log.
    pub host_stamp: Option<String>,
    /// The device's milliseconds since boot, when its log line printed them.
    pub device_ms: Option<u64>,
    pub detail: EventDetail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventDetail {
    /// Boxed, as is `Panic`: the rare large events keep every event small to move.
    Boot(Box<Boot>),
    /// The firmware's ready line after a boot already counted.
    Ready(Ready),
    Panic(Box<Panic>),
    Heap {
        free: u64,
        min_free: Option<u64>,
        source: Option<String>,
    },
    ClientOpen {
        id: Option<u64>,
        peer: Option<String>,
        clients: Option<u64>,
        max: Option<u64>,
    },
    ClientClose {
        id: Option<u64>,
        reason: Option<String>,
        clients: Option<u64>,
        max: Option<u64>,
    },
    Purge {
        id: Option<u64>,
        peer: Option<String>,
        clients: Option<u64>,
    },
    Refuse {
        peer: Option<String>,
        reason: Option<String>,
        clients: Option<u64>,
    },
    /// `httpd_accept_conn: error in accept (23)`: no socket for a new client.
    AcceptError {
        errno: i64,
    },
    /// `httpd_sock_err: error in recv : 104` (or send).
    SocketError {
        op: String,
        errno: i64,
    },
    /// A WebSocket protocol fault the server logged (unmasked frame, bad frame).
    ProtocolError {
        what: String,
    },
    /// The server failed to send a frame (`Failed to send WS payload`).
    SendFailed {
        what: String,
    },
    /// A W line no profile claimed.
    Warning {
        tag: String,
        message: String,
    },
    /// An E line no profile claimed.
    Error {
        tag: String,
        message: String,
    },
    /// A scenario's own `console.events` pattern matched.
    User {
        name: String,
        level: Option<String>,
        captures: Vec<(String, String)>,
    },
    /// The port vanished and came back (or not): nothing was read for `seconds`.
    Gap {
        seconds: f64,
        why: String,
        back: bool,
    },
    /// A line longer than the reader keeps: its head was kept, the rest dropped.
    LineCut {
        dropped: u64,
    },
    /// Lines that were mostly not text (wrong baud rate, binary).
    Noise {
        lines: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Boot {
    pub chip: Option<String>,
    pub reset: Option<ResetReason>,
    pub boot_mode: Option<(u32, String)>,
    pub download_mode: bool,
    /// What was seen of this boot: `rom`, `bootloader`, `app`, `ready`.
    pub evidence: Vec<&'static str>,
    pub ready: Option<Ready>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResetReason {
    pub code: u32,
    /// As the ROM printed it.
    pub name: String,
    pub cause: ResetCause,
}

/// The bundled firmware's (and the simulated board's) ready line.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub ws_port: u16,
    pub wss_port: u16,
    pub max_sockets: u16,
    pub ssid: String,
    pub ip: String,
}

/// What kind of fault an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicKind {
    GuruMeditation,
    Abort,
    Assert,
    StackOverflow,
    StackCanary,
    TaskWatchdog,
    InterruptWatchdog,
    Brownout,
    HeapCorruption,
    /// esp-backtrace's handler, or a std Rust panic (esp-idf-svc).
    RustPanic,
    /// An exception esp-hal's handler reported (`Exception 'Load access fault' mepc=…`).
    Exception,
}

impl PanicKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PanicKind::GuruMeditation => "guru_meditation",
            PanicKind::Abort => "abort",
            PanicKind::Assert => "assert",
            PanicKind::StackOverflow => "stack_overflow",
            PanicKind::StackCanary => "stack_canary",
            PanicKind::TaskWatchdog => "task_wdt",
            PanicKind::InterruptWatchdog => "int_wdt",
            PanicKind::Brownout => "brownout",
            PanicKind::HeapCorruption => "heap_corruption",
            PanicKind::RustPanic => "rust_panic",
            PanicKind::Exception => "exception",
        }
    }
}

/// One fault incident: every line from its first sign to `Rebooting...` (or silence).
#[derive(Debug, Clone, PartialEq)]
pub struct Panic {
    pub kind: PanicKind,
    /// The reason in the device's words (`LoadProhibited`, the assert, the panic message).
    pub reason: String,
    pub core: Option<u32>,
    pub task: Option<String>,
    /// All lines of the incident, joined with `\n` (bounded).
    pub text: String,
    /// Program counters of the backtrace (and PC/MEPC, RA, `abort()` callers).
    pub backtrace: Vec<u32>,
    /// Words of `Stack memory` / `STACKDUMP` that point into code.
    pub stack_addresses: Vec<u32>,
    /// `ELF file SHA256:` as printed (a prefix of the image's SHA-256).
    pub elf_sha256: Option<String>,
    /// False for a task watchdog that only warned (the device went on).
    pub fatal: bool,
    pub decoded: Option<Decoded>,
}

/// Addresses turned into function names.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Where the symbols came from: `bundled esp32c3 firmware`, `elf PATH`.
    pub symbols: String,
    pub frames: Vec<Frame>,
    /// Why nothing (or not everything) was decoded.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub address: u32,
    pub function: Option<String>,
    pub location: Option<String>,
}

impl ConsoleEvent {
    /// The `kind` field: the schema's name for this event.
    pub fn kind(&self) -> &str {
        match &self.detail {
            EventDetail::Boot(_) => "boot",
            EventDetail::Ready(_) => "ready",
            EventDetail::Panic(p) if !p.fatal => "watchdog",
            EventDetail::Panic(_) => "panic",
            EventDetail::Heap { .. } => "heap",
            EventDetail::ClientOpen { .. } => "client_open",
            EventDetail::ClientClose { .. } => "client_close",
            EventDetail::Purge { .. } => "purge",
            EventDetail::Refuse { .. } => "refuse",
            EventDetail::AcceptError { .. } => "accept_error",
            EventDetail::SocketError { .. } => "socket_error",
            EventDetail::ProtocolError { .. } => "protocol_error",
            EventDetail::SendFailed { .. } => "send_failed",
            EventDetail::Warning { .. } => "warning",
            EventDetail::Error { .. } => "error",
            EventDetail::User { name, .. } => name,
            EventDetail::Gap { .. } => "gap",
            EventDetail::LineCut { .. } => "line_cut",
            EventDetail::Noise { .. } => "noise",
        }
    }
}
