//! The JSON form of an event, one object per line of `wsbench monitor --json` (schema in
//! `docs/console-events.md`). Written straight to the output, field by field, with no
//! `serde_json::Value` in between: a busy console prints hundreds of thousands of
//! events. Keys come out sorted and strings escaped exactly as `serde_json` writes them,
//! so the output is canonical (`jq -S` leaves it unchanged).

use std::io::{self, Write};
use std::time::SystemTime;

use super::event::{Boot, ConsoleEvent, Decoded, EventDetail, Ready, ResetReason};

/// Top-level fields of the widest event (a panic with every field).
const MAX_FIELDS: usize = 16;

/// One top-level value, borrowed from the event: plain data (`Copy`, nothing to drop),
/// so gathering an event's fields costs no allocation. The nested values of the rare
/// events (boots, panics) are written by their own functions, keys in sorted order.
#[derive(Clone, Copy)]
enum Json<'a> {
    U(u64),
    I(i64),
    F(f64),
    Bool(bool),
    Str(&'a str),
    HostTime(SystemTime),
    Strs(&'a [&'static str]),
    Hexes(&'a [u32]),
    Reset(&'a ResetReason),
    BootMode(u32, &'a str),
    Ready(&'a Ready),
    Decoded(&'a Decoded),
    Captures(&'a [(String, String)]),
}

impl<'a> From<&'a str> for Json<'a> {
    fn from(s: &'a str) -> Json<'a> {
        Json::Str(s)
    }
}

impl<'a> From<&'a String> for Json<'a> {
    fn from(s: &'a String) -> Json<'a> {
        Json::Str(s)
    }
}

impl From<u64> for Json<'_> {
    fn from(v: u64) -> Self {
        Json::U(v)
    }
}

impl From<bool> for Json<'_> {
    fn from(v: bool) -> Self {
        Json::Bool(v)
    }
}

/// An event's top-level fields; an absent value (`None`) is left out, not written as
/// `null`.
struct Fields<'a> {
    f: [(u64, &'a str, Json<'a>); MAX_FIELDS],
    n: usize,
}

impl<'a> Fields<'a> {
    fn put(&mut self, key: &'a str, value: impl Into<Json<'a>>) {
        self.f[self.n] = (sort_prefix(key), key, value.into());
        self.n += 1;
    }

    fn opt<T: Into<Json<'a>>>(&mut self, key: &'a str, value: Option<T>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }
}

impl ConsoleEvent {
    /// Writes the event as one JSON object (no newline). `with_host_time` adds the
    /// arrival time, which means something only for a live port.
    pub fn write_json(&self, w: &mut impl Write, with_host_time: bool) -> io::Result<()> {
        let mut fields = Fields {
            f: [(0, "", Json::Bool(false)); MAX_FIELDS],
            n: 0,
        };
        let f = &mut fields;
        f.put("kind", self.kind());
        f.put("line", self.line);
        if self.end_line != self.line {
            f.put("end_line", self.end_line);
        }
        if with_host_time {
            f.put("host_time", Json::HostTime(self.arrived));
        }
        f.opt("host_stamp", self.host_stamp.as_ref());
        f.opt("device_ms", self.device_ms);
        detail_fields(&self.detail, f);
        let fields = &mut fields.f[..fields.n];
        fields.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        w.write_all(b"{")?;
        for (i, (_, key, value)) in fields.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            write_key(w, key)?;
            write_value(w, *value)?;
        }
        w.write_all(b"}")
    }
}

/// A key's first 8 bytes as one number that sorts as the key does (a shorter key is
/// padded with zeros, so it sorts before the keys it is a prefix of): keys are sorted
/// by it, the whole key breaking ties.
fn sort_prefix(key: &str) -> u64 {
    let mut head = [0u8; 8];
    let n = key.len().min(8);
    head[..n].copy_from_slice(&key.as_bytes()[..n]);
    u64::from_be_bytes(head)
}

