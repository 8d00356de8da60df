//! `wsbench report diff A B`: what changed between two reports, metric by metric, and
//! which changes are regressions a CI can gate on.
//!
//! Only differences the data supports count: a metric's direction comes from the
//! metric registry (`scenario::metrics`, declared once; neutral and tool-side figures
//! such as `send_lag` are never regressions), a percentile is judged only with enough
//! samples behind it (p99 needs 100, p99.9 needs 1,000), and a percentile counts as
//! worse only when it moved by more than the tolerance *and* out of the range its
//! sample size leaves to chance (the order-statistic interval, read off the report's
//! percentile curve), so run-to-run noise is not flagged.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use super::format;
use super::model::{Distribution, Report, StepReport, StepStatus, TargetKind};
use super::summary;
use crate::scenario::metrics;
pub use crate::scenario::metrics::Direction;

/// What counts as noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    /// Relative change, in percent, below which a change is noise (before the widening
    /// for sample size).
    pub percent: f64,
    /// Absolute change in latency below which a change is noise, in microseconds.
    pub latency_floor_us: f64,
}

/// The simulated board's latency is the host's scheduling: on a busy machine (a CI
/// runner, a build next to it) its percentiles move by a millisecond or double from one
/// run to the next with nothing changed. Latency between two simulated runs is judged
/// no finer than this.
pub const SIMULATED_LATENCY_TOLERANCE: Tolerance = Tolerance {
    percent: 100.0,
    latency_floor_us: 1_000.0,
};

impl Tolerance {
    /// The tolerance for latency distributions of `a` against `b`: the given one, made
    /// no finer than [`SIMULATED_LATENCY_TOLERANCE`] when both ran on the simulated board.
    pub fn for_latency(self, a: &Report, b: &Report) -> Tolerance {
        if a.target.kind == TargetKind::Simulated && b.target.kind == TargetKind::Simulated {
            Tolerance {
                percent: self.percent.max(SIMULATED_LATENCY_TOLERANCE.percent),
                latency_floor_us: self
                    .latency_floor_us
                    .max(SIMULATED_LATENCY_TOLERANCE.latency_floor_us),
            }
        } else {
            self
        }
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            percent: 10.0,
            latency_floor_us: 200.0,
        }
    }
}

/// How a compared figure came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// Worse in its direction by more than the noise allows.
    Regression,
    /// Better in its direction by more than the noise allows.
    Improvement,
    /// Different, but within the noise.
    WithinNoise,
    Unchanged,
    /// A percentile with too few samples behind it in A or B to judge.
    TooFewSamples,
    /// A neutral or tool-side figure: shown, never judged.
    NotJudged,
    /// In one report only.
    Missing,
}

impl Judgement {
    fn label(self) -> &'static str {
        match self {
            Judgement::Regression => "REGRESSION",
            Judgement::Improvement => "better",
            Judgement::TooFewSamples => "too few samples",
            _ => "",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Metric name as thresholds use it (`echo.latency.p99`, `device.reboots`).
    pub name: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub unit: String,
    #[serde(serialize_with = "direction_word")]
    pub direction: Direction,
    pub judgement: Judgement,
    /// The relative change (percent) this figure had to exceed to count, after the
    /// widening for sample size; `None` when not judged.
    pub tolerance_percent: Option<f64>,
    pub regression: bool,
}

fn direction_word<S: serde::Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

/// The comparison of two reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportDiff {
    /// Why the figures may not be comparable, verdict changes, steps in one report only.
    pub notes: Vec<String>,
    /// Grouped by section (a step name, "device", "thresholds"), in report order.
    pub sections: Vec<(String, Vec<Change>)>,
    /// Threshold and step outcomes that got worse, as sentences.
    pub outcome_regressions: Vec<String>,
}

impl ReportDiff {
    /// Every regression, as one line each.
    pub fn regressions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .sections
            .iter()
            .flat_map(|(_, changes)| changes.iter().filter(|c| c.regression))
            .map(|c| format!("{} {}", c.name, change_text(c)))
            .collect();
        out.extend(self.outcome_regressions.iter().cloned());
        out
    }
}

