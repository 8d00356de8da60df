//! The report model: what a run produced, independent of how it is rendered.
//!
//! `report.json` is this struct serialized; it is the source of truth and every other
//! renderer (markdown, html, junit) and `report diff` read only this model. Renderers
//! never compute metrics: everything they show is already in here.
//!
//! Bump [`SCHEMA_VERSION`] on any incompatible change and say what changed in
//! `docs/report-schema.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the `report.json` layout. Readers refuse a report whose major version
/// they do not know instead of misreading it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// `<UTC start time>-<scenario name>`, also the report folder's name.
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub target: TargetInfo,
    pub scenario: ScenarioInfo,
    /// False when the run was interrupted (Ctrl-C, target lost, device reboot): the
    /// figures cover only what was measured before `interruption`.
    pub complete: bool,
    /// False when the run could not start at all (target refused, unresolvable, TLS
    /// failure, HTTP error on the upgrade): no step ran and `interruption` says why.
    /// Absent in reports written before this field existed, which all started.
    #[serde(default = "started_by_default")]
    pub started: bool,
    pub interruption: Option<String>,
    pub verdict: Verdict,
    pub steps: Vec<StepReport>,
    /// One entry per whole second since the run started.
    pub timeline: Vec<TimelineSecond>,
    /// Width of the finest timeline this report holds: 100 when the run was short
    /// enough for `timeline_buckets`, else 1000 (only `timeline`). Absent in reports
    /// written before it existed, which were per second.
    #[serde(default = "per_second_ms")]
    pub timeline_resolution_ms: u32,
    /// The timeline at `timeline_resolution_ms` when that is finer than a second
    /// (short runs), empty otherwise: the same figures as `timeline`, finer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline_buckets: Vec<TimelineBucket>,
    pub device: DeviceReport,
    pub thresholds: Vec<ThresholdResult>,
    /// Run-level errors (a step's own errors live in its `StepReport`).
    pub errors: Vec<String>,
}

fn started_by_default() -> bool {
    true
}

fn per_second_ms() -> u32 {
    1000
}

