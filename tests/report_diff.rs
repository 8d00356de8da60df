//! `wsbench report diff` run as a user runs it: reports written by the real report
//! writer into folders, the real binary, its output and exit code.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::run::{output_within, text, wsbench};
use common::servers::echo_server;

use wsbench::report::model::*;

fn distribution(p50_us: u64) -> Distribution {
    Distribution {
        count: 3000,
        min_us: p50_us / 2,
        mean_us: p50_us as f64 * 1.1,
        p50_us,
        p90_us: p50_us * 3 / 2,
        p99_us: p50_us * 2,
        p999_us: p50_us * 3,
        max_us: p50_us * 5,
        percentile_curve: vec![
            (0.0, p50_us / 2),
            (50.0, p50_us),
            (90.0, p50_us * 3 / 2),
            (99.0, p50_us * 2),
            (100.0, p50_us * 5),
        ],
        hdr_v2_base64: None,
    }
}

/// An echo-and-exhaust run on the simulated board, with the given echo p50 and limit.
fn report(echo_p50_us: u64, limit: f64) -> Report {
    let metric = |value: f64, unit: &str| Metric {
        value,
        unit: unit.to_string(),
    };
    let mut echo_metrics = BTreeMap::new();
    echo_metrics.insert("sent".to_string(), metric(3000.0, "count"));
    echo_metrics.insert("lost".to_string(), metric(0.0, "count"));
    let mut exhaust_metrics = BTreeMap::new();
    exhaust_metrics.insert("limit".to_string(), metric(limit, "count"));
    let step = |name: &str, started_ms, metrics| StepReport {
        name: name.to_string(),
        kind: name.to_string(),
        started_ms,
        duration_ms: 5_000,
        status: StepStatus::Passed,
        settings: serde_json::json!({}),
        metrics,
        distributions: BTreeMap::new(),
        failures: BTreeMap::new(),
        notes: vec![],
        errors: vec![],
        rungs: vec![],
    };
    let mut echo = step("echo", 0, echo_metrics);
    echo.distributions
        .insert("latency".to_string(), distribution(echo_p50_us));
    let exhaust = step("exhaust", 5_000, exhaust_metrics);
    let limit_held = limit >= 7.0;
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "wsbench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: "20261121T080000Z-echo".into(),
        started_at: "2026-11-21T08:00:00Z".into(),
        duration_ms: 10_000,
        target: TargetInfo {
            kind: TargetKind::Simulated,
            url: "ws://127.0.0.1:40000/ws".into(),
            tls: false,
            insecure: false,
            trust: None,
            selected_because: "--sim".into(),
        },
        scenario: ScenarioInfo {
            name: "echo".into(),
            file: "scenarios/echo.yaml".into(),
            description: None,
            sha256: "0a".repeat(32),
        },
        complete: true,
        started: true,
        interruption: None,
        verdict: if limit_held {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        steps: vec![echo, exhaust],
        timeline: vec![TimelineSecond {
            second: 0,
            counts: TimelineCounts {
                messages_sent: 300,
                ..Default::default()
            },
            ..Default::default()
        }],
        timeline_resolution_ms: 1000,
        timeline_buckets: Vec::new(),
        device: DeviceReport {
            observed: true,
            heap_source: Some("modelled".into()),
            ..Default::default()
        },
        thresholds: vec![ThresholdResult {
            expression: "exhaust.limit >= 7".into(),
            metric: "exhaust.limit".into(),
            actual: Some(limit),
            unit: "count".into(),
            passed: limit_held,
            message: format!("{limit} >= 7"),
        }],
        errors: vec![],
    }
}

fn write(dir: &Path, name: &str, report: &Report) -> PathBuf {
    let folder = dir.join(name);
    wsbench::report::write_report_dir(report, &folder, None).expect("report written");
    folder
}

