//! The firmware images carried inside the binary, so `wsbench flash` can put a
//! known-good server on a board with nothing else installed. The bytes are those in
//! `firmware/dist/`, built reproducibly by `firmware/build-dist.sh`; the manifest beside
//! them names the firmware version, the source revision and each part's SHA-256.

use serde::Deserialize;

/// The build manifest, `firmware/dist/manifest.json`, as committed.
pub const MANIFEST_JSON: &str = include_str!("../firmware/dist/manifest.json");

/// One region to write to flash.
#[derive(Debug, Clone, Copy)]
pub struct FlashPart {
    /// `bootloader`, `partition-table` or `app`.
    pub name: &'static str,
    /// Flash address the part is written at.
    pub offset: u32,
    /// The part's bytes.
    pub bytes: &'static [u8],
}

/// Everything to flash for one chip.
#[derive(Debug, Clone, Copy)]
pub struct BundledImage {
    /// espflash's chip name: `esp32c3`, `esp32c6`.
    pub chip: &'static str,
    /// In the order they are written.
    pub parts: [FlashPart; 3],
}

/// Flash addresses of the parts: ESP-IDF's standard layout, which the bundled partition
/// table (`firmware/partitions.csv`) follows.
pub const BOOTLOADER_OFFSET: u32 = 0x0;
/// See [`BOOTLOADER_OFFSET`].
pub const PARTITION_TABLE_OFFSET: u32 = 0x8000;
/// See [`BOOTLOADER_OFFSET`].
pub const APP_OFFSET: u32 = 0x10000;

macro_rules! bundled {
    ($chip:literal) => {
        BundledImage {
            chip: $chip,
            parts: [
                FlashPart {
                    name: "bootloader",
                    offset: BOOTLOADER_OFFSET,
                    bytes: include_bytes!(concat!("../firmware/dist/", $chip, "/bootloader.bin")),
                },
                FlashPart {
                    name: "partition-table",
                    offset: PARTITION_TABLE_OFFSET,
                    bytes: include_bytes!(concat!(
                        "../firmware/dist/",
                        $chip,
                        "/partition-table.bin"
                    )),
                },
                FlashPart {
                    name: "app",
                    offset: APP_OFFSET,
                    bytes: include_bytes!(concat!("../firmware/dist/", $chip, "/app.bin")),
                },
            ],
        }
    };
}

/// Every bundled image. Xtensa chips (ESP32, ESP32-S3) have none: their compiler cannot
/// be installed where the images are built; `wsbench flash --image` still serves them.
pub const IMAGES: [BundledImage; 2] = [bundled!("esp32c3"), bundled!("esp32c6")];

/// The bundled image for `chip` (espflash's name), if there is one.
pub fn image_for(chip: &str) -> Option<&'static BundledImage> {
    IMAGES.iter().find(|image| image.chip == chip)
}

/// The manifest's content.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// The firmware crate's name, which is also the app descriptor's project name.
    pub firmware: String,
    /// The firmware crate's version, also in the app descriptor.
    pub version: String,
    /// Last commit of the firmware sources (`-dirty` when built from uncommitted ones).
    pub source_revision: String,
    pub toolchain: String,
    pub espflash: String,
    pub images: Vec<ManifestImage>,
}

/// One chip's entry in the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestImage {
    pub chip: String,
    pub target: String,
    pub flash_size: String,
    pub parts: Vec<ManifestPart>,
}

/// One part's entry in the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestPart {
    pub name: String,
    /// Path below `firmware/dist/`.
    pub file: String,
    pub offset: u32,
    pub size: usize,
    /// Lower-case hex.
    pub sha256: String,
}

/// The bundled manifest, parsed. It is compiled in and checked by the tests, so a parse
/// failure is a defect of the build, reported as an error all the same.
pub fn manifest() -> Result<Manifest, serde_json::Error> {
    serde_json::from_str(MANIFEST_JSON)
}

/// Function symbols of each bundled image (`firmware/dist/<chip>/app.symbols`, written by
/// `firmware/build-dist.sh` from the same build), so a panic of the bundled firmware is
/// decoded with no ELF at hand. Text: `start size mangled-name`, hex.
pub const SYMBOLS: [(&str, &str); 2] = [
    (
        "esp32c3",
        include_str!("../firmware/dist/esp32c3/app.symbols"),
    ),
    (
        "esp32c6",
        include_str!("../firmware/dist/esp32c6/app.symbols"),
    ),
];
