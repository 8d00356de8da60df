//! What the chip's ROM prints before any firmware runs: the banner naming the chip, the
//! reset reason and boot mode (`rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)`),
//! download mode, the loader's segment lines.
//!
//! Reset codes mean different things on the ESP32 and on the later chips (ESP32-S2/S3,
//! C2/C3/C6, H2 share one numbering); the ROM prints its own name for the code, which
//! is kept as printed, and the code is mapped to a cause per chip family.

/// One ROM line, when the text is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RomLine {
    /// `ESP-ROM:esp32c3-api1-20210207` or the ESP32's `ets Jun  8 2016 00:22:57`.
    Banner { chip: Option<String> },
    /// `rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)`.
    Reset {
        code: u32,
        name: String,
        boot_code: Option<u32>,
        boot_name: Option<String>,
    },
    /// `waiting for download`: the chip sits in the serial loader.
    WaitingForDownload,
    /// Any other line the ROM or its loader prints at boot.
    Other,
}

impl RomLine {
    pub fn parse(text: &str) -> Option<RomLine> {
        if let Some(rest) = text.strip_prefix("ESP-ROM:") {
            let chip = rest
                .split(['-', ' '])
                .next()
                .filter(|c| c.starts_with("esp32"));
            return Some(RomLine::Banner {
                chip: chip.map(str::to_owned),
            });
        }
        if text.starts_with("ets ") && text.len() >= 15 && text.as_bytes()[4].is_ascii_uppercase() {
            return Some(RomLine::Banner {
                chip: Some("esp32".into()),
            });
        }
        if let Some(rest) = text.strip_prefix("rst:") {
            return parse_reset(rest).or(Some(RomLine::Other));
        }
        if text.starts_with("waiting for download") {
            return Some(RomLine::WaitingForDownload);
        }
        const LOADER: [&str; 14] = [
            "ho ",
            "Build:",
            "configsip:",
            "clk_drv:",
            "mode:",
            "SPI mode:",
            "load:0x",
            "entry 0x",
            "SPIWP:",
            "Saved PC:",
            "invalid header:",
            "ets_main.c",
            "ESP-IDF ROM",
            "boot:0x",
        ];
        LOADER
            .iter()
            .any(|p| text.starts_with(p))
            .then_some(RomLine::Other)
    }
}

/// `0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)`
fn parse_reset(rest: &str) -> Option<RomLine> {
    let (reset, boot) = match rest.split_once(",boot:") {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (code, name) = hex_and_name(reset)?;
    let (boot_code, boot_name) = match boot.and_then(hex_and_name) {
        Some((c, n)) => (Some(c), Some(n)),
        None => (None, None),
    };
    Some(RomLine::Reset {
        code,
        name,
        boot_code,
        boot_name,
    })
}

/// `0xc (SPI_FAST_FLASH_BOOT)` → (12, "SPI_FAST_FLASH_BOOT"); the name may hold
/// parentheses itself (`DOWNLOAD(USB/UART0/1)`).
fn hex_and_name(s: &str) -> Option<(u32, String)> {
    let s = s.trim();
    let hex = s.strip_prefix("0x")?;
    let end = hex
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(hex.len());
    let code = u32::from_str_radix(&hex[..end], 16).ok()?;
    let name = hex[end..].trim();
    let name = name
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(name);
    Some((code, name.to_owned()))
}

/// What caused a reset, the same words on every chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    PowerOn,
    /// Software reset: `esp_restart()`, or after a panic.
    Software,
    /// A watchdog (RTC, MWDT, super watchdog).
    Watchdog,
    DeepSleep,
    Brownout,
    /// The USB console (USB-Serial-JTAG) reset the chip, e.g. a flasher.
    Usb,
    /// JTAG or the external reset pin.
    External,
    /// eFuse or power-glitch protection.
    Protection,
    Unknown,
}

impl ResetCause {
    /// The schema's name for the cause.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetCause::PowerOn => "power_on",
            ResetCause::Software => "software",
            ResetCause::Watchdog => "watchdog",
            ResetCause::DeepSleep => "deep_sleep",
            ResetCause::Brownout => "brownout",
            ResetCause::Usb => "usb",
            ResetCause::External => "external",
            ResetCause::Protection => "protection",
            ResetCause::Unknown => "unknown",
        }
    }

    /// The cause of reset `code` on `chip` (`None`: no banner named the chip; the later
    /// chips' numbering is assumed unless the name says ESP32).
    pub fn of(code: u32, chip: Option<&str>) -> ResetCause {
        use ResetCause::*;
        if chip == Some("esp32") {
            return match code {
                0x1 => PowerOn,
                0x3 | 0xc => Software,
                0x4 | 0x7 | 0x8 | 0x9 | 0xb | 0xd | 0x10 => Watchdog,
                0x5 => DeepSleep,
                0xe => External,
                0xf => Brownout,
                _ => Unknown,
            };
        }
        match code {
            0x1 => PowerOn,
            0x3 | 0xc => Software,
            0x7 | 0x8 | 0x9 | 0xb | 0xd | 0x10 | 0x11 | 0x12 => Watchdog,
            0x5 => DeepSleep,
            0xe | 0x18 => External,
            0xf => Brownout,
            0x13 | 0x14 | 0x17 => Protection,
            0x15 | 0x16 => Usb,
            _ => Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_and_reset_lines() {
        assert_eq!(
            RomLine::parse("ESP-ROM:esp32c3-api1-20210207"),
            Some(RomLine::Banner {
                chip: Some("esp32c3".into())
            })
        );
        assert_eq!(
            RomLine::parse("ets Jun  8 2016 00:22:57"),
            Some(RomLine::Banner {
                chip: Some("esp32".into())
            })
        );
        assert_eq!(
            RomLine::parse("rst:0x15 (USB_UART_CHIP_RESET),boot:0x4 (DOWNLOAD(USB/UART0/1))"),
            Some(RomLine::Reset {
                code: 0x15,
                name: "USB_UART_CHIP_RESET".into(),
                boot_code: Some(4),
                boot_name: Some("DOWNLOAD(USB/UART0/1)".into()),
            })
        );
        assert_eq!(ResetCause::of(0xf, Some("esp32")), ResetCause::Brownout);
        assert_eq!(ResetCause::of(0xc, Some("esp32c3")), ResetCause::Software);
        assert_eq!(RomLine::parse("I (31) boot: x"), None);
    }
}
