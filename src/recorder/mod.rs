//! The one recorder of a run: steps and the device console feed it samples, counters
//! and events on one clock; the report is built from it at the end (or at interruption).
//!
//! A small lock guards it: every sample is a few counter bumps and one histogram
//! insert, far cheaper than the network work that produced it.

mod build;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::model::{DeviceEvent, StepStatus};
use crate::scenario::metrics;

pub use build::{StepSummary, device_metric};

/// Highest value a histogram holds: 10 minutes in µs; larger samples are clamped.
const HIST_MAX_US: u64 = 600_000_000;

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    steps: Vec<StepRecord>,
    seconds: Vec<Second>,
    open_connections: u64,
    device: DeviceState,
}

#[derive(Default)]
struct Second {
    sent: u64,
    received: u64,
    connects: u64,
    disconnects: u64,
    errors: u64,
    connections: u64,
    latency: Option<Histogram<u64>>,
    heap: Option<u64>,
}

struct StepRecord {
    name: String,
    kind: String,
    settings: serde_json::Value,
    started: Duration,
    ended: Option<Duration>,
    status: Option<StepStatus>,
    metrics: BTreeMap<String, f64>,
    hists: BTreeMap<String, Histogram<u64>>,
    failures: BTreeMap<String, u64>,
    notes: Vec<String>,
    errors: Vec<String>,
    sent: u64,
    received: u64,
    connections: u64,
}

#[derive(Default)]
struct DeviceState {
    observed: bool,
    heap_source: Option<String>,
    reboots: u64,
    panics: u64,
    purges: u64,
    refusals: u64,
    heap_free_min: Option<u64>,
    events: Vec<DeviceEvent>,
    serial_log: String,
}

/// What the progress display shows for the running step.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub connections: u64,
    pub sent: u64,
    pub received: u64,
    pub p99_us: Option<u64>,
    pub failures: u64,
}

/// A device console line already classified by the console reader.
#[derive(Debug, Clone)]
pub struct DeviceLine {
    pub kind: String,
    pub line: String,
    pub heap_free: Option<u64>,
    pub heap_min: Option<u64>,
    pub heap_source: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            inner: Arc::new(Inner {
                start: Instant::now(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.inner.start.elapsed()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still meaningful.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn second(state: &mut State, at: Duration) -> &mut Second {
        let s = at.as_secs() as usize;
        if state.seconds.len() <= s {
            let open = state.open_connections;
            state.seconds.resize_with(s + 1, Second::default);
            for sec in state
                .seconds
                .iter_mut()
                .rev()
                .take_while(|x| x.connections == 0)
            {
                sec.connections = open;
            }
        }
        &mut state.seconds[s]
    }

    /// Starts recording a step; its samples go through the returned handle.
    pub fn begin_step(&self, name: &str, kind: &str, settings: serde_json::Value) -> StepRec {
        let mut st = self.lock();
        st.steps.push(StepRecord {
            name: name.into(),
            kind: kind.into(),
            settings,
            started: self.elapsed(),
            ended: None,
            status: None,
            metrics: BTreeMap::new(),
            hists: BTreeMap::new(),
            failures: BTreeMap::new(),
            notes: Vec::new(),
            errors: Vec::new(),
            sent: 0,
            received: 0,
            connections: 0,
        });
        StepRec {
            rec: self.clone(),
            idx: st.steps.len() - 1,
        }
    }

    /// Records one device console line on the run's timeline.
    pub fn device_line(&self, d: DeviceLine) {
        let at = self.elapsed();
        let mut st = self.lock();
        st.device.observed = true;
        st.device.serial_log.push_str(&d.line);
        st.device.serial_log.push('\n');
        match d.kind.as_str() {
            "boot" => st.device.reboots += 1,
            "panic" => st.device.panics += 1,
            "purge" => st.device.purges += 1,
            "refuse" => st.device.refusals += 1,
            _ => {}
        }
        if let Some(src) = d.heap_source {
            st.device.heap_source = Some(src);
        }
        let low = d.heap_min.or(d.heap_free);
        if let Some(low) = low {
            st.device.heap_free_min = Some(st.device.heap_free_min.map_or(low, |m| m.min(low)));
        }
        if let Some(free) = d.heap_free {
            Self::second(&mut st, at).heap = Some(free);
        }
        if d.kind != "log" && st.device.events.len() < 100_000 {
            st.device.events.push(DeviceEvent {
                at_ms: at.as_millis() as u64,
                kind: d.kind,
                line: d.line,
            });
        }
    }

    /// The raw console text seen so far (for `serial.log`).
    pub fn serial_log(&self) -> Option<String> {
        let st = self.lock();
        st.device.observed.then(|| st.device.serial_log.clone())
    }

    pub fn live(&self, step: &StepRec) -> Live {
        let st = self.lock();
        let s = &st.steps[step.idx];
        let p99 = s
            .hists
            .get("latency")
            .or_else(|| s.hists.get("rtt"))
            .or_else(|| s.hists.get("connect"))
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.99));
        Live {
            connections: st.open_connections,
            sent: s.sent,
            received: s.received,
            p99_us: p99,
            failures: s.failures.values().sum(),
        }
    }

    pub fn open_connections(&self) -> u64 {
        self.lock().open_connections
    }
}

/// A step's handle into the recorder.
#[derive(Clone)]
pub struct StepRec {
    rec: Recorder,
    idx: usize,
}

impl StepRec {
    pub fn recorder(&self) -> &Recorder {
        &self.rec
    }