/// Compares `b` (the newer run) against `a` (the baseline).
pub fn compare(a: &Report, b: &Report, tol: Tolerance) -> ReportDiff {
    let mut diff = ReportDiff::default();
    context_notes(a, b, &mut diff.notes);
    let latency_tol = tol.for_latency(a, b);
    if latency_tol != tol {
        diff.notes.push(format!(
            "both runs on the simulated board (host timing): latency is judged only beyond {} % and {}",
            format::number(latency_tol.percent, 0),
            format::duration_us(latency_tol.latency_floor_us)
        ));
    }

    let names_b: BTreeSet<&str> = b.steps.iter().map(|s| s.name.as_str()).collect();
    let names_a: BTreeSet<&str> = a.steps.iter().map(|s| s.name.as_str()).collect();
    for sa in &a.steps {
        match b.steps.iter().find(|sb| sb.name == sa.name) {
            Some(sb) => {
                if is_worse_status(sa.status, sb.status) {
                    diff.outcome_regressions.push(format!(
                        "step {} {} in A, {} in B",
                        sa.name,
                        summary::status_word(sa.status),
                        summary::status_word(sb.status)
                    ));
                }
                diff.sections.push((
                    format!("step {}", sa.name),
                    compare_step(sa, sb, tol, latency_tol),
                ));
            }
            None => diff.notes.push(format!("step {} is only in A", sa.name)),
        }
    }
    for name in names_b.difference(&names_a) {
        diff.notes.push(format!("step {name} is only in B"));
    }

    diff.sections
        .push(("device".to_string(), compare_device(a, b, tol)));

    for ta in &a.thresholds {
        match b
            .thresholds
            .iter()
            .find(|tb| tb.expression == ta.expression)
        {
            Some(tb) if ta.passed && !tb.passed => diff.outcome_regressions.push(format!(
                "threshold `{}` passed in A, failed in B: {}",
                ta.expression, tb.message
            )),
            Some(tb) if !ta.passed && tb.passed => diff.notes.push(format!(
                "threshold `{}` failed in A, passes in B",
                ta.expression
            )),
            Some(_) => {}
            None => diff
                .notes
                .push(format!("threshold `{}` is only in A", ta.expression)),
        }
    }
    for tb in &b.thresholds {
        if !a.thresholds.iter().any(|ta| ta.expression == tb.expression) {
            diff.notes
                .push(format!("threshold `{}` is only in B", tb.expression));
        }
    }
    diff
}

fn context_notes(a: &Report, b: &Report, notes: &mut Vec<String>) {
    if a.scenario.sha256 != b.scenario.sha256 {
        notes.push(format!(
            "scenarios differ (A {} sha256 {}, B {} sha256 {}): figures may not be comparable",
            a.scenario.file,
            short(&a.scenario.sha256),
            b.scenario.file,
            short(&b.scenario.sha256)
        ));
    }
    if a.target.kind != b.target.kind {
        let mut note = format!(
            "targets differ: A ran on {}, B on {}",
            kind_name(a.target.kind),
            kind_name(b.target.kind)
        );
        if a.target.kind == TargetKind::Simulated || b.target.kind == TargetKind::Simulated {
            note.push_str(&format!(" ({})", summary::SIMULATED_LABEL));
        }
        notes.push(note);
    } else if a.target.url != b.target.url && a.target.kind != TargetKind::Simulated {
        notes.push(format!(
            "target URLs differ: A {}, B {}",
            a.target.url, b.target.url
        ));
    }
    if a.verdict != b.verdict {
        notes.push(format!(
            "verdict {} in A, {} in B",
            summary::verdict_word(a.verdict),
            summary::verdict_word(b.verdict)
        ));
    }
    for (label, r) in [("A", a), ("B", b)] {
        if !r.complete {
            notes.push(format!(
                "{label} is incomplete ({}): its figures cover only part of the run",
                r.interruption.as_deref().unwrap_or("interrupted")
            ));
        }
    }
}

