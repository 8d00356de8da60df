//! What tells one chip from another over the serial protocol: the chip id and magic
//! word, eFuse words (MAC, revision), the SPI1 controller's base, the RTC watchdog
//! registers, and the ROM's banner and reset-reason names. All chip differences live
//! here, one table per chip.

/// A chip the simulated board can answer as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipKind {
    Esp32c3,
    Esp32c6,
}

/// Why the chip (re)started, as the ROM prints it on `rst:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// Power-on or the EN pin.
    PowerOn,
    /// A software system reset (FLASH_END asking for a reboot).
    SoftwareSystem,
    /// The RTC watchdog (the register writes esptool/espflash use to reset a C3).
    RtcWatchdog,
}

/// The simulated board's base MAC (a locally administered address, so it can never be
/// mistaken for a real board's).
pub const MAC: [u8; 6] = [0x02, 0x57, 0x53, 0x42, 0x00, 0x01];

/// Where the ROM and bootloaders look for the chip magic word.
pub const CHIP_MAGIC_REG: u32 = 0x4000_1000;
/// esptool's and espflash's key to unlock the RTC watchdog's registers.
pub const WDT_WKEY: u32 = 0x50D8_3AA1;

impl ChipKind {
    /// The name used on the command line and by espflash (`esp32c3`).
    pub fn name(self) -> &'static str {
        match self {
            ChipKind::Esp32c3 => "esp32c3",
            ChipKind::Esp32c6 => "esp32c6",
        }
    }

    /// Parses a `--chip` value.
    pub fn from_name(name: &str) -> Option<ChipKind> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "esp32c3" => Some(ChipKind::Esp32c3),
            "esp32c6" => Some(ChipKind::Esp32c6),
            _ => None,
        }
    }

    /// The chip id of GET_SECURITY_INFO and of image headers.
    pub fn chip_id(self) -> u32 {
        match self {
            ChipKind::Esp32c3 => 5,
            ChipKind::Esp32c6 => 13,
        }
    }

    /// The word at [`CHIP_MAGIC_REG`] (C3 ECO3 for the C3).
    pub fn magic(self) -> u32 {
        match self {
            ChipKind::Esp32c3 => 0x1B31_506F,
            ChipKind::Esp32c6 => 0x2CE0_806F,
        }
    }

    /// Base of the SPI1 (flash) controller's registers.
    pub fn spi1_base(self) -> u32 {
        match self {
            ChipKind::Esp32c3 => 0x6000_2000,
            ChipKind::Esp32c6 => 0x6000_3000,
        }
    }

    pub fn efuse_base(self) -> u32 {
        match self {
            ChipKind::Esp32c3 => 0x6000_8800,
            ChipKind::Esp32c6 => 0x600B_0800,
        }
    }

    /// (write-protect register, config0 register) of the RTC watchdog.
    pub fn rtc_wdt(self) -> (u32, u32) {
        match self {
            ChipKind::Esp32c3 => (0x6000_80A8, 0x6000_8090),
            ChipKind::Esp32c6 => (0x600B_1C18, 0x600B_1C00),
        }
    }

    /// eFuse words worth answering: the MAC in BLOCK1 words 0-1 and the revision bits
    /// (C3 v0.4, C6 v0.1: what current modules carry). Everything else reads 0: no
    /// secure boot, no flash encryption, no key purposes.
    pub fn efuse_words(self) -> [(u32, u32); 3] {
        let base = self.efuse_base();
        let mac0 = u32::from_be_bytes([MAC[2], MAC[3], MAC[4], MAC[5]]);
        let mac1 = u32::from(u16::from_be_bytes([MAC[0], MAC[1]]));
        let revision = match self {
            // BLOCK1 word 3 bits 18..20: minor revision low bits = 4.
            ChipKind::Esp32c3 => 4 << 18,
            // BLOCK1 word 3 bits 18..21: minor = 1, bits 22..23: major = 0.
            ChipKind::Esp32c6 => 1 << 18,
        };
        [
            (base + 0x44, mac0),
            (base + 0x48, mac1),
            (base + 0x44 + 3 * 4, revision),
        ]
    }

    /// The first two lines every boot prints.
    pub fn rom_banner(self) -> [&'static str; 2] {
        match self {
            ChipKind::Esp32c3 => ["ESP-ROM:esp32c3-api1-20210207", "Build:Feb  7 2021"],
            ChipKind::Esp32c6 => ["ESP-ROM:esp32c6-20220919", "Build:Sep 19 2022"],
        }
    }

    /// `0x..` and the ROM's name for a reset reason.
    pub fn reset_reason(self, reason: ResetReason) -> (u32, &'static str) {
        match (self, reason) {
            (_, ResetReason::PowerOn) => (0x1, "POWERON"),
            (ChipKind::Esp32c3, ResetReason::SoftwareSystem) => (0x3, "RTC_SW_SYS_RST"),
            (ChipKind::Esp32c6, ResetReason::SoftwareSystem) => (0x3, "SW_SYS"),
            (ChipKind::Esp32c3, ResetReason::RtcWatchdog) => (0x10, "RTCWDT_RTC_RST"),
            (ChipKind::Esp32c6, ResetReason::RtcWatchdog) => (0x10, "LP_WDT_SYS"),
        }
    }

    /// The strapping value and name printed after `boot:` for (download mode?).
    pub fn boot_mode(self, download: bool) -> (u32, &'static str) {
        match (self, download) {
            (ChipKind::Esp32c3, false) => (0xc, "SPI_FAST_FLASH_BOOT"),
            (ChipKind::Esp32c3, true) => (0x4, "DOWNLOAD(USB/UART0/1)"),
            (ChipKind::Esp32c6, false) => (0x6e, "SPI_FAST_FLASH_BOOT"),
            (ChipKind::Esp32c6, true) => (0x66, "DOWNLOAD(USB/UART0/SDIO_FEI_FEO)"),
        }
    }
}

impl std::fmt::Display for ChipKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