    fn with<R>(&self, f: impl FnOnce(&mut State, Duration) -> R) -> R {
        let at = self.rec.elapsed();
        let mut st = self.rec.lock();
        f(&mut st, at)
    }

    pub fn sent(&self, n: u64) {
        self.with(|st, at| {
            st.steps[self.idx].sent += n;
            Recorder::second(st, at).sent += n;
        })
    }

    pub fn received(&self, n: u64) {
        self.with(|st, at| {
            st.steps[self.idx].received += n;
            Recorder::second(st, at).received += n;
        })
    }

    /// One timing sample into distribution `dist`; `latency` also feeds the timeline's p99.
    pub fn sample(&self, dist: &str, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, HIST_MAX_US);
        self.with(|st, at| {
            let step = &mut st.steps[self.idx];
            let _ = step
                .hists
                .entry(dist.to_string())
                .or_insert_with(new_hist)
                .record(us);
            if dist == "latency" || dist == "rtt" {
                let sec = Recorder::second(st, at);
                let _ = sec.latency.get_or_insert_with(new_hist).record(us);
            }
        })
    }

    /// Sets a scalar metric (the name must be one of the kind's metrics).
    pub fn set(&self, metric: &str, value: f64) {
        self.with(|st, _| {
            let step = &mut st.steps[self.idx];
            debug_assert!(
                metrics::step_metrics(&step.kind)
                    .iter()
                    .any(|(m, _, _)| *m == metric),
                "{metric} is not a documented metric of {}",
                step.kind
            );
            step.metrics.insert(metric.to_string(), value);
        })
    }

    pub fn add(&self, metric: &str, n: f64) {
        self.with(|st, _| {
            *st.steps[self.idx]
                .metrics
                .entry(metric.to_string())
                .or_insert(0.0) += n
        })
    }

    pub fn failure(&self, cause: &str) {
        self.with(|st, at| {
            *st.steps[self.idx]
                .failures
                .entry(cause.to_string())
                .or_insert(0) += 1;
            Recorder::second(st, at).errors += 1;
        })
    }

    pub fn note(&self, text: impl Into<String>) {
        let t = text.into();
        self.with(|st, _| st.steps[self.idx].notes.push(t))
    }

    pub fn error(&self, text: impl Into<String>) {
        let t = text.into();
        self.with(|st, at| {
            let step = &mut st.steps[self.idx];
            if step.errors.len() < 50 {
                step.errors.push(t);
            }
            Recorder::second(st, at).errors += 1;
        })
    }

    pub fn connected(&self) {
        self.with(|st, at| {
            st.open_connections += 1;
            st.steps[self.idx].connections += 1;
            let open = st.open_connections;
            let sec = Recorder::second(st, at);
            sec.connects += 1;
            sec.connections = open;
        })
    }

    pub fn disconnected(&self) {
        self.with(|st, at| {
            st.open_connections = st.open_connections.saturating_sub(1);
            let open = st.open_connections;
            let sec = Recorder::second(st, at);
            sec.disconnects += 1;
            sec.connections = open;
        })
    }

    /// Ends the step; a step never finished is reported as interrupted.
    pub fn finish(&self, status: StepStatus) {
        self.with(|st, at| {
            let s = &mut st.steps[self.idx];
            s.ended = Some(at);
            s.status = Some(status);
        })
    }

    pub fn has_errors(&self) -> bool {
        self.with(|st, _| !st.steps[self.idx].errors.is_empty())
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        self.with(|st, _| st.steps[self.idx].metrics.get(name).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_holds_what_steps_recorded() {
        let rec = Recorder::new();
        let step = rec.begin_step("echo", "echo", serde_json::json!({}));
        step.connected();
        step.sent(3);
        step.received(2);
        for us in [100, 200, 300] {
            step.sample("latency", Duration::from_micros(us));
        }
        step.set("lost", 1.0);
        step.failure("corrupt");
        step.finish(StepStatus::Passed);
        let unfinished = rec.begin_step("hold", "hold", serde_json::json!({}));
        unfinished.disconnected();
        rec.device_line(DeviceLine {
            kind: "heap".into(),
            line: "I (1) ws_server: heap free=1000 min_free=900 source=modelled".into(),
            heap_free: Some(1000),
            heap_min: Some(900),
            heap_source: Some("modelled".into()),
        });
        let s = rec.summarize();
        assert_eq!(s.steps[0].status, StepStatus::Passed);
        assert_eq!(s.steps[1].status, StepStatus::Interrupted);
        let lat = &s.steps[0].distributions["latency"];
        assert_eq!((lat.count, lat.min_us), (3, 100));
        assert!(lat.max_us >= 300 && lat.max_us < 301, "{}", lat.max_us);
        assert_eq!(s.steps[0].metrics["lost"].unit, "count");
        assert_eq!(s.steps[0].failures["corrupt"], 1);
        let second = &s.timeline[0];
        assert_eq!((second.messages_sent, second.messages_received), (3, 2));
        assert_eq!(
            (second.connects, second.disconnects, second.connections),
            (1, 1, 0)
        );
        assert_eq!(second.heap_free_bytes, Some(1000));
        assert_eq!(s.device.heap_free_min_bytes, Some(900));
        assert_eq!(device_metric(&s.device, "heap_free_min"), Some(900.0));
        assert_eq!(rec.serial_log().unwrap().lines().count(), 1);
    }
}
