//! `wsbench run` and `wsbench scenario` as a user runs them: the real binary against the
//! in-process simulated board, a plain tokio-tungstenite echo server, and listeners that
//! misbehave. Loopback only; every run is bounded by the scenario and the binary's
//! own timeouts.

#[allow(dead_code)]
mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use common::run::{
    output_within, report, root, run_stopped, scenario_file, scratch, scratch_path, text, wsbench,
};
use common::servers::{echo_server, ws_serve_for};

/// Longest a run here may take before the test fails (none comes near it).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Runs `wsbench ARGS` in the repository (where `scenarios/` is), within `limit`.
fn in_repo(args: &[&str], limit: Duration) -> Output {
    output_within(wsbench(args).current_dir(root()), limit)
}

fn run_scenario(file: &Path, extra: &[&str], name: &str) -> (Output, serde_json::Value) {
    run_scenario_within(file, extra, name, RUN_LIMIT)
}

fn run_scenario_within(
    file: &Path,
    extra: &[&str],
    name: &str,
    limit: Duration,
) -> (Output, serde_json::Value) {
    let reports = scratch(name).join("reports");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = in_repo(&args, limit);
    let rep = report(&reports);
    (out, rep)
}

/// Runs `file` against a loopback server of the test's own at ws://127.0.0.1:`port`/.
fn run_at_port(file: &Path, port: u16, name: &str) -> (Output, serde_json::Value) {
    run_scenario(file, &["--target", &target(port)], name)
}

fn target(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/")
}

fn write(name: &str, yaml: &str) -> PathBuf {
    scenario_file(&scratch(name), yaml)
}

fn assert_shipped_passes(name: &str) {
    let file = root().join("scenarios").join(format!("{name}.yaml"));
    let (out, rep) = run_scenario(&file, &["--sim"], &format!("shipped-{name}"));
    assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
    assert_eq!(rep["verdict"], "pass");
    assert_eq!(rep["complete"], true);
    assert_eq!(rep["target"]["kind"], "simulated");
    let thresholds = rep["thresholds"].as_array().unwrap();
    assert!(!thresholds.is_empty(), "{name} has no thresholds");
    assert!(thresholds.iter().all(|t| t["passed"] == true));
    for step in rep["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "passed", "{name}: step {}", step["name"]);
    }
}

#[test]
fn shipped_smoke_passes_on_the_simulated_board() {
    assert_shipped_passes("smoke");
}

#[test]
fn shipped_echo_passes_on_the_simulated_board() {
    assert_shipped_passes("echo");
}