fn kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Simulated => "the simulated board",
        TargetKind::Board => "a board",
        TargetKind::Url => "a server given by URL",
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn is_worse_status(a: StepStatus, b: StepStatus) -> bool {
    a == StepStatus::Passed && matches!(b, StepStatus::Failed | StepStatus::Interrupted)
}

/// Reads one figure of a distribution.
type Percentile = fn(&Distribution) -> f64;

/// The statistics of a distribution that are compared, with the quantile each stands
/// for (`None`: not a quantile).
const DISTRIBUTION_FIELDS: [(&str, Percentile, Option<f64>); 7] = [
    ("count", |d| d.count as f64, None),
    // Outliers move the mean: shown, not judged (p50 is the judged centre).
    ("mean", |d| d.mean_us, None),
    ("p50", |d| d.p50_us as f64, Some(0.5)),
    ("p90", |d| d.p90_us as f64, Some(0.9)),
    ("p99", |d| d.p99_us as f64, Some(0.99)),
    ("p999", |d| d.p999_us as f64, Some(0.999)),
    // One outlier moves the maximum: shown, not judged.
    ("max", |d| d.max_us as f64, None),
];

/// Fewest samples for any percentile to be judged, however central.
const MIN_SAMPLES: u64 = 20;

/// Samples a quantile needs in both reports: at least one sample beyond it on
/// average (p99 → 100, p99.9 → 1,000), and never fewer than [`MIN_SAMPLES`].
pub fn min_samples(quantile: f64) -> u64 {
    ((1.0 / (1.0 - quantile)).round() as u64).max(MIN_SAMPLES)
}

/// How many standard errors of rank a quantile's estimate may move by chance.
const RANK_Z: f64 = 2.0;

/// The value of `d` at `percentile` (0–100), interpolated on its percentile curve;
/// `fallback` when the report has no curve.
fn value_at(d: &Distribution, percentile: f64, fallback: f64) -> f64 {
    let curve = &d.percentile_curve;
    let Some(first) = curve.first() else {
        return fallback;
    };
    if percentile <= first.0 {
        return first.1 as f64;
    }
    for pair in curve.windows(2) {
        let ((p0, v0), (p1, v1)) = (pair[0], pair[1]);
        if percentile <= p1 {
            let t = if p1 > p0 {
                (percentile - p0) / (p1 - p0)
            } else {
                1.0
            };
            return v0 as f64 + t * (v1 as f64 - v0 as f64);
        }
    }
    curve.last().map_or(fallback, |(_, v)| *v as f64)
}

/// Where quantile `q` of `d` could lie by sampling chance: the values at the ranks
/// `q ∓ z·√(q(1−q)/n)` (the order-statistic confidence interval), lowest and highest.
pub fn quantile_range(d: &Distribution, q: f64, stat: f64) -> (f64, f64) {
    let spread = RANK_Z * (q * (1.0 - q) / d.count.max(1) as f64).sqrt();
    let lo = value_at(d, ((q - spread).max(0.0)) * 100.0, stat).min(stat);
    let hi = value_at(d, ((q + spread).min(1.0)) * 100.0, stat).max(stat);
    (lo, hi)
}

