//! The `panic-at` fault: what the bundled firmware prints when it panics, as
//! esp-backtrace 0.20 prints it (panic-handler, println and its default colours), on a
//! RISC-V build with frame pointers: the banner, `panicked at file:line:col:`, the
//! message, `Backtrace:` and one return address a line.
//!
//! The addresses fall inside real functions of the bundled image's symbol table
//! (`firmware/dist/<chip>/app.symbols`), so a console decoder names them as it would a
//! board's; the message says the panic is simulated. No code of the image runs.

use crate::bundled_firmware::SYMBOLS;

use super::chip::ChipKind;

/// The frames of the simulated panic, innermost first: a session's message handler,
/// the session task, the admission path (functions the bundled firmware has on both
/// chips). Matched against the mangled names of the symbol table.
const FRAMES: [&str; 3] = [
    "10on_message28_$u7b$$u7b$closure",
    "Device$LT$P$GT$5serve28_$u7b$$u7b$closure",
    "Device$LT$P$GT$5admit17h",
];

/// Where the simulated panic says it happened: the device crate's message handling.
const LOCATION: &str = "wsbench-device/src/ws_session.rs:1:1";

/// The console lines of one panic (without line endings).
pub fn panic_lines(chip: ChipKind, fault: &str) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        "\x1b[31m".to_owned(),
        "====================== PANIC ======================".to_owned(),
        format!("panicked at {LOCATION}:"),
        format!(
            "simulated panic injected by `wsbench sim --fault {fault}` (the simulated board; no code of the image ran)"
        ),
        "\x1b[0m".to_owned(),
        String::new(),
        "Backtrace:".to_owned(),
        String::new(),
    ];
    lines.extend(
        backtrace(chip)
            .into_iter()
            .map(|addr| format!("{addr:#010x}")),
    );
    lines.push(String::new());
    lines
}

/// A return address inside each of [`FRAMES`] (the middle of the function, kept even:
/// RISC-V instructions are 2-byte aligned with the C extension).
fn backtrace(chip: ChipKind) -> Vec<u32> {
    let Some((_, table)) = SYMBOLS.iter().find(|(c, _)| *c == chip.name()) else {
        return Vec::new();
    };
    FRAMES
        .iter()
        .filter_map(|wanted| {
            table.lines().find_map(|line| {
                let mut parts = line.split_whitespace();
                let start = u32::from_str_radix(parts.next()?, 16).ok()?;
                let size = u32::from_str_radix(parts.next()?, 16).ok()?;
                let name = parts.next()?;
                (name.contains(wanted) && size >= 4).then_some(start + ((size / 2) & !1))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_is_found_on_both_chips() {
        for chip in [ChipKind::Esp32c3, ChipKind::Esp32c6] {
            let frames = backtrace(chip);
            assert_eq!(frames.len(), FRAMES.len(), "{chip}");
            assert!(
                frames
                    .iter()
                    .all(|a| (0x4200_0000..0x4300_0000).contains(a))
            );
        }
    }
}
