//! ESP-IDF console lines: the device writes them, the CLI's serial monitor reads them back.
//! Formatter and parser live together so they cannot drift apart.
//!
//! # Line grammar (what ESP-IDF's `ESP_LOGx` prints)
//!
//! ```text
//! line    = level " (" ms ") " tag ": " message
//! level   = "E" | "W" | "I" | "D" | "V"
//! ms      = decimal milliseconds since boot
//! tag     = any text without ": "
//! ```
//!
//! The parser ([`IdfLine::parse`]) also accepts ANSI colour codes anywhere (ESP-IDF's
//! `CONFIG_LOG_COLORS`), a trailing `\r`/`\n`, and lines from any tag (boot ROM lines and
//! other components are simply not ESP-IDF lines and give `None`).
//!
//! # Message grammar (the device's own events, tag [`DEFAULT_TAG`])
//!
//! ```text
//! message = event *( " " key "=" value )
//! value   = bare | quoted
//! bare    = 1*( any char except space, '"' and '=' )
//! quoted  = '"' *( any char except '"', '\' and controls | escape ) '"'
//! escape  = '\"' | '\\' | '\n' | '\r' | '\t' | '\u{' 1*6hex '}'
//! ```
//!
//! Values are quoted only when they hold a space, a quote, a `=`, a backslash or a control
//! character, or are empty. Inside quotes `\"`, `\\`, `\n`, `\r`, `\t` and `\u{hex}`
//! stand for the character, so an event never spans two lines. Keys
//! appear in the order below; parsers must ignore keys they do not know (later versions
//! may add some). The events ([`DeviceEvent`]):
//!
//! ```text
//! I ready ws_port=80 wss_port=443 max_sockets=7 purge=on|off ssid=.. ip=..    (wss_port=0: no TLS)
//! I open id=3 peer=192.168.4.2:51234 transport=ws|wss clients=3/7
//! I upgrade id=3 subprotocol=chat|none
//! I close id=3 reason=<reason> code=1000|none clients=2/7
//! W purge id=1 peer=.. idle_ms=5230 clients=6/7
//! W refuse peer=.. reason=full|no_slot clients=7/7
//! I broadcast n=12 clients=3
//! I burst id=2 count=100 size=200 interval_ms=10 clients=3
//! I burst_done id=2 sent=300 dropped=0
//! I heap free=171000 min_free=160000 source=modelled|allocator
//! W protocol_error id=3 code=1002 what="unmasked client frame"
//! W http_error id=3 status=400 what="missing Sec-WebSocket-Key"
//! ```
//!
//! Close reasons: `client_close` (the client sent CLOSE), `server_close` (the device
//! closed on request: `!close`), `protocol_error`, `purged`, `eof` (TCP closed without
//! CLOSE), `io_error`, `request_timeout`, `write_timeout`, `http` (a plain HTTP request
//! was answered), `bad_request` (malformed request or upgrade).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use crate::heap_model::HeapSource;

/// Tag of the device's lines, as in the ESP-IDF example's `TAG`.
pub const DEFAULT_TAG: &str = "ws_server";

/// ESP-IDF log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `E`
    Error,
    /// `W`
    Warn,
    /// `I`
    Info,
    /// `D`
    Debug,
    /// `V`
    Verbose,
}

impl Level {
    /// The letter that starts the line.
    pub fn letter(self) -> char {
        match self {
            Level::Error => 'E',
            Level::Warn => 'W',
            Level::Info => 'I',
            Level::Debug => 'D',
            Level::Verbose => 'V',
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'E' => Level::Error,
            'W' => Level::Warn,
            'I' => Level::Info,
            'D' => Level::Debug,
            'V' => Level::Verbose,
            _ => return None,
        })
    }
}

/// One ESP-IDF log line, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdfLine {
    /// Severity.
    pub level: Level,
    /// Milliseconds since boot, as printed.
    pub ms: u64,
    /// Component tag.
    pub tag: String,
    /// Everything after `tag: `, colour codes removed.
    pub message: String,
}

