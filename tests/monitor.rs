//! `wsbench monitor`, run as a user runs it: the corpus of console logs under
//! `tests/console/` (each `.log` with the events a person reads in it, `.expected.json`),
//! bad input, and a live console (the simulated board's pseudo-terminal).
//!
//! `WSBENCH_BLESS=1 cargo test --test monitor` rewrites the expected files from what the
//! binary prints; review the diff before committing it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[allow(dead_code)]
mod common;

use common::run::{signal, wait_within};

/// The binary under test. `WSBENCH_BIN` overrides it for checkouts that share one
/// target directory, where another checkout's build can replace the uplifted binary.
fn bin() -> String {
    std::env::var("WSBENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wsbench").to_owned())
}
/// Longest a live wait may take (a loaded 2-core machine).
const WAIT: Duration = Duration::from_secs(20);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

fn monitor(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("monitor")
        .args(args)
        .env_remove("WSBENCH_PORT")
        .stdin(Stdio::null())
        .output()
        .expect("run wsbench monitor")
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("JSON output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[test]
fn every_fixture_gives_its_expected_events() {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 15, "the corpus is there");
    let bless = std::env::var_os("WSBENCH_BLESS").is_some();
    let mut failures = Vec::new();
    for log in &logs {
        let out = monitor(&["--input", log.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}: {:?}", log.display(), out);
        let got = Value::Array(events(&out));
        let expected_path = log.with_extension("expected.json");
        if bless {
            let mut text = serde_json::to_string_pretty(&got).unwrap();
            text.push('\n');
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        )
        .unwrap();
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                log.display(),
                expected,
                got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a person counts in the corpus, asserted apart from the full expected files so a
/// careless re-bless cannot hide a miscount.
#[test]
fn one_event_per_boot_and_per_incident() {
    let count = |log: &str, kind: &str| {
        let out = monitor(&["--input", corpus().join(log).to_str().unwrap(), "--json"]);
        kinds(&events(&out)).iter().filter(|k| **k == kind).count()
    };
    assert_eq!(count("esp32c3-boot-loop.log", "boot"), 3);
    assert_eq!(count("esp32c3-boot-loop.log", "panic"), 3);
    assert_eq!(count("esp32-xtensa-guru-loadprohibited.log", "panic"), 1);
    assert_eq!(count("esp32-xtensa-guru-loadprohibited.log", "boot"), 1);
    assert_eq!(count("esp32-heap-corruption.log", "panic"), 1);
    assert_eq!(count("esp32-task-watchdog.log", "watchdog"), 1);
    assert_eq!(count("esp32-task-watchdog.log", "panic"), 1);
    assert_eq!(count("esp32-stack-overflow-and-canary.log", "panic"), 2);
    assert_eq!(count("esp32c6-bundled-boot.log", "boot"), 1);
    assert_eq!(count("esp32c6-bundled-boot.log", "ready"), 1);
    assert_eq!(count("esp32c3-garbage-before-banner.log", "boot"), 1);
    assert_eq!(count("esp32s3-host-prefix-colours.log", "accept_error"), 1);
    // An ESP_ERROR_CHECK, its location lines, its abort() and backtrace: one panic.
    assert_eq!(count("esp32s3-esp-error-check.log", "panic"), 1);
    assert_eq!(count("esp32s3-esp-error-check.log", "boot"), 2);
    // Behind esp-idf-monitor's `--timestamps` (a date and time, no brackets).
    assert_eq!(count("esp32-idf-monitor-timestamps.log", "boot"), 2);
    assert_eq!(count("esp32-idf-monitor-timestamps.log", "panic"), 1);
    assert_eq!(
        count("esp32-idf-monitor-timestamps.log", "protocol_error"),
        1
    );
}

#[test]
fn a_bundled_firmware_panic_is_decoded_without_flags() {
    let out = monitor(&[
        "--input",
        corpus()
            .join("esp32c3-bundled-esp-backtrace-panic.log")
            .to_str()
            .unwrap(),
        "--json",
    ]);
    let events = events(&out);
    let panic = events.iter().find(|e| e["kind"] == "panic").unwrap();
    let frames = panic["decoded"]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[0]["function"], "wsbench_device::device::Device<P>::admit",
        "{panic}"
    );
}

#[test]
fn a_megabyte_line_is_cut_and_counted_and_binary_is_noise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.log");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![b'x'; 1024 * 1024]).unwrap();
    f.write_all(b"\r\nESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n")
        .unwrap();
    let mut seed = 0x2545_f491_u32;
    let binary: Vec<u8> = (0..200_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8
        })
        .collect();
    f.write_all(&binary).unwrap();
    drop(f);
    let out = monitor(&["--input", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let events = events(&out);
    let cut = events.iter().find(|e| e["kind"] == "line_cut").unwrap();
    assert_eq!(cut["line"], 1);
    assert!(cut["dropped_bytes"].as_u64().unwrap() >= 1024 * 1024 - 128 * 1024);
    assert_eq!(kinds(&events).iter().filter(|k| **k == "boot").count(), 1);
    assert!(kinds(&events).contains(&"noise"), "{events:?}");
    assert!(!kinds(&events).contains(&"panic"));
}

fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "missing {n:?} in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_is_named_with_what_to_do() {
    assert_fails(
        &monitor(&["--input", "/nonexistent/serial.log"]),
        2,
        &[
            "wsbench::console::input",
            "/nonexistent/serial.log",
            "no such file",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    assert_fails(
        &monitor(&["--input", dir.path().to_str().unwrap()]),
        2,
        &["wsbench::console::input", "is a directory"],
    );
    assert_fails(&monitor(&[]), 2, &["wsbench::console::no_port", "--port"]);
    assert_fails(
        &monitor(&["--port", "/dev/ttyNOPE-wsbench"]),
        3,
        &["wsbench::console::port_missing", "/dev/ttyNOPE-wsbench"],
    );
    let log = corpus().join("esp32c3-idf-boot.log");
    assert_fails(
        &monitor(&["--input", "-", "--elf", log.to_str().unwrap()]),
        2,
        &["wsbench::console::not_elf", "a text file"],
    );
}

#[test]
fn an_elf_for_another_image_is_not_used_to_decode() {
    // The wsbench binary is an ELF, but not the one the panic printed the hash of.
    let log = corpus().join("esp32c3-riscv-guru-store-fault.log");
    let out = monitor(&["--input", log.to_str().unwrap(), "--json", "--elf", &bin()]);
    assert!(out.status.success(), "{out:?}");
    let events = events(&out);
    let panic = events.iter().find(|e| e["kind"] == "panic").unwrap();
    let note = panic["decoded"]["note"].as_str().unwrap();
    assert!(
        note.contains("0b5e6e0bd7fa1f2d") && note.contains("not decoded"),
        "{note}"
    );
    assert!(panic["decoded"]["frames"].as_array().unwrap().is_empty());
}

#[test]
fn scenario_events_match_and_a_bad_regex_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "name: console-events\nsteps:\n  - hold: { duration: 1s }\nconsole:\n  events:\n    - name: tls_failure\n      regex: 'mbedtls_ssl_handshake returned (?P<code>-0x[0-9a-f]+)'\n      level: error\n",
    )
    .unwrap();
    let log = corpus().join("esp32c3-idf-boot.log");
    let out = monitor(&[
        "--input",
        log.to_str().unwrap(),
        "--json",
        "--scenario",
        good.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let events = events(&out);
    let user = events.iter().find(|e| e["kind"] == "tls_failure").unwrap();
    assert_eq!(user["captures"]["code"], "-0x7780");
    assert_eq!(user["level"], "error");
    assert_eq!(user["line"], 45);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: console-events\nsteps:\n  - hold: { duration: 1s }\nconsole:\n  events:\n    - name: broken\n      regex: 'error in (accept'\n",
    )
    .unwrap();
    let check = Command::new(bin())
        .args(["scenario", "check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_fails(
        &check,
        2,
        &["bad.yaml:7:", "console event `broken`", "does not compile"],
    );
    let out = monitor(&["--input", "-", "--scenario", bad.to_str().unwrap()]);
    assert_fails(&out, 2, &["bad.yaml:7:"]);
}

/// A `wsbench sim` process, killed on drop.
struct Sim {
    child: Child,
    console: String,
}

impl Sim {
    fn start() -> Sim {
        let mut child = Command::new(bin())
            .args(["sim", "--ws-port", "0", "--wss-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run wsbench sim");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim_start().strip_prefix("console:") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        });
        let console = rx
            .recv_timeout(WAIT)
            .expect("the sim prints its console path");
        Sim { child, console }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live `wsbench monitor --json`, its events collected as they come.
struct Live {
    child: Child,
    events: mpsc::Receiver<Value>,
}

impl Live {
    fn start(port: &str) -> Live {
        let mut child = Command::new(bin())
            .args(["monitor", "--port", port, "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wsbench monitor");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).expect("JSON"));
            }
        });
        Live { child, events }
    }

    fn wait_for(&self, kind: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(e) if e["kind"] == kind => return e,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no {kind} event within {WAIT:?}");
    }

    /// SIGTERM, as a CI job's timeout sends it: the monitor ends cleanly.
    fn stop(mut self) -> (i32, String, Vec<Value>) {
        signal(self.child.id(), "-TERM");
        let status = wait_within(&mut self.child, WAIT).expect("monitor did not stop on SIGTERM");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        let rest = self.events.try_iter().collect();
        (status.code().unwrap_or(-1), stderr, rest)
    }
}

#[test]
fn live_console_of_the_simulated_board_sees_its_boot() {
    let sim = Sim::start();
    let live = Live::start(&sim.console);
    let boot = live.wait_for("boot");
    assert_eq!(boot["evidence"], serde_json::json!(["ready"]), "{boot}");
    assert_eq!(boot["ready"]["ip"], "127.0.0.1", "{boot}");
    assert!(boot["host_time"].is_string());
    let (code, stderr, _) = live.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("1 boots"), "{stderr}");
}

#[test]
fn a_vanishing_port_is_recorded_as_a_gap() {
    let sim = Sim::start();
    let live = Live::start(&sim.console);
    live.wait_for("boot");
    drop(sim);
    let (code, stderr, rest) = live.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("the port was lost"), "{stderr}");
    let gap = rest
        .iter()
        .find(|e| e["kind"] == "gap")
        .expect("a gap event");
    assert_eq!(gap["back"], false);
}
