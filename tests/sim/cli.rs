//! What `wsbench sim` prints and how it fails on bad flags or a busy port.

use std::process::Command;

use crate::harness::*;

#[test]
fn banner_says_simulated_and_names_urls_console_and_modelled_heap() {
    let sim = Sim::start(&[]);
    let banner = sim.banner.join("\n");
    assert!(banner.contains("simulated board"), "{banner}");
    assert!(banner.contains("heap figures are modelled"), "{banner}");
    assert!(sim.ws_url.starts_with("ws://127.0.0.1:"), "{banner}");
    assert!(sim.wss_url.starts_with("wss://127.0.0.1:"), "{banner}");
    assert!(std::path::Path::new(&sim.console_path).exists(), "{banner}");
    // The ready line names the ports actually bound.
    let ws_port = host_port(&sim.ws_url)
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let ready = sim
        .lines()
        .into_iter()
        .find(|l| l.contains(" ready "))
        .expect("ready line");
    assert_eq!(field(&ready, "ws_port"), Some(ws_port.as_str()), "{ready}");
}

#[test]
fn a_busy_port_is_named_with_a_suggestion_and_exit_3() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(["sim", "--ws-port", &port, "--wss-port", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(stderr.contains("--ws-port"), "{stderr}");
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["sim", "--console", "/tmp/x"][..],
        &["sim", "--max-sockets", "0"],
        &["sim", "--ws-port", "70000"],
        &["sim", "--broadcast-ms", "-5"],
        &["sim", "--ws-port", "9000", "--wss-port", "9000"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_wsbench"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
