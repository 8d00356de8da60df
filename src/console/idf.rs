//! ESP-IDF log lines (`ESP_LOGx`): `I (1234) tag: message`, or with the system-time
//! source `I (12:34:56.789) tag: message`. The bundled firmware's events ride in the
//! message (its own grammar, parsed by `wsbench_device::idf_log`).

/// A log line's severity: the device crate's, which also writes the letter.
pub use wsbench_device::idf_log::Level;

/// The device's timestamp on a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTime<'a> {
    /// Milliseconds since boot (the default source).
    Ms(u64),
    /// `hh:mm:ss.mmm` (`CONFIG_LOG_TIMESTAMP_SOURCE_SYSTEM`), as printed.
    Clock(&'a str),
    /// None on the line (another framework's log form, see `other_logs`).
    Unstamped,
}

/// One parsed ESP-IDF log line, borrowing from the cleaned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdfLog<'a> {
    pub level: Level,
    pub time: DeviceTime<'a>,
    pub tag: &'a str,
    pub message: &'a str,
}

impl<'a> IdfLog<'a> {
    /// `None` when the text is not an ESP-IDF log line.
    pub fn parse(text: &'a str) -> Option<IdfLog<'a>> {
        let b = text.as_bytes();
        if b.len() < 6 || b[1] != b' ' || b[2] != b'(' {
            return None;
        }
        let level = Level::from_byte(b[0])?;
        let close = memchr::memchr(b')', &b[3..])? + 3;
        let stamp = &text[3..close];
        let time = if !stamp.is_empty() && stamp.bytes().all(|c| c.is_ascii_digit()) {
            DeviceTime::Ms(stamp.parse().ok()?)
        } else if stamp.len() >= 8
            && stamp
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
            && stamp.as_bytes()[2] == b':'
        {
            DeviceTime::Clock(stamp)
        } else {
            return None;
        };
        let rest = text[close + 1..].strip_prefix(' ')?;
        // Tags have no spaces as a rule; the Wi-Fi blobs write `wifi:message` with no
        // space after the colon.
        let first_colon_or_space = rest.bytes().position(|c| c == b':' || c == b' ');
        let (tag, message) = match first_colon_or_space {
            Some(i) if rest.as_bytes()[i] == b':' => (
                &rest[..i],
                rest[i + 1..].strip_prefix(' ').unwrap_or(&rest[i + 1..]),
            ),
            _ => match rest.find(": ") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => return None,
            },
        };
        if tag.is_empty() || tag.len() > 64 {
            return None;
        }
        Some(IdfLog {
            level,
            time,
            tag,
            message,
        })
    }

    pub fn ms(&self) -> Option<u64> {
        match self.time {
            DeviceTime::Ms(ms) => Some(ms),
            DeviceTime::Clock(_) | DeviceTime::Unstamped => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_timestamp_forms() {
        let l = IdfLog::parse("W (5012) wifi: sta disconnected").unwrap();
        assert_eq!(
            (l.level, l.time, l.tag, l.message),
            (
                Level::Warn,
                DeviceTime::Ms(5012),
                "wifi",
                "sta disconnected"
            )
        );
        let l = IdfLog::parse("E (12:01:02.345) httpd: httpd_accept_conn: error in accept (23)")
            .unwrap();
        assert_eq!(l.time, DeviceTime::Clock("12:01:02.345"));
        assert_eq!(l.tag, "httpd");
        assert_eq!(l.message, "httpd_accept_conn: error in accept (23)");
        let l = IdfLog::parse("W (1342) wifi:Haven't to connect to a suitable AP now!").unwrap();
        assert_eq!(
            (l.tag, l.message),
            ("wifi", "Haven't to connect to a suitable AP now!")
        );
        for bad in [
            "",
            "ESP-ROM:esp32c3-api1-20210207",
            "I (abc) t: x",
            "X (1) t: x",
            "I (1)t: x",
        ] {
            assert_eq!(IdfLog::parse(bad), None, "{bad}");
        }
    }
}