fn detail_fields<'a>(detail: &'a EventDetail, f: &mut Fields<'a>) {
    match detail {
        EventDetail::Boot(b) => boot_fields(b, f),
        EventDetail::Ready(r) => {
            f.put("ip", &r.ip);
            f.put("max_sockets", u64::from(r.max_sockets));
            f.put("ssid", &r.ssid);
            f.put("ws_port", u64::from(r.ws_port));
            f.put("wss_port", u64::from(r.wss_port));
        }
        EventDetail::Panic(p) => {
            f.put("panic_kind", p.kind.as_str());
            f.put("reason", &p.reason);
            f.opt("core", p.core.map(u64::from));
            f.opt("task", p.task.as_ref());
            f.put("backtrace", Json::Hexes(&p.backtrace));
            if !p.stack_addresses.is_empty() {
                f.put("stack_addresses", Json::Hexes(&p.stack_addresses));
            }
            f.opt("elf_sha256", p.elf_sha256.as_ref());
            f.opt("decoded", p.decoded.as_ref().map(Json::Decoded));
            f.put("text", &p.text);
        }
        EventDetail::Heap {
            free,
            min_free,
            source,
        } => {
            f.put("free", *free);
            f.opt("min_free", *min_free);
            f.opt("source", source.as_ref());
        }
        EventDetail::ClientOpen {
            id,
            peer,
            clients,
            max,
        } => {
            f.opt("id", *id);
            f.opt("peer", peer.as_ref());
            f.opt("clients", *clients);
            f.opt("max", *max);
        }
        EventDetail::ClientClose {
            id,
            reason,
            clients,
            max,
        } => {
            f.opt("id", *id);
            f.opt("reason", reason.as_ref());
            f.opt("clients", *clients);
            f.opt("max", *max);
        }
        EventDetail::Purge { id, peer, clients } => {
            f.opt("id", *id);
            f.opt("peer", peer.as_ref());
            f.opt("clients", *clients);
        }
        EventDetail::Refuse {
            peer,
            reason,
            clients,
        } => {
            f.opt("peer", peer.as_ref());
            f.opt("reason", reason.as_ref());
            f.opt("clients", *clients);
        }
        EventDetail::AcceptError { errno } => f.put("errno", Json::I(*errno)),
        EventDetail::SocketError { op, errno } => {
            f.put("op", op);
            f.put("errno", Json::I(*errno));
        }
        EventDetail::ProtocolError { what } | EventDetail::SendFailed { what } => {
            f.put("what", what)
        }
        EventDetail::Warning { tag, message } | EventDetail::Error { tag, message } => {
            f.put("tag", tag);
            f.put("message", message);
        }
        EventDetail::User {
            level, captures, ..
        } => {
            f.opt("level", level.as_ref());
            if !captures.is_empty() {
                f.put("captures", Json::Captures(captures));
            }
        }
        EventDetail::Gap { seconds, why, back } => {
            let seconds = (seconds * 1000.0).round() / 1000.0;
            if seconds.is_finite() {
                f.put("seconds", Json::F(seconds));
            }
            f.put("why", why);
            f.put("back", *back);
        }
        EventDetail::LineCut { dropped } => f.put("dropped_bytes", *dropped),
        EventDetail::Noise { lines } => f.put("lines", *lines),
    }
}

fn boot_fields<'a>(b: &'a Boot, f: &mut Fields<'a>) {
    f.opt("chip", b.chip.as_ref());
    f.opt("reset_reason", b.reset.as_ref().map(Json::Reset));
    f.opt(
        "boot_mode",
        b.boot_mode
            .as_ref()
            .map(|(code, name)| Json::BootMode(*code, name)),
    );
    f.put("download_mode", b.download_mode);
    f.put("evidence", Json::Strs(&b.evidence));
    f.opt("ready", b.ready.as_ref().map(Json::Ready));
}

