//! A realistic report, as `wsbench run` writes for a fan-out scenario on the simulated
//! board, for the renderers' tests. It is our own data model filled in by hand, with
//! text that needs escaping in every place a renderer prints text.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::*;

pub fn distribution(p50_us: u64, count: u64) -> Distribution {
    let curve_points = [
        0.0,
        25.0,
        50.0,
        75.0,
        87.5,
        90.0,
        93.75,
        96.875,
        99.0,
        99.21875,
        99.609375,
        99.9,
        99.951171875,
        100.0,
    ];
    let value_at = |p: f64| -> u64 {
        let tail = 1.0 / (1.0 - p.min(99.99) / 100.0);
        (p50_us as f64 * (0.6 + 0.2 * tail.ln())) as u64
    };
    Distribution {
        count,
        min_us: value_at(0.0),
        mean_us: p50_us as f64 * 1.1,
        p50_us: value_at(50.0),
        p90_us: value_at(90.0),
        p99_us: value_at(99.0),
        p999_us: value_at(99.9),
        max_us: value_at(100.0) * 2,
        percentile_curve: curve_points.iter().map(|&p| (p, value_at(p))).collect(),
        hdr_v2_base64: None,
    }
}

fn metrics(items: &[(&str, f64, &str)]) -> BTreeMap<String, Metric> {
    items
        .iter()
        .map(|&(name, value, unit)| {
            (
                name.to_string(),
                Metric {
                    value,
                    unit: unit.to_string(),
                },
            )
        })
        .collect()
}

/// Each named distribution: a median (µs) and a count, as [`distribution`] fills it.
fn distributions(items: &[(&str, u64, u64)]) -> BTreeMap<String, Distribution> {
    items
        .iter()
        .map(|&(name, p50_us, count)| (name.to_string(), distribution(p50_us, count)))
        .collect()
}

fn step(name: &str, started_ms: u64, duration_ms: u64) -> StepReport {
    StepReport {
        name: name.to_string(),
        kind: name.to_string(),
        started_ms,
        duration_ms,
        status: StepStatus::Passed,
        settings: json!({}),
        metrics: BTreeMap::new(),
        distributions: BTreeMap::new(),
        failures: BTreeMap::new(),
        notes: vec![],
        errors: vec![],
        rungs: vec![],
    }
}

