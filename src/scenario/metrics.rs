//! The metric namespace thresholds can name. Steps record under exactly these names;
//! `scenarios/README.md` lists them for users.

/// What a metric's number means, which decides the units a threshold may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricClass {
    /// A count of things (messages, connections).
    Count,
    /// 0..1; a threshold may write it as a percentage (`loss < 1%`).
    Ratio,
    /// 0 or 1 (`exhaust.recovered == 1`).
    Flag,
    /// Bytes.
    Bytes,
    /// Messages per second.
    Rate,
}

impl MetricClass {
    /// The unit string stored in the report.
    pub fn unit(self) -> &'static str {
        match self {
            MetricClass::Count => "count",
            MetricClass::Ratio => "ratio",
            MetricClass::Flag => "flag",
            MetricClass::Bytes => "bytes",
            MetricClass::Rate => "msg/s",
        }
    }
}

use MetricClass::*;

/// Scalar metrics of a step kind.
pub fn step_metrics(kind: &str) -> &'static [(&'static str, MetricClass)] {
    match kind {
        "connect" => &[
            ("clients", Count),
            ("connected", Count),
            ("closed_early", Count),
            ("failed", Count),
        ],
        "echo" => &[
            ("planned", Count),
            ("sent", Count),
            ("unsent", Count),
            ("unsent_client", Count),
            ("unsent_server", Count),
            ("received", Count),
            ("timed_out", Count),
            ("lost", Count),
            ("corrupt", Count),
            ("late", Count),
            ("loss", Ratio),
            ("throughput", Rate),
        ],
        "capacity" => &[
            ("sustained", Rate),
            ("knee", Rate),
            ("rungs", Count),
            ("clients", Count),
        ],
        "fanout" => &[
            ("messages", Count),
            ("clients", Count),
            ("expected", Count),
            ("delivered", Count),
            ("lost", Count),
            ("duplicates", Count),
            ("reordered", Count),
            ("partial", Count),
            ("negative_latency", Count),
            ("loss", Ratio),
        ],
        "tls" => &[
            ("handshakes", Count),
            ("succeeded", Count),
            ("failed", Count),
        ],
        "exhaust" => &[
            ("limit", Count),
            ("opened", Count),
            ("purged", Count),
            ("refused", Count),
            ("timed_out", Count),
            ("reset", Count),
            ("recovered", Flag),
        ],
        "ping" => &[("sent", Count), ("received", Count), ("lost", Count)],
        "churn" => &[
            ("cycles", Count),
            ("succeeded", Count),
            ("failures", Count),
            ("first_failure", Count),
            ("close_not_echoed", Count),
        ],
        "abrupt" => &[
            ("dropped", Count),
            ("checks_ok", Count),
            ("checks_failed", Count),
            ("recovered", Flag),
        ],
        "frames" => &[
            ("sent", Count),
            ("passed", Count),
            ("failed", Count),
            ("refused_as_expected", Count),
            ("largest_ok", Bytes),
        ],
        "hold" => &[
            ("clients", Count),
            ("disconnects", Count),
            ("messages_received", Count),
        ],
        _ => &[],
    }
}

/// Distributions (microseconds) of a step kind.
pub fn step_distributions(kind: &str) -> &'static [&'static str] {
    match kind {
        "connect" | "tls" => &["connect", "tcp", "tls", "upgrade"],
        "echo" | "capacity" => &["latency", "send_lag"],
        "fanout" => &["spread", "latency"],
        "exhaust" | "churn" => &["connect"],
        "ping" => &["rtt", "send_lag"],
        "abrupt" => &["check"],
        "frames" => &["latency"],
        _ => &[],
    }
}

/// Statistics of a distribution a threshold can name.
pub const DISTRIBUTION_STATS: &[&str] =
    &["p50", "p90", "p99", "p999", "max", "min", "mean", "count"];

/// Device metrics (`device.<name>`), read from the console on the run's timeline.
pub const DEVICE_METRICS: &[(&str, MetricClass)] = &[
    ("reboots", Count),
    ("panics", Count),
    ("heap_free_min", Bytes),
    ("purges", Count),
    ("refusals", Count),
    ("events", Count),
];