impl IdfLine {
    /// Parse one console line; `None` when it is not an ESP-IDF log line (boot ROM
    /// output, a panic dump, noise).
    pub fn parse(raw: &str) -> Option<IdfLine> {
        let clean = strip_ansi(raw);
        let line = clean.trim_end_matches(['\r', '\n']);
        let mut chars = line.chars();
        let level = Level::from_letter(chars.next()?)?;
        let rest = chars.as_str().strip_prefix(" (")?;
        let (ms, rest) = rest.split_once(") ")?;
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms = ms.parse().ok()?;
        let (tag, message) = match rest.split_once(": ") {
            Some(parts) => parts,
            None => (rest.strip_suffix(':')?, ""),
        };
        if tag.is_empty() {
            return None;
        }
        Some(IdfLine {
            level,
            ms,
            tag: tag.to_string(),
            message: message.to_string(),
        })
    }

    /// The device event this line carries, if it is one.
    pub fn event(&self) -> Option<DeviceEvent> {
        DeviceEvent::parse(&self.message)
    }
}

/// Format one line; `ms` is milliseconds since boot.
pub fn format_line(level: Level, ms: u64, tag: &str, message: &dyn fmt::Display) -> String {
    format!("{} ({ms}) {tag}: {message}", level.letter())
}

fn strip_ansi(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in '@'..='~'.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A device event, the typed form of a message in the grammar above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// The listeners are up.
    Ready {
        /// Plain WebSocket port.
        ws_port: u16,
        /// TLS port, 0 when not served.
        wss_port: u16,
        /// Session limit.
        max_sockets: u16,
        /// LRU purge on.
        purge: bool,
        /// SoftAP name.
        ssid: String,
        /// Device address.
        ip: String,
    },
    /// A connection was admitted.
    Open {
        /// Session id.
        id: u32,
        /// Remote address.
        peer: String,
        /// `ws` or `wss`.
        transport: String,
        /// Sessions open now, this one included.
        clients: u16,
        /// Session limit.
        max: u16,
    },
    /// A session completed the WebSocket upgrade.
    Upgrade {
        /// Session id.
        id: u32,
        /// The subprotocol agreed, if any.
        subprotocol: Option<String>,
    },
    /// A session ended.
    Close {
        /// Session id.
        id: u32,
        /// Why (see the module documentation).
        reason: String,
        /// The close code sent or received, if any.
        code: Option<u16>,
        /// Sessions left open.
        clients: u16,
        /// Session limit.
        max: u16,
    },
    /// The least recently active session was closed to admit a new one.
    Purge {
        /// The purged session.
        id: u32,
        /// Its remote address.
        peer: String,
        /// Time since it last sent a frame.
        idle_ms: u64,
        /// Sessions open after the purge (before the new one).
        clients: u16,
        /// Session limit.
        max: u16,
    },
    /// A connection was refused.
    Refuse {
        /// Its remote address.
        peer: String,
        /// `full` (purge off) or `no_slot` (purged sessions still closing).
        reason: String,
        /// Sessions open.
        clients: u16,
        /// Session limit.
        max: u16,
    },
    /// A periodic broadcast round went out.
    Broadcast {
        /// Round number, from 1.
        n: u32,
        /// Sessions it was queued to.
        clients: u16,
    },
    /// A `!burst` started.
    Burst {
        /// Burst id (in every frame).
        id: u32,
        /// Frames per session.
        count: u32,
        /// Bytes per frame.
        size: u32,
        /// Pause between frames.
        interval_ms: u32,
        /// Sessions at the start.
        clients: u16,
    },
    /// A `!burst` finished.
    BurstDone {
        /// Burst id.
        id: u32,
        /// Frames queued, all sessions together.
        sent: u32,
        /// Frames dropped because a session's queue was full.
        dropped: u32,
    },
    /// Heap figures (every second).
    Heap {
        /// Free bytes now.
        free: u32,
        /// Lowest free bytes since boot.
        min_free: u32,
        /// Modelled or from the allocator.
        source: HeapSource,
    },
    /// A client broke the WebSocket protocol; the session is closed with `code`.
    ProtocolError {
        /// Session id.
        id: u32,
        /// Close code sent.
        code: u16,
        /// What was wrong.
        what: String,
    },
    /// An HTTP request was rejected.
    HttpError {
        /// Session id.
        id: u32,
        /// HTTP status sent (0 when the connection was closed without an answer).
        status: u16,
        /// What was wrong.
        what: String,
    },
}

