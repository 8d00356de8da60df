//! The simulated board as a chip to flash: SLIP packets over its pseudo-terminal, as a
//! flashing tool sends them (no esptool needed; `scripts/esptool-check.sh` runs the real
//! one). Each test starts `wsbench sim` and talks to the pty it prints.

use std::time::{Duration, Instant};

use wsbench::bundled_firmware::{self, BundledImage};
use wsbench_device::config_record::{self, DeviceSettings};

use crate::harness::*;
use crate::rom_client::*;

const C3_MAGIC: u32 = 0x1B31_506F;
const C6_MAGIC: u32 = 0x2CE0_806F;
/// Fast enough to flash a megabyte in seconds while the UART still paces every byte.
const FAST_BAUD: u32 = 2_000_000;

fn image(chip: &str) -> &'static BundledImage {
    bundled_firmware::image_for(chip).unwrap()
}

/// Waits until `addr` refuses connections (the app stopped) or panics after [`WAIT`].
fn wait_refused(addr: &str) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects a blocking SYNC-ready client: download mode entered.
fn download_mode(sim: &Sim) -> RomClient {
    let mut rom = RomClient::open(&sim.console_path);
    let unanswered = rom.sync();
    assert!(
        unanswered >= 1,
        "the SYNC that enters download mode is not answered"
    );
    rom
}

/// Writes the bundled parts for `chip` (the app compressed) and checks each MD5.
fn flash_bundled(rom: &mut RomClient, chip: &str) {
    for part in image(chip).parts {
        if part.name == "app" {
            rom.write_flash_deflated(part.offset, part.bytes);
        } else {
            rom.write_flash(part.offset, part.bytes);
        }
        assert_eq!(
            rom.md5_hex(part.offset, part.bytes.len()),
            md5_hex(part.bytes),
            "{chip} {}",
            part.name
        );
    }
}

fn flash_end_reboot(rom: &mut RomClient) {
    let r = rom.command(FLASH_END, &words(&[0]), 0);
    assert!(!r.failed(0), "{r:?}");
}

#[tokio::test]
async fn sync_enters_download_mode_stops_the_app_and_detects_the_chip() {
    let sim = Sim::start(&[]);
    let mark = sim.mark();
    let mut rom = download_mode(&sim);
    sim.wait_line(mark, "the download-mode boot log", |l| {
        l == "waiting for download"
    })
    .await;
    let lines = sim.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rst:0x1 (POWERON),boot:0x4 (DOWNLOAD")),
        "{lines:?}"
    );
    wait_refused(&sim.ws_addr());
    let info = rom.command(GET_SECURITY_INFO, &[], 0);
    assert_eq!(info.data.len(), 24, "20 bytes and 4 status bytes: {info:?}");
    assert_eq!(u32::from_le_bytes(info.data[12..16].try_into().unwrap()), 5);
    assert_eq!(rom.read_reg(0x4000_1000), C3_MAGIC);
    // Base MAC 02:57:53:42:00:01 in eFuse BLOCK1 words 0-1.
    assert_eq!(rom.read_reg(0x6000_8844), 0x5342_0001);
    assert_eq!(rom.read_reg(0x6000_8848), 0x0257);
    // The flash id through SPI1's user command: RDID (0x9F) answers 4 MB.
    let spi = 0x6000_2000;
    for (addr, value) in [
        (spi + 0x20, (7 << 28) | 0x9F),
        (spi + 0x58, 0),
        (spi, 1 << 18),
    ] {
        let r = rom.command(0x09, &words(&[addr, value, u32::MAX, 0]), 0);
        assert!(!r.failed(0));
    }
    assert_eq!(rom.read_reg(spi) & (1 << 18), 0, "command done");
    assert_eq!((rom.read_reg(spi + 0x58) >> 16) & 0xFF, 0x16, "4 MB");
    let attach = rom.command(SPI_ATTACH, &words(&[0, 0]), 0);
    assert_eq!(attach.data, [0, 0, 0, 0]);
}

#[tokio::test]
async fn an_esp32c6_answers_with_its_own_id_magic_and_registers() {
    let sim = Sim::start(&["--chip", "esp32c6"]);
    let mark = sim.mark();
    let mut rom = download_mode(&sim);
    let info = rom.command(GET_SECURITY_INFO, &[], 0);
    assert_eq!(
        u32::from_le_bytes(info.data[12..16].try_into().unwrap()),
        13
    );
    assert_eq!(rom.read_reg(0x4000_1000), C6_MAGIC);
    assert_eq!(rom.read_reg(0x600B_0844), 0x5342_0001);
    sim.wait_line(mark, "the C6 banner", |l| l == "ESP-ROM:esp32c6-20220919")
        .await;
}

