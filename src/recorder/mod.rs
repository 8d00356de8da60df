//! The one recorder of a run: steps and the device console feed it samples, counters
//! and events on one clock; the report is built from it at the end (or at interruption).
//!
//! The hot path (each message's counters and timing samples) goes into per-thread
//! shards (`shard.rs`): no lock shared by all clients, no allocation per sample. The
//! aggregator moves the shards' figures into the run's state once a second, for the
//! progress display and for the report. Rare events (connects, errors, device lines)
//! take the state's lock directly.
//!
//! Memory stays bounded on long runs: a second of the timeline keeps a full histogram
//! only while it is recent (shards may still hand samples in); after that it keeps its
//! p99 and counters, some tens of bytes. Short runs also get a finer timeline
//! (`fine.rs`), kept for a fixed window from the start only.

mod build;
mod fine;
mod shard;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::model::{DeviceEvent, StepStatus};
use crate::scenario::metrics;
use shard::{SHARDS, Shard, ShardSecond, my_shard};

pub use build::{StepSummary, device_metric, distribution};
pub use fine::{FINE_MS, FINE_WINDOW_MS};

/// Highest value a histogram holds: 10 minutes in µs; larger samples are clamped.
const HIST_MAX_US: u64 = 600_000_000;

/// Seconds of the timeline that keep their full latency histogram: shards hand a
/// second in when they first record in the next one, so older seconds are complete;
/// a few more let steps that time samples after the fact (fan-out) stamp them exactly.
const OPEN_SECONDS: u64 = 5;

/// Most spare per-second histograms kept (each about 170 KB).
const SPARE_MAX: usize = 2 * SHARDS;

/// An empty histogram with the bounds every distribution of a run uses.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves counters that are still meaningful.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    state: Mutex<State>,
    /// Locked before `state` whenever both are held.
    shards: Box<[Mutex<Shard>]>,
    /// Seconds before this one are sealed (or being sealed).
    sealing_from: AtomicU64,
}

#[derive(Default)]
struct State {
    steps: Vec<StepRecord>,
    seconds: Vec<Second>,
    /// Seconds before this index keep only their summary figures.
    sealed: usize,
    /// The fine timeline's buckets (`fine.rs`), at most `FINE_BUCKETS`.
    fine: Vec<Second>,
    /// Fine buckets before this index keep only their summary figures.
    fine_sealed: usize,
    /// Emptied per-second histograms, reused so a long run does not allocate (and
    /// fragment the heap with) one large histogram per second.
    /// Boxed as the seconds hold them, so they move in and out without a copy.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Histogram<u64>>>,
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
    /// Open connections at the end of this second (carried over seconds without events).
    connections: u64,
    /// While the second is open: every latency sample in it.
    latency: Option<Box<Histogram<u64>>>,
    /// Once sealed: the p99 of those samples.
    latency_p99: Option<u64>,
    heap: Option<u64>,
    device_clients: Option<u64>,
}

impl Second {
    fn p99(&self) -> Option<u64> {
        self.latency
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.99))
            .or(self.latency_p99)
    }
}

/// Adds a shard's counts and samples to a timeline entry (a second or a fine bucket);
/// hands back the shard's histogram when the entry did not keep it, for reuse.
/// The `i`-th entry of a timeline (per second, or per fine bucket), created with the
/// connections open now when the run has not reached it yet: a gap keeps the gauge.
fn slot_at(timeline: &mut Vec<Second>, i: u64, open: u64) -> &mut Second {
    let i = i as usize;
    if timeline.len() <= i {
        timeline.resize_with(i + 1, || Second {
            connections: open,
            ..Second::default()
        });
    }
    &mut timeline[i]
}

fn merge_figures(sec: &mut Second, from: ShardSecond, sealed: bool) -> Option<Box<Histogram<u64>>> {
    sec.sent += from.sent;
    sec.received += from.received;
    match from.latency {
        Some(h) if h.is_empty() => Some(h),
        Some(h) => match &mut sec.latency {
            Some(x) => {
                let _ = x.add(&*h);
                Some(h)
            }
            None if sealed => {
                // Not reached by the shards (entries are sealed only after every
                // shard handed them in); a late `sample_at` keeps an upper bound.
                let p = h.value_at_quantile(0.99);
                sec.latency_p99 = Some(sec.latency_p99.map_or(p, |q| q.max(p)));
                Some(h)
            }
            None => {
                sec.latency = Some(h);
                None
            }
        },
        None => None,
    }
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
    rungs: Vec<crate::report::model::CapacityRung>,
    sent: u64,
    received: u64,
    connections: u64,
}