impl DeviceEvent {
    /// The level the device logs this event at.
    pub fn level(&self) -> Level {
        match self {
            DeviceEvent::Purge { .. }
            | DeviceEvent::Refuse { .. }
            | DeviceEvent::ProtocolError { .. }
            | DeviceEvent::HttpError { .. } => Level::Warn,
            _ => Level::Info,
        }
    }

    /// Parse a message in the grammar above; `None` for any other message or when a
    /// known event lacks a key it must have.
    pub fn parse(message: &str) -> Option<DeviceEvent> {
        let (name, rest) = match message.split_once(' ') {
            Some(parts) => parts,
            None => (message, ""),
        };
        let kv = KeyValues::parse(rest)?;
        Some(match name {
            "ready" => DeviceEvent::Ready {
                ws_port: kv.num("ws_port")?,
                wss_port: kv.num("wss_port")?,
                max_sockets: kv.num("max_sockets")?,
                purge: match kv.get("purge")? {
                    "on" => true,
                    "off" => false,
                    _ => return None,
                },
                ssid: kv.get("ssid")?.to_string(),
                ip: kv.get("ip")?.to_string(),
            },
            "open" => {
                let (clients, max) = kv.fraction("clients")?;
                DeviceEvent::Open {
                    id: kv.num("id")?,
                    peer: kv.get("peer")?.to_string(),
                    transport: kv.get("transport")?.to_string(),
                    clients,
                    max,
                }
            }
            "upgrade" => DeviceEvent::Upgrade {
                id: kv.num("id")?,
                subprotocol: match kv.get("subprotocol")? {
                    "none" => None,
                    other => Some(other.to_string()),
                },
            },
            "close" => {
                let (clients, max) = kv.fraction("clients")?;
                DeviceEvent::Close {
                    id: kv.num("id")?,
                    reason: kv.get("reason")?.to_string(),
                    code: match kv.get("code")? {
                        "none" => None,
                        code => Some(code.parse().ok()?),
                    },
                    clients,
                    max,
                }
            }
            "purge" => {
                let (clients, max) = kv.fraction("clients")?;
                DeviceEvent::Purge {
                    id: kv.num("id")?,
                    peer: kv.get("peer")?.to_string(),
                    idle_ms: kv.num("idle_ms")?,
                    clients,
                    max,
                }
            }
            "refuse" => {
                let (clients, max) = kv.fraction("clients")?;
                DeviceEvent::Refuse {
                    peer: kv.get("peer")?.to_string(),
                    reason: kv.get("reason")?.to_string(),
                    clients,
                    max,
                }
            }
            "broadcast" => DeviceEvent::Broadcast {
                n: kv.num("n")?,
                clients: kv.num("clients")?,
            },
            "burst" => DeviceEvent::Burst {
                id: kv.num("id")?,
                count: kv.num("count")?,
                size: kv.num("size")?,
                interval_ms: kv.num("interval_ms")?,
                clients: kv.num("clients")?,
            },
            "burst_done" => DeviceEvent::BurstDone {
                id: kv.num("id")?,
                sent: kv.num("sent")?,
                dropped: kv.num("dropped")?,
            },
            "heap" => DeviceEvent::Heap {
                free: kv.num("free")?,
                min_free: kv.num("min_free")?,
                source: match kv.get("source")? {
                    "modelled" => HeapSource::Modelled,
                    "allocator" => HeapSource::Allocator,
                    _ => return None,
                },
            },
            "protocol_error" => DeviceEvent::ProtocolError {
                id: kv.num("id")?,
                code: kv.num("code")?,
                what: kv.get("what")?.to_string(),
            },
            "http_error" => DeviceEvent::HttpError {
                id: kv.num("id")?,
                status: kv.num("status")?,
                what: kv.get("what")?.to_string(),
            },
            _ => return None,
        })
    }
}