fn compare_step(
    a: &StepReport,
    b: &StepReport,
    tol: Tolerance,
    latency_tol: Tolerance,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let metric_names: BTreeSet<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    for name in metric_names {
        let (ma, mb) = (a.metrics.get(name), b.metrics.get(name));
        let unit = ma.or(mb).map(|m| m.unit.clone()).unwrap_or_default();
        // A metric the registry does not know (another wsbench's report) is shown only.
        let direction = metrics::step_direction(&a.kind, name).unwrap_or(Direction::Neutral);
        let noise = Noise::for_value(&unit, direction, tol);
        changes.push(judge(
            format!("{}.{name}", a.name),
            ma.map(|m| m.value),
            mb.map(|m| m.value),
            &unit,
            direction,
            noise,
        ));
    }
    let dist_names: BTreeSet<&String> = a
        .distributions
        .keys()
        .chain(b.distributions.keys())
        .collect();
    for name in dist_names {
        let (da, db) = (a.distributions.get(name), b.distributions.get(name));
        let direction = metrics::step_direction(&a.kind, name).unwrap_or(Direction::Neutral);
        let fewest = da.map_or(0, |d| d.count).min(db.map_or(0, |d| d.count));
        for (field, get, quantile) in DISTRIBUTION_FIELDS {
            let full = format!("{}.{name}.{field}", a.name);
            let (old, new) = (da.map(get), db.map(get));
            let change = match quantile {
                None => judge(
                    full,
                    old,
                    new,
                    unit_of(field),
                    Direction::Neutral,
                    Noise::NONE,
                ),
                Some(q) if fewest < min_samples(q) && old.is_some() && new.is_some() => {
                    let mut c = judge(full, old, new, "us", direction, Noise::NONE);
                    if judged(direction) && old != new {
                        c.judgement = Judgement::TooFewSamples;
                        c.regression = false;
                        c.tolerance_percent = None;
                    }
                    c
                }
                Some(q) => {
                    let mut c = judge(
                        full,
                        old,
                        new,
                        "us",
                        direction,
                        Noise {
                            percent: latency_tol.percent,
                            floor: latency_tol.latency_floor_us,
                            counted: false,
                        },
                    );
                    // Beyond the tolerance is not enough: the two estimates' ranges of
                    // sampling chance must not overlap either.
                    if let (Some(da), Some(db), Some(o), Some(n)) = (da, db, old, new) {
                        let (a_lo, a_hi) = quantile_range(da, q, o);
                        let (b_lo, b_hi) = quantile_range(db, q, n);
                        let (worse, better) = match direction {
                            Direction::LowerIsBetter => (b_lo > a_hi, b_hi < a_lo),
                            _ => (b_hi < a_lo, b_lo > a_hi),
                        };
                        if c.judgement == Judgement::Regression && !worse
                            || c.judgement == Judgement::Improvement && !better
                        {
                            c.judgement = Judgement::WithinNoise;
                            c.regression = false;
                        }
                    }
                    c
                }
            };
            changes.push(change);
        }
    }
    let causes: BTreeSet<&String> = a.failures.keys().chain(b.failures.keys()).collect();
    for cause in causes {
        changes.push(judge(
            format!("{}.failures[{cause}]", a.name),
            Some(a.failures.get(cause).copied().unwrap_or(0) as f64),
            Some(b.failures.get(cause).copied().unwrap_or(0) as f64),
            "count",
            Direction::LowerIsBetter,
            Noise::for_value("count", Direction::LowerIsBetter, tol),
        ));
    }
    changes
}

fn unit_of(field: &str) -> &'static str {
    if field == "count" { "count" } else { "us" }
}

fn judged(d: Direction) -> bool {
    matches!(d, Direction::HigherIsBetter | Direction::LowerIsBetter)
}

fn compare_device(a: &Report, b: &Report, tol: Tolerance) -> Vec<Change> {
    let (da, db) = (&a.device, &b.device);
    let mut changes = Vec::new();
    let dir = |name: &str| metrics::device_direction(name).unwrap_or(Direction::Neutral);
    if da.observed || db.observed {
        for (name, va, vb) in [
            ("reboots", da.reboots, db.reboots),
            ("panics", da.panics, db.panics),
        ] {
            // One reboot or panic more is a regression: the device did not have one.
            changes.push(judge(
                format!("device.{name}"),
                Some(va as f64),
                Some(vb as f64),
                "count",
                dir(name),
                Noise {
                    percent: tol.percent,
                    floor: 0.0,
                    counted: false,
                },
            ));
        }
    }
    if da.heap_free_min_bytes.is_some() || db.heap_free_min_bytes.is_some() {
        changes.push(judge(
            "device.heap_free_min".to_string(),
            da.heap_free_min_bytes.map(|v| v as f64),
            db.heap_free_min_bytes.map(|v| v as f64),
            "bytes",
            dir("heap_free_min"),
            Noise::for_value("bytes", Direction::HigherIsBetter, tol),
        ));
    }
    changes
}

