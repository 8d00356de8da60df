//! Log lines of the other frameworks ESP32 WebSocket servers are written with, read into
//! the same shape as an ESP-IDF line so that their warnings and errors count the same
//! (`device.errors`, `device.warnings`): Arduino-ESP32's `log_e()` and friends
//! (`[  1234][E][WiFiGeneric.cpp:1583] onEvent(): message`, and cores before 2.0 without
//! the time: `[E][file.cpp:12] func(): message`), and esp-println's logger for esp-hal
//! firmware (`ERROR - message`).

use super::idf::{DeviceTime, IdfLog, Level};

/// `None` when the text is neither form.
pub fn parse(text: &str) -> Option<IdfLog<'_>> {
    match text.as_bytes().first()? {
        b'[' => arduino(text),
        b'E' | b'W' | b'I' | b'D' | b'T' => esp_println(text),
        _ => None,
    }
}

fn arduino(text: &str) -> Option<IdfLog<'_>> {
    let (first, mut rest) = bracketed(text)?;
    let mut time = DeviceTime::Unstamped;
    let letter = if first.len() == 1 {
        first
    } else {
        let ms = first.trim_start();
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        time = DeviceTime::Ms(ms.parse().ok()?);
        let (letter, after) = bracketed(rest)?;
        rest = after;
        letter
    };
    let level = match letter.as_bytes() {
        [b'V'] => Level::Verbose,
        [l] => Level::from_byte(*l)?,
        _ => return None,
    };
    // `[file.cpp:123]`: where it was logged, as the tag.
    let (place, message) = bracketed(rest)?;
    if !place.contains(':') || place.len() > 128 {
        return None;
    }
    Some(IdfLog {
        level,
        time,
        tag: place,
        message: message.strip_prefix(' ').unwrap_or(message),
    })
}

/// `[inside]rest` → (`inside`, `rest`).
fn bracketed(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('[')?;
    let close = inner.find(']')?;
    Some((&inner[..close], &inner[close + 1..]))
}

fn esp_println(text: &str) -> Option<IdfLog<'_>> {
    const LEVELS: [(&str, Level); 5] = [
        ("ERROR - ", Level::Error),
        ("WARN - ", Level::Warn),
        ("INFO - ", Level::Info),
        ("DEBUG - ", Level::Debug),
        ("TRACE - ", Level::Verbose),
    ];
    LEVELS.iter().find_map(|(prefix, level)| {
        text.strip_prefix(prefix).map(|message| IdfLog {
            level: *level,
            time: DeviceTime::Unstamped,
            tag: "",
            message,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arduino_and_esp_println_lines() {
        let l = parse("[  1234][E][WiFiGeneric.cpp:1583] onEvent(): Reason: 201 - NO_AP_FOUND")
            .unwrap();
        assert_eq!(
            (l.level, l.ms(), l.tag, l.message),
            (
                Level::Error,
                Some(1234),
                "WiFiGeneric.cpp:1583",
                "onEvent(): Reason: 201 - NO_AP_FOUND"
            )
        );
        let l =
            parse("[W][AsyncWebSocket.cpp:412] _queueMessage(): Too many messages queued").unwrap();
        assert_eq!((l.level, l.ms()), (Level::Warn, None));
        let l = parse("WARN - heap low: 21000 bytes").unwrap();
        assert_eq!(
            (l.level, l.tag, l.message),
            (Level::Warn, "", "heap low: 21000 bytes")
        );
        for not_a_log in [
            "[12:00:01.250] host stamp",
            "[   12][X][a.cpp:1] f(): x",
            "[E] no place",
            "ERROR: not esp-println's form",
            "Entry 0x403cc710",
            "WARNING - x",
        ] {
            assert_eq!(parse(not_a_log), None, "{not_a_log}");
        }
    }
}