impl fmt::Display for DeviceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceEvent::Ready {
                ws_port,
                wss_port,
                max_sockets,
                purge,
                ssid,
                ip,
            } => write!(
                f,
                "ready ws_port={ws_port} wss_port={wss_port} max_sockets={max_sockets} purge={} ssid={} ip={}",
                if *purge { "on" } else { "off" },
                Value(ssid),
                Value(ip)
            ),
            DeviceEvent::Open {
                id,
                peer,
                transport,
                clients,
                max,
            } => write!(
                f,
                "open id={id} peer={} transport={} clients={clients}/{max}",
                Value(peer),
                Value(transport)
            ),
            DeviceEvent::Upgrade { id, subprotocol } => write!(
                f,
                "upgrade id={id} subprotocol={}",
                Value(subprotocol.as_deref().unwrap_or("none"))
            ),
            DeviceEvent::Close {
                id,
                reason,
                code,
                clients,
                max,
            } => {
                write!(f, "close id={id} reason={} code=", Value(reason))?;
                match code {
                    Some(code) => write!(f, "{code}")?,
                    None => f.write_str("none")?,
                }
                write!(f, " clients={clients}/{max}")
            }
            DeviceEvent::Purge {
                id,
                peer,
                idle_ms,
                clients,
                max,
            } => write!(
                f,
                "purge id={id} peer={} idle_ms={idle_ms} clients={clients}/{max}",
                Value(peer)
            ),
            DeviceEvent::Refuse {
                peer,
                reason,
                clients,
                max,
            } => write!(
                f,
                "refuse peer={} reason={} clients={clients}/{max}",
                Value(peer),
                Value(reason)
            ),
            DeviceEvent::Broadcast { n, clients } => {
                write!(f, "broadcast n={n} clients={clients}")
            }
            DeviceEvent::Burst {
                id,
                count,
                size,
                interval_ms,
                clients,
            } => write!(
                f,
                "burst id={id} count={count} size={size} interval_ms={interval_ms} clients={clients}"
            ),
            DeviceEvent::BurstDone { id, sent, dropped } => {
                write!(f, "burst_done id={id} sent={sent} dropped={dropped}")
            }
            DeviceEvent::Heap {
                free,
                min_free,
                source,
            } => write!(
                f,
                "heap free={free} min_free={min_free} source={}",
                source.as_str()
            ),
            DeviceEvent::ProtocolError { id, code, what } => {
                write!(f, "protocol_error id={id} code={code} what={}", Value(what))
            }
            DeviceEvent::HttpError { id, status, what } => {
                write!(f, "http_error id={id} status={status} what={}", Value(what))
            }
        }
    }
}

/// A value written per the grammar: bare when it can be, quoted and escaped otherwise,
/// so no text (an error message, a peer's path) can break the key=value parse or split
/// the line. Public so hosts that print their own events in this grammar (the simulated
/// board's binding) write values exactly as the device does.
pub struct Value<'a>(pub &'a str);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needs_quotes = self.0.is_empty()
            || self
                .0
                .chars()
                .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control());
        if !needs_quotes {
            return f.write_str(self.0);
        }
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                // One event, one line: control characters never reach the console raw.
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

// Host-side parsing from here on: the firmware only writes lines (the code above) and
// never calls what follows, though it compiles it: a change here leaves the images'
// code as it was but changes their ELF SHA-256 (`firmware/check-dist.sh` then differs).

use alloc::borrow::Cow;

impl Level {
    /// The level of a line whose first byte is `letter`; `None` when it names none. A
    /// byte, so a reader can test a line before it knows the line is text.
    pub fn from_byte(letter: u8) -> Option<Self> {
        Self::from_letter(char::from(letter))
    }
}

/// Pairs kept without allocating; a message with more (a later version's keys) keeps
/// the rest in a `Vec`.
const INLINE_PAIRS: usize = 8;

