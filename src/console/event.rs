//! The events the console parser produces: the typed form other parts use (the run's
//! recorder, the monitor's highlights) and the JSON form of `wsbench monitor --json`
//! (documented in `docs/console-events.md`).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::idf::Level;
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
    Boot(Boot),
    /// The firmware's ready line after a boot already counted.
    Ready(Ready),
    Panic(Panic),
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

    /// One JSON object (one line of `--json`). `with_host_time` adds the arrival time,
    /// which means something only for a live port.
    pub fn to_json(&self, with_host_time: bool) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!(self.kind()));
        m.insert("line".into(), json!(self.line));
        if self.end_line != self.line {
            m.insert("end_line".into(), json!(self.end_line));
        }
        if with_host_time {
            m.insert(
                "host_time".into(),
                json!(humantime::format_rfc3339_millis(self.arrived).to_string()),
            );
        }
        if let Some(stamp) = &self.host_stamp {
            m.insert("host_stamp".into(), json!(stamp));
        }
        if let Some(ms) = self.device_ms {
            m.insert("device_ms".into(), json!(ms));
        }
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                m.insert(k.into(), v);
            }
        };
        match &self.detail {
            EventDetail::Boot(b) => {
                put("chip", json!(b.chip));
                put(
                    "reset_reason",
                    match &b.reset {
                        Some(r) => json!({"code": r.code, "name": r.name, "cause": r.cause}),
                        None => Value::Null,
                    },
                );
                put(
                    "boot_mode",
                    match &b.boot_mode {
                        Some((code, name)) => json!({"code": code, "name": name}),
                        None => Value::Null,
                    },
                );
                put("download_mode", json!(b.download_mode));
                put("evidence", json!(b.evidence));
                put("ready", b.ready.as_ref().map_or(Value::Null, ready_json));
            }
            EventDetail::Ready(r) => {
                for (k, v) in ready_json(r).as_object().into_iter().flatten() {
                    put(k, v.clone());
                }
            }
            EventDetail::Panic(p) => {
                put("panic_kind", json!(p.kind.as_str()));
                put("reason", json!(p.reason));
                put("core", json!(p.core));
                put("task", json!(p.task));
                put("backtrace", json!(hexes(&p.backtrace)));
                if !p.stack_addresses.is_empty() {
                    put("stack_addresses", json!(hexes(&p.stack_addresses)));
                }
                put("elf_sha256", json!(p.elf_sha256));
                if let Some(d) = &p.decoded {
                    let frames: Vec<Value> = d
                        .frames
                        .iter()
                        .map(|f| {
                            json!({"address": format!("0x{:08x}", f.address), "function": f.function, "location": f.location})
                        })
                        .collect();
                    put(
                        "decoded",
                        json!({"symbols": d.symbols, "frames": frames, "note": d.note}),
                    );
                }
                put("text", json!(p.text));
            }
            EventDetail::Heap {
                free,
                min_free,
                source,
            } => {
                put("free", json!(free));
                put("min_free", json!(min_free));
                put("source", json!(source));
            }
            EventDetail::ClientOpen {
                id,
                peer,
                clients,
                max,
            } => {
                put("id", json!(id));
                put("peer", json!(peer));
                put("clients", json!(clients));
                put("max", json!(max));
            }
            EventDetail::ClientClose {
                id,
                reason,
                clients,
                max,
            } => {
                put("id", json!(id));
                put("reason", json!(reason));
                put("clients", json!(clients));
                put("max", json!(max));
            }
            EventDetail::Purge { id, peer, clients } => {
                put("id", json!(id));
                put("peer", json!(peer));
                put("clients", json!(clients));
            }
            EventDetail::Refuse {
                peer,
                reason,
                clients,
            } => {
                put("peer", json!(peer));
                put("reason", json!(reason));
                put("clients", json!(clients));
            }
            EventDetail::AcceptError { errno } => put("errno", json!(errno)),
            EventDetail::SocketError { op, errno } => {
                put("op", json!(op));
                put("errno", json!(errno));
            }
            EventDetail::ProtocolError { what } | EventDetail::SendFailed { what } => {
                put("what", json!(what))
            }
            EventDetail::Warning { tag, message } | EventDetail::Error { tag, message } => {
                put("tag", json!(tag));
                put("message", json!(message));
            }
            EventDetail::User {
                level, captures, ..
            } => {
                put("level", json!(level));
                if !captures.is_empty() {
                    let caps: Map<String, Value> = captures
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect();
                    put("captures", Value::Object(caps));
                }
            }
            EventDetail::Gap { seconds, why, back } => {
                put("seconds", json!((seconds * 1000.0).round() / 1000.0));
                put("why", json!(why));
                put("back", json!(back));
            }
            EventDetail::LineCut { dropped } => put("dropped_bytes", json!(dropped)),
            EventDetail::Noise { lines } => put("lines", json!(lines)),
        }
        Value::Object(m)
    }
}