#[tokio::test]
async fn flashed_settings_take_effect_after_reboot_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let flash_file = dir.path().join("flash.bin");
    let flash_arg = flash_file.to_str().unwrap();
    let sim = Sim::start(&["--flash-file", flash_arg]);
    let mut rom = download_mode(&sim);
    rom.change_baud(FAST_BAUD);
    flash_bundled(&mut rom, "esp32c3");
    let record = DeviceSettings {
        max_open_sockets: 3,
        max_tls_sessions: 0,
        ..DeviceSettings::default()
    }
    .encode()
    .unwrap();
    rom.write_flash(config_record::FLASH_OFFSET, &record);
    assert_eq!(
        rom.md5_hex(config_record::FLASH_OFFSET, record.len()),
        md5_hex(&record)
    );
    let mark = sim.mark();
    flash_end_reboot(&mut rom);
    sim.wait_line(mark, "the reboot's reset reason", |l| {
        l == "rst:0x3 (RTC_SW_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)"
    })
    .await;
    let ready = sim
        .wait_line(mark, "the flashed firmware's ready line", |l| {
            l.contains(": ready ")
        })
        .await;
    assert_eq!(field(&ready, "max_sockets"), Some("3"), "{ready}");
    // No TLS sessions in the record: wss is not served.
    assert_eq!(field(&ready, "wss_port"), Some("0"), "{ready}");
    wait_refused(&host_port(&sim.wss_url));
    assert!(
        sim.lines()[mark..]
            .iter()
            .any(|l| l.contains("boot_simulated app=wsbench-firmware")),
        "the boot says it is simulated"
    );
    // Same URL as before the reboot; the 4th client purges the least recently active.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&sim.ws_url).await);
    }
    sim.wait_line(mark, "the purge at the 4th client", |l| {
        l.contains(" purge id=") && l.ends_with("/3")
    })
    .await;
    drop(clients);
    drop(sim);

    // A new `wsbench sim` on the same flash file boots what was flashed.
    let again = Sim::start(&["--flash-file", flash_arg]);
    let ready = again
        .wait_line(0, "the ready line at start", |l| l.contains(": ready "))
        .await;
    assert_eq!(field(&ready, "max_sockets"), Some("3"), "{ready}");
    assert!(
        again
            .banner
            .iter()
            .any(|l| l.contains("booted from what it holds"))
    );
}

#[tokio::test]
async fn a_missing_record_boots_with_defaults_and_the_firmwares_warning() {
    let sim = Sim::start(&[]);
    let mut rom = download_mode(&sim);
    rom.change_baud(FAST_BAUD);
    flash_bundled(&mut rom, "esp32c3");
    let mark = sim.mark();
    flash_end_reboot(&mut rom);
    sim.wait_line(mark, "the firmware's settings warning", |l| {
        l.starts_with("W (") && l.contains("wsbench_fw: settings_default reason=missing")
    })
    .await;
    let ready = sim
        .wait_line(mark, "the ready line", |l| l.contains(": ready "))
        .await;
    assert_eq!(field(&ready, "max_sockets"), Some("7"), "{ready}");
}

/// The bundled app renamed, with its checksum and SHA-256 made valid again.
fn foreign_app() -> Vec<u8> {
    let mut app = image("esp32c3")
        .parts
        .iter()
        .find(|p| p.name == "app")
        .unwrap()
        .bytes
        .to_vec();
    let name_at = 24 + 8 + 48;
    let mut xor = 0u8;
    for (i, b) in b"other-app\0".iter().enumerate() {
        xor ^= app[name_at + i] ^ b;
        app[name_at + i] = *b;
    }
    let body = app.len() - 32;
    app[body - 1] ^= xor;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(&app[..body]);
    app[body..].copy_from_slice(&digest);
    app
}

#[tokio::test]
async fn another_app_is_named_and_not_simulated() {
    let sim = Sim::start(&[]);
    let mut rom = download_mode(&sim);
    rom.change_baud(FAST_BAUD);
    for part in image("esp32c3").parts.iter().filter(|p| p.name != "app") {
        rom.write_flash(part.offset, part.bytes);
    }
    rom.write_flash_deflated(bundled_firmware::APP_OFFSET, &foreign_app());
    let mark = sim.mark();
    flash_end_reboot(&mut rom);
    sim.wait_line(mark, "the app named as not simulated", |l| {
        l.contains("\"other-app\"") && l.contains("cannot be simulated")
    })
    .await;
    wait_refused(&sim.ws_addr());
}

