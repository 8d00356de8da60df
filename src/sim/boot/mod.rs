//! What happens when the chip starts from flash: the ROM's boot log, the checks the
//! second-stage bootloader makes (partition table, app image), and what the simulated
//! board can run. Reads the flash; changes nothing.
//!
//! Only the bundled firmware can be simulated, because the simulated board runs the
//! device crate on the host, not the image's machine code: an app image whose
//! descriptor names `wsbench-firmware` boots the simulated server with the settings
//! record it would read on a board; any other app is named and left unstarted.

mod image;

use wsbench_device::config_record::{self, ConfigRecordError, DeviceSettings};

use super::chip::{ChipKind, Flash, ResetReason};
use image::{Image, ImageError, find_app_partition};

/// Where the ROM finds the second-stage bootloader on the C3 and C6.
const BOOTLOADER_OFFSET: u32 = 0x0;
/// The project name the bundled firmware's app descriptor carries.
pub const FIRMWARE_PROJECT: &str = "wsbench-firmware";
/// Sessions the bundled firmware's image is built to hold
/// (`firmware/wsbench-firmware/src/budget.rs`: `WS_CAPACITY`, `WSS_CAPACITY`); a record
/// asking for more is limited to these, as on a board.
const FIRMWARE_WS_CAPACITY: u8 = 7;
fn firmware_wss_capacity(kind: ChipKind) -> u8 {
    match kind {
        ChipKind::Esp32c3 => 2,
        ChipKind::Esp32c6 => 4,
    }
}
/// The bundled firmware's console tag (`firmware/wsbench-firmware/src/console.rs`).
pub const FIRMWARE_TAG: &str = "wsbench_fw";

/// What a boot found.
#[derive(Debug)]
pub struct Boot {
    /// Console lines, ROM banner first, as a board prints them.
    pub lines: Vec<String>,
    pub outcome: BootOutcome,
}

#[derive(Debug)]
pub enum BootOutcome {
    /// The bundled firmware: run the simulated server with these settings.
    Firmware(FirmwareBoot),
    /// Something that cannot run here (said in `lines`); the ws ports stay closed.
    NotRunnable,
}

#[derive(Debug)]
pub struct FirmwareBoot {
    pub version: String,
    pub settings: DeviceSettings,
    /// The firmware's own W lines about its settings (message part only).
    pub warnings: Vec<String>,
}

/// The two lines that open every boot (banner, build date) and the `rst:` line.
fn rom_header(kind: ChipKind, reason: ResetReason, download: bool) -> Vec<String> {
    let [banner, build] = kind.rom_banner();
    let (rst, rst_name) = kind.reset_reason(reason);
    let (boot, boot_name) = kind.boot_mode(download);
    vec![
        banner.to_owned(),
        build.to_owned(),
        format!("rst:{rst:#x} ({rst_name}),boot:{boot:#x} ({boot_name})"),
    ]
}

/// What the ROM prints when it comes up in download mode.
pub fn download_log(kind: ChipKind, reason: ResetReason) -> Vec<String> {
    let mut lines = rom_header(kind, reason, true);
    lines.push("waiting for download".to_owned());
    lines
}

/// Boots from `flash`: the ROM loads the bootloader, the bootloader picks the app.
pub fn boot_from_flash(kind: ChipKind, reason: ResetReason, flash: &Flash) -> Boot {
    let mut lines = rom_header(kind, reason, false);
    let outcome = boot_stages(kind, flash, &mut lines);
    Boot { lines, outcome }
}