#[test]
fn echo_reports_latency_and_send_lag_for_every_message() {
    let file = write(
        "echo-send-lag",
        "name: lag\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 100, duration: 1s }\n\
         thresholds: [\"echo.send_lag.p99 < 1s\"]\n",
    );
    let (out, rep) = run_scenario(&file, &["--sim"], "echo-send-lag-run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let echo = &rep["steps"][1];
    assert_eq!(echo["metrics"]["received"]["value"], 200.0);
    assert_eq!(echo["distributions"]["latency"]["count"], 200);
    assert_eq!(echo["distributions"]["send_lag"]["count"], 200);
}

#[test]
fn shipped_fanout_passes_on_the_simulated_board() {
    assert_shipped_passes("fanout");
}

#[test]
fn shipped_tls_passes_on_the_simulated_board() {
    assert_shipped_passes("tls");
}

#[test]
fn shipped_exhaust_passes_and_finds_the_socket_limit() {
    assert_shipped_passes("exhaust");
    let file = root().join("scenarios/exhaust.yaml");
    let (out, rep) = run_scenario(&file, &["--sim"], "exhaust-limit");
    // The threshold line says what was wanted, apart from the metric named `limit`.
    assert!(
        text(&out).contains("pass: exhaust.limit is 7, wanted >= 7"),
        "{}",
        text(&out)
    );
    let step = &rep["steps"][0];
    assert_eq!(step["metrics"]["limit"]["value"], 7.0);
    assert_eq!(step["metrics"]["purged"]["value"], 1.0);
    assert!(
        step["notes"]
            .to_string()
            .contains("oldest client (#1) purged"),
        "{}",
        step["notes"]
    );
}

#[test]
fn shipped_known_bugs_passes_on_the_simulated_board() {
    assert_shipped_passes("known-bugs");
}

#[test]
fn every_shipped_scenario_checks() {
    let files: Vec<String> = ["smoke", "echo", "fanout", "tls", "exhaust", "known-bugs"]
        .iter()
        .map(|name| format!("scenarios/{name}.yaml"))
        .collect();
    let mut args = vec!["scenario", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = in_repo(&args, RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches(": ok").count(),
        6
    );
}

#[test]
fn schema_is_json_naming_every_step() {
    let out = in_repo(&["scenario", "schema"], RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = schema.to_string();
    for kind in [
        "connect", "echo", "fanout", "tls", "exhaust", "ping", "churn", "abrupt", "frames", "hold",
        "wait",
    ] {
        assert!(s.contains(&format!("\"{kind}\"")), "schema lacks {kind}");
    }
}

#[test]
fn a_failed_threshold_exits_1_and_says_which() {
    let file = write(
        "threshold-fails",
        "name: strict\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 20, duration: 300ms }\n\
         thresholds:\n  - \"echo.latency.p50 < 1us\"\n  - \"echo.loss == 0\"\n",
    );
    let (out, rep) = run_scenario(&file, &["--sim"], "threshold-fails-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(rep["verdict"], "fail");
    assert_eq!(rep["thresholds"][0]["passed"], false);
    assert_eq!(rep["thresholds"][1]["passed"], true);
    assert!(
        text(&out).contains("FAIL: echo.latency.p50 is ") && text(&out).contains(", wanted < 1us"),
        "{}",
        text(&out)
    );
    // report.md shows the expression as written: an entity in a code span is literal.
    let reports = scratch_path("threshold-fails-run").join("reports");
    let dir = common::run::report_folder(&reports);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("`echo.latency.p50 < 1us`"), "{md}");
    assert!(!md.contains("`echo.latency.p50 &lt; 1us`"), "{md}");
}

fn assert_usage_error(yaml: &str, name: &str, expected: &[&str]) {
    let file = write(name, yaml);
    let out = in_repo(&["run", file.to_str().unwrap(), "--sim"], RUN_LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    for e in expected {
        assert!(t.contains(e), "expected `{e}` in:\n{t}");
    }
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn missing_file_exits_2() {
    let out = in_repo(&["run", "scenarios/does-not-exist.yaml"], RUN_LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .contains("cannot read scenario file scenarios/does-not-exist.yaml: no such file")
    );
}

#[test]
fn yaml_syntax_error_names_the_line() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: { clients: 2\n",
        "syntax",
        &["scenario.yaml:4:1", "did not find expected"],
    );
}

#[test]
fn unclosed_quote_says_what_to_close() {
    assert_usage_error(
        "name: \"x\nsteps:\n  - connect: {}\n",
        "unclosed-quote",
        &["scenario.yaml:4:1", "ends inside an open quote", "close it"],
    );
}

#[test]
fn steps_written_as_a_map_or_two_in_one_item_say_how_to_list_them() {
    assert_usage_error(
        "name: x\nsteps:\n  connect: { clients: 2 }\n",
        "steps-map",
        &[
            "scenario.yaml:3:3",
            "`steps` is a list: start each step with `- `",
        ],
    );
    assert_usage_error(
        "name: x\nsteps:\n  - connect: { clients: 2 }\n    echo: { rate: 1, duration: 1s }\n",
        "two-in-one",
        &["scenario.yaml:3:5", "one step per list item"],
    );
}

#[test]
fn unknown_field_suggests_the_nearest_key() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: { clinets: 2 }\n",
        "unknown-field",
        &[
            "scenario.yaml:3:16",
            "unknown field `clinets`",
            "did you mean `clients`?",
        ],
    );
}

#[test]
fn unknown_step_suggests_the_nearest_kind() {
    assert_usage_error(
        "name: x\nsteps:\n  - eccho: { rate: 1, duration: 1s }\n",
        "unknown-step",
        &["did you mean `echo`?"],
    );
}

#[test]
fn negative_count_is_refused() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: { clients: -3 }\n",
        "negative",
        &["scenario.yaml:3:25", "integer `-3`", "cannot be negative"],
    );
}

