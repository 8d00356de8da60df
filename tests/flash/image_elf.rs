//! `wsbench flash --image FILE.elf` end to end: a real ESP32-C3 app ELF is formatted by
//! espflash, written through the ROM-loader emulator and verified; the emulated flash
//! then holds a valid app image at the app offset, and the simulated board says plainly
//! that it cannot run that app. The wrong chip is refused.

use std::time::{Duration, Instant};

use wsbench::bundled_firmware;

use super::elf;
use super::run::{Ran, wsbench};
use super::sim::FlashableSim;

const FLASH_LIMIT: Duration = Duration::from_secs(180);

fn elf_file(map: &elf::MemoryMap) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".elf").tempfile().unwrap();
    std::fs::write(file.path(), elf::app(map)).unwrap();
    file
}

#[test]
fn a_c3_app_elf_is_written_verified_and_named_as_not_simulated() {
    let sim = FlashableSim::start(&["--console", "-"]);
    let image = elf_file(&elf::ESP32C3);
    let path = image.path().to_str().unwrap();
    let ran = wsbench(
        &[
            "flash",
            "--port",
            &sim.console,
            "--baud",
            "921600",
            "--image",
            path,
        ],
        &[],
        FLASH_LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.stdout.contains("chip:     esp32c3"), "{}", ran.all());
    assert!(
        ran.stdout.contains("flashed:  3 region(s) written"),
        "bootloader, partition table and app:\n{}",
        ran.all()
    );
    assert!(ran.stdout.contains("verified (MD5)"), "{}", ran.all());
    assert!(
        ran.stdout.contains("ready:    not awaited"),
        "{}",
        ran.all()
    );

    // A valid app image at the app offset: ESP magic, the C3's chip id, the descriptor
    // naming our project in the first segment.
    let flash = sim.flash();
    let app = &flash[bundled_firmware::APP_OFFSET as usize..];
    assert_eq!(app[0], 0xE9, "ESP image magic");
    assert_eq!(
        u16::from_le_bytes([app[12], app[13]]),
        5,
        "ESP32-C3 chip id"
    );
    let desc = &app[24 + 8..];
    assert_eq!(
        desc[0..4],
        0xABCD_5432u32.to_le_bytes(),
        "app descriptor magic"
    );
    assert!(desc[48..].starts_with(elf::PROJECT.as_bytes()));

    // The board booted it and says why it cannot run it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let printed = sim.printed();
        if printed
            .iter()
            .any(|l| l.contains(elf::PROJECT) && l.contains("cannot be simulated"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no `cannot be simulated` line: {printed:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Flashes `map`'s app ELF, with `extra` flags, onto a fresh simulated board (an
/// ESP32-C3).
fn flash_elf_onto_a_c3(map: &elf::MemoryMap, extra: &[&str]) -> Ran {
    let sim = FlashableSim::start(&[]);
    let image = elf_file(map);
    let mut args = vec![
        "flash",
        "--port",
        &sim.console,
        "--image",
        image.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    wsbench(&args, &[], FLASH_LIMIT)
}

#[test]
fn a_c3_elf_with_chip_esp32c6_is_refused_and_nothing_is_flashed() {
    let ran = flash_elf_onto_a_c3(&elf::ESP32C3, &["--chip", "esp32c6"]);
    ran.assert_fails(3, "wsbench::flash::chip_mismatch");
    assert!(ran.stderr.contains("esp32c6"), "{}", ran.all());
}

#[test]
fn an_xtensa_elf_for_esp32_against_the_c3_board_is_a_chip_mismatch() {
    let ran = flash_elf_onto_a_c3(&elf::ESP32, &["--chip", "esp32"]);
    ran.assert_fails(3, "wsbench::flash::chip_mismatch");
    assert!(ran.stderr.contains("esp32c3"), "{}", ran.all());
}

#[test]
fn an_xtensa_elf_on_the_c3_board_is_an_image_for_another_chip() {
    let ran = flash_elf_onto_a_c3(&elf::ESP32, &[]);
    ran.assert_fails(3, "wsbench::flash::image_for_other_chip");
}