/// The `key=value` pairs of a message, in order, borrowed from it: only a quoted value
/// with escapes in it is copied. The host parses every console line this way, so a
/// busy console costs no allocation per pair.
#[derive(Debug, Default)]
pub struct KeyValues<'a> {
    inline: [(&'a str, Cow<'a, str>); INLINE_PAIRS],
    len: usize,
    more: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> KeyValues<'a> {
    /// Parse `key=value key="quoted value" ...`; `None` when the text breaks the grammar.
    pub fn parse(text: &'a str) -> Option<KeyValues<'a>> {
        let mut kv = KeyValues::default();
        let mut rest = text.trim_start_matches(' ');
        while !rest.is_empty() {
            // The key runs to the first `=` and holds no space or quote.
            let eq = rest
                .bytes()
                .position(|b| matches!(b, b'=' | b' ' | b'"'))
                .filter(|&i| i > 0 && rest.as_bytes()[i] == b'=')?;
            let (key, after) = (&rest[..eq], &rest[eq + 1..]);
            let (value, after) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let (value, end) = quoted_value(quoted)?;
                    let after = &quoted[end..];
                    if !(after.is_empty() || after.starts_with(' ')) {
                        return None;
                    }
                    (value, after)
                }
                None => {
                    // A bare value runs to the next space and holds no quote or `=`.
                    let end = after
                        .bytes()
                        .position(|b| matches!(b, b' ' | b'"' | b'='))
                        .unwrap_or(after.len());
                    if end < after.len() && after.as_bytes()[end] != b' ' {
                        return None;
                    }
                    (Cow::Borrowed(&after[..end]), &after[end..])
                }
            };
            kv.push(key, value);
            rest = after.trim_start_matches(' ');
        }
        Some(kv)
    }

    fn push(&mut self, key: &'a str, value: Cow<'a, str>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = (key, value);
                self.len += 1;
            }
            None => self.more.push((key, value)),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.inline[..self.len]
            .iter()
            .chain(&self.more)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn num<T: core::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get(key)?.parse().ok()
    }

    fn fraction(&self, key: &str) -> Option<(u16, u16)> {
        let (n, max) = self.get(key)?.split_once('/')?;
        Some((n.parse().ok()?, max.parse().ok()?))
    }
}

