//! Bad input that needs no emulator: each a clear diagnostic, its documented exit code,
//! and never a "flashed" line.

use std::time::Duration;

use serialport::{SerialPort as _, TTYPort};

use super::run::wsbench;

const LIMIT: Duration = Duration::from_secs(60);

fn flash(args: &[&str]) -> super::run::Ran {
    let mut all = vec!["flash"];
    all.extend_from_slice(args);
    wsbench(&all, &[], LIMIT)
}

#[test]
fn dev_null_is_not_a_serial_port() {
    flash(&["--port", "/dev/null"]).assert_fails(2, "wsbench::serial::not_a_serial_port");
}

#[test]
fn a_regular_file_is_not_a_serial_port() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let ran = flash(&["--port", file.path().to_str().unwrap()]);
    ran.assert_fails(2, "wsbench::serial::not_a_serial_port");
    assert!(ran.stderr.contains("a regular file"), "{}", ran.all());
}

#[test]
fn a_missing_port_is_named() {
    let ran = flash(&["--port", "/dev/ttyWSBENCH-none"]);
    ran.assert_fails(3, "wsbench::serial::not_found");
    assert!(ran.stderr.contains("/dev/ttyWSBENCH-none"));
}

#[test]
fn the_port_comes_from_wsbench_port_when_not_given() {
    let ran = wsbench(&["flash"], &[("WSBENCH_PORT", "/dev/null")], LIMIT);
    ran.assert_fails(2, "wsbench::serial::not_a_serial_port");
    assert!(ran.stdout.contains("from WSBENCH_PORT"), "{}", ran.all());
}

#[test]
fn a_port_held_by_another_program_is_busy() {
    let (_master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    drop(slave);
    let _holder = serialport::new(&path, 115_200)
        .open_native()
        .expect("hold the port");
    flash(&["--port", &path]).assert_fails(3, "wsbench::serial::busy");
}

#[test]
fn a_port_where_nothing_answers_names_the_buttons() {
    let (_master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    drop(slave);
    let ran = flash(&["--port", &path]);
    ran.assert_fails(3, "wsbench::flash::no_sync");
    assert!(ran.stderr.contains("hold BOOT"), "{}", ran.all());
    assert!(ran.stdout.contains("no DTR/RTS lines"), "{}", ran.all());
}

#[test]
fn an_elf_that_is_not_an_esp_app_is_refused_before_any_port_is_opened() {
    let exe = env!("CARGO_BIN_EXE_wsbench");
    let ran = flash(&["--image", exe, "--port", "/dev/ttyWSBENCH-none"]);
    ran.assert_fails(2, "wsbench::flash::not_an_esp_image");
    assert!(ran.stderr.contains("machine 62"), "{}", ran.all());
}

fn elf_file(bytes: Vec<u8>) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".elf").tempfile().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

#[test]
fn a_risc_v_elf_without_an_app_descriptor_is_not_an_esp_app() {
    let image = elf_file(super::elf::without_descriptor(&super::elf::ESP32C3));
    let ran = flash(&[
        "--image",
        image.path().to_str().unwrap(),
        "--port",
        "/dev/ttyWSBENCH-none",
    ]);
    ran.assert_fails(2, "wsbench::flash::not_an_esp_image");
    assert!(ran.stderr.contains("app descriptor"), "{}", ran.all());
}

#[test]
fn an_xtensa_elf_with_a_risc_v_chip_flag_is_refused_before_any_port_is_opened() {
    let image = elf_file(super::elf::app(&super::elf::ESP32));
    let ran = flash(&[
        "--image",
        image.path().to_str().unwrap(),
        "--chip",
        "esp32c3",
        "--port",
        "/dev/ttyWSBENCH-none",
    ]);
    ran.assert_fails(2, "wsbench::flash::image_for_other_chip");
    assert!(
        ran.stderr.contains("Xtensa") && ran.stderr.contains("--chip says esp32c3"),
        "{}",
        ran.all()
    );
}

#[test]
fn no_port_given_and_none_like_an_esp_board_says_so() {
    let listed = wsbench(&["ports", "--json"], &[], LIMIT);
    let doc: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let ports = doc["ports"].as_array().expect("a ports array");
    if ports.iter().any(|p| p["likely_esp"] == true) {
        eprintln!(
            "this machine has a port like an ESP board: the no-port case cannot be made here"
        );
        return;
    }
    let ran = flash(&[]);
    ran.assert_fails(3, "wsbench::serial::no_port");
    for port in ports {
        let path = port["path"].as_str().unwrap();
        assert!(
            ran.stderr.contains(path),
            "{path} not named:\n{}",
            ran.all()
        );
    }
}

#[test]
fn settings_flags_with_an_image_are_a_usage_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), [0xE9u8; 64]).unwrap();
    let ran = flash(&[
        "--image",
        file.path().to_str().unwrap(),
        "--max-sockets",
        "3",
    ]);
    ran.assert_fails(2, "wsbench::flash::settings_with_image");
}

#[test]
fn settings_the_record_cannot_hold_are_refused_and_the_password_is_not_echoed() {
    let ran = flash(&["--password", "tiny-pw", "--port", "/dev/ttyWSBENCH-none"]);
    ran.assert_fails(2, "wsbench::flash::settings");
    assert!(!ran.all().contains("tiny-pw"), "{}", ran.all());
}

#[test]
fn an_unknown_chip_is_a_usage_error_listing_the_chips() {
    let ran = flash(&["--chip", "esp8266"]);
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert!(ran.stderr.contains("esp32c3"), "{}", ran.all());
    ran.assert_not_flashed();
}

#[test]
fn help_documents_the_exit_codes() {
    let ran = flash(&["--help"]);
    assert_eq!(ran.code, Some(0));
    for needle in [
        "Exit codes:",
        "WSBENCH_PORT",
        "never prompts",
        "--settings-only",
    ] {
        assert!(ran.stdout.contains(needle), "no `{needle}` in --help");
    }
}

#[test]
fn ports_json_lists_what_the_system_lists() {
    let ran = wsbench(&["ports", "--json"], &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    let ports = doc["ports"].as_array().expect("a ports array");
    let listed = serialport::available_ports().unwrap_or_default();
    assert_eq!(ports.len(), listed.len());
    for port in ports {
        assert!(port["path"].is_string() && port["adapter"].is_string());
        assert!(port["likely_esp"].is_boolean());
    }
}
