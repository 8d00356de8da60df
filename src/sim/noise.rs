//! The `noise` fault: what a serial port shows before a boot log when the line is
//! noisy or the first bytes arrive at another baud rate (the ROM starts its output
//! before the host's UART has settled): garbage bytes that are mostly not UTF-8, then a
//! burst of the same ROM text as read at the wrong speed. A console reader must take
//! neither for a boot or a panic.

/// The noise printed before one boot log, as lines (each is sent with CRLF). Fixed
/// bytes, so a run is repeatable.
pub fn burst() -> Vec<Vec<u8>> {
    let mut garbage = Vec::with_capacity(64);
    let mut state: u32 = 0x5753_4201;
    for _ in 0..48 {
        // A small linear congruential generator: enough to scatter bytes.
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let byte = (state >> 16) as u8;
        if byte != b'\n' && byte != b'\r' {
            garbage.push(byte | 0x80);
        }
    }
    // "ESP-ROM:" read at a baud rate about 1.5 times too fast: bits shift into
    // neighbouring bytes, framing errors turn some into 0x00 and 0xFF.
    let wrong_baud =
        b"\x00\xe0\xf8\x1c\x87\xfe\x00\x80\xff\x9e\x18\x06\x00\xe6\xfe\x80\x98\xf8\x00".to_vec();
    vec![garbage, wrong_baud]
}

#[cfg(test)]
mod tests {
    #[test]
    fn noise_has_no_line_breaks_and_is_not_text() {
        for line in super::burst() {
            assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
            assert!(std::str::from_utf8(&line).is_err());
        }
    }
}