/// `"key":` for this module's own keys, which need no escape. (A scenario's capture
/// names are written with [`write_str`].)
fn write_key(w: &mut (impl Write + ?Sized), key: &str) -> io::Result<()> {
    debug_assert!(!key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
    w.write_all(b"\"")?;
    w.write_all(key.as_bytes())?;
    w.write_all(b"\":")
}

fn write_value(w: &mut impl Write, value: Json<'_>) -> io::Result<()> {
    match value {
        Json::U(v) => serde_json::to_writer(&mut *w, &v)?,
        Json::I(v) => serde_json::to_writer(&mut *w, &v)?,
        Json::F(v) => serde_json::to_writer(&mut *w, &v)?,
        Json::Bool(true) => w.write_all(b"true")?,
        Json::Bool(false) => w.write_all(b"false")?,
        Json::Str(s) => write_str(w, s)?,
        Json::HostTime(t) => write_str(w, &humantime::format_rfc3339_millis(t).to_string())?,
        Json::Strs(items) => write_array(w, items, |w, s| write_str(w, s))?,
        Json::Hexes(addrs) => write_array(w, addrs, |w, a| write_hex(w, *a))?,
        Json::Reset(r) => {
            w.write_all(b"{\"cause\":")?;
            write_str(w, r.cause.as_str())?;
            write!(w, ",\"code\":{},\"name\":", r.code)?;
            write_str(w, &r.name)?;
            w.write_all(b"}")?;
        }
        Json::BootMode(code, name) => {
            write!(w, "{{\"code\":{code},\"name\":")?;
            write_str(w, name)?;
            w.write_all(b"}")?;
        }
        Json::Ready(r) => {
            w.write_all(b"{\"ip\":")?;
            write_str(w, &r.ip)?;
            write!(w, ",\"max_sockets\":{},\"ssid\":", r.max_sockets)?;
            write_str(w, &r.ssid)?;
            write!(
                w,
                ",\"ws_port\":{},\"wss_port\":{}}}",
                r.ws_port, r.wss_port
            )?;
        }
        Json::Decoded(d) => {
            w.write_all(b"{\"frames\":")?;
            write_array(w, &d.frames, |w, fr| {
                w.write_all(b"{\"address\":")?;
                write_hex(w, fr.address)?;
                w.write_all(b",\"function\":")?;
                write_opt_str(w, fr.function.as_deref())?;
                w.write_all(b",\"location\":")?;
                write_opt_str(w, fr.location.as_deref())?;
                w.write_all(b"}")
            })?;
            w.write_all(b",\"note\":")?;
            write_opt_str(w, d.note.as_deref())?;
            w.write_all(b",\"symbols\":")?;
            write_str(w, &d.symbols)?;
            w.write_all(b"}")?;
        }
        Json::Captures(captures) => {
            // Sorted by name; a name given twice keeps its last value, as a map would.
            let mut sorted: Vec<&(String, String)> = captures.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            sorted.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
            w.write_all(b"{")?;
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_str(w, k)?;
                w.write_all(b":")?;
                write_str(w, v)?;
            }
            w.write_all(b"}")?;
        }
    }
    Ok(())
}

fn write_array<T>(
    w: &mut impl Write,
    items: &[T],
    mut each: impl FnMut(&mut dyn Write, &T) -> io::Result<()>,
) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        each(&mut *w, item)?;
    }
    w.write_all(b"]")
}

fn write_hex(w: &mut (impl Write + ?Sized), address: u32) -> io::Result<()> {
    write!(w, "\"0x{address:08x}\"")
}

fn write_opt_str(w: &mut (impl Write + ?Sized), s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => write_str(w, s),
        None => w.write_all(b"null"),
    }
}