#[test]
fn zero_rate_is_refused() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: {}\n  - echo: { rate: 0, duration: 1s }\n",
        "zero-rate",
        &[
            "step 2 (`echo`)",
            "`rate` (messages per second) must be above 0",
        ],
    );
}

#[test]
fn unknown_metric_in_threshold_is_refused() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: {}\n  - echo: { rate: 5, duration: 1s }\nthresholds: [\"echo.latncy.p99 < 5ms\"]\n",
        "unknown-metric",
        &[
            "threshold `echo.latncy.p99 < 5ms`",
            "did you mean `echo.latency.p99`?",
        ],
    );
}

/// A run that cannot start exits 3, says why, and still leaves `report.json` (not
/// started, with the reason) and a `junit.xml` whose one failing case names it.
fn assert_unreachable(url: &str, expected: &[&str]) {
    let file = root().join("scenarios/echo.yaml");
    let reports = scratch(&format!(
        "unreachable-{}",
        url.replace([':', '/', '.'], "_")
    ))
    .join("r");
    let started = Instant::now();
    let out = in_repo(
        &[
            "run",
            file.to_str().unwrap(),
            "--target",
            url,
            "--connect-timeout",
            "1s",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        RUN_LIMIT,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    for e in expected {
        assert!(text(&out).contains(e), "expected `{e}` in:\n{}", text(&out));
    }
    assert!(
        text(&out).contains("wsbench::run::unreachable"),
        "{}",
        text(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let rep = report(&reports);
    assert_eq!(rep["verdict"], "incomplete");
    assert_eq!(rep["started"], false);
    let why = rep["interruption"].as_str().unwrap();
    assert!(why.starts_with("could not start: "), "{why}");
    let dir = common::run::report_folder(&reports);
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 1, "{xml}");
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    assert_eq!(failure.attribute("message"), Some(why), "{xml}");
}

#[test]
fn refused_target_exits_3() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_unreachable(
        &format!("ws://127.0.0.1:{port}/ws"),
        &["connection refused by 127.0.0.1"],
    );
}

#[test]
fn silent_target_times_out_and_exits_3() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_unreachable(
        &format!("ws://127.0.0.1:{port}/ws"),
        &["sent no upgrade answer within 1000 ms"],
    );
    drop(listener);
}

#[test]
fn target_closing_at_once_exits_3() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            // Take the whole upgrade request first: closing a socket with unread data
            // makes the kernel answer with a reset instead of an orderly close, and
            // which one the client sees would depend on timing.
            use std::io::Read;
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            drop(s);
        }
    });
    assert_unreachable(
        &format!("ws://127.0.0.1:{port}/ws"),
        &[
            "closed the connection right after accepting it",
            "expecting TLS on this port (then use wss://)",
        ],
    );
    closer.join().unwrap();
}

#[test]
fn wss_to_a_plain_server_points_at_ws() {
    // A plain WebSocket server answering a TLS ClientHello by closing: the help must not
    // send the user after certificates.
    let port = foreign_echo_server();
    let url = format!("wss://127.0.0.1:{port}/");
    assert_unreachable(
        &url,
        &[
            "TLS handshake with 127.0.0.1",
            "if this port serves plain WebSocket, use ws://",
        ],
    );
}

