//! Log profiles: which log lines mean which event. Three are built in and always on —
//! the bundled firmware's key=value grammar (parsed by `wsbench_device::idf_log`, next
//! to its formatter), ESP-IDF's `esp_http_server` messages, and the ws_echo_server /
//! wss_server examples — and the scenario adds its own regexes (`console.events`).

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexSet};
use wsbench_device::idf_log::DeviceEvent;

use super::event::{EventDetail, Ready};
use super::idf::IdfLog;

/// What the built-in profiles make of a log line.
pub enum Builtin {
    Ready(Ready),
    Event(EventDetail),
    /// A line in the bundled grammar that did not parse: perhaps wrapped.
    Broken,
}

/// True for the first words of the bundled firmware's event messages (a `match`, so
/// the compiler tests the length first: most lines' words are ruled out by it).
fn is_bundled_event(word: &str) -> bool {
    matches!(
        word,
        "ready"
            | "open"
            | "upgrade"
            | "close"
            | "purge"
            | "refuse"
            | "broadcast"
            | "burst"
            | "burst_done"
            | "heap"
            | "protocol_error"
            | "http_error"
    )
}

pub fn builtin(idf: &IdfLog<'_>) -> Option<Builtin> {
    let msg = idf.message;
    if let Some((word, rest)) = msg.split_once(' ')
        && rest.contains('=')
        && is_bundled_event(word)
    {
        return Some(match DeviceEvent::parse(msg) {
            Some(event) => bundled(event)?,
            None => Builtin::Broken,
        });
    }
    http_server(msg).map(Builtin::Event)
}

fn bundled(event: DeviceEvent) -> Option<Builtin> {
    let n = |v: u16| Some(u64::from(v));
    Some(match event {
        DeviceEvent::Ready {
            ws_port,
            wss_port,
            max_sockets,
            ssid,
            ip,
            ..
        } => Builtin::Ready(Ready {
            ws_port,
            wss_port,
            max_sockets,
            ssid,
            ip,
        }),
        DeviceEvent::Open {
            id,
            peer,
            clients,
            max,
            ..
        } => Builtin::Event(EventDetail::ClientOpen {
            id: Some(u64::from(id)),
            peer: Some(peer),
            clients: n(clients),
            max: n(max),
        }),
        DeviceEvent::Close {
            id,
            reason,
            clients,
            max,
            ..
        } => Builtin::Event(EventDetail::ClientClose {
            id: Some(u64::from(id)),
            reason: Some(reason),
            clients: n(clients),
            max: n(max),
        }),
        DeviceEvent::Purge {
            id, peer, clients, ..
        } => Builtin::Event(EventDetail::Purge {
            id: Some(u64::from(id)),
            peer: Some(peer),
            clients: n(clients),
        }),
        DeviceEvent::Refuse {
            peer,
            reason,
            clients,
            ..
        } => Builtin::Event(EventDetail::Refuse {
            peer: Some(peer),
            reason: Some(reason),
            clients: n(clients),
        }),
        DeviceEvent::Heap {
            free,
            min_free,
            source,
        } => Builtin::Event(EventDetail::Heap {
            free: free as u64,
            min_free: Some(min_free as u64),
            source: Some(source.as_str().to_owned()),
        }),
        DeviceEvent::ProtocolError { code, what, .. } => {
            Builtin::Event(EventDetail::ProtocolError {
                what: format!("{what} (close {code})"),
            })
        }
        DeviceEvent::HttpError { status, what, .. } => Builtin::Event(EventDetail::ProtocolError {
            what: format!("HTTP {status}: {what}"),
        }),
        DeviceEvent::Upgrade { .. }
        | DeviceEvent::Broadcast { .. }
        | DeviceEvent::Burst { .. }
        | DeviceEvent::BurstDone { .. } => return None,
    })
}

/// Free heap as ESP-IDF apps commonly print it (`Free heap: 123456`,
/// `free heap size: 1234, min free: 1000`).
static HEAP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)free[ _]heap(?:[ _]size)?\s*[:=]?\s*(\d+)(?:.*?min(?:imum)?(?:[ _]free)?(?:[ _]heap)?(?:[ _]size)?\s*[:=]?\s*(\d+))?",
    )
        .expect("fixed regex")
});

/// esp_http_server's own messages and the ESP-IDF WebSocket examples'.
/// Every phrase the esp_http_server profile looks for, found in one pass per line
/// (ASCII case ignored; most lines hold none of them).
const HTTP_PHRASES: [&str; 11] = [
    "error in accept (",
    "error in recv : ",
    "error in send : ",
    "WS frame is not properly masked",
    "Failed to send WS",
    "httpd_ws_send_frame",
    "Handshake done, the new connection was opened",
    "client connected",
    "client added",
    "client disconnected",
    "client removed",
];
const FREE_HEAP: usize = HTTP_PHRASES.len();

static HTTP_FINDER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(
            HTTP_PHRASES
                .iter()
                .copied()
                .chain(["free heap", "free_heap"]),
        )
        .expect("fixed phrases build")
});

