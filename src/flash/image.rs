//! What gets written where: the bundled image for the detected chip (offsets from the
//! manifest), or the user's `--image` (an ELF formatted by espflash, an app .bin at the
//! app offset, or a merged .bin at 0), plus the settings sector.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use espflash::flasher::{FlashData, FlashSettings};
use espflash::image_format::Metadata;
use espflash::image_format::idf::IdfBootloaderFormat;
use espflash::target::Chip;
use strum::IntoEnumIterator as _;

use super::error::FlashError;
use crate::bundled_firmware;

/// ESP image header magic (first byte of a bootloader or app image).
const ESP_IMAGE_MAGIC: u8 = 0xE9;
/// Partition table entry magic, `AA 50`, as a merged image holds at 0x8000.
const PARTITION_MAGIC: [u8; 2] = [0xAA, 0x50];
/// Where a merged image keeps its partition table (ESP-IDF's default).
const MERGED_PARTITION_TABLE_AT: usize = 0x8000;
/// Where an app .bin goes: the app partition of ESP-IDF's default layout, which the
/// bundled partition table follows.
const DEFAULT_APP_OFFSET: u32 = bundled_firmware::APP_OFFSET;
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const EM_XTENSA: u16 = 94;
const EM_RISCV: u16 = 243;

/// One region to write.
#[derive(Debug, Clone)]
pub struct Region {
    /// `bootloader`, `partition-table`, `app`, `settings` or `image`.
    pub name: String,
    pub offset: u32,
    pub bytes: Cow<'static, [u8]>,
}

impl Region {
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.bytes.len() as u64
    }
}

