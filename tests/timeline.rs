//! The report's timeline resolution as a user gets it: the real binary on the simulated
//! board. A short run is charted in 100 ms buckets that add up to the per-second
//! timeline and the step's own counts; a run past the 30 s window stays per second.
//! Loopback only, each run bounded by its scenario.

#[allow(dead_code)]
mod common;

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use common::run::{
    output_within, report_folder, report_in, root, scenario_file, scratch, text, wsbench,
};

/// Runs `yaml` on the simulated board; the output, report.json and report.html.
fn run(name: &str, yaml: &str) -> (Output, Value, String) {
    let dir = scratch(name);
    let file = scenario_file(&dir, yaml);
    let reports = dir.join("reports");
    let mut command = wsbench(&["run", file.to_str().unwrap(), "--sim", "--report-dir"]);
    command.arg(&reports).current_dir(root());
    let out = output_within(&mut command, Duration::from_secs(180));
    let folder = report_folder(&reports);
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    (out, report_in(&folder), html)
}

fn sum(entries: &Value, key: &str) -> u64 {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_u64().unwrap())
        .sum()
}

#[test]
fn a_short_run_has_100ms_buckets_that_add_up() {
    let (out, rep, html) = run(
        "short",
        "name: short\nsteps:\n  - connect: { clients: 2 }\n  - echo: { rate: 100, duration: 1s }\n\
         thresholds: [\"echo.loss == 0\"]\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rep["timeline_resolution_ms"], 100);
    let buckets = &rep["timeline_buckets"];
    let n = buckets.as_array().unwrap().len() as u64;
    let duration_ms = rep["duration_ms"].as_u64().unwrap();
    // One bucket per 100 ms of the run, the last one open when the report was made.
    assert!(
        n >= duration_ms / 100 && n <= duration_ms / 100 + 2,
        "{n} buckets for {duration_ms} ms"
    );
    for (i, b) in buckets.as_array().unwrap().iter().enumerate() {
        assert_eq!(b["t_ms"].as_u64().unwrap(), i as u64 * 100);
    }
    // Same counts as the seconds, and as the echo step's own.
    let seconds = &rep["timeline"];
    for key in [
        "messages_sent",
        "messages_received",
        "connects",
        "disconnects",
        "errors",
    ] {
        assert_eq!(sum(buckets, key), sum(seconds, key), "{key}");
    }
    let echo = &rep["steps"][1];
    assert_eq!(echo["metrics"]["received"]["value"], 200.0);
    assert!(sum(buckets, "messages_received") >= 200);
    assert_eq!(sum(buckets, "connects"), 2);
    // The 1 s echo spreads over several buckets with a p99 each, not one or two points.
    let with_latency = buckets
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["latency_p99_us"].is_u64())
        .count();
    assert!(with_latency >= 5, "{with_latency} buckets with latency");
    assert!(
        html.contains("Messages per 100 ms"),
        "HTML charts the buckets"
    );
    assert!(html.contains("Latency p99 per 100 ms"));
}

#[test]
fn a_run_past_30s_stays_per_second() {
    let (out, rep, html) = run(
        "long",
        "name: long\nsteps:\n  - connect: { clients: 1 }\n  - echo: { rate: 20, duration: 1s }\n\
         \x20 - wait: { duration: 30500ms }\nthresholds: [\"echo.loss == 0\"]\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rep["timeline_resolution_ms"], 1000);
    assert!(rep.get("timeline_buckets").is_none(), "no fine buckets");
    let seconds = rep["timeline"].as_array().unwrap();
    assert!(seconds.len() >= 31, "{} seconds", seconds.len());
    // The echo's 20 echoes, and any broadcasts the board sent while waiting.
    assert!(sum(&rep["timeline"], "messages_received") >= 20);
    assert!(html.contains("Messages per second"));
    assert!(!html.contains("per 100 ms"));
}
