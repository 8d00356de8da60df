//! The firmware images bundled in the binary are what they claim to be: valid ESP images
//! for the right chip, carrying the firmware crate's name and version, laid out by the
//! partition table the settings record relies on, and matching the manifest byte for
//! byte. The image format is parsed here independently of espflash, which wrote it.

use md5::Md5;
use sha2::{Digest, Sha256};
use wsbench::bundled_firmware::{self, BundledImage};
use wsbench_device::config_record;

/// ESP image header magic.
const IMAGE_MAGIC: u8 = 0xE9;
/// Initial value of the image's XOR checksum.
const CHECKSUM_SEED: u8 = 0xEF;
/// `esp_app_desc_t` magic word.
const APP_DESC_MAGIC: u32 = 0xABCD_5432;

/// An ESP image as the ROM bootloader reads it.
struct EspImage {
    chip_id: u16,
    segments: Vec<(u32, Vec<u8>)>,
    /// Length of the image including checksum and SHA-256.
    len: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses and checks an image: magic, segment bounds, XOR checksum, SHA-256 trailer.
fn parse_image(what: &str, bytes: &[u8]) -> EspImage {
    assert!(bytes.len() > 24, "{what}: too short for an image header");
    assert_eq!(bytes[0], IMAGE_MAGIC, "{what}: magic");
    let segment_count = usize::from(bytes[1]);
    assert!(
        (1..=16).contains(&segment_count),
        "{what}: {segment_count} segments"
    );
    let chip_id = u16_at(bytes, 12);
    let hash_appended = bytes[23] == 1;
    let mut pos = 24;
    let mut checksum = CHECKSUM_SEED;
    let mut segments = Vec::new();
    for i in 0..segment_count {
        assert!(
            pos + 8 <= bytes.len(),
            "{what}: segment {i} header past the end"
        );
        let addr = u32_at(bytes, pos);
        let len = u32_at(bytes, pos + 4) as usize;
        pos += 8;
        assert!(
            pos + len <= bytes.len(),
            "{what}: segment {i} data past the end"
        );
        let data = &bytes[pos..pos + len];
        checksum = data.iter().fold(checksum, |c, b| c ^ b);
        segments.push((addr, data.to_vec()));
        pos += len;
    }
    // The checksum is the last byte of the 16-byte block after the segments.
    pos += 16 - (pos % 16);
    assert!(pos <= bytes.len(), "{what}: checksum past the end");
    assert_eq!(bytes[pos - 1], checksum, "{what}: segment checksum");
    assert!(hash_appended, "{what}: no SHA-256 appended");
    let digest = Sha256::digest(&bytes[..pos]);
    assert_eq!(
        &bytes[pos..pos + 32],
        digest.as_slice(),
        "{what}: SHA-256 trailer"
    );
    EspImage {
        chip_id,
        segments,
        len: pos + 32,
    }
}

fn expected_chip_id(chip: &str) -> u16 {
    match chip {
        "esp32c3" => 5,
        "esp32c6" => 13,
        other => panic!("no chip id known for {other}"),
    }
}

fn c_string(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    std::str::from_utf8(&field[..end]).expect("descriptor text is UTF-8")
}

/// The firmware crate's own version, read from its Cargo.toml.
fn firmware_crate_version() -> String {
    let manifest = include_str!("../firmware/wsbench-firmware/Cargo.toml");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("firmware Cargo.toml has a version line")
        .to_string()
}

fn part<'a>(image: &'a BundledImage, name: &str) -> &'a [u8] {
    image
        .parts
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{}: no {name} part", image.chip))
        .bytes
}

#[test]
fn both_chips_are_bundled() {
    let images = bundled_firmware::images().expect("bundle consistent");
    let chips: Vec<_> = images.iter().map(|i| i.chip).collect();
    assert_eq!(chips, ["esp32c3", "esp32c6"]);
    assert!(bundled_firmware::image_for("esp32c6").is_some());
    assert!(bundled_firmware::image_for("esp32s3").is_none());
}

