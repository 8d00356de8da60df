//! The board's SPI NOR flash, in memory: 4 MB, erased to `0xFF` in 4 KiB sectors,
//! programmed by clearing bits (a write can turn 1s into 0s, only an erase brings them
//! back), as the real part behaves. Optionally backed by a file so its content outlives
//! one `wsbench sim`.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::sim::error::SimError;

/// 4 MB, the flash of the ESP32-C3/C6 modules the bundled firmware targets.
pub const FLASH_SIZE: usize = 4 * 1024 * 1024;
/// The erase unit.
pub const SECTOR_SIZE: usize = 4096;
/// JEDEC id the SPI RDID command returns: manufacturer 0x20 (XMC), device 0x4016, whose
/// low byte 0x16 says 4 MB (2^22 bytes) to esptool and espflash.
pub const JEDEC_ID: u32 = 0x0016_4020;

/// An address range that does not fit in the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub offset: u32,
    pub len: usize,
}

pub struct Flash {
    bytes: Vec<u8>,
    file: Option<PathBuf>,
    dirty: bool,
}

impl Flash {
    /// An erased flash, kept in memory only.
    pub fn erased() -> Flash {
        Flash {
            bytes: vec![0xFF; FLASH_SIZE],
            file: None,
            dirty: false,
        }
    }

    /// The flash backed by `path`: its content when the file exists (it must be exactly
    /// the flash's size, as a previous run wrote it), else erased and created on the
    /// first save.
    pub fn backed_by(path: &Path) -> Result<Flash, SimError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) if bytes.len() == FLASH_SIZE => bytes,
            Ok(bytes) => {
                return Err(SimError::FlashFile {
                    path: path.to_owned(),
                    problem: format!(
                        "it holds {} bytes, not the {FLASH_SIZE} of the simulated flash",
                        bytes.len()
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![0xFF; FLASH_SIZE],
            Err(e) => {
                return Err(SimError::FlashFile {
                    path: path.to_owned(),
                    problem: format!("cannot read it: {e}"),
                });
            }
        };
        let flash = Flash {
            bytes,
            file: Some(path.to_owned()),
            dirty: true,
        };
        // Fail now, not at the first write, when the file cannot be written.
        let mut flash = flash;
        flash.save()?;
        Ok(flash)
    }

    /// Writes the content to its file, if it has one and something changed.
    pub fn save(&mut self) -> Result<(), SimError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        // Write beside it and rename, so a crash never leaves half a flash.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &self.bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| SimError::FlashFile {
                path: path.clone(),
                problem: format!("cannot write it: {e}"),
            })?;
        self.dirty = false;
        Ok(())
    }

    fn range(&self, offset: u32, len: usize) -> Result<std::ops::Range<usize>, OutOfRange> {
        let start = offset as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.bytes.len() => Ok(start..end),
            _ => Err(OutOfRange { offset, len }),
        }
    }

    /// Erases every sector that `offset..offset+len` touches.
    pub fn erase(&mut self, offset: u32, len: usize) -> Result<(), OutOfRange> {
        let range = self.range(offset, len)?;
        if range.is_empty() {
            return Ok(());
        }
        let first = range.start / SECTOR_SIZE * SECTOR_SIZE;
        let end = range.end.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        self.bytes[first..end].fill(0xFF);
        self.dirty = true;
        Ok(())
    }

    /// Programs `data` at `offset`: bits can only go from 1 to 0, as on NOR flash.
    pub fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), OutOfRange> {
        let range = self.range(offset, data.len())?;
        for (cell, byte) in self.bytes[range].iter_mut().zip(data) {
            *cell &= byte;
        }
        self.dirty = true;
        Ok(())
    }

    pub fn read(&self, offset: u32, len: usize) -> Result<&[u8], OutOfRange> {
        let range = self.range(offset, len)?;
        Ok(&self.bytes[range])
    }

    pub fn md5(&self, offset: u32, len: usize) -> Result<[u8; 16], OutOfRange> {
        Ok(Md5::digest(self.read(offset, len)?).into())
    }

    pub fn erase_all(&mut self) {
        self.bytes.fill(0xFF);
        self.dirty = true;
    }

    /// True when nothing was ever written (every byte erased).
    pub fn is_erased(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0xFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erase_covers_whole_sectors_and_program_only_clears_bits() {
        let mut flash = Flash::erased();
        flash.program(0x1000, &[0x0F, 0xF0]).unwrap();
        flash.program(0x1000, &[0xFC, 0xFF]).unwrap();
        assert_eq!(flash.read(0x1000, 2).unwrap(), [0x0C, 0xF0]);
        flash.program(0x1FFF, &[0]).unwrap();
        flash.program(0x2000, &[0]).unwrap();
        // One byte inside the sector at 0x1000 erases that sector whole, not the next.
        flash.erase(0x1800, 1).unwrap();
        assert_eq!(flash.read(0x1000, 2).unwrap(), [0xFF, 0xFF]);
        assert_eq!(flash.read(0x1FFF, 1).unwrap(), [0xFF]);
        assert_eq!(flash.read(0x2000, 1).unwrap(), [0x00]);
    }

    #[test]
    fn ranges_past_the_end_are_refused() {
        let mut flash = Flash::erased();
        assert!(flash.program(FLASH_SIZE as u32 - 1, &[0, 0]).is_err());
        assert!(flash.erase(u32::MAX, 2).is_err());
        assert!(flash.read(0, FLASH_SIZE + 1).is_err());
        assert!(flash.read(0, FLASH_SIZE).is_ok());
    }

    #[test]
    fn a_file_keeps_the_content_and_a_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut flash = Flash::backed_by(&path).unwrap();
        flash.program(0xE000, b"WSBC").unwrap();
        flash.save().unwrap();
        let again = Flash::backed_by(&path).unwrap();
        assert_eq!(again.read(0xE000, 4).unwrap(), b"WSBC");
        std::fs::write(&path, b"short").unwrap();
        let err = Flash::backed_by(&path).err().unwrap().to_string();
        assert!(err.contains("5 bytes"), "{err}");
    }
}
