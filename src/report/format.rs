//! Number formatting shared by the renderers, so a latency or a byte count reads the
//! same in the markdown, the HTML and the diff.

use super::model::Metric;

/// A duration given in microseconds, in the unit that keeps it readable
/// (`850 µs`, `12.3 ms`, `4.20 s`).
pub fn duration_us(us: f64) -> String {
    if !us.is_finite() {
        return "–".to_string();
    }
    let abs = us.abs();
    if abs < 1_000.0 {
        format!("{} µs", trim(us, if abs < 10.0 { 1 } else { 0 }))
    } else if abs < 1_000_000.0 {
        let ms = us / 1_000.0;
        format!("{} ms", trim(ms, decimals_for(ms)))
    } else {
        let s = us / 1_000_000.0;
        format!("{} s", trim(s, decimals_for(s)))
    }
}

/// A byte count in binary units (`512 B`, `38.5 KiB`, `1.20 MiB`).
pub fn bytes(b: f64) -> String {
    if !b.is_finite() {
        return "–".to_string();
    }
    let abs = b.abs();
    if abs < 1024.0 {
        format!("{} B", trim(b, 0))
    } else if abs < 1024.0 * 1024.0 {
        let k = b / 1024.0;
        format!("{} KiB", trim(k, decimals_for(k)))
    } else {
        let m = b / (1024.0 * 1024.0);
        format!("{} MiB", trim(m, decimals_for(m)))
    }
}

/// An integer with thin grouping (`12 000`), as counts are easier to compare that way.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A plain number with at most `decimals` places and no trailing zeros.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let sign = if v < 0.0 { "-" } else { "" };
        return format!("{sign}{}", count(v.abs() as u64));
    }
    trim(v, decimals)
}

/// A metric's value in its own unit, converted to a readable one where the unit is a
/// time, a size or a ratio.
pub fn metric(m: &Metric) -> String {
    value_in_unit(m.value, &m.unit)
}

/// `value` (expressed in `unit`) formatted for a reader; unknown units are appended as given.
pub fn value_in_unit(value: f64, unit: &str) -> String {
    match unit {
        "us" | "µs" => duration_us(value),
        "ms" => duration_us(value * 1_000.0),
        "s" => duration_us(value * 1_000_000.0),
        "bytes" | "B" => bytes(value),
        "ratio" => percent(value * 100.0),
        "%" | "percent" => percent(value),
        "msg/s" | "/s" => format!("{} {unit}", rate(value)),
        "count" | "" => number(value, 2),
        "flag" => (if value != 0.0 { "yes" } else { "no" }).to_string(),
        other => format!("{} {other}", number(value, 2)),
    }
}

/// A percentage for a reader: three significant digits (`90.8 %`, `1.25 %`,
/// `0.0123 %`), never rounded to `0 %` or `100 %` when it is not exactly that.
pub fn percent(pct: f64) -> String {
    if !pct.is_finite() {
        return "–".to_string();
    }
    if pct == 0.0 || pct == 100.0 {
        return format!("{} %", trim(pct, 0));
    }
    let mut decimals = significant_decimals(pct, 3);
    // 99.96 must not read as 100, 0.0004 must not read as 0.
    while decimals < 6 {
        let shown: f64 = trim(pct, decimals).parse().unwrap_or(pct);
        if shown != 100.0 && shown != 0.0 {
            break;
        }
        decimals += 1;
    }
    format!("{} %", trim(pct, decimals))
}

/// A rate (messages per second) with at most three significant decimals and grouped
/// thousands: `1 394`, `45.7`, `0.983`.
pub fn rate(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.abs() >= 100.0 {
        return number(v.round(), 0);
    }
    trim(v, significant_decimals(v, 3))
}

/// Decimals that leave `digits` significant digits of `v` (none past the point for
/// numbers that already have that many).
fn significant_decimals(v: f64, digits: i32) -> usize {
    let abs = v.abs();
    if abs == 0.0 {
        return 0;
    }
    let magnitude = abs.log10().floor() as i32 + 1;
    (digits - magnitude).clamp(0, 8) as usize
}

