//! Board faults (`--fault reboot-at|panic-at|heap-leak|stall|noise`), each seen the way a
//! user sees it: `wsbench monitor --port <pty> --json` on the board's console, and a
//! WebSocket client on its port.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

/// Runs `wsbench monitor --port PTY --json` for `watch` and returns its events.
fn monitor_for(console: &str, watch: Duration) -> Vec<serde_json::Value> {
    let mut child = crate::common::run::wsbench(&["monitor", "--port", console, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run wsbench monitor");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect::<Vec<serde_json::Value>>()
    });
    std::thread::sleep(watch);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

fn of_kind<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test]
async fn a_reboot_and_a_panic_are_one_boot_each_and_the_panic_is_named() {
    let sim = Sim::start(&[
        "--fault",
        "reboot-at=1500ms",
        "--fault",
        "panic-at=3500ms",
        "--fault",
        "noise",
    ]);
    let events = monitor_for(&sim.console_path, Duration::from_secs(7));
    let boots = of_kind(&events, "boot");
    let reasons: Vec<_> = boots
        .iter()
        .map(|b| b["reset_reason"]["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    // Power-on (printed at start, read from the terminal's buffer), the reboot, the
    // reset after the panic: one event each, the noise before each counting for none.
    assert_eq!(
        reasons,
        ["POWERON", "RTC_SW_SYS_RST", "RTCWDT_RTC_RST"],
        "{events:#?}"
    );
    let panics = of_kind(&events, "panic");
    assert_eq!(panics.len(), 1, "{events:#?}");
    let panic = panics[0];
    assert!(
        panic["reason"]
            .as_str()
            .unwrap()
            .contains("simulated panic"),
        "{panic}"
    );
    let frames = panic["decoded"]["frames"]
        .as_array()
        .expect("decoded frames");
    assert_eq!(frames.len(), 3, "{panic}");
    for frame in frames {
        assert!(
            frame["function"]
                .as_str()
                .is_some_and(|f| f.starts_with("wsbench_device::")),
            "{panic}"
        );
    }
    assert!(!of_kind(&events, "noise").is_empty(), "{events:#?}");
    // The app is back on the same port after the last boot.
    let mut client = connect(&sim.ws_url).await;
    assert_echo(&mut client, Message::text("after the panic")).await;
}

#[tokio::test]
async fn heap_figures_fall_at_the_leak_rate() {
    let sim = Sim::start(&["--fault", "heap-leak=2000"]);
    let events = monitor_for(&sim.console_path, Duration::from_secs(5));
    let heap = of_kind(&events, "heap");
    assert!(heap.len() >= 3, "{events:#?}");
    let (first, last) = (heap[0], heap[heap.len() - 1]);
    let ms = last["device_ms"].as_u64().unwrap() - first["device_ms"].as_u64().unwrap();
    let fell = first["free"].as_u64().unwrap() - last["free"].as_u64().unwrap();
    let rate = fell as f64 * 1000.0 / ms as f64;
    assert!((1500.0..2500.0).contains(&rate), "{rate} B/s: {heap:#?}");
    assert!(last["min_free"].as_u64() <= last["free"].as_u64());
    assert_eq!(last["source"], "modelled");
}

#[tokio::test]
async fn a_stall_delays_the_echo_and_then_the_device_recovers() {
    let started = Instant::now();
    let sim = Sim::start(&["--fault", "stall=2500ms@1500ms"]);
    let mut client = connect(&sim.ws_url).await;
    assert_echo(&mut client, Message::text("before")).await;
    // Well inside the stall (it runs from 1.5 s to 4 s after the board started).
    tokio::time::sleep_until((started + Duration::from_millis(2200)).into()).await;
    let sent = Instant::now();
    assert_echo(&mut client, Message::text("during")).await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "echo came after {waited:?}, inside the stall"
    );
    // Recovered: a new client and the old one are served.
    let mut late = connect(&sim.ws_url).await;
    assert_echo(&mut late, Message::text("after")).await;
    assert_echo(&mut client, Message::text("after")).await;
}

#[test]
fn bad_fault_values_are_usage_errors_that_say_what_is_allowed() {
    for bad in ["panic-at=soon", "heap-leak=0", "stall=1s@later", "noise=1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wsbench"))
            .args(["sim", "--ws-port", "0", "--wss-port", "0", "--fault", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--fault"), "{bad}: {err}");
    }
}
