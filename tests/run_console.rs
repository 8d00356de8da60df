//! The serial console in `wsbench run`, as a user runs it: a `wsbench sim` process (its
//! console a pseudo-terminal), then the real binary with `--port` on that terminal.
//! Loopback only; every run is bounded by its scenario and the binary's timeouts.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "sim/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "sim/rom_client.rs"]
mod rom_client;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::run::{output_within, report_folder, report_in, scenario_file, scratch, text, wsbench};
use harness::Sim;
use rom_client::{FLASH_END, RomClient, SYNC, words};

/// A short run: clients connect, echo, hold.
const SHORT: &str = r#"name: console-short
steps:
  - connect: { clients: 2 }
  - echo: { rate: 50, duration: 1s, size: 32 }
  - hold: { duration: 1s }
thresholds:
  - "device.reboots == 0"
  - "device.panics == 0"
  - "device.errors == 0"
  - "device.heap.min > 30000"
"#;

/// Runs `scenario` with its reports under `dir`, killing wsbench if it has not ended
/// within two minutes; returns its output, the report and the report's folder.
fn run(dir: &Path, scenario: &Path, extra: &[&str]) -> (Output, serde_json::Value, PathBuf) {
    let reports = dir.join("reports");
    let mut command = wsbench(&["run", scenario.to_str().unwrap(), "--report-dir"]);
    command.arg(&reports).args(extra);
    let out = output_within(&mut command, Duration::from_secs(120));
    assert!(reports.exists(), "no report folder: {}", text(&out));
    let folder = report_folder(&reports);
    (out, report_in(&folder), folder)
}

fn threshold<'a>(report: &'a serde_json::Value, expr: &str) -> &'a serde_json::Value {
    report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expression"] == expr)
        .unwrap_or_else(|| panic!("no threshold {expr}"))
}

#[test]
fn port_and_target_read_the_console_into_the_report() {
    let sim = Sim::start(&[]);
    let dir = scratch("port-target");
    let scenario = scenario_file(&dir, SHORT);
    let (out, report, folder) = run(
        &dir,
        &scenario,
        &["--port", &sim.console_path, "--target", &sim.ws_url],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let device = &report["device"];
    assert_eq!(device["observed"], true, "{device}");
    assert_eq!(device["reboots"], 0);
    assert_eq!(
        device["source"],
        format!("serial console {}", sim.console_path)
    );
    assert!(device["heap_free_min_bytes"].as_u64().unwrap() > 30_000);
    // The device's own client count is on the timeline beside the tool's.
    assert!(
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["device_clients"].as_u64() == Some(2)),
        "{}",
        report["timeline"]
    );
    // serial.log: every line with the host's time in front.
    let log = std::fs::read_to_string(folder.join("serial.log")).unwrap();
    assert!(log.lines().count() >= 3, "{log}");
    for line in log.lines() {
        let stamp = &line[..14];
        assert!(
            stamp.starts_with('[') && stamp.ends_with(']') && &stamp[3..4] == ":",
            "{line}"
        );
    }
    assert!(log.contains("ws_server: open id="), "{log}");
}

#[test]
fn the_ready_line_names_the_target() {
    let sim = Sim::start(&[]);
    let dir = scratch("ready");
    let scenario = scenario_file(&dir, SHORT);
    let (out, report, _) = run(&dir, &scenario, &["--port", &sim.console_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report["target"]["url"], sim.ws_url, "{}", report["target"]);
    // ip=127.0.0.1: no board is at a loopback address, so it is labelled simulated.
    assert_eq!(report["target"]["kind"], "simulated");
    let because = report["target"]["selected_because"].as_str().unwrap();
    assert!(because.contains("ready line"), "{because}");
    // The boot at attach is listed, not counted as a reboot.
    let events = report["device"]["events"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["kind"] == "boot").count(), 1);
    assert_eq!(report["device"]["reboots"], 0);
}