/// Some fields of one event's JSON object (at most 6), in a fixed array.
struct Fields<'a> {
    f: [(&'static str, Option<Field<'a>>); 6],
    n: usize,
}

impl<'a> Fields<'a> {
    fn put(&mut self, key: &'static str, value: Option<Field<'a>>) {
        if value.is_some() {
            self.f[self.n] = (key, value);
            self.n += 1;
        }
    }
}

fn s(v: &Option<String>) -> Option<Field<'_>> {
    v.as_deref().map(Field::S)
}

fn u(v: &Option<u64>) -> Option<Field<'static>> {
    v.map(Field::U)
}

/// One field of an event's JSON object, borrowed from the event.
enum Field<'a> {
    U(u64),
    I(i64),
    S(&'a str),
    Owned(String),
}

impl ConsoleEvent {
    /// Writes [`ConsoleEvent::to_json`]'s object (keys sorted, as `serde_json` sorts
    /// them) straight to `w`, without building a `Value`: the events a busy console
    /// prints most are written field by field; the rest (boots, panics, scenario
    /// events, gaps) go through `to_json`. Each variant puts its keys in sorted order
    /// (the test below holds both forms to the same bytes).
    pub fn write_json(
        &self,
        w: &mut impl std::io::Write,
        with_host_time: bool,
    ) -> std::io::Result<()> {
        let mut fields = Fields {
            f: Default::default(),
            n: 0,
        };
        let mut put = |k, v| fields.put(k, v);
        match &self.detail {
            EventDetail::Heap {
                free,
                min_free,
                source,
            } => {
                put("free", Some(Field::U(*free)));
                put("min_free", u(min_free));
                put("source", s(source));
            }
            EventDetail::ClientOpen {
                id,
                peer,
                clients,
                max,
            } => {
                put("clients", u(clients));
                put("id", u(id));
                put("max", u(max));
                put("peer", s(peer));
            }
            EventDetail::ClientClose {
                id,
                reason,
                clients,
                max,
            } => {
                put("clients", u(clients));
                put("id", u(id));
                put("max", u(max));
                put("reason", s(reason));
            }
            EventDetail::Purge { id, peer, clients } => {
                put("clients", u(clients));
                put("id", u(id));
                put("peer", s(peer));
            }
            EventDetail::Refuse {
                peer,
                reason,
                clients,
            } => {
                put("clients", u(clients));
                put("peer", s(peer));
                put("reason", s(reason));
            }
            EventDetail::AcceptError { errno } => put("errno", Some(Field::I(*errno))),
            EventDetail::SocketError { op, errno } => {
                put("errno", Some(Field::I(*errno)));
                put("op", Some(Field::S(op)));
            }
            EventDetail::ProtocolError { what } | EventDetail::SendFailed { what } => {
                put("what", Some(Field::S(what)))
            }
            EventDetail::Warning { tag, message } | EventDetail::Error { tag, message } => {
                put("message", Some(Field::S(message)));
                put("tag", Some(Field::S(tag)));
            }
            EventDetail::LineCut { dropped } => put("dropped_bytes", Some(Field::U(*dropped))),
            EventDetail::Noise { lines } => put("lines", Some(Field::U(*lines))),
            EventDetail::Boot(_)
            | EventDetail::Ready(_)
            | EventDetail::Panic(_)
            | EventDetail::User { .. }
            | EventDetail::Gap { .. } => {
                return serde_json::to_writer(&mut *w, &self.to_json(with_host_time))
                    .map_err(std::io::Error::from);
            }
        }
        // The common keys, also in sorted order; the two lists are merged as written.
        let mut common = Fields {
            f: Default::default(),
            n: 0,
        };
        common.put("device_ms", u(&self.device_ms));
        if self.end_line != self.line {
            common.put("end_line", Some(Field::U(self.end_line)));
        }
        common.put("host_stamp", s(&self.host_stamp));
        if with_host_time {
            common.put(
                "host_time",
                Some(Field::Owned(
                    humantime::format_rfc3339_millis(self.arrived).to_string(),
                )),
            );
        }
        common.put("kind", Some(Field::S(self.kind())));
        common.put("line", Some(Field::U(self.line)));
        let (mut a, mut b) = (
            common.f[..common.n].iter().peekable(),
            fields.f[..fields.n].iter().peekable(),
        );
        w.write_all(b"{")?;
        let mut first = true;
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            let Some((key, value)) = next else { break };
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut *w, key)?;
            w.write_all(b":")?;
            match value {
                Some(Field::U(v)) => serde_json::to_writer(&mut *w, v)?,
                Some(Field::I(v)) => serde_json::to_writer(&mut *w, v)?,
                Some(Field::S(v)) => serde_json::to_writer(&mut *w, v)?,
                Some(Field::Owned(v)) => serde_json::to_writer(&mut *w, v)?,
                None => {}
            }
        }
        w.write_all(b"}")
    }
}