/// A JSON string. Most console text needs no escape and is copied as it is; the rest
/// goes through `serde_json`'s escaping.
fn write_str(w: &mut (impl Write + ?Sized), s: &str) -> io::Result<()> {
    // One pass with no early exit, which the compiler vectorises.
    let escape = s.bytes().fold(false, |seen, b| {
        seen | (b < 0x20 || b == b'"' || b == b'\\')
    });
    if !escape {
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\"")
    } else {
        serde_json::to_writer(&mut *w, s).map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use serde_json::Value;

    use super::*;
    use crate::console::event::{Boot, Decoded, Frame, Panic, PanicKind, ResetReason};
    use crate::console::rom::ResetCause;

    fn written(detail: EventDetail, live: bool) -> String {
        let e = ConsoleEvent {
            line: 10,
            end_line: 12,
            arrived: SystemTime::UNIX_EPOCH,
            host_stamp: Some("12:00:01.000".into()),
            device_ms: Some(5),
            detail,
        };
        let mut out = Vec::new();
        e.write_json(&mut out, live).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// What `serde_json` makes of the text, written back: the same bytes when the text
    /// is canonical (valid, keys sorted, strings escaped as serde_json escapes them).
    fn canonical(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    #[test]
    fn events_are_canonical_json() {
        let details = [
            EventDetail::Heap {
                free: 1,
                min_free: None,
                source: Some("allocator".into()),
            },
            EventDetail::ClientClose {
                id: Some(3),
                reason: Some("client \"close\"\u{1}\\".into()),
                clients: Some(2),
                max: None,
            },
            EventDetail::AcceptError { errno: -23 },
            EventDetail::Warning {
                tag: "wifi".into(),
                message: "é \\ x\t".into(),
            },
            EventDetail::Gap {
                seconds: 1.5,
                why: "gone".into(),
                back: true,
            },
            EventDetail::User {
                name: "mine".into(),
                level: None,
                captures: vec![("z".into(), "1".into()), ("a".into(), "2".into())],
            },
            EventDetail::Boot(Box::new(Boot {
                chip: Some("esp32c3".into()),
                reset: Some(ResetReason {
                    code: 0xc,
                    name: "RTC_SW_CPU_RST".into(),
                    cause: ResetCause::Software,
                }),
                boot_mode: Some((8, "SPI_FAST_FLASH_BOOT".into())),
                download_mode: false,
                evidence: vec!["rom", "app"],
                ready: None,
            })),
            EventDetail::Panic(Box::new(Panic {
                kind: PanicKind::GuruMeditation,
                reason: "Load access fault".into(),
                core: Some(0),
                task: None,
                text: "Guru Meditation Error\nMEPC".into(),
                backtrace: vec![0x4200_1234],
                stack_addresses: vec![],
                elf_sha256: None,
                fatal: true,
                decoded: Some(Decoded {
                    symbols: "bundled".into(),
                    frames: vec![Frame {
                        address: 0x4200_1234,
                        function: Some("main".into()),
                        location: None,
                    }],
                    note: None,
                }),
            })),
        ];
        for detail in details {
            for live in [false, true] {
                let text = written(detail.clone(), live);
                assert_eq!(canonical(&text), text);
            }
        }
    }

    #[test]
    fn fields_as_the_schema_names_them() {
        let text = written(
            EventDetail::SocketError {
                op: "recv".into(),
                errno: 104,
            },
            false,
        );
        assert_eq!(
            text,
            r#"{"device_ms":5,"end_line":12,"errno":104,"host_stamp":"12:00:01.000","kind":"socket_error","line":10,"op":"recv"}"#
        );
        let text = written(
            EventDetail::Boot(Box::new(Boot {
                reset: Some(ResetReason {
                    code: 1,
                    name: "POWERON".into(),
                    cause: ResetCause::PowerOn,
                }),
                ..Boot::default()
            })),
            true,
        );
        assert!(
            text.contains(r#""reset_reason":{"cause":"power_on","code":1,"name":"POWERON"}"#),
            "{text}"
        );
        assert!(text.contains(r#""host_time":"1970-01-01T00:00:00.000Z""#));
        assert!(text.contains(r#""download_mode":false,"end_line":12,"evidence":[]"#));
    }
}