#[test]
fn untrusted_certificate_is_a_tls_failure() {
    // The simulated board's wss port with a CA that did not sign its certificate.
    let ca = scratch("wrong-ca").join("ca.pem");
    std::fs::write(&ca, wrong_ca_pem()).unwrap();
    let file = write(
        "tls-wrong-ca",
        "name: tlsca\nsteps:\n  - tls: { handshakes: 2 }\nthresholds: [\"tls.failed == 0\"]\n",
    );
    let (out, rep) = run_scenario(
        &file,
        &["--sim", "--ca", ca.to_str().unwrap()],
        "tls-wrong-ca-run",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let failures = rep["steps"][0]["failures"].to_string();
    assert!(
        failures.contains("tls: certificate not trusted"),
        "{failures}"
    );
    assert_eq!(rep["target"]["trust"], ca.to_str().unwrap());
}

fn wrong_ca_pem() -> String {
    // A self-signed certificate unrelated to the device's (made with openssl for tests).
    std::fs::read_to_string(root().join("tests/data/unrelated-ca.pem")).unwrap()
}

#[test]
fn insecure_is_recorded_in_the_report() {
    let file = write(
        "insecure",
        "name: insecure\nsteps:\n  - tls: { handshakes: 2 }\nthresholds: [\"tls.failed == 0\"]\n",
    );
    let (out, rep) = run_scenario(&file, &["--sim", "--insecure"], "insecure-run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rep["target"]["insecure"], true);
    assert!(text(&out).contains("--insecure"));
}

#[test]
fn ctrl_c_writes_an_incomplete_report() {
    interrupted_run_writes_an_incomplete_report("INT", "interrupted by Ctrl-C");
}

#[test]
fn sigterm_writes_an_incomplete_report() {
    interrupted_run_writes_an_incomplete_report("TERM", "terminated (SIGTERM)");
}

/// A 20 s echo at 20 msg/s on each of 2 clients, stopped with `sig` `after` the echo
/// step started (exit 3 within 8 s, asserted); returns the report.
fn stop_mid_echo(name: &str, sig: &str, after: Duration, extra: &[&str]) -> serde_json::Value {
    run_stopped(
        name,
        "name: long\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 20, duration: 20s }\n  - wait: { duration: 1s }\n\
         thresholds: [\"echo.loss == 0\"]\n",
        extra,
        "echo",
        after,
        sig,
    )
}

fn metric(step: &serde_json::Value, name: &str) -> u64 {
    step["metrics"][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {}", step["metrics"])) as u64
}

fn interrupted_run_writes_an_incomplete_report(signal: &str, why: &str) {
    let name = format!("signal-{signal}");
    let rep = stop_mid_echo(&name, signal, Duration::from_millis(800), &[]);
    assert_eq!(rep["complete"], false);
    assert_eq!(rep["verdict"], "incomplete");
    assert_eq!(rep["interruption"], why);
    let echo = &rep["steps"][1];
    assert_eq!(echo["status"], "interrupted");
    assert!(
        echo["distributions"]["latency"]["count"].as_u64().unwrap() > 0,
        "what was measured is kept"
    );
    assert_eq!(rep["steps"][2]["status"], "interrupted");
    // The step wound down: its plan is what was due before the stop (about 0.8 s at
    // 40 msg/s, not the 800 of 20 s), every planned message accounted for.
    let planned = metric(echo, "planned");
    assert!((10..200).contains(&planned), "planned {planned}");
    let (sent, unsent) = (metric(echo, "sent"), metric(echo, "unsent"));
    assert_eq!(planned, sent + unsent);
    assert_eq!(
        metric(echo, "received") + metric(echo, "lost") + metric(echo, "in_flight"),
        sent
    );
    let notes = echo["notes"].to_string();
    assert!(
        notes.contains("stopped after ")
            && notes.contains(&format!("cover the {planned} messages")),
        "the cut-short step says how far it got: {notes}"
    );
    let loss = rep["thresholds"][0]["message"].as_str().unwrap();
    assert!(loss.contains("(interrupted: "), "{loss}");
}

#[test]
fn a_stop_mid_echo_counts_the_echoes_in_flight_apart_from_loss() {
    // Every echo comes back 1.5 s after its message: when wsbench stops waiting (1 s
    // after the stop), the last half second of sends is still within its 2 s timeout.
    let port =
        common::servers::delayed_echo_server(Duration::from_secs(60), Duration::from_millis(1500));
    let url = format!("ws://127.0.0.1:{port}/");
    let rep = stop_mid_echo(
        "stop-in-flight",
        "INT",
        Duration::from_millis(2500),
        &["--target", &url],
    );
    let echo = &rep["steps"][1];
    assert_eq!(echo["status"], "interrupted");
    let (sent, received) = (metric(echo, "sent"), metric(echo, "received"));
    let in_flight = metric(echo, "in_flight");
    // About 20 (0.5 s at 40 msg/s); none of them is lost.
    assert!((5..=60).contains(&in_flight), "in_flight {in_flight}");
    assert_eq!(metric(echo, "lost"), 0, "{}", echo["metrics"]);
    assert_eq!(received + in_flight, sent, "{}", echo["metrics"]);
    assert_eq!(echo["metrics"]["loss"]["value"], 0.0);
    let loss = rep["thresholds"][0]["message"].as_str().unwrap();
    assert!(
        loss.starts_with("pass") && loss.contains("(interrupted: "),
        "{loss}"
    );
}

#[test]
fn a_stop_mid_ping_reports_the_pings_sent_before_it() {
    let rep = run_stopped(
        "stop-ping",
        "name: pings\nsteps:\n  - ping: { count: 1000, interval: 10ms }\n\
         thresholds: [\"ping.lost == 0\"]\n",
        &[],
        "ping",
        Duration::from_millis(1000),
        "INT",
    );
    let ping = &rep["steps"][0];
    assert_eq!(ping["status"], "interrupted");
    // About 100 of the 1,000 planned (1 s at one per 10 ms), each accounted for.
    let sent = metric(ping, "sent");
    assert!((30..500).contains(&sent), "sent {sent}");
    assert_eq!(
        metric(ping, "received") + metric(ping, "lost") + metric(ping, "in_flight"),
        sent
    );
    assert_eq!(metric(ping, "lost"), 0, "{}", ping["metrics"]);
    let notes = ping["notes"].to_string();
    assert!(
        notes.contains(&format!("{sent} pings sent before the stop")),
        "{notes}"
    );
    let verdict = rep["thresholds"][0]["message"].as_str().unwrap();
    assert!(verdict.contains("(interrupted: "), "{verdict}");
}

/// A minimal echo server nobody here wrote the protocol of: tokio-tungstenite's own.
fn foreign_echo_server() -> u16 {
    echo_server(Duration::from_secs(60), Duration::ZERO)
}

#[test]
fn echo_and_known_bugs_run_against_a_foreign_server() {
    let port = foreign_echo_server();
    let url = format!("ws://127.0.0.1:{port}/");
    for name in ["echo", "known-bugs"] {
        let file = root().join("scenarios").join(format!("{name}.yaml"));
        let (out, rep) = run_scenario(&file, &["--target", &url], &format!("foreign-{name}"));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(rep["target"]["kind"], "url");
        assert_eq!(rep["device"]["observed"], false);
    }
}

#[test]
fn burst_fanout_against_a_foreign_server_says_it_needs_our_device() {
    let port = foreign_echo_server();
    let file = root().join("scenarios/fanout.yaml");
    let (out, rep) = run_at_port(&file, port, "foreign-fanout");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(rep["steps"][1]["status"], "failed");
    assert!(
        rep["steps"][1]["errors"]
            .to_string()
            .contains("does not look like a wsbench device")
    );
    // The failed trigger leaves the clients open: the next step uses them rather than
    // claiming the scenario has no `connect` step.
    let broadcast = &rep["steps"][2];
    assert!(
        !broadcast["errors"].to_string().contains("put a `connect`"),
        "{broadcast}"
    );
    assert_eq!(broadcast["metrics"]["clients"]["value"], 6.0, "{broadcast}");
    assert_eq!(
        broadcast["metrics"]["messages"]["value"], 0.0,
        "{broadcast}"
    );
    // An echo server never broadcasts: all of them are lost, not a vacuous `loss == 0`.
    assert_eq!(broadcast["metrics"]["loss"]["value"], 1.0, "{broadcast}");
}

#[test]
fn a_step_after_a_failed_connect_names_the_connect_step() {
    // The foreign server agrees to no subprotocol, so every client of `connect` fails.
    let port = foreign_echo_server();
    let file = write(
        "after-failed-connect",
        "name: afc\nsteps:\n  - connect: { clients: 2, subprotocol: chat }\n  - echo: { rate: 5, duration: 1s }\n",
    );
    let (out, rep) = run_at_port(&file, port, "after-failed-connect-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let echo_errors = rep["steps"][1]["errors"].to_string();
    assert!(
        echo_errors.contains("step `connect` failed with no client left open"),
        "{echo_errors}"
    );
    assert!(!echo_errors.contains("put a `connect`"), "{echo_errors}");
}

#[test]
fn exhaust_without_a_limit_says_why_the_limit_is_missing() {
    let port = foreign_echo_server();
    let file = write(
        "no-limit",
        "name: nolimit\nsteps:\n  - exhaust: { cap: 3 }\nthresholds: [\"exhaust.limit >= 1\"]\n",
    );
    let (out, rep) = run_at_port(&file, port, "no-limit-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = rep["thresholds"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("not measured") && message.contains("no limit found up to the cap of 3"),
        "{message}"
    );
    assert!(text(&out).contains("no limit found up to the cap of 3"));
}

#[test]
fn target_lost_mid_run_writes_an_incomplete_report() {
    // It stops (closing every connection and its port) mid-run.
    let port = echo_server(Duration::from_millis(1500), Duration::ZERO);
    let file = write(
        "target-lost",
        "name: lost\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 20, duration: 3s, timeout: 500ms }\n  - wait: { duration: 1s }\n",
    );
    let (out, rep) = run_at_port(&file, port, "target-lost-run");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(rep["complete"], false);
    let why = rep["interruption"].as_str().unwrap();
    assert!(why.starts_with("target lost after step `echo`"), "{why}");
    assert!(
        rep["steps"][1]["metrics"]["sent"]["value"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(rep["steps"][2]["status"], "interrupted");
}

#[test]
fn exhaust_with_purge_off_reports_the_refusal() {
    let file = write(
        "no-purge",
        "name: nopurge\nsim: { lru_purge: false, max_sockets: 4 }\nsteps:\n  - exhaust: { cap: 10 }\n\
         thresholds: [\"exhaust.limit == 4\", \"exhaust.purged == 0\", \"exhaust.recovered == 1\"]\n",
    );
    let (out, rep) = run_scenario(&file, &[], "no-purge-run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The board closes the refused socket without reading the request, so the client
    // sees either a plain close or a reset, depending on timing; both are refusals.
    let m = &rep["steps"][0]["metrics"];
    let pushed_back =
        m["refused"]["value"].as_f64().unwrap() + m["reset"]["value"].as_f64().unwrap();
    assert_eq!(pushed_back, 1.0, "{m}");
    let notes = rep["steps"][0]["notes"].to_string();
    assert!(
        notes.contains("limit found: 4 connections; extra client"),
        "{notes}"
    );
    assert!(
        rep["device"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "refuse")
    );
}

/// A chat-like server: every text message is relayed to every connected client.
fn relay_server() -> u16 {
    let (relay, _) = tokio::sync::broadcast::channel::<String>(1024);
    ws_serve_for(Duration::from_secs(30), move |ws| {
        let (relay_tx, mut relay_rx) = (relay.clone(), relay.subscribe());
        async move {
            let (mut sink, mut stream) = ws.split();
            let forward = tokio::spawn(async move {
                while let Ok(text) = relay_rx.recv().await {
                    if sink
                        .send(tokio_tungstenite::tungstenite::Message::text(text))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = stream.next().await {
                if let Ok(text) = msg.into_text() {
                    let _ = relay_tx.send(text.to_string());
                }
            }
            forward.abort();
        }
    })
}

#[test]
fn fanout_by_message_runs_against_a_relaying_server() {
    let port = relay_server();
    let file = write(
        "relay",
        concat!(
            "name: relay\nsteps:\n  - connect: { clients: 4 }\n  - wait: { duration: 100ms }\n",
            "  - fanout: { trigger: message, message: hello, count: 20, interval: 5ms }\n",
            "thresholds: [\"fanout.loss == 0\", \"fanout.duplicates == 0\", \"fanout.delivered == 80\"]\n",
        ),
    );
    let (out, rep) = run_at_port(&file, port, "relay-run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rep["steps"][2]["distributions"]["spread"]["count"], 20);
}

/// An echo server with a known esp_http_server fault: it drops TCP when a CLOSE arrives
/// instead of answering with CLOSE.
fn close_dropping_server() -> u16 {
    ws_serve_for(Duration::from_secs(30), |mut ws| async move {
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_close() {
                return; // dropped before the queued CLOSE reply is written
            }
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

#[test]
fn churn_catches_a_server_that_does_not_answer_close() {
    let port = close_dropping_server();
    let file = write(
        "close-dropper",
        "name: closes\nsteps:\n  - churn: { cycles: 3 }\nthresholds: [\"churn.close_not_echoed == 0\"]\n",
    );
    let (out, rep) = run_at_port(&file, port, "close-dropper-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(rep["steps"][0]["metrics"]["close_not_echoed"]["value"], 3.0);
    assert!(
        rep["steps"][0]["notes"]
            .to_string()
            .contains("3 of 3 CLOSE frames were not answered")
    );
}

/// A server that upgrades and then never reads again, like a wedged device: its TCP
/// window fills and every send to it blocks.
fn wedged_server() -> u16 {
    ws_serve_for(Duration::from_secs(90), |ws| async move {
        let _held = ws;
        std::future::pending::<()>().await
    })
}

#[test]
fn a_server_that_stops_reading_does_not_hang_the_run() {
    let port = wedged_server();
    let file = write(
        "wedged",
        "name: wedged\nsteps:\n  - connect: { clients: 1 }\n\
         \x20 - echo: { rate: 50, size: 1000000, duration: 1s, timeout: 500ms }\n\
         \x20 - frames: { sizes: [16777216], fragments: 0, timeout: 500ms }\n\
         thresholds: [\"echo.loss == 0\"]\n",
    );
    let (out, rep) = run_bounded(&file, port, "wedged-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let echo_errors = rep["steps"][1]["errors"].to_string();
    assert!(
        echo_errors.contains("the server stopped reading"),
        "{echo_errors}"
    );
    assert_eq!(rep["steps"][2]["metrics"]["failed"]["value"], 1.0);
}

#[test]
fn a_step_with_errors_fails_the_run_even_without_thresholds() {
    let port = wedged_server();
    let file = write(
        "wedged-no-thresholds",
        "name: wedged\nsteps:\n  - connect: { clients: 1 }\n\
         \x20 - echo: { rate: 50, size: 1000000, duration: 1s, timeout: 500ms }\n",
    );
    let (out, rep) = run_bounded(&file, port, "wedged-no-thresholds-run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(rep["steps"][1]["status"], "failed");
    assert_eq!(rep["verdict"], "fail");
}

/// Runs `file` against ws://127.0.0.1:`port`/ and fails the test if wsbench has not
/// ended within a minute (a server that misbehaves must never hang the run).
fn run_bounded(file: &Path, port: u16, name: &str) -> (Output, serde_json::Value) {
    run_scenario_within(
        file,
        &["--target", &target(port)],
        name,
        Duration::from_secs(60),
    )
}

#[test]
fn an_echo_plan_too_large_to_track_is_refused() {
    assert_usage_error(
        "name: x\nsteps:\n  - connect: {}\n  - echo: { rate: 1e12, duration: 1s }\n",
        "echo-plan",
        &[
            "step 2 (`echo`)",
            "plans 1000000000000 messages; at most 1000000000 per step",
        ],
    );
    assert_usage_error(
        "name: x\nsteps:\n  - connect: {}\n  - echo: { rate: 1, duration: 1s, size: 4000000000 }\n",
        "echo-size",
        &["`size` must be at most 16777216 bytes"],
    );
}

#[test]
fn frames_echoed_above_the_stated_limit_count_as_received() {
    // The foreign server takes messages far above the 16 KiB the scenario states.
    let port = foreign_echo_server();
    let file = write(
        "above-limit",
        "name: above\nsteps:\n  - frames: { sizes: [20000], fragments: 0, max_message_len: 16384 }\n",
    );
    let (out, rep) = run_at_port(&file, port, "above-limit-run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let frames = &rep["steps"][0];
    assert_eq!(frames["metrics"]["passed"]["value"], 1.0, "{frames}");
    assert!(
        frames["notes"]
            .to_string()
            .contains("echoed although above the stated limit")
    );
    let received: u64 = rep["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["messages_received"].as_u64().unwrap())
        .sum();
    assert_eq!(
        received, 1,
        "the echo shows in the timeline: {}",
        rep["timeline"]
    );
    assert_eq!(frames["distributions"]["latency"]["count"], 1);
}