/// How big a change must be to be more than noise.
#[derive(Debug, Clone, Copy)]
struct Noise {
    /// Relative change, in percent, of the baseline.
    percent: f64,
    /// Absolute change.
    floor: f64,
    /// Counts of events (lost, failures): also beyond two standard deviations of a
    /// Poisson count, 2·√(a+b), so 0 → 2 lost messages is not a regression but 0 → 20 is.
    counted: bool,
}

impl Noise {
    const NONE: Noise = Noise {
        percent: 0.0,
        floor: 0.0,
        counted: false,
    };

    fn for_value(unit: &str, direction: Direction, tol: Tolerance) -> Noise {
        let floor = match unit {
            "us" | "µs" => tol.latency_floor_us,
            "ms" => tol.latency_floor_us / 1_000.0,
            "s" => tol.latency_floor_us / 1_000_000.0,
            "ratio" => 0.001,
            _ => 0.0,
        };
        Noise {
            percent: tol.percent,
            floor,
            // Error events (lost, failures) scatter like a Poisson count; a count that
            // should be higher (a limit found, deliveries) is judged by tolerance alone.
            counted: unit == "count" && direction == Direction::LowerIsBetter,
        }
    }

    fn exceeded_by(&self, old: f64, new: f64, by: f64) -> bool {
        let relative = old == 0.0 || by / old.abs() * 100.0 > self.percent;
        let statistical = !self.counted || by > 2.0 * (old.abs() + new.abs()).sqrt();
        by > self.floor && relative && statistical
    }
}

fn judge(
    name: String,
    old: Option<f64>,
    new: Option<f64>,
    unit: &str,
    direction: Direction,
    noise: Noise,
) -> Change {
    let judgement = match (old, new) {
        (Some(o), Some(n)) if o == n => Judgement::Unchanged,
        (Some(_), Some(_)) if !judged(direction) => Judgement::NotJudged,
        (Some(o), Some(n)) => {
            let worse_by = match direction {
                Direction::LowerIsBetter => n - o,
                _ => o - n,
            };
            if noise.exceeded_by(o, n, worse_by) {
                Judgement::Regression
            } else if noise.exceeded_by(o, n, -worse_by) {
                Judgement::Improvement
            } else {
                Judgement::WithinNoise
            }
        }
        // A figure the baseline had and the new run lacks cannot be judged better.
        _ => Judgement::Missing,
    };
    Change {
        name,
        old,
        new,
        unit: unit.to_string(),
        direction,
        tolerance_percent: (judged(direction) && old.is_some() && new.is_some())
            .then_some(noise.percent),
        regression: judgement == Judgement::Regression,
        judgement,
    }
}

fn change_text(c: &Change) -> String {
    let show = |v: Option<f64>| {
        v.map(|v| format::value_in_unit(v, &c.unit))
            .unwrap_or("–".into())
    };
    format!("{} -> {} ({})", show(c.old), show(c.new), delta_text(c))
}

fn delta_text(c: &Change) -> String {
    match (c.old, c.new) {
        (Some(o), Some(n)) if o == n => "unchanged".to_string(),
        (Some(_), Some(_)) if c.unit == "flag" => "changed".to_string(),
        (Some(o), Some(n)) => {
            let sign = if n > o { "+" } else { "" };
            format!(
                "{sign}{}, {}",
                format::value_in_unit(n - o, &c.unit),
                format::percent_change(o, n)
            )
        }
        (None, Some(_)) => "only in B".to_string(),
        (Some(_), None) => "only in A".to_string(),
        (None, None) => "–".to_string(),
    }
}