fn ready_json(r: &Ready) -> Value {
    json!({"ws_port": r.ws_port, "wss_port": r.wss_port, "max_sockets": r.max_sockets, "ssid": r.ssid, "ip": r.ip})
}

fn hexes(addrs: &[u32]) -> Vec<String> {
    addrs.iter().map(|a| format!("0x{a:08x}")).collect()
}

/// The level a line was logged at, for events that carry one.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Verbose => "verbose",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_json_is_the_value_s_bytes() {
        let details = [
            EventDetail::Heap {
                free: 1,
                min_free: Some(2),
                source: Some("allocator".into()),
            },
            EventDetail::Heap {
                free: 1,
                min_free: None,
                source: None,
            },
            EventDetail::ClientOpen {
                id: Some(3),
                peer: Some("1.2.3.4:5".into()),
                clients: Some(2),
                max: Some(7),
            },
            EventDetail::ClientOpen {
                id: None,
                peer: None,
                clients: None,
                max: None,
            },
            EventDetail::ClientClose {
                id: Some(3),
                reason: Some("client \"close\"".into()),
                clients: Some(2),
                max: None,
            },
            EventDetail::Purge {
                id: Some(1),
                peer: Some("p".into()),
                clients: Some(0),
            },
            EventDetail::Refuse {
                peer: Some("p".into()),
                reason: Some("full".into()),
                clients: Some(7),
            },
            EventDetail::AcceptError { errno: -23 },
            EventDetail::SocketError {
                op: "recv".into(),
                errno: 104,
            },
            EventDetail::ProtocolError { what: "x".into() },
            EventDetail::SendFailed {
                what: "y\u{1}".into(),
            },
            EventDetail::Warning {
                tag: "wifi".into(),
                message: "é \\ x".into(),
            },
            EventDetail::Error {
                tag: "t".into(),
                message: String::new(),
            },
            EventDetail::LineCut { dropped: 9 },
            EventDetail::Noise { lines: 4 },
            EventDetail::Gap {
                seconds: 1.5,
                why: "gone".into(),
                back: true,
            },
        ];
        for detail in details {
            for (end_line, stamp, ms, live) in [
                (10, None, None, false),
                (12, Some("12:00:01.000".to_owned()), Some(5), true),
            ] {
                let e = ConsoleEvent {
                    line: 10,
                    end_line,
                    arrived: SystemTime::UNIX_EPOCH,
                    host_stamp: stamp,
                    device_ms: ms,
                    detail: detail.clone(),
                };
                let mut written = Vec::new();
                e.write_json(&mut written, live).unwrap();
                let expected = serde_json::to_string(&e.to_json(live)).unwrap();
                assert_eq!(String::from_utf8(written).unwrap(), expected);
            }
        }
    }
}
