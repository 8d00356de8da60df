//! One raw line into text the parsers can read: ANSI colour codes removed, bytes that
//! are not UTF-8 replaced (and counted), a host's time prefix (`[hh:mm:ss.mmm] ` from
//! terminal loggers, `YYYY-MM-DD hh:mm:ss ` from esp-idf-monitor's `--timestamps`,
//! `hh:mm:ss.mmm -> ` from the Arduino monitor) split off.

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
    let c = clean_borrowed(bytes);
    CleanLine {
        text: c.text.into_owned(),
        host_stamp: c.host_stamp,
        noise: c.noise,
    }
}

/// [`CleanLine`] borrowing the raw bytes when they are already clean text (the common
/// case: no colour codes, valid UTF-8, no control bytes), so the parser copies nothing.
#[derive(Debug)]
pub(super) struct CleanText<'a> {
    pub text: Cow<'a, str>,
    pub host_stamp: Option<String>,
    pub noise: usize,
}

impl CleanText<'_> {
    /// As [`CleanLine::is_noise`].
    pub fn is_noise(&self) -> bool {
        self.noise > 0 && self.noise * 4 >= self.text.chars().count().max(1)
    }
}

pub(super) fn clean_borrowed(bytes: &[u8]) -> CleanText<'_> {
    // No early exit: the whole line is tested in one pass the compiler vectorises
    // (almost every line is clean, so stopping early would rarely pay).
    let has_control = bytes
        .iter()
        .fold(false, |seen, &b| seen | (b < 0x20 && b != b'\t'));
    if !has_control && let Ok(text) = std::str::from_utf8(bytes) {
        let text = text.trim_end();
        let (host_stamp, rest) = split_host_stamp(text);
        return CleanText {
            text: Cow::Borrowed(rest),
            host_stamp: host_stamp.map(str::to_owned),
            noise: 0,
        };
    }
    let c = clean_owned(bytes);
    CleanText {
        text: Cow::Owned(c.text),
        host_stamp: c.host_stamp,
        noise: c.noise,
    }
}

fn clean_owned(bytes: &[u8]) -> CleanLine {
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
    // Both forms start with `[` or a character of a clock or date: most device lines
    // (`I (123) …`) are ruled out by their first byte.
    match text.as_bytes().first() {
        Some(b'[' | b'0'..=b'9' | b':' | b'.' | b',' | b'-' | b' ' | b'T') => {}
        _ => return (None, text),
    }
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
    // `2024-05-01 10:00:00 rest` (esp-idf-monitor's `--timestamps`, many loggers): a date
    // and a time with no brackets; a line that was empty on the device is the stamp alone.
    if let Some(len) = dated_clock_len(text) {
        let rest = &text[len..];
        if rest.is_empty() || rest.starts_with(' ') {
            return (Some(&text[..len]), rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    // The arrow counts only within the first 32 bytes, so only those are searched.
    let head = &text.as_bytes()[..text.len().min(32 + 4)];
    if let Some(arrow) = memchr::memmem::find(head, b" -> ")
        && arrow <= 32
        && is_clock(&text[..arrow])
    {
        return (Some(&text[..arrow]), &text[arrow + 4..]);
    }
    (None, text)
}

/// Length of a leading `YYYY-MM-DD HH:MM:SS` (or `T` between), with an optional `.`/`,`
/// fraction.
fn dated_clock_len(text: &str) -> Option<usize> {
    const SHAPE: &[u8; 19] = b"dddd-dd-dd dd:dd:dd";
    let b = text.as_bytes();
    if b.len() < SHAPE.len() {
        return None;
    }
    for (i, (&want, &got)) in SHAPE.iter().zip(b).enumerate() {
        let ok = match want {
            b'd' => got.is_ascii_digit(),
            b' ' if i == 10 => got == b' ' || got == b'T',
            _ => got == want,
        };
        if !ok {
            return None;
        }
    }
    let mut len = SHAPE.len();
    if matches!(b.get(len), Some(b'.' | b',')) && b.get(len + 1).is_some_and(u8::is_ascii_digit) {
        len += 1;
        while b.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
    }
    Some(len)
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
        // esp-idf-monitor's `--timestamps`: a date and time, no brackets.
        let l = clean(b"2024-05-01 10:00:04 rst:0xc (SW_CPU_RESET),boot:0x13");
        assert_eq!(l.text, "rst:0xc (SW_CPU_RESET),boot:0x13");
        assert_eq!(l.host_stamp.as_deref(), Some("2024-05-01 10:00:04"));
        let l = clean(b"2024-05-01T10:00:04.125 I (5) x: y");
        assert_eq!(l.text, "I (5) x: y");
        assert_eq!(l.host_stamp.as_deref(), Some("2024-05-01T10:00:04.125"));
        let l = clean(b"2024-05-01 10:00:04 ");
        assert_eq!(
            (l.text.as_str(), l.host_stamp.as_deref()),
            ("", Some("2024-05-01 10:00:04"))
        );
        // A date the device itself prints is not a host stamp.
        assert!(clean(b"2024-05-01 10:00:04x").host_stamp.is_none());
        assert!(clean(b"2024-05-01 build").host_stamp.is_none());
    }

    #[test]
    fn borrowed_and_owned_agree() {
        for raw in [
            &b"I (31) boot: hi  "[..],
            b"[12:00:01.250] I (31) boot: hi",
            b"08:15:02.004 -> E (5) x: y\t",
            b"2024-05-01 10:00:04 I (5) x: y",
            b"\x1b[0;32mI (31) boot: hi\x1b[0m",
            b"\xff\xfe\x00\x81ab",
            b"tab\there\x07bell",
            b"",
        ] {
            let b = clean_borrowed(raw);
            let o = clean_owned(raw);
            assert_eq!(
                (b.text.as_ref(), &b.host_stamp, b.noise),
                (o.text.as_str(), &o.host_stamp, o.noise),
                "{raw:?}"
            );
            assert_eq!(b.is_noise(), o.is_noise());
        }
    }
}
