//! The chip: its identity, its registers as the serial protocol can see them, and its
//! flash. It holds state only; the ROM loader decides what a command does to it.

mod flash;
mod identity;

use std::collections::HashMap;

pub use flash::{FLASH_SIZE, Flash, JEDEC_ID};
pub use identity::{CHIP_MAGIC_REG, ChipKind, ResetReason, WDT_WKEY};

/// SPI1 register offsets used to run a flash command by hand (esptool's
/// `run_spiflash_command`, espflash's `spi_command`).
const SPI_CMD: u32 = 0x00;
const SPI_USR2: u32 = 0x20;
const SPI_W0: u32 = 0x58;
/// SPI_CMD's "run the user command" bit: set by the host, reads back 0 once done.
const SPI_CMD_USR: u32 = 1 << 18;
/// Flash commands the emulator answers in W0.
const SPIFLASH_RDID: u32 = 0x9F;
/// UART0's clock divider: 40 MHz APB / 115200 baud, what a host may read to guess the
/// crystal.
const UART_CLKDIV_REG: u32 = 0x6000_0014;
const UART_CLKDIV_115200: u32 = 347;

/// What a register write set in motion.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterEffect {
    None,
    /// The RTC watchdog was armed with its write protection unlocked: the chip resets.
    WatchdogReset,
}

pub struct Chip {
    pub kind: ChipKind,
    pub flash: Flash,
    registers: HashMap<u32, u32>,
}

impl Chip {
    pub fn new(kind: ChipKind, flash: Flash) -> Chip {
        Chip {
            kind,
            flash,
            registers: reset_values(kind),
        }
    }

    /// Registers the host wrote read back; the SPI command register reads "done".
    /// Anything else reads 0.
    pub fn read_reg(&self, addr: u32) -> u32 {
        if addr == self.kind.spi1_base() + SPI_CMD {
            return 0;
        }
        self.registers.get(&addr).copied().unwrap_or(0)
    }

    /// `value` under `mask` into the register at `addr`, and what that starts: a flash
    /// command (its answer lands in W0) or a watchdog reset.
    pub fn write_reg(&mut self, addr: u32, value: u32, mask: u32) -> RegisterEffect {
        let old = self.read_reg(addr);
        let new = (old & !mask) | (value & mask);
        self.registers.insert(addr, new);
        let spi = self.kind.spi1_base();
        if addr == spi + SPI_CMD && new & SPI_CMD_USR != 0 {
            let command = self.read_reg(spi + SPI_USR2) & 0xFF;
            let answer = if command == SPIFLASH_RDID {
                JEDEC_ID
            } else {
                0
            };
            self.registers.insert(spi + SPI_W0, answer);
            self.registers.insert(addr, 0);
        }
        let (wprotect, config0) = self.kind.rtc_wdt();
        let unlocked = self.read_reg(wprotect) == WDT_WKEY;
        if addr == config0 && unlocked && new & (1 << 31) != 0 {
            return RegisterEffect::WatchdogReset;
        }
        RegisterEffect::None
    }

    /// After a reset, registers hold their reset values again (the flash keeps its
    /// content).
    pub fn reset_registers(&mut self) {
        self.registers = reset_values(self.kind);
    }
}

/// The registers a host may read that do not read 0 after a reset.
fn reset_values(kind: ChipKind) -> HashMap<u32, u32> {
    let mut registers: HashMap<u32, u32> = kind.efuse_words().into_iter().collect();
    registers.insert(CHIP_MAGIC_REG, kind.magic());
    registers.insert(UART_CLKDIV_REG, UART_CLKDIV_115200);
    registers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flash_id_sequence_answers_the_jedec_id() {
        for kind in [ChipKind::Esp32c3, ChipKind::Esp32c6] {
            let mut chip = Chip::new(kind, Flash::erased());
            let base = kind.spi1_base();
            chip.write_reg(base + 0x18, 1 << 31 | 1 << 28, u32::MAX);
            chip.write_reg(base + SPI_USR2, 7 << 28 | SPIFLASH_RDID, u32::MAX);
            chip.write_reg(base + SPI_W0, 0, u32::MAX);
            chip.write_reg(base + SPI_CMD, SPI_CMD_USR, u32::MAX);
            assert_eq!(chip.read_reg(base + SPI_CMD) & SPI_CMD_USR, 0);
            assert_eq!(chip.read_reg(base + 0x18) & SPI_CMD_USR, 0);
            assert_eq!(chip.read_reg(base + SPI_W0), JEDEC_ID);
        }
    }

    #[test]
    fn magic_mac_and_masked_writes() {
        let mut chip = Chip::new(ChipKind::Esp32c3, Flash::erased());
        assert_eq!(chip.read_reg(CHIP_MAGIC_REG), 0x1B31_506F);
        assert_eq!(chip.read_reg(0x6000_8844), 0x5342_0001);
        assert_eq!(chip.read_reg(0x6000_8848), 0x0257);
        chip.write_reg(0x6000_0100, 0xFFFF_FFFF, 0x0000_00F0);
        assert_eq!(chip.read_reg(0x6000_0100), 0xF0);
    }

    #[test]
    fn arming_the_watchdog_resets_only_when_unlocked() {
        let mut chip = Chip::new(ChipKind::Esp32c3, Flash::erased());
        let (wprotect, config0) = ChipKind::Esp32c3.rtc_wdt();
        let arm = (1 << 31) | (5 << 28) | (1 << 8) | 2;
        assert_eq!(chip.write_reg(config0, arm, u32::MAX), RegisterEffect::None);
        chip.write_reg(wprotect, WDT_WKEY, u32::MAX);
        // Disabling it (esptool's disable_watchdogs) is no reset.
        assert_eq!(chip.write_reg(config0, 0, u32::MAX), RegisterEffect::None);
        assert_eq!(
            chip.write_reg(config0, arm, u32::MAX),
            RegisterEffect::WatchdogReset
        );
    }
}