/// The part `name` of `image`, parsed: an ESP image for the bundle's chip that fills
/// the whole part.
fn valid_image_for_its_chip(image: &BundledImage, name: &str) -> EspImage {
    let bytes = part(image, name);
    let parsed = parse_image(&format!("{} {name}", image.chip), bytes);
    assert_eq!(
        parsed.chip_id,
        expected_chip_id(image.chip),
        "{}",
        image.chip
    );
    assert_eq!(parsed.len, bytes.len(), "{}: {name} length", image.chip);
    parsed
}

#[test]
fn bootloaders_are_valid_images_for_their_chip() {
    for image in bundled_firmware::images().expect("bundle consistent") {
        valid_image_for_its_chip(image, "bootloader");
    }
}

#[test]
fn apps_are_valid_images_with_the_firmware_crates_descriptor() {
    let version = firmware_crate_version();
    for image in bundled_firmware::images().expect("bundle consistent") {
        let parsed = valid_image_for_its_chip(image, "app");
        // The descriptor opens the first (flash data) segment.
        let desc = &parsed.segments[0].1;
        assert_eq!(
            u32_at(desc, 0),
            APP_DESC_MAGIC,
            "{}: app descriptor magic",
            image.chip
        );
        assert_eq!(
            c_string(&desc[16..48]),
            version,
            "{}: descriptor version",
            image.chip
        );
        assert_eq!(
            c_string(&desc[48..80]),
            "wsbench-firmware",
            "{}: descriptor project name",
            image.chip
        );
    }
}

#[test]
fn partition_tables_place_the_settings_record_and_the_app() {
    for image in bundled_firmware::images().expect("bundle consistent") {
        let table = part(image, "partition-table");
        let mut entries = Vec::new();
        let mut pos = 0;
        while u16_at(table, pos) == 0x50AA {
            let e = &table[pos..pos + 32];
            entries.push((
                c_string(&e[12..28]).to_string(),
                e[2],
                e[3],
                u32_at(e, 4),
                u32_at(e, 8),
            ));
            pos += 32;
        }
        // The MD5 entry: 0xEBEB, 14 bytes 0xFF, MD5 of the entries before it.
        assert_eq!(u16_at(table, pos), 0xEBEB, "{}: MD5 entry", image.chip);
        assert_eq!(
            &table[pos + 16..pos + 32],
            Md5::digest(&table[..pos]).as_slice(),
            "{}: partition table MD5",
            image.chip
        );
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.0 == name)
                .unwrap_or_else(|| panic!("{}: no {name} partition", image.chip))
                .clone()
        };
        let (_, kind, subtype, offset, size) = find("wsbench_cfg");
        assert_eq!(
            (kind, subtype),
            (0x40, 0),
            "{}: wsbench_cfg is type 0x40",
            image.chip
        );
        assert_eq!(offset, config_record::FLASH_OFFSET);
        assert!(size as usize >= config_record::FLASH_REGION_LEN);
        let (_, kind, _, offset, size) = find("factory");
        assert_eq!(
            (kind, offset),
            (0, image.part("app").expect("an app part").offset),
            "{}: factory app",
            image.chip
        );
        assert!(
            part(image, "app").len() <= size as usize,
            "{}: app larger than its partition",
            image.chip
        );
    }
}

#[test]
fn manifest_matches_the_bundled_files() {
    let manifest = bundled_firmware::manifest().expect("manifest parses");
    assert_eq!(manifest.schema_version, 1);
    assert_eq!(manifest.firmware, "wsbench-firmware");
    assert_eq!(manifest.version, firmware_crate_version());
    assert!(!manifest.source_revision.is_empty());
    let images = bundled_firmware::images().expect("bundle consistent");
    assert_eq!(manifest.images.len(), images.len());
    for (listed, bundled) in manifest.images.iter().zip(images.iter()) {
        assert_eq!(listed.chip, bundled.chip);
        assert_eq!(listed.parts.len(), bundled.parts.len(), "{}", listed.chip);
        for (lp, bp) in listed.parts.iter().zip(bundled.parts.iter()) {
            assert_eq!(lp.name, bp.name, "{}", listed.chip);
            assert_eq!(lp.offset, bp.offset, "{} {}", listed.chip, lp.name);
            assert_eq!(lp.size, bp.bytes.len(), "{} {}", listed.chip, lp.name);
            let digest: String = Sha256::digest(bp.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(lp.sha256, digest, "{} {} sha256", listed.chip, lp.name);
        }
    }
}