/// An `--image` file, read and recognised before any port is opened, so a wrong file is
/// refused without touching the board.
#[derive(Debug)]
pub struct ImageFile {
    pub path: PathBuf,
    bytes: Vec<u8>,
    kind: ImageKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageKind {
    Elf {
        machine: u16,
    },
    /// An app image (`E9` header) written at the app offset.
    AppBin {
        chip_id: u16,
    },
    /// Bootloader at 0 with a partition table at 0x8000: written at 0 as it is.
    MergedBin {
        chip_id: u16,
    },
}

impl ImageFile {
    pub fn read(path: &Path) -> Result<ImageFile, FlashError> {
        let bytes = std::fs::read(path).map_err(|e| FlashError::ReadImage {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let not_esp = |reason: String| FlashError::NotEspImage {
            path: path.to_path_buf(),
            reason,
        };
        let kind = if bytes.starts_with(ELF_MAGIC) {
            let machine = bytes
                .get(18..20)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or_else(|| not_esp("a truncated ELF header".into()))?;
            if machine != EM_XTENSA && machine != EM_RISCV {
                return Err(not_esp(format!(
                    "an ELF for machine {machine} (ESP chips are Xtensa, 94, or RISC-V, 243)"
                )));
            }
            // espflash's own test: the ESP-IDF bootloader needs the app descriptor.
            if espflash::image_format::idf::check_idf_bootloader(&bytes).is_err() {
                return Err(not_esp(format!(
                    "{} ELF without an ESP-IDF app descriptor (no `esp_app_desc` symbol, no \
                     `.flash.appdesc` or `.rodata_desc` section), which the bootloader needs; \
                     an esp-hal app adds it with `esp_bootloader_esp_idf::esp_app_desc!()`",
                    arch_of(machine)
                )));
            }
            ImageKind::Elf { machine }
        } else if bytes.first() == Some(&ESP_IMAGE_MAGIC) && bytes.len() >= 24 {
            let chip_id = u16::from_le_bytes([bytes[12], bytes[13]]);
            let merged = bytes
                .get(MERGED_PARTITION_TABLE_AT..MERGED_PARTITION_TABLE_AT + 2)
                .is_some_and(|m| m == PARTITION_MAGIC);
            if merged {
                ImageKind::MergedBin { chip_id }
            } else {
                ImageKind::AppBin { chip_id }
            }
        } else {
            return Err(not_esp(
                "neither an ELF nor an ESP image (.bin files start with the byte 0xE9)".into(),
            ));
        };
        Ok(ImageFile {
            path: path.to_path_buf(),
            bytes,
            kind,
        })
    }

    /// The regions to write on `chip`, refusing an image built for another chip.
    pub fn regions(&self, chip: Chip) -> Result<Vec<Region>, FlashError> {
        let other_chip = |image_chip: String| FlashError::ImageForOtherChip {
            path: self.path.clone(),
            image_chip,
            detected: chip.to_string(),
        };
        let check_id = |chip_id: u16| {
            if chip_id == chip.id() {
                Ok(())
            } else {
                Err(other_chip(
                    Chip::iter()
                        .find(|c| c.id() == chip_id)
                        .map_or_else(|| format!("chip id {chip_id}"), |c| c.to_string()),
                ))
            }
        };
        match self.kind {
            ImageKind::AppBin { chip_id } => {
                check_id(chip_id)?;
                Ok(vec![Region {
                    name: "app".into(),
                    offset: DEFAULT_APP_OFFSET,
                    bytes: Cow::Owned(self.bytes.clone()),
                }])
            }
            ImageKind::MergedBin { chip_id } => {
                check_id(chip_id)?;
                Ok(vec![Region {
                    name: "image".into(),
                    offset: 0,
                    bytes: Cow::Owned(self.bytes.clone()),
                }])
            }
            ImageKind::Elf { machine } => {
                if !arch_fits(machine, chip) {
                    return Err(other_chip(format!("{} chip", arch_of(machine))));
                }
                if let Some(name) = Metadata::from_bytes(Some(&self.bytes)).chip_name()
                    && name != chip.to_string()
                {
                    return Err(other_chip(name.to_owned()));
                }
                self.elf_regions(chip)
            }
        }
    }

    /// Refuses, before any port is opened, an ELF whose architecture `--chip` rules out.
    pub fn check_chip_flag(&self, asked: Chip) -> Result<(), FlashError> {
        match self.kind {
            ImageKind::Elf { machine } if !arch_fits(machine, asked) => {
                Err(FlashError::ImageNotForChipFlag {
                    path: self.path.clone(),
                    image_chip: format!("{} chip", arch_of(machine)),
                    asked: asked.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    fn elf_regions(&self, chip: Chip) -> Result<Vec<Region>, FlashError> {
        let flash_data = FlashData::new(
            FlashSettings::default(),
            0,
            None,
            chip,
            chip.default_xtal_frequency(),
        );
        let format = IdfBootloaderFormat::new(&self.bytes, &flash_data, None, None, None, None)
            .map_err(|e| FlashError::NotEspImage {
                path: self.path.clone(),
                reason: super::link::error_chain(&e),
            })?;
        let table_at = 0x8000;
        Ok(format
            .flash_segments()
            .map(|segment| Region {
                name: match segment.addr {
                    a if a == chip.boot_address() => "bootloader".into(),
                    a if a == table_at => "partition-table".into(),
                    _ => "app".into(),
                },
                offset: segment.addr,
                bytes: Cow::Owned(segment.data().to_vec()),
            })
            .collect())
    }
}

fn arch_of(machine: u16) -> &'static str {
    if machine == EM_XTENSA {
        "an Xtensa"
    } else {
        "a RISC-V"
    }
}

fn arch_fits(machine: u16, chip: Chip) -> bool {
    let xtensa_chip = chip
        .supported_build_targets()
        .iter()
        .any(|t| t.starts_with("xtensa"));
    (machine == EM_XTENSA) == xtensa_chip
}

/// The bundled image's regions for `chip`, at the manifest's offsets.
pub fn bundled_regions(chip: Chip) -> Result<Vec<Region>, FlashError> {
    let images = bundled_firmware::images().map_err(|e| FlashError::Loader {
        port: String::new(),
        during: "reading the bundled firmware",
        reason: e.to_string(),
    })?;
    let name = chip.to_string();
    let image =
        images
            .iter()
            .find(|i| i.chip == name)
            .ok_or_else(|| FlashError::NoBundledImage {
                chip: name.clone(),
                bundled: images.iter().map(|i| i.chip).collect::<Vec<_>>().join(", "),
            })?;
    Ok(image
        .parts
        .iter()
        .map(|p| Region {
            name: p.name.to_owned(),
            offset: p.offset,
            bytes: Cow::Borrowed(p.bytes),
        })
        .collect())
}

/// Refuses regions that end beyond the flash.
pub fn check_fits(
    regions: &[Region],
    flash_bytes: u64,
    flash_label: &str,
) -> Result<(), FlashError> {
    match regions.iter().find(|r| r.end() > flash_bytes) {
        Some(r) => Err(FlashError::ImageTooLarge {
            what: format!("{} ({} bytes at {:#x})", r.name, r.bytes.len(), r.offset),
            end: r.end(),
            flash_size: flash_label.to_owned(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, Result<ImageFile, FlashError>) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let read = ImageFile::read(file.path());
        (file, read)
    }

    #[test]
    fn a_host_elf_is_not_an_esp_app() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let (_f, read) = file_with(&exe);
        let err = read.unwrap_err();
        assert!(
            matches!(err, FlashError::NotEspImage { ref reason, .. } if reason.contains("machine 62")),
            "{err:?}"
        );
        assert!(err.is_usage());
    }

    #[test]
    fn text_is_neither_elf_nor_esp_image() {
        let (_f, read) = file_with(b"hello, this is not firmware");
        assert!(matches!(read, Err(FlashError::NotEspImage { .. })));
    }

    #[test]
    fn a_bundled_app_bin_goes_to_the_app_offset_and_only_on_its_chip() {
        let images = bundled_firmware::images().unwrap();
        let c3 = images.iter().find(|i| i.chip == "esp32c3").unwrap();
        let (_f, read) = file_with(c3.part("app").unwrap().bytes);
        let image = read.unwrap();
        let regions = image.regions(Chip::Esp32c3).unwrap();
        assert_eq!((regions.len(), regions[0].offset), (1, 0x10000));
        let err = image.regions(Chip::Esp32c6).unwrap_err();
        assert!(
            matches!(err, FlashError::ImageForOtherChip { ref image_chip, ref detected, .. }
                if image_chip == "esp32c3" && detected == "esp32c6"),
            "{err:?}"
        );
    }

    #[test]
    fn a_merged_bin_is_written_at_zero() {
        let images = bundled_firmware::images().unwrap();
        let c6 = images.iter().find(|i| i.chip == "esp32c6").unwrap();
        let mut merged = vec![0xFF; 0x10000];
        for part in c6.parts.iter().filter(|p| p.name != "app") {
            let at = part.offset as usize;
            merged[at..at + part.bytes.len()].copy_from_slice(part.bytes);
        }
        let (_f, read) = file_with(&merged);
        let regions = read.unwrap().regions(Chip::Esp32c6).unwrap();
        assert_eq!((regions[0].name.as_str(), regions[0].offset), ("image", 0));
    }

    #[test]
    fn bundled_regions_follow_the_manifest_and_too_large_images_are_refused() {
        let regions = bundled_regions(Chip::Esp32c3).unwrap();
        let manifest = bundled_firmware::manifest().unwrap();
        let listed = &manifest
            .images
            .iter()
            .find(|i| i.chip == "esp32c3")
            .unwrap()
            .parts;
        let offsets: Vec<_> = regions.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, listed.iter().map(|p| p.offset).collect::<Vec<_>>());
        assert!(check_fits(&regions, 4 << 20, "4MB").is_ok());
        let err = check_fits(&regions, 1 << 20, "1MB").unwrap_err();
        assert!(matches!(err, FlashError::ImageTooLarge { .. }), "{err:?}");
        assert!(matches!(
            bundled_regions(Chip::Esp32s3),
            Err(FlashError::NoBundledImage { .. })
        ));
    }
}