fn http_server(msg: &str) -> Option<EventDetail> {
    let found = HTTP_FINDER.find(msg)?;
    let rest = &msg[found.end()..];
    let at_start = found.start() == 0;
    Some(match found.pattern().as_usize() {
        0 => EventDetail::AcceptError {
            errno: leading_int(rest)?,
        },
        1 | 2 => EventDetail::SocketError {
            op: if found.pattern().as_usize() == 1 {
                "recv"
            } else {
                "send"
            }
            .into(),
            errno: leading_int(rest)?,
        },
        3 => EventDetail::ProtocolError {
            what: "WS frame is not properly masked".into(),
        },
        4 | 5 if msg.contains("ailed") => EventDetail::SendFailed {
            what: msg.to_owned(),
        },
        6 => EventDetail::ClientOpen {
            id: None,
            peer: None,
            clients: None,
            max: None,
        },
        // `New client connected 57`, `Client added, total: 3`
        7 | 8 if found.start() <= 4 => EventDetail::ClientOpen {
            id: last_int(msg.split("total").next().unwrap_or(msg)),
            peer: None,
            clients: total(msg),
            max: None,
        },
        9 | 10 if at_start => EventDetail::ClientClose {
            id: last_int(msg.split("total").next().unwrap_or(msg)),
            reason: None,
            clients: total(msg),
            max: None,
        },
        i if i >= FREE_HEAP => {
            let c = HEAP.captures(msg)?;
            EventDetail::Heap {
                free: c[1].parse().ok()?,
                min_free: c.get(2).and_then(|m| m.as_str().parse().ok()),
                source: None,
            }
        }
        _ => return None,
    })
}

fn after<'a>(s: &'a str, needle: &str) -> Option<&'a str> {
    s.find(needle).map(|i| &s[i + needle.len()..])
}

fn leading_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

fn last_int(s: &str) -> Option<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .rfind(|p| !p.is_empty())?
        .parse()
        .ok()
}

/// `..., total: 3` / `(total 3)` / `total clients: 3`.
fn total(msg: &str) -> Option<u64> {
    let rest = after(&msg.to_ascii_lowercase(), "total")?.to_owned();
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One of the scenario's `console.events`.
#[derive(Debug, Clone)]
pub struct UserPattern {
    pub name: String,
    pub regex: Regex,
    pub level: Option<String>,
}

/// The scenario's patterns, tried together on every line.
#[derive(Debug, Clone, Default)]
pub struct UserPatterns {
    patterns: Vec<UserPattern>,
    set: Option<RegexSet>,
}

impl UserPatterns {
    pub fn new(patterns: Vec<UserPattern>) -> UserPatterns {
        let set = (!patterns.is_empty()).then(|| {
            RegexSet::new(patterns.iter().map(|p| p.regex.as_str()))
                .expect("each pattern compiled on its own")
        });
        UserPatterns { patterns, set }
    }

    pub fn matches(&self, text: &str, out: &mut Vec<EventDetail>) {
        let Some(set) = &self.set else { return };
        for i in set.matches(text).iter() {
            let p = &self.patterns[i];
            let captures = p
                .regex
                .captures(text)
                .map(|c| {
                    p.regex
                        .capture_names()
                        .flatten()
                        .filter_map(|n| Some((n.to_owned(), c.name(n)?.as_str().to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            out.push(EventDetail::User {
                name: p.name.clone(),
                level: p.level.clone(),
                captures,
            });
        }
    }
}

/// Event kinds the console already names; a scenario's event may not take one.
pub const BUILTIN_KINDS: [&str; 19] = [
    "boot",
    "ready",
    "panic",
    "watchdog",
    "heap",
    "client_open",
    "client_close",
    "purge",
    "refuse",
    "accept_error",
    "socket_error",
    "protocol_error",
    "send_failed",
    "warning",
    "error",
    "gap",
    "line_cut",
    "noise",
    "log",
];

/// Regexes larger than this once compiled are refused (a pattern runs on every line).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compile(regex: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(regex)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Why a scenario's console event cannot be used, if it cannot.
pub fn check_user_pattern(name: &str, regex: &str) -> Option<String> {
    let name_ok = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Some(format!(
            "console event name `{name}` must be lowercase letters, digits and `_`, starting with a letter (it becomes the event's kind and the metric device.events.{name})"
        ));
    }
    if BUILTIN_KINDS.contains(&name) {
        return Some(format!(
            "console event name `{name}` is a built-in event kind; choose another name"
        ));
    }
    if regex.is_empty() {
        return Some(format!(
            "console event `{name}`: `regex` is empty, so it would match every line"
        ));
    }
    match compile(regex) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "console event `{name}`: `regex` does not compile: {}",
            e.to_string()
                .replace('\n', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

impl UserPattern {
    /// A pattern already checked with [`check_user_pattern`] (at scenario load).
    pub fn new(name: &str, regex: &str, level: Option<&str>) -> Result<UserPattern, String> {
        if let Some(problem) = check_user_pattern(name, regex) {
            return Err(problem);
        }
        Ok(UserPattern {
            name: name.to_owned(),
            regex: compile(regex).map_err(|e| e.to_string())?,
            level: level.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Option<EventDetail> {
        match builtin(&IdfLog::parse(line).unwrap())? {
            Builtin::Event(e) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn esp_http_server_messages() {
        assert_eq!(
            event("W (5) httpd: httpd_accept_conn: error in accept (23)"),
            Some(EventDetail::AcceptError { errno: 23 })
        );
        assert_eq!(
            event("W (5) httpd_txrx: httpd_sock_err: error in recv : 104"),
            Some(EventDetail::SocketError {
                op: "recv".into(),
                errno: 104
            })
        );
        assert_eq!(
            event("I (5) wss_echo_server: New client connected 57"),
            Some(EventDetail::ClientOpen {
                id: Some(57),
                peer: None,
                clients: None,
                max: None
            })
        );
        assert_eq!(
            event("I (5) app: Free heap: 123456, min free heap: 100000"),
            Some(EventDetail::Heap {
                free: 123456,
                min_free: Some(100000),
                source: None
            })
        );
    }
}