impl Report {
    /// The finest timeline this report holds, with its bucket width in ms: the fine
    /// buckets of a short run, else the seconds (as buckets), for charts that want one
    /// shape whatever the run's length.
    pub fn finest_timeline(&self) -> (u32, Vec<TimelineBucket>) {
        if !self.timeline_buckets.is_empty() {
            return (self.timeline_resolution_ms, self.timeline_buckets.clone());
        }
        let seconds = self.timeline.iter().map(|t| TimelineBucket {
            t_ms: u64::from(t.second) * 1000,
            counts: t.counts.clone(),
        });
        (1000, seconds.collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The simulated board (in-process or `wsbench sim`): host timing, modelled heap.
    Simulated,
    /// A board wsbench flashed or found on a serial port.
    Board,
    /// Any ws:// or wss:// server given by URL; nothing is known about what runs it.
    Url,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetInfo {
    pub kind: TargetKind,
    /// The ws:// or wss:// URL the clients used.
    pub url: String,
    pub tls: bool,
    /// True only when `--insecure` was given: certificates were not checked.
    pub insecure: bool,
    /// The CA file given with `--ca`, or "bundled device certificate".
    pub trust: Option<String>,
    /// Why this target was chosen ("no target given and no board found: simulated board").
    pub selected_because: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub file: String,
    pub description: Option<String>,
    /// SHA-256 of the scenario file's bytes, so a diff can tell whether it changed.
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every step ran and every threshold held.
    Pass,
    /// At least one threshold failed or a step failed.
    Fail,
    /// The run was interrupted before it finished.
    Incomplete,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    Failed,
    /// Not started or cut short by an interruption.
    Interrupted,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    /// The name thresholds use: the step's `name:` or, by default, its kind (a second
    /// step of the same kind becomes `echo_2`).
    pub name: String,
    /// The step kind: connect, echo, fanout, tls, exhaust, ping, churn, abrupt, frames, hold, wait.
    pub kind: String,
    /// Milliseconds since the run started.
    pub started_ms: u64,
    pub duration_ms: u64,
    pub status: StepStatus,
    /// The step's settings as the scenario gave them (after defaults), for the reader.
    pub settings: serde_json::Value,
    /// Scalar results: `loss` -> 0, `sent` -> 12000, `limit` -> 7. Threshold name:
    /// `<step>.<metric>`.
    pub metrics: BTreeMap<String, Metric>,
    /// Latency-like distributions: `latency`, `connect`, `tls`, `upgrade`, `spread`.
    /// Threshold name: `<step>.<distribution>.<p50|p90|p99|p999|max|min|mean|count>`.
    pub distributions: BTreeMap<String, Distribution>,
    /// Counted failures by cause ("refused", "timeout", "tls: bad certificate", ...).
    pub failures: BTreeMap<String, u64>,
    /// Human-readable findings ("limit found: 7, extra clients: oldest purged").
    pub notes: Vec<String>,
    pub errors: Vec<String>,
    /// A `capacity` step's rungs, in the order they ran (absent for other kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<CapacityRung>,
}

/// One rate a `capacity` step tried, and what it measured there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityRung {
    /// Offered rate, messages per second over all clients.
    pub rate: f64,
    pub planned: u64,
    pub sent: u64,
    pub received: u64,
    /// As `echo.loss`: planned messages whose echo did not come back in time.
    pub loss: f64,
    /// Echoes per second over the rung's sending window.
    pub throughput: f64,
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
    /// The `until` conditions that held on this rung (empty: the target sustained it).
    pub broke: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    pub value: f64,
    /// "count", "ms", "us", "bytes", "msg/s", "ratio", ...
    pub unit: String,
}

/// A summary of one HdrHistogram. All times in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Distribution {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// (percentile, value_us) points for a percentile chart, percentiles from 0 to 100
    /// on a log scale of 1/(1-p) (HdrHistogram's iter_quantiles).
    pub percentile_curve: Vec<(f64, u64)>,
    /// The whole histogram in HdrHistogram's V2 serialized form, base64: reports from
    /// several runs or boards can be merged exactly. Absent in reports written before
    /// it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_v2_base64: Option<String>,
}

/// What the timeline counts in one span of the run, a second or a fine bucket (in
/// `report.json` these fields stand in the entry itself).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelineCounts {
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Open client connections at the end of the span.
    pub connections: u64,
    pub connects: u64,
    pub disconnects: u64,
    pub errors: u64,
    /// p99 of latencies recorded in the span, if any (in a fine bucket to 1 %: 2
    /// significant digits).
    pub latency_p99_us: Option<u64>,
    /// Last heap figure the device reported in the span.
    pub heap_free_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelineSecond {
    /// Seconds since the run started.
    pub second: u32,
    #[serde(flatten)]
    pub counts: TimelineCounts,
    /// The highest client count the device itself logged in that second, beside the
    /// tool's `connections`: the two disagree when the server keeps sockets the tool
    /// already closed (or the other way round). The peak, because a server that serves
    /// clients on several tasks may print its counts out of order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_clients: Option<u64>,
}

/// One bucket of the fine timeline: as [`TimelineSecond`], over
/// `timeline_resolution_ms` from `t_ms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelineBucket {
    /// Milliseconds since the run started, where the bucket begins.
    pub t_ms: u64,
    #[serde(flatten)]
    pub counts: TimelineCounts,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceReport {
    /// Whether device-side events were read at all (serial console or simulated board).
    pub observed: bool,
    /// "modelled" on the simulated board, "allocator" on a board, None if unknown.
    pub heap_source: Option<String>,
    pub reboots: u64,
    pub panics: u64,
    pub heap_free_min_bytes: Option<u64>,
    /// Warning (`W`) and error (`E`) log lines no profile claimed as a known event.
    #[serde(default)]
    pub warnings: u64,
    #[serde(default)]
    pub errors: u64,
    /// The scenario's `console.events`, by name: how often each matched.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_events: BTreeMap<String, u64>,
    /// Where the device side was read from ("serial console /dev/ttyUSB0", "the
    /// simulated board's console"), or why it was not observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Device events on the run's timeline (open, close, purge, refuse, boot, panic...).
    pub events: Vec<DeviceEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceEvent {
    /// Milliseconds since the run started (host clock at the time the line was read).
    pub at_ms: u64,
    /// "open", "close", "purge", "refuse", "broadcast", "heap", "boot", "panic", "log".
    pub kind: String,
    /// The console line as the device printed it.
    pub line: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    /// As written in the scenario: `echo.latency.p99 < 50ms`.
    pub expression: String,
    pub metric: String,
    /// The measured value in the threshold's unit, None when the metric was not measured
    /// (the step did not run): such a threshold fails.
    pub actual: Option<f64>,
    pub unit: String,
    pub passed: bool,
    pub message: String,
}