/// The diff as one JSON object: both runs, notes, every compared figure with its
/// direction and judgement, the regressions, the tolerance used.
pub fn to_json(diff: &ReportDiff, a: &Report, b: &Report, tol: Tolerance) -> String {
    let run = |r: &Report| {
        serde_json::json!({
            "run_id": r.run_id,
            "scenario": r.scenario.name,
            "scenario_sha256": r.scenario.sha256,
            "target": r.target.url,
            "simulated": r.target.kind == TargetKind::Simulated,
            "verdict": summary::verdict_word(r.verdict).to_lowercase(),
            "complete": r.complete,
        })
    };
    let changes: Vec<serde_json::Value> = diff
        .sections
        .iter()
        .flat_map(|(section, changes)| {
            changes.iter().map(move |c| {
                let mut v = serde_json::to_value(c).expect("a change is plain data");
                v["section"] = section.clone().into();
                v
            })
        })
        .collect();
    let regressions = diff.regressions();
    serde_json::json!({
        "a": run(a),
        "b": run(b),
        "regressions": regressions,
        "regression_count": regressions.len(),
        "notes": diff.notes,
        "changes": changes,
        "tolerance": tol,
        "min_samples": { "p50": min_samples(0.5), "p90": min_samples(0.9), "p99": min_samples(0.99), "p999": min_samples(0.999) },
    })
    .to_string()
}