#[test]
fn a_port_with_no_ready_line_is_a_clear_error() {
    // A pty nobody writes to: wsbench waits, then names the port and what to try.
    let pty = nix::pty::openpty(None, None).unwrap();
    let path = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    ))
    .unwrap();
    let dir = scratch("no-ready");
    let scenario = scenario_file(&dir, SHORT);
    let (out, report, _) = run(
        &dir,
        &scenario,
        &["--port", path.to_str().unwrap(), "--ready-timeout", "1s"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("wsbench::run::no_ready_line"), "{all}");
    assert!(all.contains(path.to_str().unwrap()), "{all}");
    assert!(all.contains("--target"), "{all}");
    assert_eq!(report["started"], false);
}

#[test]
fn a_device_threshold_without_a_console_fails_as_not_measured() {
    let sim = Sim::start(&[]);
    let dir = scratch("no-console");
    let scenario = scenario_file(&dir, SHORT);
    let (out, report, _) = run(&dir, &scenario, &["--target", &sim.ws_url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(report["device"]["observed"], false);
    let t = threshold(&report, "device.reboots == 0");
    assert_eq!(t["passed"], false);
    assert!(t["actual"].is_null());
    let message = t["message"].as_str().unwrap();
    assert!(
        message.contains("not measured") && message.contains("--port"),
        "{message}"
    );
    // The client side was measured all the same.
    assert!(report["steps"][1]["distributions"]["latency"]["count"].as_u64() > Some(0));
}

#[test]
fn a_reboot_mid_run_is_counted_once_and_fails_the_threshold() {
    let sim = Sim::start(&[]);
    // Opened before the run takes the port, so the test can still write to it.
    let mut rom = RomClient::open(&sim.console_path);
    let dir = scratch("reboot");
    let scenario = scenario_file(
        &dir,
        r#"name: console-reboot
steps:
  - connect: { clients: 2 }
  - hold: { duration: 6s }
  - wait: { duration: 3s }
  - connect: { clients: 1 }
  - echo: { rate: 20, duration: 1s, size: 32 }
thresholds:
  - "device.reboots == 0"
"#,
    );
    let reports = dir.join("reports");
    let child = wsbench(&["run", scenario.to_str().unwrap(), "--report-dir"])
        .arg(&reports)
        .args(["--port", &sim.console_path, "--target", &sim.ws_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the run holds its clients: SYNC (the simulated ROM enters download mode),
    // then FLASH_END asking for a reboot into the app.
    std::thread::sleep(Duration::from_secs(4));
    let mut sync = vec![0x07, 0x07, 0x12, 0x20];
    sync.extend_from_slice(&[0x55; 32]);
    for _ in 0..6 {
        rom.send(SYNC, &sync, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    // Twice, in case the loader was still starting: the app ignores the second.
    for _ in 0..2 {
        rom.send(FLASH_END, &words(&[0]), 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    // The board serves again after its reboot (a never-flashed simulated board boots the
    // bundled firmware again): the run goes on and fails on its threshold, exit 1.
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("target lost"), "{all}");
    // Shown in the progress output at once, as one line.
    assert_eq!(all.matches("device  reboot at").count(), 1, "{all}");
    let report = common::run::report(&reports);
    assert_eq!(report["device"]["reboots"], 1, "{}", report["device"]);
    let events = report["device"]["events"].as_array().unwrap();
    let reboot = events.iter().find(|e| e["kind"] == "reboot").unwrap();
    let at = reboot["at_ms"].as_u64().unwrap();
    assert!((2_000..20_000).contains(&at), "{reboot}");
    assert!(
        reboot["line"].as_str().unwrap().contains("RTC_SW_SYS_RST"),
        "{reboot}"
    );
    let t = threshold(&report, "device.reboots == 0");
    assert_eq!(t["passed"], false);
    assert_eq!(t["actual"], 1.0);
    // The boot into download mode before it is listed, not counted.
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "download_mode")
            .count(),
        1
    );
    // Everything measured is kept: the clients connected before the reset, and the
    // echo after the board came back.
    let connect = &report["steps"][0];
    assert_eq!(connect["metrics"]["connected"]["value"], 2.0, "{connect}");
    let echo = &report["steps"][4];
    assert_eq!(echo["metrics"]["received"]["value"], 20.0, "{echo}");
}