fn boot_stages(kind: ChipKind, flash: &Flash, lines: &mut Vec<String>) -> BootOutcome {
    let bootloader = match Image::parse(flash, BOOTLOADER_OFFSET) {
        Ok(image) => image,
        Err(ImageError::Header(word)) => {
            // What the ROM prints (again and again) with nothing valid at 0x0.
            lines.push(format!("invalid header: {word:#010x}"));
            lines.push(sim_note("no bootloader at 0x0: the chip does not start"));
            return BootOutcome::NotRunnable;
        }
        Err(e) => {
            lines.push(format!("invalid header: {e}"));
            return BootOutcome::NotRunnable;
        }
    };
    lines.push("SPIWP:0xee".to_owned());
    lines.push("mode:DIO, clock div:1".to_owned());
    for segment in &bootloader.segments {
        lines.push(format!(
            "load:{:#010x},len:{:#x}",
            segment.load_addr, segment.len
        ));
    }
    lines.push(format!("entry {:#010x}", bootloader.entry));
    if u32::from(bootloader.chip_id) != kind.chip_id() {
        lines.push(sim_note(&format!(
            "the bootloader is built for chip id {}, not this {kind} (id {}): it would not run",
            bootloader.chip_id,
            kind.chip_id()
        )));
        return BootOutcome::NotRunnable;
    }
    let mut ms = 30;
    let mut boot_line = |level: char, tag: &str, text: &str| {
        ms += 4;
        lines.push(format!("{level} ({ms}) {tag}: {text}"));
    };
    let app = match find_app_partition(flash) {
        Ok(app) => app,
        Err(problem) => {
            boot_line('E', "boot", &problem);
            boot_line('E', "boot", "Failed to verify partition table");
            return BootOutcome::NotRunnable;
        }
    };
    boot_line(
        'I',
        "boot",
        &format!("Loaded app from partition at offset {:#x}", app.offset),
    );
    let image = match Image::parse(flash, app.offset).and_then(|i| i.verify(flash).map(|()| i)) {
        Ok(image) => image,
        Err(e) => {
            boot_line('E', "esp_image", &e.to_string());
            boot_line(
                'E',
                "boot",
                &format!("{} app partition is not bootable", app.label),
            );
            boot_line(
                'E',
                "boot",
                "No bootable app partitions in the partition table",
            );
            return BootOutcome::NotRunnable;
        }
    };
    if u32::from(image.chip_id) != kind.chip_id() {
        boot_line(
            'E',
            "boot",
            &format!(
                "mismatch chip ID, expected {}, found {}",
                kind.chip_id(),
                image.chip_id
            ),
        );
        return BootOutcome::NotRunnable;
    }
    let Some(desc) = image.app_descriptor(flash) else {
        lines.push(sim_note(
            "the app has no ESP-IDF app descriptor: it cannot be simulated",
        ));
        return BootOutcome::NotRunnable;
    };
    if desc.project != FIRMWARE_PROJECT {
        lines.push(sim_note(&format!(
            "app \"{}\" {} cannot be simulated: only {FIRMWARE_PROJECT} can (the simulated \
             board runs the device crate, not the image); the ws ports stay closed",
            desc.project, desc.version
        )));
        return BootOutcome::NotRunnable;
    }
    let (settings, warnings) = firmware_settings(kind, flash);
    BootOutcome::Firmware(FirmwareBoot {
        version: desc.version,
        settings,
        warnings,
    })
}

/// A line from the simulated board itself (not from the chip it stands in for).
fn sim_note(text: &str) -> String {
    format!("W (0) {}: simulated: {text}", super::platform::HOST_TAG)
}