#[derive(Default)]
struct DeviceState {
    observed: bool,
    source: Option<String>,
    heap_source: Option<String>,
    reboots: u64,
    panics: u64,
    purges: u64,
    refusals: u64,
    warnings: u64,
    errors: u64,
    user_events: BTreeMap<String, u64>,
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

/// One device event, already named by the console parser (`run::console`). `kind`
/// decides what it counts towards: `reboot`, `panic`, `warning`, `error`, `purge`,
/// `refuse`, `event` (a scenario pattern, by `name`); `boot` (the boot seen at
/// attach) and the rest are only listed.
#[derive(Debug, Clone, Default)]
pub struct DeviceLine {
    pub kind: String,
    /// What the report lists for it: the console line, or the incident's summary.
    pub line: String,
    pub heap_free: Option<u64>,
    pub heap_min: Option<u64>,
    pub heap_source: Option<String>,
    /// The device's own count of open clients, when the line gave it.
    pub clients: Option<u64>,
    /// A scenario event's name (`kind == "event"`).
    pub name: Option<String>,
    /// Seen before the run started (the boot at attach): listed at 0 ms, its second's
    /// figures untouched.
    pub before_run: bool,
    /// When it happened on the run's clock (its first line's arrival); default: now.
    pub at: Option<Duration>,
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
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                sealing_from: AtomicU64::new(0),
            }),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.inner.start.elapsed()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Applies `f` to the timeline's second at `at` and, inside the fine window, to its
    /// fine bucket; entries this adds hold the gauge as it stands.
    fn each_bucket(state: &mut State, at: Duration, f: impl Fn(&mut Second)) {
        f(Self::second_no(state, at.as_secs()));
        if let Some(b) = Self::fine(state, at) {
            f(b);
        }
    }

    fn second_no(state: &mut State, s: u64) -> &mut Second {
        slot_at(&mut state.seconds, s, state.open_connections)
    }

    /// Adds a shard's second to the timeline.
    fn merge_second(state: &mut State, from: ShardSecond) {
        let sealed = (from.at as usize) < state.sealed;
        let sec = Self::second_no(state, from.at);
        if let Some(h) = merge_figures(sec, from, sealed) {
            Self::recycle(state, h);
        }
    }

    fn recycle(state: &mut State, mut h: Box<Histogram<u64>>) {
        if state.spare.len() < SPARE_MAX {
            h.reset();
            state.spare.push(h);
        }
    }

    /// Moves what `shard` holds into the state. Seconds before `older_than` only (the
    /// running second stays in the shard), or all with `None`.
    fn drain_shard(&self, shard: &mut Shard, state: &mut State, older_than: Option<u64>) {
        let running = state.steps.len().saturating_sub(1);
        for (step, dist, h) in shard.hists.iter_mut() {
            if h.is_empty() {
                continue;
            }
            if let Some(rec) = state.steps.get_mut(*step) {
                match rec.hists.get_mut(*dist) {
                    Some(x) => {
                        let _ = x.add(&*h);
                    }
                    None => {
                        rec.hists.insert((*dist).to_string(), h.clone());
                    }
                }
            }
            h.reset();
        }
        // Keep only the running step's histograms, for their next samples.
        shard.hists.retain(|(step, _, _)| *step == running);
        for (step, sent, received) in shard.counts.drain(..) {
            if let Some(rec) = state.steps.get_mut(step) {
                rec.sent += sent;
                rec.received += received;
            }
        }
        let take = match (&shard.second, older_than) {
            (Some(_), None) => true,
            (Some(s), Some(limit)) => s.at < limit,
            (None, _) => false,
        };
        if take && let Some(sec) = shard.second.take() {
            Self::merge_second(state, sec);
        }
        let take_fine = match (&shard.fine, older_than) {
            (Some(_), None) => true,
            (Some(b), Some(limit)) => b.at < limit * 1000 / FINE_MS,
            (None, _) => false,
        };
        if take_fine && let Some(b) = shard.fine.take() {
            Self::merge_fine(state, b);
        }
    }

    /// Moves every shard's figures into the state (the running second's too when `all`).
    fn collect(&self, all: bool) {
        let now = self.elapsed().as_secs();
        for shard in self.inner.shards.iter() {
            let mut sh = lock(shard);
            let mut st = self.lock();
            self.drain_shard(&mut sh, &mut st, (!all).then_some(now));
        }
    }

    /// Seals the seconds older than [`OPEN_SECONDS`], at most once per second of the run.
    fn maybe_seal(&self, now: u64) {
        let upto = now.saturating_sub(OPEN_SECONDS);
        let from = self.inner.sealing_from.load(Ordering::Relaxed);
        if upto <= from
            || self
                .inner
                .sealing_from
                .compare_exchange(from, upto, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Seconds a shard still holds are handed in first, so sealed seconds are whole.
        for shard in self.inner.shards.iter() {
            let mut sh = lock(shard);
            if sh.second.as_ref().is_some_and(|s| s.at < upto) {
                let mut st = self.lock();
                if let Some(sec) = sh.second.take() {
                    Self::merge_second(&mut st, sec);
                }
            }
            if sh
                .fine
                .as_ref()
                .is_some_and(|b| b.at < upto * 1000 / FINE_MS)
            {
                let mut st = self.lock();
                if let Some(b) = sh.fine.take() {
                    Self::merge_fine(&mut st, b);
                }
            }
        }
        let mut st = self.lock();
        Self::seal_fine(&mut st, upto);
        let end = (upto as usize).min(st.seconds.len());
        let begin = st.sealed.min(end);
        let mut freed = Vec::new();
        for sec in &mut st.seconds[begin..end] {
            if let Some(h) = sec.latency.take() {
                sec.latency_p99 = (!h.is_empty()).then(|| h.value_at_quantile(0.99));
                freed.push(h);
            }
        }
        for h in freed {
            Self::recycle(&mut st, h);
        }
        st.sealed = st.sealed.max(end);
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
            rungs: Vec::new(),
            sent: 0,
            received: 0,
            connections: 0,
        });
        StepRec {
            rec: self.clone(),
            idx: st.steps.len() - 1,
        }
    }

    /// Says where the device side is read from (or, with `observed == false` left, why
    /// it is not): the report names it.
    pub fn device_source(&self, source: String, observed: bool) {
        let mut st = self.lock();
        st.device.source = Some(source);
        st.device.observed |= observed;
    }

    /// One console line for `serial.log`, as it is to be saved (host time prefixed).
    pub fn serial_line(&self, line: &str) {
        let mut st = self.lock();
        st.device.observed = true;
        st.device.serial_log.push_str(line);
        st.device.serial_log.push('\n');
    }

    /// Records one device event on the run's timeline.
    pub fn device_line(&self, d: DeviceLine) {
        let at = if d.before_run {
            Duration::ZERO
        } else {
            d.at.unwrap_or_else(|| self.elapsed())
        };
        let mut st = self.lock();
        st.device.observed = true;
        match d.kind.as_str() {
            "reboot" => st.device.reboots += 1,
            "panic" => st.device.panics += 1,
            "purge" => st.device.purges += 1,
            "refuse" => st.device.refusals += 1,
            "warning" => st.device.warnings += 1,
            "error" => st.device.errors += 1,
            "event" => {
                let name = d.name.clone().unwrap_or_default();
                *st.device.user_events.entry(name).or_default() += 1;
            }
            _ => {}
        }
        if let Some(src) = d.heap_source {
            st.device.heap_source = Some(src);
        }
        let low = d.heap_min.or(d.heap_free);
        if let Some(low) = low {
            st.device.heap_free_min = Some(st.device.heap_free_min.map_or(low, |m| m.min(low)));
        }
        if !d.before_run {
            if let Some(free) = d.heap_free {
                Self::each_bucket(&mut st, at, |b| b.heap = Some(free));
            }
            // The peak, not the last line: a server serving clients on several tasks
            // may log two opens in the other order than it counted them.
            if let Some(n) = d.clients {
                Self::each_bucket(&mut st, at, |b| {
                    b.device_clients = Some(b.device_clients.map_or(n, |m| m.max(n)))
                });
            }
        }
        if d.kind != "log" && st.device.events.len() < 100_000 {
            st.device.events.push(DeviceEvent {
                at_ms: at.as_millis() as u64,
                kind: d.kind,
                line: d.line,
            });
        }
    }

    /// Whether a device console is being read: then a target that stops answering
    /// may be rebooting (its boot lines arrive after the sockets drop), not lost.
    pub fn device_observed(&self) -> bool {
        self.lock().device.observed
    }

    /// The raw console text seen so far (for `serial.log`).
    pub fn serial_log(&self) -> Option<String> {
        let st = self.lock();
        st.device.observed.then(|| st.device.serial_log.clone())
    }

    pub fn live(&self, step: &StepRec) -> Live {
        self.collect(false);
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

    /// Runs `f` on this thread's shard, with the running second ready in it.
    fn on_shard(&self, f: impl FnOnce(&mut Shard, usize)) {
        let inner = &self.rec.inner;
        let mut sh = lock(&inner.shards[my_shard()]);
        let elapsed = self.rec.elapsed();
        let now = elapsed.as_secs();
        let (_, rolled) = sh.second_at(now);
        let rolled_over = rolled.is_some();
        // The fine bucket rolls on its own clock and ends with the window.
        let fine_done = match fine::bucket_of(elapsed) {
            Some(b) => sh.fine_at(b),
            None => sh.fine.take(),
        };
        if let Some(old) = fine_done {
            Recorder::merge_fine(&mut self.rec.lock(), old);
        }
        if let Some(old) = rolled {
            let mut st = self.rec.lock();
            Recorder::merge_second(&mut st, old);
            // The new second's histogram from the spares, not a fresh allocation.
            if let Some(sec) = sh.second.as_mut()
                && sec.latency.is_none()
            {
                sec.latency = st.spare.pop();
            }
        }
        f(&mut sh, self.idx);
        drop(sh);
        if rolled_over {
            self.rec.maybe_seal(now);
        }
    }

    pub fn sent(&self, n: u64) {
        self.on_shard(|sh, step| {
            sh.counts(step).1 += n;
            if let Some(sec) = sh.second.as_mut() {
                sec.sent += n;
            }
            if let Some(b) = sh.fine.as_mut() {
                b.sent += n;
            }
        })
    }

    pub fn received(&self, n: u64) {
        self.on_shard(|sh, step| {
            sh.counts(step).2 += n;
            if let Some(sec) = sh.second.as_mut() {
                sec.received += n;
            }
            if let Some(b) = sh.fine.as_mut() {
                b.received += n;
            }
        })
    }

    /// One timing sample into distribution `dist`; `latency` and `rtt` also feed the
    /// timeline's per-second p99.
    pub fn sample(&self, dist: &'static str, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, HIST_MAX_US);
        self.on_shard(|sh, step| {
            let _ = sh.hist(step, dist).record(us);
            if dist == "latency" || dist == "rtt" {
                if let Some(sec) = sh.second.as_mut() {
                    let _ = sec
                        .latency
                        .get_or_insert_with(|| Box::new(new_hist()))
                        .record(us);
                }
                if let Some(b) = sh.fine.as_mut() {
                    let _ = b
                        .latency
                        .get_or_insert_with(|| Box::new(fine::new_fine_hist()))
                        .record(us);
                }
            }
        })
    }

    /// One timing sample stamped at `at` on the timeline (a step that times its
    /// samples after the fact, like fan-out, puts each in the second it happened). Takes
    /// the state's lock: for samples analysed in bulk, not the hot path. A second
    /// already sealed keeps an upper bound of its p99 (the larger of the two).
    pub fn sample_at(&self, dist: &'static str, d: Duration, at: Instant) {
        let us = (d.as_micros() as u64).clamp(1, HIST_MAX_US);
        let since = at.saturating_duration_since(self.rec.inner.start);
        let second = since.as_secs();
        self.with(|st, _| {
            let step = &mut st.steps[self.idx];
            match step.hists.get_mut(dist) {
                Some(h) => {
                    let _ = h.record(us);
                }
                None => {
                    let mut h = new_hist();
                    let _ = h.record(us);
                    step.hists.insert(dist.to_string(), h);
                }
            }
            if dist == "latency" || dist == "rtt" {
                let mut h = Box::new(new_hist());
                let _ = h.record(us);
                let mut one = ShardSecond::new(second);
                one.latency = Some(h);
                Recorder::merge_second(st, one);
                if let Some(b) = fine::bucket_of(since) {
                    let mut h = Box::new(fine::new_fine_hist());
                    let _ = h.record(us);
                    let mut one = ShardSecond::new(b);
                    one.latency = Some(h);
                    Recorder::merge_fine(st, one);
                }
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
            let failures = &mut st.steps[self.idx].failures;
            match failures.get_mut(cause) {
                Some(n) => *n += 1,
                None => {
                    failures.insert(cause.to_string(), 1);
                }
            }
            Recorder::each_bucket(st, at, |b| b.errors += 1);
        })
    }

    /// One rung of a `capacity` step.
    pub fn rung(&self, rung: crate::report::model::CapacityRung) {
        self.with(|st, _| st.steps[self.idx].rungs.push(rung))
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
            Recorder::each_bucket(st, at, |b| b.errors += 1);
        })
    }

    pub fn connected(&self) {
        self.with(|st, at| {
            // The buckets first: buckets they add carry the gauge from before this event.
            Recorder::each_bucket(st, at, |_| {});
            st.open_connections += 1;
            st.steps[self.idx].connections += 1;
            let open = st.open_connections;
            Recorder::each_bucket(st, at, |b| {
                b.connects += 1;
                b.connections = open;
            });
        })
    }

    pub fn disconnected(&self) {
        self.with(|st, at| {
            Recorder::each_bucket(st, at, |_| {});
            st.open_connections = st.open_connections.saturating_sub(1);
            let open = st.open_connections;
            Recorder::each_bucket(st, at, |b| {
                b.disconnects += 1;
                b.connections = open;
            });
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
        let line = "I (1) ws_server: heap free=1000 min_free=900 source=modelled";
        rec.serial_line(line);
        rec.device_line(DeviceLine {
            kind: "heap".into(),
            line: line.into(),
            heap_free: Some(1000),
            heap_min: Some(900),
            heap_source: Some("modelled".into()),
            ..DeviceLine::default()
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
        assert_eq!(
            (second.counts.messages_sent, second.counts.messages_received),
            (3, 2)
        );
        assert_eq!(
            (
                second.counts.connects,
                second.counts.disconnects,
                second.counts.connections
            ),
            (1, 1, 0)
        );
        assert_eq!(second.counts.heap_free_bytes, Some(1000));
        assert_eq!(s.device.heap_free_min_bytes, Some(900));
        assert_eq!(device_metric(&s.device, "heap_free_min"), Some(900.0));
        assert_eq!(rec.serial_log().unwrap().lines().count(), 1);
    }

    #[test]
    fn device_clients_is_the_peak_of_counts_logged_out_of_order() {
        let rec = Recorder::new();
        // Two opens counted 1 then 2, printed the other way round (two server tasks).
        for (id, n) in [(2, 2), (1, 1)] {
            rec.device_line(DeviceLine {
                kind: "open".into(),
                line: format!("I (5) ws_server: open id={id} peer=x transport=ws clients={n}/7"),
                clients: Some(n),
                at: Some(Duration::from_millis(5)),
                ..DeviceLine::default()
            });
        }
        let s = rec.summarize();
        assert_eq!(s.timeline[0].device_clients, Some(2));
    }

    #[test]
    fn short_run_has_fine_buckets_that_add_up_to_the_seconds() {
        let rec = Recorder::new();
        let step = rec.begin_step("echo", "echo", serde_json::json!({}));
        step.connected();
        step.sent(5);
        step.received(4);
        step.sample("latency", Duration::from_micros(250));
        step.finish(StepStatus::Passed);
        let s = rec.summarize();
        assert_eq!(s.timeline_resolution_ms, 100);
        assert!(!s.timeline_buckets.is_empty());
        let sent: u64 = s
            .timeline_buckets
            .iter()
            .map(|b| b.counts.messages_sent)
            .sum();
        let received: u64 = s
            .timeline_buckets
            .iter()
            .map(|b| b.counts.messages_received)
            .sum();
        assert_eq!((sent, received), (5, 4));
        let connects: u64 = s.timeline_buckets.iter().map(|b| b.counts.connects).sum();
        assert_eq!(connects, 1);
        let p99 = s
            .timeline_buckets
            .iter()
            .find_map(|b| b.counts.latency_p99_us);
        assert!(p99.is_some_and(|p| (247..=253).contains(&p)), "{p99:?}");
        assert_eq!(s.timeline_buckets.last().unwrap().counts.connections, 1);
    }
}
