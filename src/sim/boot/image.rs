//! The formats the ROM and the second-stage bootloader read from flash: ESP images
//! (header, segments, XOR checksum, SHA-256), the app descriptor that opens an app's
//! first segment, and the partition table. Parsed here independently of espflash,
//! which writes them.

use sha2::{Digest, Sha256};

use crate::sim::chip::Flash;

/// ESP image header magic.
const IMAGE_MAGIC: u8 = 0xE9;
/// Seed of the image's XOR checksum.
const IMAGE_CHECKSUM_SEED: u8 = 0xEF;
/// `esp_app_desc_t` magic word.
const APP_DESC_MAGIC: u32 = 0xABCD_5432;
/// Where the bootloader finds the partition table (ESP-IDF's default).
const PARTITION_TABLE_OFFSET: u32 = 0x8000;
const PARTITION_TABLE_LEN: usize = 0xC00;
const PARTITION_MAGIC: u16 = 0x50AA;
const PARTITION_MD5_MAGIC: u16 = 0xEBEB;

pub struct Partition {
    pub label: String,
    pub offset: u32,
}

/// The factory app partition, else the first OTA slot.
pub fn find_app_partition(flash: &Flash) -> Result<Partition, String> {
    let table = flash
        .read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_LEN)
        .map_err(|_| "partition table outside the flash".to_owned())?;
    let mut apps = Vec::new();
    let mut at = 0;
    while at + 32 <= table.len() {
        let entry = &table[at..at + 32];
        let magic = u16::from_le_bytes([entry[0], entry[1]]);
        if magic == PARTITION_MD5_MAGIC {
            let digest = md5::Md5::digest(&table[..at]);
            if entry[16..32] != digest[..] {
                return Err("partition table MD5 mismatch".to_owned());
            }
            break;
        }
        if magic != PARTITION_MAGIC {
            if at == 0 {
                return Err(format!("partition 0 invalid magic number {magic:#x}"));
            }
            break;
        }
        let (kind, subtype) = (entry[2], entry[3]);
        let offset = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let end = entry[12..28].iter().position(|&b| b == 0).unwrap_or(16);
        let label = String::from_utf8_lossy(&entry[12..12 + end]).into_owned();
        if kind == 0 && (subtype == 0 || subtype == 0x10) {
            apps.push((subtype, Partition { label, offset }));
        }
        at += 32;
    }
    apps.sort_by_key(|(subtype, _)| *subtype);
    apps.into_iter()
        .next()
        .map(|(_, p)| p)
        .ok_or_else(|| "no app partition in the partition table".to_owned())
}

pub struct Segment {
    pub load_addr: u32,
    pub len: u32,
    /// Flash address of the segment's data.
    data_at: u32,
}

/// An ESP image header and its segments, as the ROM and bootloader read them.
pub struct Image {
    offset: u32,
    pub chip_id: u16,
    pub entry: u32,
    hash_appended: bool,
    pub segments: Vec<Segment>,
    /// Bytes from the image start to the end of the checksum block.
    checked_len: u32,
}

#[derive(Debug)]
pub enum ImageError {
    /// The first word, when it is not an image's.
    Header(u32),
    Malformed(&'static str),
    Checksum {
        computed: u8,
        stored: u8,
    },
    Hash,
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::Header(word) => write!(
                f,
                "image at this offset has invalid magic byte (first word {word:#010x})"
            ),
            ImageError::Malformed(what) => write!(f, "image is malformed: {what}"),
            ImageError::Checksum { computed, stored } => {
                write!(
                    f,
                    "Checksum failed. Calculated {computed:#x} read {stored:#x}"
                )
            }
            ImageError::Hash => write!(f, "Image hash failed - image is corrupt"),
        }
    }
}

impl Image {
    pub fn parse(flash: &Flash, offset: u32) -> Result<Image, ImageError> {
        let header = flash
            .read(offset, 24)
            .map_err(|_| ImageError::Malformed("header outside the flash"))?;
        if header[0] != IMAGE_MAGIC {
            return Err(ImageError::Header(u32::from_le_bytes([
                header[0], header[1], header[2], header[3],
            ])));
        }
        let count = usize::from(header[1]);
        if !(1..=16).contains(&count) {
            return Err(ImageError::Malformed("segment count"));
        }
        let entry = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let chip_id = u16::from_le_bytes([header[12], header[13]]);
        let hash_appended = header[23] == 1;
        let mut at = offset + 24;
        let mut segments = Vec::with_capacity(count);
        for _ in 0..count {
            let seg = flash
                .read(at, 8)
                .map_err(|_| ImageError::Malformed("segment header outside the flash"))?;
            let load_addr = u32::from_le_bytes([seg[0], seg[1], seg[2], seg[3]]);
            let len = u32::from_le_bytes([seg[4], seg[5], seg[6], seg[7]]);
            let data_at = at + 8;
            flash
                .read(data_at, len as usize)
                .map_err(|_| ImageError::Malformed("segment outside the flash"))?;
            segments.push(Segment {
                load_addr,
                len,
                data_at,
            });
            at = data_at + len;
        }
        let unpadded = at - offset;
        let checked_len = unpadded + (16 - unpadded % 16);
        Ok(Image {
            offset,
            chip_id,
            entry,
            hash_appended,
            segments,
            checked_len,
        })
    }

    /// The XOR checksum over segment data and, when appended, the SHA-256.
    pub fn verify(&self, flash: &Flash) -> Result<(), ImageError> {
        let mut computed = IMAGE_CHECKSUM_SEED;
        for s in &self.segments {
            let data = flash.read(s.data_at, s.len as usize).unwrap_or(&[]);
            computed = data.iter().fold(computed, |c, b| c ^ b);
        }
        let stored = flash
            .read(self.offset + self.checked_len - 1, 1)
            .map_err(|_| ImageError::Malformed("checksum outside the flash"))?[0];
        if stored != computed {
            return Err(ImageError::Checksum { computed, stored });
        }
        if self.hash_appended {
            let body = flash
                .read(self.offset, self.checked_len as usize)
                .map_err(|_| ImageError::Malformed("image outside the flash"))?;
            let stored = flash
                .read(self.offset + self.checked_len, 32)
                .map_err(|_| ImageError::Malformed("hash outside the flash"))?;
            if Sha256::digest(body).as_slice() != stored {
                return Err(ImageError::Hash);
            }
        }
        Ok(())
    }

    /// The descriptor that opens the first segment of an ESP-IDF-style app.
    pub fn app_descriptor(&self, flash: &Flash) -> Option<AppDescriptor> {
        let first = self.segments.first()?;
        let desc = flash.read(first.data_at, 80.min(first.len as usize)).ok()?;
        if desc.len() < 80
            || u32::from_le_bytes([desc[0], desc[1], desc[2], desc[3]]) != APP_DESC_MAGIC
        {
            return None;
        }
        Some(AppDescriptor {
            version: c_string(&desc[16..48]),
            project: c_string(&desc[48..80]),
        })
    }
}

pub struct AppDescriptor {
    pub version: String,
    pub project: String,
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}