#[tokio::test]
async fn the_stub_greets_after_its_upload_and_answers_with_two_status_bytes() {
    let sim = Sim::start(&[]);
    let mut rom = download_mode(&sim);
    let code = [0x13u8, 0, 0, 0, 0x6F, 0, 0, 0];
    let r = rom.command(MEM_BEGIN, &words(&[8, 1, 0x1800, 0x4038_0000]), 0);
    assert!(!r.failed(0));
    let mut data = words(&[8, 0, 0, 0]);
    data.extend_from_slice(&code);
    assert!(!rom.command(MEM_DATA, &data, checksum(&code)).failed(0));
    rom.send(MEM_END, &words(&[0, 0x4038_0000]), 0);
    assert!(rom.response(MEM_END, ANSWER).is_some());
    assert_eq!(rom.packet(ANSWER).as_deref(), Some(&b"OHAI"[..]));
    let r = rom.command(READ_REG, &words(&[0x4000_1000]), 0);
    assert_eq!((r.value, r.data.len()), (C3_MAGIC, 2));
    // The stub's MD5 is 16 raw bytes.
    let r = rom.command(SPI_FLASH_MD5, &words(&[0, 4096, 0, 0]), 0);
    assert_eq!(r.data.len(), 18);
    assert_eq!(
        r.data[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        md5_hex(&[0xFF; 4096])
    );
}

#[tokio::test]
async fn fault_fail_command_answers_a_failure_status() {
    let sim = Sim::start(&["--fault", "fail-command=FLASH_BEGIN"]);
    assert!(sim.banner.iter().any(|l| l.contains("FLASH_BEGIN fails")));
    let mut rom = download_mode(&sim);
    let r = rom.command(FLASH_BEGIN, &words(&[4096, 4, 0x400, 0x1000, 0]), 0);
    assert_eq!(r.data[..2], [1, 0x06], "{r:?}");
}

#[tokio::test]
async fn fault_bad_md5_answers_a_digest_that_does_not_match() {
    let sim = Sim::start(&["--fault", "bad-md5"]);
    let mut rom = download_mode(&sim);
    let data = vec![0xA5u8; 2048];
    rom.write_flash(0x2000, &data);
    assert_ne!(rom.md5_hex(0x2000, data.len()), md5_hex(&data));
}

#[tokio::test]
async fn fault_ignore_syncs_leaves_that_many_syncs_unanswered() {
    let sim = Sim::start(&["--fault", "ignore-syncs=3"]);
    let mut rom = RomClient::open(&sim.console_path);
    // One to enter download mode, then three ignored.
    assert!(rom.sync() >= 4);
}

#[tokio::test]
async fn fault_silent_after_stops_answering() {
    let sim = Sim::start(&["--fault", "silent-after=600"]);
    let mut rom = download_mode(&sim);
    assert_eq!(rom.read_reg(0x4000_1000), C3_MAGIC);
    // A 1 KiB block takes the count past 600 bytes: no answer to it or after it.
    let block = vec![0u8; 0x400];
    let mut payload = words(&[0x400, 0, 0, 0]);
    payload.extend_from_slice(&block);
    rom.send(FLASH_DATA, &payload, checksum(&block));
    assert!(rom.response(FLASH_DATA, Duration::from_secs(1)).is_none());
    rom.send(READ_REG, &words(&[0x4000_1000]), 0);
    assert!(rom.response(READ_REG, Duration::from_secs(1)).is_none());
}

#[test]
fn bad_chip_fault_and_flash_file_values_are_clear_errors() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wsbench"))
            .args(["sim", "--ws-port", "0", "--wss-port", "0"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, code, says) in [
        (&["--chip", "esp32s3"][..], 2, "esp32c3 or esp32c6"),
        (&["--fault", "explode"], 2, "bad-md5"),
        (&["--fault", "fail-command=NOPE"], 2, "not an opcode"),
        (&["--fault", "ignore-syncs=many"], 2, "count"),
        (
            &["--flash-file", "/nonexistent-dir/flash.bin"],
            3,
            "--flash-file",
        ),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.bin");
    std::fs::write(&short, b"not a flash").unwrap();
    let out = run(&["--flash-file", short.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("11 bytes"), "{stderr}");
}