/// A signed relative change (`+12.5 %`), or `new` when the old value was zero.
pub fn percent_change(old: f64, new: f64) -> String {
    if old == new {
        return "0 %".to_string();
    }
    if old == 0.0 {
        return "new".to_string();
    }
    let pct = (new - old) / old.abs() * 100.0;
    format!("{}{} %", if pct > 0.0 { "+" } else { "" }, trim(pct, 1))
}

/// Milliseconds as seconds for run and step durations (`12.5 s`).
pub fn duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "0 s".to_string();
    }
    duration_us(ms as f64 * 1_000.0)
}

/// Text without terminal colour sequences (`ESC [ ... m`, as ESP-IDF consoles print)
/// and with other control characters except tab and line breaks shown as `\u{FFFD}`.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // A CSI sequence ends with a byte in '@'..='~'; a cut-off one ends the text.
            for end in chars.by_ref() {
                if ('@'..='~').contains(&end) {
                    break;
                }
            }
        } else if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

/// Text made safe for HTML, SVG and XML: markup characters escaped, and control
/// characters (ANSI colour codes from a serial console) replaced, since XML 1.0 forbids
/// them and a CI system would reject the whole file.
pub fn escape_markup(text: &str) -> String {
    let text = printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn decimals_for(v: f64) -> usize {
    let abs = v.abs();
    if abs < 10.0 {
        2
    } else if abs < 100.0 {
        1
    } else {
        0
    }
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_rates_read_as_people_write_them() {
        assert_eq!(value_in_unit(0.9076638965835642, "ratio"), "90.8 %");
        assert_eq!(value_in_unit(0.0125, "ratio"), "1.25 %");
        assert_eq!(value_in_unit(0.000123, "ratio"), "0.0123 %");
        assert_eq!(value_in_unit(0.99996, "ratio"), "99.996 %");
        assert_eq!(value_in_unit(0.0, "ratio"), "0 %");
        assert_eq!(value_in_unit(1.0, "ratio"), "100 %");
        assert_eq!(value_in_unit(1394.0497703947751, "msg/s"), "1 394 msg/s");
        assert_eq!(value_in_unit(45.678, "msg/s"), "45.7 msg/s");
        assert_eq!(value_in_unit(0.98345, "msg/s"), "0.983 msg/s");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration_us(850.0), "850 µs");
        assert_eq!(duration_us(2.5), "2.5 µs");
        assert_eq!(duration_us(12_345.0), "12.3 ms");
        assert_eq!(duration_us(4_200_000.0), "4.2 s");
        assert_eq!(duration_us(1_000.0), "1 ms");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(39_424.0), "38.5 KiB");
        assert_eq!(bytes(1_258_291.0), "1.2 MiB");
    }

    #[test]
    fn counts_are_grouped() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(12_000), "12 000");
        assert_eq!(count(1_234_567), "1 234 567");
    }

    #[test]
    fn units_are_converted() {
        assert_eq!(value_in_unit(0.0125, "ratio"), "1.25 %");
        assert_eq!(value_in_unit(3.0, "ms"), "3 ms");
        assert_eq!(value_in_unit(7.0, "count"), "7");
        assert_eq!(value_in_unit(1.0, "flag"), "yes");
        assert_eq!(value_in_unit(0.0, "flag"), "no");
        assert_eq!(value_in_unit(1234.5, "msg/s"), "1 235 msg/s");
    }

    #[test]
    fn markup_is_escaped_and_control_characters_replaced() {
        assert_eq!(
            escape_markup("\u{1b}[0;33m<b a=\"x\">&'\u{7}\u{1b}[0m"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;\u{FFFD}"
        );
    }

    #[test]
    fn percent_change_is_signed() {
        assert_eq!(percent_change(100.0, 112.5), "+12.5 %");
        assert_eq!(percent_change(100.0, 80.0), "-20 %");
        assert_eq!(percent_change(0.0, 3.0), "new");
        assert_eq!(percent_change(5.0, 5.0), "0 %");
    }
}
