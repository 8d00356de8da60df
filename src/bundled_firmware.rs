//! The firmware images carried inside the binary, so `wsbench flash` can put a
//! known-good server on a board with nothing else installed. The bytes are those in
//! `firmware/dist/`, built reproducibly by `firmware/build-dist.sh`; the manifest beside
//! them names the firmware version, the source revision and each part's SHA-256.

use serde::Deserialize;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The build manifest, `firmware/dist/manifest.json`, as committed.
pub const MANIFEST_JSON: &str = include_str!("../firmware/dist/manifest.json");

macro_rules! bundled_file {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!("../firmware/dist/", $path)) as &[u8],
        )
    };
}
/// Every file of `firmware/dist/` the manifest names, by its path there. Where each one
/// goes in flash is the manifest's business, never repeated in code.
const FILES: &[(&str, &[u8])] = &[
    bundled_file!("esp32c3/bootloader.bin"),
    bundled_file!("esp32c3/partition-table.bin"),
    bundled_file!("esp32c3/app.bin"),
    bundled_file!("esp32c6/bootloader.bin"),
    bundled_file!("esp32c6/partition-table.bin"),
    bundled_file!("esp32c6/app.bin"),
];

/// One region to write to flash.
#[derive(Debug, Clone, Copy)]
pub struct FlashPart {
    /// `bootloader`, `partition-table` or `app`, as the manifest names it.
    pub name: &'static str,
    /// Flash address the part is written at, from the manifest.
    pub offset: u32,
    /// The part's bytes.
    pub bytes: &'static [u8],
}

/// Everything to flash for one chip.
#[derive(Debug, Clone, Copy)]
pub struct BundledImage {
    /// espflash's chip name: `esp32c3`, `esp32c6`.
    pub chip: &'static str,
    /// The flash size the image was built for, as the manifest says it (`4MB`).
    pub flash_size: &'static str,
    /// Bootloader, partition table and app, in the manifest's order.
    pub parts: [FlashPart; 3],
}

impl BundledImage {
    /// The part called `name` (`app`, `bootloader`, `partition-table`).
    pub fn part(&self, name: &str) -> Option<&FlashPart> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// The app partition's offset, read from the manifest when wsbench is compiled (so it
/// cannot disagree with it; the build fails if the manifest's images disagree among
/// themselves). Code that knows its chip should prefer `image_for(chip)`'s app part.
pub const APP_OFFSET: u32 = app_offset_in(MANIFEST_JSON.as_bytes());

/// The `"offset"` that follows every `"name": "app"` in the manifest, which must be the
/// same for every image. A compile-time scan: serde is not available in a const.
const fn app_offset_in(json: &[u8]) -> u32 {
    const NAME: &[u8] = b"\"name\": \"app\"";
    const OFFSET: &[u8] = b"\"offset\": ";
    let mut found: Option<u32> = None;
    let mut at = 0;
    while let Some(name_at) = find(json, NAME, at) {
        let Some(offset_at) = find(json, OFFSET, name_at) else {
            panic!("manifest.json: an app part without an offset");
        };
        let mut i = offset_at + OFFSET.len();
        let mut value: u32 = 0;
        while i < json.len() && json[i].is_ascii_digit() {
            value = value * 10 + (json[i] - b'0') as u32;
            i += 1;
        }
        if let Some(seen) = found
            && seen != value
        {
            panic!("manifest.json: the images place their apps at different offsets");
        }
        found = Some(value);
        at = i;
    }
    match found {
        Some(offset) => offset,
        None => panic!("manifest.json: no app part"),
    }
}

const fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        let mut j = 0;
        while j < needle.len() && haystack[i + j] == needle[j] {
            j += 1;
        }
        if j == needle.len() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// A manifest that does not describe the bundled files: a defect of the build, said as such.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("the bundled firmware is inconsistent: {0}")]
#[diagnostic(
    code(wsbench::bundled_firmware::inconsistent),
    help("rebuild wsbench from a clean checkout (firmware/check-dist.sh checks firmware/dist/)")
)]
pub struct BundleError(String);

/// Every bundled image, laid out as the manifest says, each part checked against the
/// manifest's size and SHA-256 (once per process). Xtensa chips (ESP32, ESP32-S3) have
/// none: their compiler cannot be installed where the images are built; `wsbench flash
/// --image` serves them.
pub fn images() -> Result<&'static [BundledImage], BundleError> {
    static IMAGES: OnceLock<Result<Vec<BundledImage>, BundleError>> = OnceLock::new();
    IMAGES
        .get_or_init(load_images)
        .as_deref()
        .map_err(Clone::clone)
}

fn load_images() -> Result<Vec<BundledImage>, BundleError> {
    let manifest = manifest().map_err(|e| BundleError(format!("manifest.json: {e}")))?;
    manifest
        .images
        .into_iter()
        .map(|image| {
            let parts = image
                .parts
                .iter()
                .map(load_part)
                .collect::<Result<Vec<_>, _>>()?;
            let count = parts.len();
            let parts: [FlashPart; 3] = parts.try_into().map_err(|_| {
                BundleError(format!(
                    "{}: {count} parts (expected bootloader, partition table, app)",
                    image.chip
                ))
            })?;
            Ok(BundledImage {
                chip: image.chip.leak(),
                flash_size: image.flash_size.leak(),
                parts,
            })
        })
        .collect()
}

fn load_part(part: &ManifestPart) -> Result<FlashPart, BundleError> {
    let bytes = FILES
        .iter()
        .find(|(path, _)| *path == part.file)
        .map(|(_, bytes)| *bytes)
        .ok_or_else(|| BundleError(format!("{} is not bundled", part.file)))?;
    if bytes.len() != part.size {
        return Err(BundleError(format!(
            "{} has {} bytes, the manifest says {}",
            part.file,
            bytes.len(),
            part.size
        )));
    }
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != part.sha256 {
        return Err(BundleError(format!(
            "{} does not match its SHA-256 in the manifest",
            part.file
        )));
    }
    Ok(FlashPart {
        name: part.name.clone().leak(),
        offset: part.offset,
        bytes,
    })
}

/// The bundled image for `chip` (espflash's name), if there is one. `None` also when the
/// bundle is inconsistent, a build defect that [`images`] explains and the tests catch.
pub fn image_for(chip: &str) -> Option<&'static BundledImage> {
    images().ok()?.iter().find(|image| image.chip == chip)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compile_time_app_offset_is_every_images_app_offset() {
        for image in manifest().unwrap().images {
            let app = image.parts.iter().find(|p| p.name == "app").unwrap();
            assert_eq!(app.offset, APP_OFFSET, "{}", image.chip);
        }
    }
}