/// The diff as text for a terminal: notes, then a table per section, then the verdict.
pub fn render(diff: &ReportDiff, a: &Report, b: &Report, tol: Tolerance) -> String {
    let mut out = String::new();
    for (label, r) in [("A", a), ("B", b)] {
        let _ = writeln!(
            out,
            "{label}: {} — {} on {}, started {}, {}",
            r.run_id,
            r.scenario.name,
            kind_name(r.target.kind),
            r.started_at,
            summary::verdict_word(r.verdict)
        );
    }
    out.push('\n');
    for note in &diff.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if !diff.notes.is_empty() {
        out.push('\n');
    }
    for (title, changes) in &diff.sections {
        if changes.is_empty() {
            continue;
        }
        let rows: Vec<[String; 5]> = changes
            .iter()
            .map(|c| {
                let show = |v: Option<f64>| {
                    v.map(|v| format::value_in_unit(v, &c.unit))
                        .unwrap_or("–".into())
                };
                let flag = c.judgement.label();
                [
                    c.name.clone(),
                    show(c.old),
                    show(c.new),
                    delta_text(c),
                    flag.to_string(),
                ]
            })
            .collect();
        let header = [
            "metric".to_string(),
            "A".into(),
            "B".into(),
            "change".into(),
            String::new(),
        ];
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let _ = writeln!(out, "{title}");
        for row in std::iter::once(&header).chain(rows.iter()) {
            let line = format!(
                "  {:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    let regressions = diff.regressions();
    let _ = writeln!(
        out,
        "tolerance: {} % and at least {} of latency (--tolerance, --latency-floor-us), beyond the percentile's range of sampling chance; p99 needs {} samples, p99.9 {}",
        format::number(tol.percent, 2),
        format::duration_us(tol.latency_floor_us),
        min_samples(0.99),
        min_samples(0.999)
    );
    if regressions.is_empty() {
        let _ = writeln!(out, "no regressions");
    } else {
        let _ = writeln!(
            out,
            "{} regression{}:",
            regressions.len(),
            if regressions.len() == 1 { "" } else { "s" }
        );
        for r in regressions {
            let _ = writeln!(out, "  - {r}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Metric;
    use crate::report::sample::{distribution, sample_report};

    /// The sample report as if run against a server by URL (no host-timing tolerance).
    fn url_report() -> Report {
        let mut r = sample_report();
        r.target.kind = TargetKind::Url;
        r
    }

    fn find<'a>(diff: &'a ReportDiff, name: &str) -> &'a Change {
        diff.sections
            .iter()
            .flat_map(|(_, c)| c)
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no change named {name}"))
    }

    #[test]
    fn same_report_has_no_regressions() {
        let r = url_report();
        let diff = compare(&r, &r, Tolerance::default());
        assert!(diff.regressions().is_empty(), "{:?}", diff.regressions());
        assert!(diff.notes.is_empty(), "{:?}", diff.notes);
        assert_eq!(
            find(&diff, "echo.latency.p99").old,
            find(&diff, "echo.latency.p99").new
        );
    }

    #[test]
    fn latency_up_loss_up_and_limit_down_are_regressions() {
        let a = url_report();
        let mut b = url_report();
        b.steps[1]
            .distributions
            .insert("latency".into(), distribution(1_900, 2998));
        b.steps[1].metrics.insert(
            "lost".into(),
            Metric {
                value: 40.0,
                unit: "count".into(),
            },
        );
        b.steps[3].metrics.insert(
            "limit".into(),
            Metric {
                value: 4.0,
                unit: "count".into(),
            },
        );
        b.device.reboots = 1;
        let diff = compare(&a, &b, Tolerance::default());
        for name in [
            "echo.latency.p50",
            "echo.latency.p99",
            "echo.lost",
            "exhaust.limit",
            "device.reboots",
        ] {
            assert!(
                find(&diff, name).regression,
                "{name} should be a regression"
            );
        }
        assert!(
            !find(&diff, "echo.latency.max").regression,
            "max is shown, not flagged"
        );
        assert!(!find(&diff, "echo.sent").regression);
    }

    #[test]
    fn noise_within_tolerance_or_floor_is_not_flagged() {
        let a = url_report();
        let mut b = url_report();
        // +5 %: within 10 %.
        b.steps[1]
            .distributions
            .insert("latency".into(), distribution(997, 2998));
        let diff = compare(&a, &b, Tolerance::default());
        assert!(diff.regressions().is_empty(), "{:?}", diff.regressions());
        assert_eq!(
            find(&diff, "echo.latency.p50").judgement,
            Judgement::WithinNoise
        );
        let strict = Tolerance {
            percent: 1.0,
            latency_floor_us: 10.0,
        };
        assert!(find(&compare(&a, &b, strict), "echo.latency.p50").regression);
    }

    #[test]
    fn simulated_latency_is_judged_with_host_timing_tolerance() {
        let (a, mut b) = (sample_report(), sample_report());
        // +70 % on the host's own scheduling: noise between two simulated runs…
        b.steps[1]
            .distributions
            .insert("latency".into(), distribution(1_615, 2998));
        let diff = compare(&a, &b, Tolerance::default());
        assert!(diff.regressions().is_empty(), "{:?}", diff.regressions());
        assert!(diff.notes[0].contains("simulated board (host timing)"));
        // …but a regression against a server given by URL.
        let (mut ua, mut ub) = (a.clone(), b.clone());
        ua.target.kind = TargetKind::Url;
        ub.target.kind = TargetKind::Url;
        assert!(find(&compare(&ua, &ub, Tolerance::default()), "echo.latency.p50").regression);
        // Twenty times slower is a regression on the simulated board too.
        b.steps[1]
            .distributions
            .insert("latency".into(), distribution(19_000, 2998));
        assert!(find(&compare(&a, &b, Tolerance::default()), "echo.latency.p50").regression);
    }

    #[test]
    fn percentiles_of_few_samples_are_not_judged() {
        let a = sample_report();
        let mut b = sample_report();
        // Six connects: their p50 doubling says nothing, even with no tolerance at all.
        b.steps[0]
            .distributions
            .insert("connect".into(), distribution(900, 6));
        let strict = Tolerance {
            percent: 0.0,
            latency_floor_us: 0.0,
        };
        let diff = compare(&a, &b, strict);
        let p50 = find(&diff, "connect.connect.p50");
        assert_eq!(p50.judgement, Judgement::TooFewSamples);
        assert!(!p50.regression);
        // 594 fan-out latencies: p50 judged, p99.9 (needs 1,000) not.
        assert_eq!(min_samples(0.99), 100);
        assert_eq!(min_samples(0.999), 1000);
        let mut c = sample_report();
        c.steps[2]
            .distributions
            .insert("latency".into(), distribution(9_000, 594));
        let diff = compare(&a, &c, Tolerance::default());
        assert!(find(&diff, "fanout.latency.p50").regression);
        assert!(find(&diff, "fanout.latency.p99").regression);
        assert_eq!(
            find(&diff, "fanout.latency.p999").judgement,
            Judgement::TooFewSamples
        );
    }

    #[test]
    fn a_quantiles_chance_range_narrows_with_more_samples() {
        let few = distribution(1_000, 100);
        let many = distribution(1_000, 100_000);
        let (lo_f, hi_f) = quantile_range(&few, 0.99, few.p99_us as f64);
        let (lo_m, hi_m) = quantile_range(&many, 0.99, many.p99_us as f64);
        assert!(hi_f - lo_f > hi_m - lo_m);
        assert!(lo_m <= many.p99_us as f64 && many.p99_us as f64 <= hi_m);
        // p99 of 100 samples could be anything up to the top of the curve.
        assert_eq!(hi_f, few.percentile_curve.last().unwrap().1 as f64);
    }

    #[test]
    fn directions_come_from_the_registry_and_tool_figures_never_regress() {
        let a = sample_report();
        let mut b = sample_report();
        let lag = distribution(50_000, 2998);
        b.steps[1].distributions.insert("send_lag".into(), lag);
        b.steps[2].metrics.insert(
            "loss".into(),
            Metric {
                value: 0.0,
                unit: "ratio".into(),
            },
        );
        let mut a2 = a.clone();
        a2.steps[1]
            .distributions
            .insert("send_lag".into(), distribution(40, 2998));
        let diff = compare(&a2, &b, Tolerance::default());
        let lag = find(&diff, "echo.send_lag.p99");
        assert_eq!(lag.direction, Direction::Tool);
        assert_eq!(lag.judgement, Judgement::NotJudged);
        assert!(!lag.regression);
        assert_eq!(find(&diff, "fanout.loss").judgement, Judgement::Improvement);
        // An unchanged figure is never "better".
        let same = compare(&a, &a, Tolerance::default());
        assert!(
            same.sections
                .iter()
                .flat_map(|(_, c)| c)
                .all(|c| c.judgement != Judgement::Improvement)
        );
        assert!(!render(&same, &a, &a, Tolerance::default()).contains("better"));
    }

    #[test]
    fn outcomes_and_context_are_noted() {
        let mut a = sample_report();
        a.thresholds[1].passed = true;
        a.steps[2].status = StepStatus::Passed;
        let mut b = sample_report();
        b.scenario.sha256 = "ab".repeat(32);
        b.target.kind = TargetKind::Board;
        b.steps.pop();
        let diff = compare(&a, &b, Tolerance::default());
        let regressions = diff.regressions();
        assert!(
            regressions
                .iter()
                .any(|r| r.contains("threshold `fanout.loss == 0` passed in A, failed in B"))
        );
        assert!(
            regressions
                .iter()
                .any(|r| r.contains("step fanout passed in A, failed in B"))
        );
        let notes = diff.notes.join("\n");
        assert!(notes.contains("scenarios differ"), "{notes}");
        assert!(
            notes.contains("targets differ: A ran on the simulated board, B on a board"),
            "{notes}"
        );
        assert!(notes.contains("step exhaust is only in A"), "{notes}");
        let text = render(&diff, &a, &b, Tolerance::default());
        assert!(text.contains("REGRESSION") || !regressions.is_empty());
        assert!(text.contains("2 regressions:"), "{text}");
    }

    #[test]
    fn lost_recovery_is_a_regression() {
        let a = sample_report();
        let mut b = sample_report();
        b.steps[3].metrics.insert(
            "recovered".into(),
            Metric {
                value: 0.0,
                unit: "flag".into(),
            },
        );
        let diff = compare(&a, &b, Tolerance::default());
        let recovered = find(&diff, "exhaust.recovered");
        assert!(recovered.regression);
        assert_eq!(change_text(recovered), "yes -> no (changed)");
    }

    #[test]
    fn text_shows_absolute_and_relative_change() {
        let a = sample_report();
        let mut b = sample_report();
        b.steps[1].metrics.insert(
            "lost".into(),
            Metric {
                value: 30.0,
                unit: "count".into(),
            },
        );
        let text = render(
            &compare(&a, &b, Tolerance::default()),
            &a,
            &b,
            Tolerance::default(),
        );
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("echo.lost"))
            .unwrap();
        assert!(
            line.contains("+28, +1,400 %") || line.contains("+28, +1400 %"),
            "{line}"
        );
        assert!(line.ends_with("REGRESSION"), "{line}");
        assert!(text.contains("1 regression:"), "{text}");
    }
}
