//! Turning what was recorded into the report model's parts.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{Recorder, Second, State};
use crate::report::model::{
    DeviceReport, Distribution, Metric, StepReport, StepStatus, TimelineBucket, TimelineCounts,
    TimelineSecond,
};
use crate::scenario::metrics;

/// The parts of a report the recorder owns.
pub struct StepSummary {
    pub steps: Vec<StepReport>,
    pub timeline: Vec<TimelineSecond>,
    /// `timeline_resolution_ms` of the report: 100 for a run shorter than the fine
    /// window, 1000 beyond.
    pub timeline_resolution_ms: u32,
    /// The fine timeline for a short run, empty for a longer one.
    pub timeline_buckets: Vec<TimelineBucket>,
    pub device: DeviceReport,
}

pub fn distribution(h: &Histogram<u64>) -> Distribution {
    let mut curve: Vec<(f64, u64)> = Vec::new();
    if !h.is_empty() {
        for v in h.iter_quantiles(1) {
            let p = (v.quantile_iterated_to() * 100.0 * 1000.0).round() / 1000.0;
            if curve.last().is_none_or(|(lp, _)| p > *lp) {
                curve.push((p, v.value_iterated_to()));
            }
            if curve.len() >= 200 {
                break;
            }
        }
    }
    Distribution {
        count: h.len(),
        min_us: if !h.is_empty() { h.min() } else { 0 },
        mean_us: if !h.is_empty() { h.mean() } else { 0.0 },
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        percentile_curve: curve,
        hdr_v2_base64: serialized(h),
    }
}

/// `h` in HdrHistogram's V2 serialized form (uncompressed), base64 (standard alphabet).
fn serialized(h: &Histogram<u64>) -> Option<String> {
    use base64::Engine as _;
    use hdrhistogram::serialization::{Serializer as _, V2Serializer};
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl Recorder {
    /// Everything recorded so far, as report parts. Steps never finished are
    /// `interrupted` and their duration runs to `now`.
    pub fn summarize(&self) -> StepSummary {
        self.collect(true);
        let now = self.elapsed();
        let st = self.lock();
        let resolution = super::fine::resolution_ms(now);
        StepSummary {
            steps: st.steps.iter().map(|s| step_report(s, now)).collect(),
            timeline: timeline(&st, now),
            timeline_resolution_ms: resolution,
            timeline_buckets: if u64::from(resolution) < 1000 {
                fine_timeline(&st, now)
            } else {
                Vec::new()
            },
            device: device(&st),
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn step_report(s: &super::StepRecord, now: Duration) -> StepReport {
    let units = metrics::step_metrics(&s.kind);
    StepReport {
        name: s.name.clone(),
        kind: s.kind.clone(),
        started_ms: ms(s.started),
        duration_ms: ms(s.ended.unwrap_or(now).saturating_sub(s.started)),
        status: s.status.unwrap_or(StepStatus::Interrupted),
        settings: s.settings.clone(),
        metrics: s
            .metrics
            .iter()
            .map(|(k, v)| {
                let unit = units
                    .iter()
                    .find(|(m, _, _)| m == k)
                    .map_or("count", |(_, c, _)| c.unit());
                (
                    k.clone(),
                    Metric {
                        value: *v,
                        unit: unit.to_string(),
                    },
                )
            })
            .collect(),
        distributions: s
            .hists
            .iter()
            .map(|(k, h)| (k.clone(), distribution(h)))
            .collect(),
        failures: s.failures.clone(),
        notes: notes(s),
        errors: s.errors.clone(),
        rungs: s.rungs.clone(),
    }
}

/// A step cut short never set its end-of-step metrics; say so, with the message
/// counts it had reached, so the reader knows what the report holds for it.
fn notes(s: &super::StepRecord) -> Vec<String> {
    let mut notes = s.notes.clone();
    if s.status.is_none() {
        notes.push(format!(
            "interrupted: {} messages sent and {} received so far; the metrics a step sets at its end are missing",
            s.sent, s.received
        ));
    }
    notes
}

fn timeline(st: &State, now: Duration) -> Vec<TimelineSecond> {
    let total = now.as_secs() as usize + 1;
    (0..total.max(st.seconds.len()))
        .map(|i| {
            let s = st.seconds.get(i);
            TimelineSecond {
                second: i as u32,
                counts: counts(st, s),
                device_clients: s.and_then(|s| s.device_clients),
            }
        })
        .collect()
}

/// The fine buckets up to `now` (inside the window: the caller checked).
fn fine_timeline(st: &State, now: Duration) -> Vec<TimelineBucket> {
    let total = (now.as_millis() as u64 / super::FINE_MS + 1) as usize;
    (0..total.max(st.fine.len()))
        .map(|i| TimelineBucket {
            t_ms: i as u64 * super::FINE_MS,
            counts: counts(st, st.fine.get(i)),
        })
        .collect()
}

/// A second's or a bucket's counts; one not reached yet holds only the connections
/// open now.
fn counts(st: &State, span: Option<&Second>) -> TimelineCounts {
    match span {
        Some(s) => TimelineCounts {
            messages_sent: s.sent,
            messages_received: s.received,
            connections: s.connections,
            connects: s.connects,
            disconnects: s.disconnects,
            errors: s.errors,
            latency_p99_us: s.p99(),
            heap_free_bytes: s.heap,
        },
        None => TimelineCounts {
            connections: st.open_connections,
            ..Default::default()
        },
    }
}

fn device(st: &State) -> DeviceReport {
    let d = &st.device;
    DeviceReport {
        observed: d.observed,
        heap_source: d.heap_source.clone(),
        reboots: d.reboots,
        panics: d.panics,
        heap_free_min_bytes: d.heap_free_min,
        warnings: d.warnings,
        errors: d.errors,
        user_events: d.user_events.clone(),
        source: d.source.clone(),
        events: d.events.clone(),
    }
}

/// Device counters thresholds can name that the model keeps only as events.
pub fn device_metric(report: &DeviceReport, name: &str) -> Option<f64> {
    if !report.observed {
        return None;
    }
    let count = |k: &str| report.events.iter().filter(|e| e.kind == k).count() as f64;
    if let Some(event) = name.strip_prefix("events.") {
        return Some(report.user_events.get(event).copied().unwrap_or(0) as f64);
    }
    match name {
        "reboots" => Some(report.reboots as f64),
        "panics" => Some(report.panics as f64),
        "errors" => Some(report.errors as f64),
        "warnings" => Some(report.warnings as f64),
        "heap_free_min" | "heap.min" => report.heap_free_min_bytes.map(|v| v as f64),
        "purges" => Some(count("purge")),
        "refusals" => Some(count("refuse")),
        "events" => Some(report.events.len() as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_histogram_reads_back_exactly() {
        use base64::Engine as _;
        let mut h = super::super::new_hist();
        for us in [3, 70, 70, 1_500, 250_000] {
            h.record(us).unwrap();
        }
        let text = distribution(&h).hdr_v2_base64.unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let back: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(back, h);
    }
}
