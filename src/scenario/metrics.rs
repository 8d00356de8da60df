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

/// Which way a metric gets better. Declared once per metric here, so `report diff`
/// never guesses from a name whether a change is a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// More is better: deliveries, successes, limits found, free heap, throughput.
    HigherIsBetter,
    /// Less is better: latency, loss, failures, reboots.
    LowerIsBetter,
    /// Follows what the scenario asked for or how the server chose to treat extra
    /// clients (sent, opened, purged); shown, never a regression.
    Neutral,
    /// A figure of wsbench itself (its own timer, e.g. `send_lag`), not of the server:
    /// shown, never a server regression.
    Tool,
}

impl Direction {
    /// The word stored in `report diff --json` and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher-is-better",
            Direction::LowerIsBetter => "lower-is-better",
            Direction::Neutral => "neutral",
            Direction::Tool => "tool",
        }
    }
}

use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower, Neutral, Tool};
use MetricClass::*;

/// Scalar metrics of a step kind: name, class, direction.
pub fn step_metrics(kind: &str) -> &'static [(&'static str, MetricClass, Direction)] {
    match kind {
        "connect" => &[
            ("clients", Count, Neutral),
            ("connected", Count, Higher),
            ("closed_early", Count, Lower),
            ("failed", Count, Lower),
        ],
        "echo" => &[
            ("planned", Count, Neutral),
            ("sent", Count, Neutral),
            ("unsent", Count, Lower),
            ("unsent_client", Count, Tool),
            ("unsent_server", Count, Lower),
            ("received", Count, Higher),
            ("timed_out", Count, Lower),
            ("lost", Count, Lower),
            ("corrupt", Count, Lower),
            ("late", Count, Lower),
            ("sent_late", Count, Tool),
            ("in_flight", Count, Neutral),
            ("loss", Ratio, Lower),
            ("throughput", Rate, Higher),
        ],
        "capacity" => &[
            ("sustained", Rate, Higher),
            ("knee", Rate, Higher),
            ("rungs", Count, Neutral),
            ("clients", Count, Neutral),
            ("closed_early", Count, Lower),
        ],
        "fanout" => &[
            ("messages", Count, Neutral),
            ("clients", Count, Neutral),
            ("expected", Count, Neutral),
            ("delivered", Count, Higher),
            ("lost", Count, Lower),
            ("duplicates", Count, Lower),
            ("reordered", Count, Lower),
            ("partial", Count, Lower),
            ("negative_latency", Count, Lower),
            ("loss", Ratio, Lower),
        ],
        "tls" => &[
            ("handshakes", Count, Neutral),
            ("succeeded", Count, Higher),
            ("failed", Count, Lower),
            ("closed_early", Count, Lower),
        ],
        "exhaust" => &[
            ("limit", Count, Higher),
            ("opened", Count, Neutral),
            ("purged", Count, Neutral),
            ("refused", Count, Neutral),
            ("timed_out", Count, Lower),
            ("reset", Count, Lower),
            ("closed_early", Count, Lower),
            ("recovered", Flag, Higher),
        ],
        "ping" => &[
            ("sent", Count, Neutral),
            ("received", Count, Higher),
            ("lost", Count, Lower),
            ("in_flight", Count, Neutral),
            ("closed_early", Count, Lower),
        ],
        "churn" => &[
            ("cycles", Count, Neutral),
            ("succeeded", Count, Higher),
            ("failures", Count, Lower),
            ("first_failure", Count, Neutral),
            ("close_not_echoed", Count, Lower),
            ("closed_early", Count, Lower),
        ],
        "abrupt" => &[
            ("dropped", Count, Neutral),
            ("checks_ok", Count, Higher),
            ("checks_failed", Count, Lower),
            ("closed_early", Count, Lower),
            ("recovered", Flag, Higher),
        ],
        "frames" => &[
            ("sent", Count, Neutral),
            ("passed", Count, Higher),
            ("failed", Count, Lower),
            ("refused_as_expected", Count, Neutral),
            ("largest_ok", Bytes, Higher),
            ("closed_early", Count, Lower),
        ],
        "hold" => &[
            ("clients", Count, Neutral),
            ("disconnects", Count, Lower),
            ("messages_received", Count, Higher),
        ],
        _ => &[],
    }
}

/// Distributions (microseconds) of a step kind: name, direction.
pub fn step_distributions(kind: &str) -> &'static [(&'static str, Direction)] {
    match kind {
        "connect" | "tls" => &[
            ("connect", Lower),
            ("tcp", Lower),
            ("tls", Lower),
            ("upgrade", Lower),
        ],
        "echo" | "capacity" => &[("latency", Lower), ("send_lag", Tool)],
        "fanout" => &[("spread", Lower), ("latency", Lower)],
        "exhaust" | "churn" => &[("connect", Lower)],
        "ping" => &[("rtt", Lower), ("send_lag", Tool)],
        "abrupt" => &[("check", Lower)],
        "frames" => &[("latency", Lower)],
        _ => &[],
    }
}

/// Whether `name` is one of the kind's distributions.
pub fn is_distribution(kind: &str, name: &str) -> bool {
    step_distributions(kind).iter().any(|(d, _)| *d == name)
}

/// The declared direction of a step metric (`lost`) or distribution (`latency`) of a
/// kind, `None` when the registry does not know it (an older or newer report).
pub fn step_direction(kind: &str, name: &str) -> Option<Direction> {
    step_metrics(kind)
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(_, _, d)| *d)
        .or_else(|| {
            step_distributions(kind)
                .iter()
                .find(|(d, _)| *d == name)
                .map(|(_, d)| *d)
        })
}

/// The declared direction of a device metric (`reboots`).
pub fn device_direction(name: &str) -> Option<Direction> {
    if name.starts_with("events.") {
        // A scenario's own event: whether more is worse only the scenario knows.
        return Some(Neutral);
    }
    DEVICE_METRICS
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(_, _, d)| *d)
}

/// Statistics of a distribution a threshold can name.
pub const DISTRIBUTION_STATS: &[&str] =
    &["p50", "p90", "p99", "p999", "max", "min", "mean", "count"];

/// Device metrics (`device.<name>`), read from the console on the run's timeline.
pub const DEVICE_METRICS: &[(&str, MetricClass, Direction)] = &[
    ("reboots", Count, Lower),
    ("panics", Count, Lower),
    ("heap_free_min", Bytes, Higher),
    // The same figure under the name the console docs use (`device.heap.min`).
    ("heap.min", Bytes, Higher),
    ("errors", Count, Lower),
    ("warnings", Count, Lower),
    ("purges", Count, Neutral),
    ("refusals", Count, Neutral),
    ("events", Count, Neutral),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_side_figures_are_never_the_servers() {
        assert_eq!(step_direction("echo", "send_lag"), Some(Tool));
        assert_eq!(step_direction("echo", "latency"), Some(Lower));
        assert_eq!(step_direction("echo", "loss"), Some(Lower));
        assert_eq!(step_direction("exhaust", "limit"), Some(Higher));
        assert_eq!(step_direction("echo", "nope"), None);
        assert_eq!(device_direction("heap_free_min"), Some(Higher));
    }

    #[test]
    fn every_step_that_opens_sockets_counts_early_closes_as_worse() {
        for kind in [
            "connect", "churn", "tls", "exhaust", "abrupt", "frames", "ping",
        ] {
            assert_eq!(step_direction(kind, "closed_early"), Some(Lower), "{kind}");
        }
    }
}