pub fn sample_report() -> Report {
    let mut connect = step("connect", 0, 2_000);
    connect.settings = json!({"clients": 6, "ramp_per_s": 10, "subprotocol": "chat"});
    connect.metrics = metrics(&[("connected", 6.0, "count"), ("failed", 0.0, "count")]);
    connect.distributions = distributions(&[("connect", 180, 6), ("upgrade", 420, 6)]);

    let mut echo = step("echo", 2_000, 10_000);
    echo.settings = json!({"rate": 50, "per": "client", "size": 64, "opcode": "text"});
    echo.metrics = metrics(&[
        ("sent", 3000.0, "count"),
        ("received", 2998.0, "count"),
        ("lost", 2.0, "count"),
        ("corrupt", 0.0, "count"),
        ("late", 1.0, "count"),
        ("loss", 2.0 / 3000.0, "ratio"),
        ("throughput", 299.8, "msg/s"),
    ]);
    echo.distributions = distributions(&[("latency", 950, 2998)]);
    echo.failures.insert("timeout".into(), 2);
    echo.notes
        .push("2 messages lost <after> the purge & 'reconnect'".into());

    let mut fanout = step("fanout", 12_000, 6_000);
    fanout.status = StepStatus::Failed;
    fanout.settings = json!({"trigger": "burst", "count": 100, "size": 256, "interval_ms": 10});
    fanout.metrics = metrics(&[
        ("messages", 100.0, "count"),
        ("delivered", 594.0, "count"),
        ("loss", 0.01, "ratio"),
        ("duplicates", 0.0, "count"),
        ("reordered", 0.0, "count"),
    ]);
    fanout.distributions = distributions(&[("spread", 2_400, 100), ("latency", 3_100, 594)]);
    fanout.failures.insert("lost".into(), 6);
    fanout
        .errors
        .push("client 3: connection reset by peer".into());

    let mut exhaust = step("exhaust", 18_000, 4_000);
    exhaust.settings = json!({"cap": 12});
    exhaust.metrics = metrics(&[("limit", 7.0, "count"), ("recovered", 1.0, "flag")]);
    exhaust
        .notes
        .push("limit found: 7, extra clients: oldest purged".into());

    let timeline = (0..22u32)
        .map(|second| {
            let echoing = (2..12).contains(&second);
            let fanning = (12..18).contains(&second);
            TimelineSecond {
                second,
                counts: TimelineCounts {
                    messages_sent: if echoing {
                        300
                    } else if fanning {
                        17
                    } else {
                        0
                    },
                    messages_received: if echoing {
                        300 - u64::from(second == 7) * 2
                    } else if fanning {
                        99
                    } else {
                        0
                    },
                    connections: if second < 18 {
                        (u64::from(second) * 3).min(6)
                    } else {
                        7
                    },
                    connects: if second < 2 {
                        3
                    } else {
                        u64::from(second == 18) * 7
                    },
                    disconnects: u64::from(second == 21) * 7,
                    errors: u64::from(second == 7),
                    latency_p99_us: (echoing || fanning).then_some(1_800 + u64::from(second) * 20),
                    heap_free_bytes: Some(210_000 - u64::from(second.min(18)) * 1_200),
                },
                device_clients: None,
            }
        })
        .collect();

    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "wsbench".into(),
            version: "0.1.0".into(),
        },
        run_id: "20261121T081500Z-fanout".into(),
        started_at: "2026-11-21T08:15:00Z".into(),
        duration_ms: 22_000,
        target: TargetInfo {
            kind: TargetKind::Simulated,
            url: "ws://127.0.0.1:40123/ws".into(),
            tls: false,
            insecure: false,
            trust: None,
            selected_because: "no target given and no board found: simulated board".into(),
        },
        scenario: ScenarioInfo {
            name: "fanout".into(),
            file: "scenarios/fanout.yaml".into(),
            description: Some("Broadcast fan-out to 6 clients <with> echo & purge".into()),
            sha256: "9f2c".repeat(16),
        },
        complete: true,
        started: true,
        interruption: None,
        verdict: Verdict::Fail,
        steps: vec![connect, echo, fanout, exhaust],
        timeline,
        timeline_resolution_ms: 1000,
        timeline_buckets: Vec::new(),
        device: DeviceReport {
            observed: true,
            heap_source: Some("modelled".into()),
            reboots: 0,
            panics: 0,
            heap_free_min_bytes: Some(188_400),
            source: Some("the simulated board's console".into()),
            warnings: 0,
            errors: 0,
            user_events: Default::default(),
            events: vec![
                DeviceEvent {
                    at_ms: 120,
                    kind: "open".into(),
                    line: "I (1234) ws: open id=1 peer=127.0.0.1:50000 clients=1/7".into(),
                },
                DeviceEvent {
                    at_ms: 18_400,
                    kind: "purge".into(),
                    line: "\u{1b}[0;33mW (19000) ws: purge id=1 reason=lru <oldest>\u{1b}[0m"
                        .into(),
                },
            ],
        },
        thresholds: vec![
            ThresholdResult {
                expression: "echo.latency.p99 < 50ms".into(),
                metric: "echo.latency.p99".into(),
                actual: Some(2.1),
                unit: "ms".into(),
                passed: true,
                message: "2.1 ms < 50 ms".into(),
            },
            ThresholdResult {
                expression: "fanout.loss == 0".into(),
                metric: "fanout.loss".into(),
                actual: Some(0.01),
                unit: "ratio".into(),
                passed: false,
                message: "fanout.loss is 0.01, expected == 0".into(),
            },
            ThresholdResult {
                expression: "exhaust.limit >= 7".into(),
                metric: "exhaust.limit".into(),
                actual: Some(7.0),
                unit: "count".into(),
                passed: true,
                message: "7 >= 7".into(),
            },
        ],
        errors: vec![],
    }
}
