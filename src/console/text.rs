//! One raw line into text the parsers can read: ANSI colour codes removed, bytes that
//! are not UTF-8 replaced (and counted), a host's time prefix (`[hh:mm:ss.mmm] ` from
//! terminal loggers, `hh:mm:ss.mmm -> ` from the Arduino monitor) split off.

use std::borrow::Cow;

/// A console line ready for parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanLine {
    /// The text without colour codes or host prefix, trailing whitespace trimmed.
    pub text: String,
    /// The host's time prefix as written, without brackets or arrow.
    pub host_stamp: Option<String>,
    /// Characters that were not text: invalid UTF-8 or control bytes (wrong baud, binary).
    pub noise: usize,
}

impl CleanLine {
    /// True when most of the line is not text: a wrong baud rate or a binary stream.
    pub fn is_noise(&self) -> bool {
        self.noise > 0 && self.noise * 4 >= self.text.chars().count().max(1)
    }
}

pub fn clean(bytes: &[u8]) -> CleanLine {
    let stripped: Cow<[u8]> = if memchr::memchr(0x1b, bytes).is_some() {
        Cow::Owned(strip_ansi(bytes))
    } else {
        Cow::Borrowed(bytes)
    };
    let (mut text, mut noise) = match std::str::from_utf8(&stripped) {
        Ok(s) => (s.to_owned(), 0),
        Err(_) => {
            let lossy = String::from_utf8_lossy(&stripped).into_owned();
            let bad = lossy.matches('\u{fffd}').count();
            (lossy, bad)
        }
    };
    if text.bytes().any(|b| b < 0x20 && b != b'\t') {
        let before = text.len();
        text.retain(|c| !c.is_control() || c == '\t');
        noise += before - text.len();
    }
    let end = text.trim_end().len();
    text.truncate(end);
    let (host_stamp, rest) = split_host_stamp(&text);
    let (host_stamp, text) = match host_stamp {
        Some(stamp) => (Some(stamp.to_owned()), rest.to_owned()),
        None => (None, text),
    };
    CleanLine {
        text,
        host_stamp,
        noise,
    }
}

/// Removes CSI sequences (`ESC [ params final`) and lone escapes.
fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b {
            i += 1;
            if bytes.get(i) == Some(&b'[') {
                i += 1;
                while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `[12:00:01.123] rest`, `[2026-12-01 12:00:01.123] rest` or `12:00:01.123 -> rest`.
fn split_host_stamp(text: &str) -> (Option<&str>, &str) {
    if let Some(inner) = text.strip_prefix('[')
        && let Some(close) = inner.find(']')
        && close <= 32
    {
        let stamp = &inner[..close];
        if is_clock(stamp) {
            return (
                Some(stamp),
                inner[close + 1..]
                    .strip_prefix(' ')
                    .unwrap_or(&inner[close + 1..]),
            );
        }
    }
    if let Some(arrow) = text.find(" -> ")
        && arrow <= 32
        && is_clock(&text[..arrow])
    {
        return (Some(&text[..arrow]), &text[arrow + 4..]);
    }
    (None, text)
}

/// A time of day, optionally after a date: digits with `:` and then `.`/`,` fraction.
fn is_clock(s: &str) -> bool {
    let time = s.rsplit([' ', 'T']).next().unwrap_or(s);
    let b = time.as_bytes();
    b.len() >= 8
        && b[2] == b':'
        && b[5] == b':'
        && time
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b','))
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b',' | b'-' | b' ' | b'T'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_prefixes_and_bad_bytes() {
        let l = clean(b"[12:00:01.250] \x1b[0;32mI (31) boot: hi\x1b[0m\r");
        assert_eq!(l.text, "I (31) boot: hi");
        assert_eq!(l.host_stamp.as_deref(), Some("12:00:01.250"));
        let l = clean(b"08:15:02.004 -> E (5) x: y");
        assert_eq!(l.text, "E (5) x: y");
        assert_eq!(l.host_stamp.as_deref(), Some("08:15:02.004"));
        let l = clean(b"\xff\xfe\x00\x81ab");
        assert!(l.is_noise());
        assert!(clean(b"[not a stamp] text").host_stamp.is_none());
    }
}