fn diff(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let mut command = wsbench(&["report", "diff"]);
    command.args(args);
    let out = output_within(&mut command, Duration::from_secs(60));
    (
        out.status.code().expect("exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn identical_reports_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", &report(900, 7.0));
    let b = write(dir.path(), "b", &report(900, 7.0));
    let (code, out, err) = diff(&[a.as_os_str(), b.join("report.json").as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no regressions"), "{out}");
    assert!(out.contains("echo.latency.p99"), "{out}");
}

#[test]
fn slower_echo_and_lower_limit_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", &report(900, 7.0));
    let b = write(dir.path(), "b", &report(2_000, 4.0));
    let (code, out, err) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    let p99 = out
        .lines()
        .find(|l| l.trim_start().starts_with("echo.latency.p99"))
        .unwrap();
    assert!(p99.contains("1.8 ms") && p99.contains("4 ms"), "{p99}");
    assert!(
        p99.contains("+122.2 %") && p99.ends_with("REGRESSION"),
        "{p99}"
    );
    assert!(
        out.contains("threshold `exhaust.limit >= 7` passed in A, failed in B"),
        "{out}"
    );
    assert!(out.contains("note: verdict PASS in A, FAIL in B"), "{out}");
}

#[test]
fn tolerance_flag_absorbs_noise() {
    let dir = tempfile::tempdir().unwrap();
    // Against a server by URL: the simulated board's host-timing tolerance would
    // absorb 30 % on its own.
    let by_url = |p50| {
        let mut r = report(p50, 7.0);
        r.target.kind = TargetKind::Url;
        r
    };
    let a = write(dir.path(), "a", &by_url(1_000));
    let b = write(dir.path(), "b", &by_url(1_300));
    let (code, out, _) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, 1, "30 % slower is a regression by default: {out}");
    let (code, out, _) = diff(&[
        a.as_os_str(),
        b.as_os_str(),
        "--tolerance".as_ref(),
        "50".as_ref(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tolerance: 50 %"), "{out}");
}

#[test]
fn different_scenario_and_target_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", &report(900, 7.0));
    let mut board = report(900, 7.0);
    board.target.kind = TargetKind::Board;
    board.scenario.sha256 = "ff".repeat(32);
    let b = write(dir.path(), "b", &board);
    let (code, out, err) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, 2, "different scenarios are refused: {out}{err}");
    assert!(
        err.contains("wsbench::report::different_scenarios"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let (code, out, err) = diff(&[a.as_os_str(), b.as_os_str(), "--force".as_ref()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("note: scenarios differ"), "{out}");
    assert!(
        out.contains("note: targets differ: A ran on the simulated board, B on a board"),
        "{out}"
    );
}

#[test]
fn unreadable_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", &report(900, 7.0));

    let missing = dir.path().join("missing");
    let (code, _, err) = diff(&[a.as_os_str(), missing.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read report") && err.contains("missing"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json at all").unwrap();
    let (code, _, err) = diff(&[a.as_os_str(), garbage.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not valid JSON (line 1"), "{err}");

    let mut future = serde_json::to_value(report(900, 7.0)).unwrap();
    future["schema_version"] = serde_json::json!(7);
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, future.to_string()).unwrap();
    let (code, _, err) = diff(&[newer.as_os_str(), a.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("schema version 7"), "{err}");

    let (code, _, err) = diff(&[a.as_os_str(), a.as_os_str(), "--tolerance=-5".as_ref()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expected a number 0 or above"), "{err}");
}

#[test]
fn json_prints_the_comparison_with_directions_and_judgements() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", &report(900, 7.0));
    let b = write(dir.path(), "b", &report(2_000, 7.0));
    let (code, out, err) = diff(&[a.as_os_str(), b.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert!(v["regression_count"].as_u64().unwrap() >= 1);
    let changes = v["changes"].as_array().unwrap();
    let p50 = changes
        .iter()
        .find(|c| c["name"] == "echo.latency.p50")
        .unwrap();
    assert_eq!(p50["direction"], "lower-is-better");
    assert_eq!(p50["judgement"], "regression");
    assert_eq!(p50["section"], "step echo");
    let sent = changes.iter().find(|c| c["name"] == "echo.sent").unwrap();
    assert_eq!(sent["direction"], "neutral");
    assert_eq!(v["a"]["simulated"], true);
}

// Runs of the real binary against the simulated board and a test server of our own.

const ECHO_SCENARIO: &str = "name: echo-diff\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 25, per: client, size: 64, duration: 2s }\nthresholds: [\"echo.loss == 0\"]\n";

/// Two identical simulated runs: 800 echoes, so their p99 is the 8th slowest sample, not
/// a single one that any host hiccup decides (p99.9 needs 1,000 and is not judged).
const SELF_DIFF_SCENARIO: &str = "name: echo-diff\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 200, per: client, size: 64, duration: 2s }\nthresholds: [\"echo.loss == 0\"]\n";

fn run_into(reports: &Path, scenario: &Path, extra: &[&str]) -> PathBuf {
    let before: Vec<_> = std::fs::read_dir(reports)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut command = wsbench(&["run", scenario.to_str().unwrap(), "--quiet"]);
    command
        .args(["--report-dir", reports.to_str().unwrap()])
        .args(extra);
    let out = output_within(&mut command, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::read_dir(reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !before.contains(p))
        .expect("a new report folder")
}

/// The tests that time real runs take turns: run side by side, each one's host noise
/// would be the other's "regression".
static TIMED_RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_timed_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    TIMED_RUNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn identical_runs_on_the_simulated_board_diff_clean_at_least_9_of_10_times() {
    let _turn = one_timed_test_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("echo.yaml");
    std::fs::write(&scenario, SELF_DIFF_SCENARIO).unwrap();
    let reports = dir.path().join("reports");
    let base = run_into(&reports, &scenario, &["--sim"]);
    let mut clean = 0;
    let mut dirty = Vec::new();
    for _ in 0..10 {
        let other = run_into(&reports, &scenario, &["--sim"]);
        let (code, out, err) = diff(&[base.as_os_str(), other.as_os_str()]);
        assert!(code == 0 || code == 1, "{out}{err}");
        assert!(
            !out.contains("send_lag")
                || !out
                    .lines()
                    .any(|l| l.contains("send_lag") && l.ends_with("REGRESSION")),
            "{out}"
        );
        if code == 0 {
            clean += 1;
        } else {
            dirty.push(out);
        }
    }
    assert!(
        clean >= 9,
        "only {clean} of 10 identical runs diffed clean:\n{}",
        dirty.join("\n----\n")
    );
}

/// A plain tokio-tungstenite echo server on 127.0.0.1 that waits `delay` before each
/// echo: a server that got slower by a known amount. Lives at most a minute.
fn delayed_echo_server(delay: Duration) -> u16 {
    echo_server(Duration::from_secs(60), delay)
}

#[test]
fn a_server_slowed_by_a_known_delay_is_a_regression() {
    let _turn = one_timed_test_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("echo.yaml");
    std::fs::write(&scenario, ECHO_SCENARIO).unwrap();
    let reports = dir.path().join("reports");
    let fast = delayed_echo_server(Duration::ZERO);
    let slow = delayed_echo_server(Duration::from_millis(30));
    let url = |port: u16| format!("ws://127.0.0.1:{port}/");
    let a = run_into(&reports, &scenario, &["--target", &url(fast)]);
    let b = run_into(&reports, &scenario, &["--target", &url(slow)]);
    let (code, out, err) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"))
            .to_string()
    };
    // The median moves by the whole delay: always a regression.
    assert!(row("echo.latency.p50").ends_with("REGRESSION"), "{out}");
    // The tail also carries the host's scheduling noise on a loaded machine; whatever it
    // shows, it never shows the slower server as better.
    assert!(!row("echo.latency.p99").contains("better"), "{out}");
    // The way back is an improvement, not a regression.
    let (code, out, _) = diff(&[b.as_os_str(), a.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("better"), "{out}");
}