/// A quoted value's text (after its opening quote) and the index just past its closing
/// quote: borrowed when it holds no escape.
fn quoted_value(quoted: &str) -> Option<(Cow<'_, str>, usize)> {
    let first = quoted.bytes().position(|b| b == b'"' || b == b'\\')?;
    if quoted.as_bytes()[first] == b'"' {
        return Some((Cow::Borrowed(&quoted[..first]), first + 1));
    }
    let mut value = String::from(&quoted[..first]);
    let mut chars = quoted[first..].char_indices();
    let end = loop {
        match chars.next()? {
            (i, '"') => break first + i + 1,
            (_, '\\') => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let rest = &quoted[first + chars.next()?.0..];
                    let close = rest.find('}')?;
                    let code = u32::from_str_radix(rest.get(1..close)?, 16).ok()?;
                    value.push(char::from_u32(code)?);
                    for _ in 0..close {
                        chars.next()?;
                    }
                }
                c => value.push(c),
            },
            (_, c) => value.push(c),
        }
    };
    Some((Cow::Owned(value), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: DeviceEvent) {
        let line = format_line(event.level(), 1234, DEFAULT_TAG, &event);
        assert!(
            !line.chars().any(char::is_control),
            "one clean line: {line:?}"
        );
        let parsed = IdfLine::parse(&line).expect("a formatted line parses");
        assert_eq!(parsed.level, event.level());
        assert_eq!(parsed.ms, 1234);
        assert_eq!(parsed.tag, DEFAULT_TAG);
        assert_eq!(parsed.event(), Some(event), "line: {line}");
    }

    #[test]
    fn every_event_survives_format_then_parse() {
        round_trip(DeviceEvent::Ready {
            ws_port: 80,
            wss_port: 443,
            max_sockets: 7,
            purge: true,
            ssid: "ESP32 WS \"lab\" = 2".into(),
            ip: "192.168.4.1".into(),
        });
        round_trip(DeviceEvent::Open {
            id: 3,
            peer: "127.0.0.1:5000".into(),
            transport: "wss".into(),
            clients: 3,
            max: 7,
        });
        round_trip(DeviceEvent::Upgrade {
            id: 3,
            subprotocol: Some("chat".into()),
        });
        round_trip(DeviceEvent::Upgrade {
            id: 3,
            subprotocol: None,
        });
        round_trip(DeviceEvent::Close {
            id: 3,
            reason: "client_close".into(),
            code: Some(1000),
            clients: 2,
            max: 7,
        });
        round_trip(DeviceEvent::Close {
            id: 4,
            reason: "eof".into(),
            code: None,
            clients: 0,
            max: 7,
        });
        round_trip(DeviceEvent::Purge {
            id: 1,
            peer: "[::1]:9".into(),
            idle_ms: 5000,
            clients: 6,
            max: 7,
        });
        round_trip(DeviceEvent::Refuse {
            peer: "10.0.0.1:1".into(),
            reason: "full".into(),
            clients: 7,
            max: 7,
        });
        round_trip(DeviceEvent::Broadcast { n: 12, clients: 3 });
        round_trip(DeviceEvent::Burst {
            id: 1,
            count: 10,
            size: 100,
            interval_ms: 0,
            clients: 2,
        });
        round_trip(DeviceEvent::BurstDone {
            id: 1,
            sent: 20,
            dropped: 0,
        });
        round_trip(DeviceEvent::Heap {
            free: 1,
            min_free: 0,
            source: HeapSource::Modelled,
        });
        round_trip(DeviceEvent::ProtocolError {
            id: 9,
            code: 1002,
            what: "reserved bits set \\ really\n\u{1b}[0m\u{7f}é".into(),
        });
        round_trip(DeviceEvent::HttpError {
            id: 9,
            status: 400,
            what: String::new(),
        });
    }

    #[test]
    fn parses_colour_codes_carriage_returns_and_foreign_tags() {
        let line = IdfLine::parse("\u{1b}[0;33mW (5012) wifi: sta disconnected\u{1b}[0m\r\n")
            .expect("coloured line");
        assert_eq!(line.level, Level::Warn);
        assert_eq!(line.ms, 5012);
        assert_eq!(line.tag, "wifi");
        assert_eq!(line.message, "sta disconnected");
        assert_eq!(line.event(), None);
    }

    #[test]
    fn rejects_lines_that_are_not_idf_log_lines() {
        for raw in [
            "",
            "ESP-ROM:esp32c3-api1-20210207",
            "Guru Meditation Error: Core  0 panic'ed (Load access fault)",
            "I (abc) tag: x",
            "X (12) tag: x",
            "I (12)tag: x",
        ] {
            assert_eq!(IdfLine::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn a_known_event_missing_a_key_is_not_an_event() {
        assert_eq!(DeviceEvent::parse("open id=3 peer=x transport=ws"), None);
        assert_eq!(
            DeviceEvent::parse("heap free=1 min_free=2 source=guess"),
            None
        );
        assert_eq!(DeviceEvent::parse("close id=\"3 reason=x"), None);
    }

    #[test]
    fn values_are_borrowed_unless_escaped_and_any_number_of_keys_is_kept() {
        let text = "a=1 b=\"two words\" c=\"q\\\"d\\u{e9}\" d=4 e=5 f=6 g=7 h=8 i=9 j=\"\"";
        let kv = KeyValues::parse(text).unwrap();
        assert_eq!(kv.get("b"), Some("two words"));
        assert_eq!(kv.get("c"), Some("q\"d\u{e9}"));
        assert_eq!(kv.get("i"), Some("9"));
        assert_eq!(kv.get("j"), Some(""));
        assert_eq!(kv.get("k"), None);
        assert!(matches!(kv.inline[1].1, Cow::Borrowed(_)));
        assert!(matches!(kv.inline[2].1, Cow::Owned(_)));
        for bad in [
            "=1", "a b=1", "a\"=1", "a=1\"", "a=b=c", "a=\"open", "a=\"x\"y",
        ] {
            assert!(KeyValues::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_ignored() {
        assert_eq!(
            DeviceEvent::parse("broadcast n=2 clients=1 extra=\"new key\""),
            Some(DeviceEvent::Broadcast { n: 2, clients: 1 })
        );
    }
}
