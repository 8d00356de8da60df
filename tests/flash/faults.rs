//! A board that misbehaves (the emulator's injected faults) or is not what was asked for:
//! each a clear diagnostic, a non-zero exit, and no "flashed" claim.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use super::run::{Ran, wsbench};
use super::sim::{FlashableSim, dist};

const LIMIT: Duration = Duration::from_secs(180);

fn flash(sim: &FlashableSim, extra: &[&str]) -> Ran {
    let mut args = vec!["flash", "--port", &sim.console, "--baud", "921600"];
    args.extend_from_slice(extra);
    wsbench(&args, &[], LIMIT)
}

#[test]
fn a_loader_that_fails_a_command_is_a_loader_error() {
    let sim = FlashableSim::start(&["--fault", "fail-command=FLASH_DEFL_DATA"]);
    let ran = flash(&sim, &[]);
    ran.assert_fails(3, "wsbench::flash::loader_error");
    assert!(ran.stderr.contains("FlashDeflData"), "{}", ran.all());
}

#[test]
fn a_wrong_md5_fails_verification() {
    let sim = FlashableSim::start(&["--fault", "bad-md5"]);
    flash(&sim, &[]).assert_fails(3, "wsbench::flash::verify_failed");
}

#[test]
fn a_chip_that_never_answers_sync_names_the_buttons() {
    let sim = FlashableSim::start(&["--fault", "ignore-syncs=100000"]);
    let ran = flash(&sim, &[]);
    ran.assert_fails(3, "wsbench::flash::no_sync");
    assert!(ran.stderr.contains("hold BOOT"), "{}", ran.all());
}

#[test]
fn a_few_ignored_syncs_are_retried_and_the_settings_land() {
    let sim = FlashableSim::start(&["--fault", "ignore-syncs=3"]);
    // Settings only: the retry is what is tested, not a whole image's write.
    let ran = flash(&sim, &["--settings-only", "--ready-timeout", "2s"]);
    assert!(
        ran.stdout.contains("flashed:  1 region(s) written"),
        "{}",
        ran.all()
    );
}

#[test]
fn a_chip_that_goes_silent_mid_write_is_a_lost_port() {
    let sim = FlashableSim::start(&["--fault", "silent-after=100000"]);
    let ran = flash(&sim, &[]);
    ran.assert_fails(3, "wsbench::flash::port_lost");
    assert!(ran.stderr.contains("stopped answering"), "{}", ran.all());
}

#[test]
fn a_chip_other_than_the_one_asked_for_is_refused() {
    let sim = FlashableSim::start(&["--chip", "esp32c6"]);
    let ran = flash(&sim, &["--chip", "esp32c3"]);
    ran.assert_fails(3, "wsbench::flash::chip_mismatch");
    assert!(ran.stderr.contains("esp32c6"), "{}", ran.all());
}

#[test]
fn an_image_for_another_chip_is_refused() {
    let sim = FlashableSim::start(&["--chip", "esp32c6"]);
    let app = dist("esp32c3/app.bin");
    let ran = flash(&sim, &["--image", app.to_str().unwrap()]);
    ran.assert_fails(3, "wsbench::flash::image_for_other_chip");
    assert!(ran.stderr.contains("built for esp32c3"), "{}", ran.all());
}

#[test]
fn an_image_larger_than_the_flash_is_refused() {
    let sim = FlashableSim::start(&[]);
    // A merged image (bootloader header at 0, partition table at 0x8000) of 5 MB.
    let mut merged = vec![0xFFu8; 5 << 20];
    let boot = std::fs::read(dist("esp32c3/bootloader.bin")).unwrap();
    merged[..boot.len()].copy_from_slice(&boot);
    let table = std::fs::read(dist("esp32c3/partition-table.bin")).unwrap();
    merged[0x8000..0x8000 + table.len()].copy_from_slice(&table);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &merged).unwrap();
    let ran = flash(&sim, &["--image", file.path().to_str().unwrap()]);
    ran.assert_fails(3, "wsbench::flash::image_too_large");
    assert!(ran.stderr.contains("4MB"), "{}", ran.all());
}

#[test]
fn a_port_that_vanishes_mid_write_is_a_lost_port() {
    let mut sim = FlashableSim::start(&[]);
    let mut child =
        crate::common::run::wsbench(&["flash", "--port", &sim.console, "--baud", "921600"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let writing = line.contains("partition-table") && line.contains("written");
        printed.push(line);
        if writing {
            // The app (about 1 MB, several seconds at 921600) is being written now.
            sim.kill();
        }
    }
    let status = crate::common::run::wait_within(&mut child, LIMIT)
        .unwrap_or_else(|| panic!("flash did not end: {printed:?}"));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let ran = Ran {
        code: status.code(),
        stdout: printed.join("\n"),
        stderr,
    };
    ran.assert_fails(3, "wsbench::flash::port_lost");
}