/// The settings record as the firmware reads it at boot, with the same fallbacks and
/// W lines (`firmware/wsbench-firmware/src/settings.rs`).
fn firmware_settings(kind: ChipKind, flash: &Flash) -> (DeviceSettings, Vec<String>) {
    let mut warnings = Vec::new();
    let region = flash
        .read(config_record::FLASH_OFFSET, config_record::MAX_RECORD_LEN)
        .unwrap_or(&[]);
    let mut settings = match config_record::decode(region) {
        Ok(settings) => settings,
        Err(e) => {
            let reason = match e {
                ConfigRecordError::Missing => "missing",
                _ => "corrupt",
            };
            warnings.push(format!(
                "settings_default reason={reason} offset={:#x} detail=\"{e}\"",
                config_record::FLASH_OFFSET
            ));
            DeviceSettings::default()
        }
    };
    let mut clamp = |value: &mut u8, capacity: u8, field: &str| {
        if *value > capacity {
            warnings.push(format!(
                "settings_limited field={field} requested={value} capacity={capacity}"
            ));
            *value = capacity;
        }
    };
    clamp(
        &mut settings.max_open_sockets,
        FIRMWARE_WS_CAPACITY,
        "max_open_sockets",
    );
    let wss_capacity = firmware_wss_capacity(kind).min(settings.max_open_sockets);
    clamp(
        &mut settings.max_tls_sessions,
        wss_capacity,
        "max_tls_sessions",
    );
    (settings, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundled_firmware;

    fn flashed(chip: &str) -> Flash {
        let mut flash = Flash::erased();
        for part in bundled_firmware::image_for(chip).unwrap().parts {
            flash.program(part.offset, part.bytes).unwrap();
        }
        flash
    }

    #[test]
    fn the_bundled_image_boots_with_defaults_and_says_the_record_is_missing() {
        let boot = boot_from_flash(ChipKind::Esp32c3, ResetReason::PowerOn, &flashed("esp32c3"));
        assert_eq!(boot.lines[0], "ESP-ROM:esp32c3-api1-20210207");
        assert_eq!(
            boot.lines[2],
            "rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)"
        );
        assert!(
            boot.lines.iter().any(|l| l.starts_with("entry 0x")),
            "{:?}",
            boot.lines
        );
        let BootOutcome::Firmware(fw) = boot.outcome else {
            panic!("not booted: {:?}", boot.lines)
        };
        assert_eq!(fw.settings, DeviceSettings::default());
        assert!(
            fw.warnings[0].contains("reason=missing"),
            "{:?}",
            fw.warnings
        );
    }

    #[test]
    fn a_record_is_read_and_limited_like_the_firmware_does() {
        let mut flash = flashed("esp32c6");
        let record = DeviceSettings {
            max_open_sockets: 3,
            max_tls_sessions: 3,
            ..DeviceSettings::default()
        };
        flash
            .program(config_record::FLASH_OFFSET, &record.encode().unwrap())
            .unwrap();
        let boot = boot_from_flash(ChipKind::Esp32c6, ResetReason::SoftwareSystem, &flash);
        let BootOutcome::Firmware(fw) = boot.outcome else {
            panic!("not booted: {:?}", boot.lines)
        };
        assert_eq!(fw.settings.max_open_sockets, 3);
        assert_eq!(fw.settings.max_tls_sessions, 3);
        assert!(fw.warnings.is_empty(), "{:?}", fw.warnings);
    }

    #[test]
    fn empty_flash_wrong_chip_and_corrupt_apps_do_not_run() {
        let boot = boot_from_flash(ChipKind::Esp32c3, ResetReason::PowerOn, &Flash::erased());
        assert!(matches!(boot.outcome, BootOutcome::NotRunnable));
        assert!(
            boot.lines
                .contains(&"invalid header: 0xffffffff".to_owned())
        );

        let boot = boot_from_flash(ChipKind::Esp32c6, ResetReason::PowerOn, &flashed("esp32c3"));
        assert!(
            matches!(boot.outcome, BootOutcome::NotRunnable),
            "{:?}",
            boot.lines
        );

        let mut flash = flashed("esp32c3");
        flash.program(0x10000 + 0x2000, &[0x00; 64]).unwrap();
        let boot = boot_from_flash(ChipKind::Esp32c3, ResetReason::PowerOn, &flash);
        assert!(matches!(boot.outcome, BootOutcome::NotRunnable));
        assert!(
            boot.lines.iter().any(|l| l.contains("esp_image")),
            "{:?}",
            boot.lines
        );
    }
}
