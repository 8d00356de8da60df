//! `wsbench report diff A B`: what changed between two reports, metric by metric, and
//! which changes are regressions (worse in the metric's own direction by more than the
//! tolerance and more than an absolute floor, so run-to-run noise is not flagged).

use std::collections::BTreeSet;
use std::fmt::Write;

use super::format;
use super::model::{Distribution, Report, StepReport, StepStatus, TargetKind};
use super::summary;

/// What counts as noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative change, in percent, below which a change is noise.
    pub percent: f64,
    /// Absolute change in latency below which a change is noise, in microseconds.
    pub latency_floor_us: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            percent: 10.0,
            latency_floor_us: 200.0,
        }
    }
}

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Latency, loss, failures, errors, reboots.
    HigherIsWorse,
    /// Limits found, throughput, deliveries, free heap.
    LowerIsWorse,
    /// Shown but never flagged (counts that follow the scenario, a maximum).
    Neutral,
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Metric name as thresholds use it (`echo.latency.p99`, `device.reboots`).
    pub name: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub unit: String,
    pub direction: Direction,
    pub regression: bool,
}

/// The comparison of two reports.
#[derive(Debug, Clone, Default, PartialEq)]
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
                diff.sections
                    .push((format!("step {}", sa.name), compare_step(sa, sb, tol)));
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

fn compare_step(a: &StepReport, b: &StepReport, tol: Tolerance) -> Vec<Change> {
    let mut changes = Vec::new();
    let metric_names: BTreeSet<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    for name in metric_names {
        let (ma, mb) = (a.metrics.get(name), b.metrics.get(name));
        let unit = ma.or(mb).map(|m| m.unit.clone()).unwrap_or_default();
        changes.push(change(
            format!("{}.{name}", a.name),
            ma.map(|m| m.value),
            mb.map(|m| m.value),
            &unit,
            metric_direction(name, &unit),
            tol,
        ));
    }
    let dist_names: BTreeSet<&String> = a
        .distributions
        .keys()
        .chain(b.distributions.keys())
        .collect();
    for name in dist_names {
        let (da, db) = (a.distributions.get(name), b.distributions.get(name));
        let fields: [(&str, Percentile, Direction); 6] = [
            ("count", |d| d.count as f64, Direction::Neutral),
            ("p50", |d| d.p50_us as f64, Direction::HigherIsWorse),
            ("p90", |d| d.p90_us as f64, Direction::HigherIsWorse),
            ("p99", |d| d.p99_us as f64, Direction::HigherIsWorse),
            ("p999", |d| d.p999_us as f64, Direction::HigherIsWorse),
            // One outlier moves the maximum: shown, not flagged.
            ("max", |d| d.max_us as f64, Direction::Neutral),
        ];
        for (field, get, direction) in fields {
            let unit = if field == "count" { "count" } else { "us" };
            changes.push(change(
                format!("{}.{name}.{field}", a.name),
                da.map(get),
                db.map(get),
                unit,
                direction,
                tol,
            ));
        }
    }
    let causes: BTreeSet<&String> = a.failures.keys().chain(b.failures.keys()).collect();
    for cause in causes {
        changes.push(change(
            format!("{}.failures[{cause}]", a.name),
            Some(a.failures.get(cause).copied().unwrap_or(0) as f64),
            Some(b.failures.get(cause).copied().unwrap_or(0) as f64),
            "count",
            Direction::HigherIsWorse,
            tol,
        ));
    }
    changes
}

fn compare_device(a: &Report, b: &Report, tol: Tolerance) -> Vec<Change> {
    let (da, db) = (&a.device, &b.device);
    let mut changes = Vec::new();
    if da.observed || db.observed {
        for (name, va, vb) in [
            ("reboots", da.reboots, db.reboots),
            ("panics", da.panics, db.panics),
        ] {
            changes.push(change(
                format!("device.{name}"),
                Some(va as f64),
                Some(vb as f64),
                "count",
                Direction::HigherIsWorse,
                tol,
            ));
        }
    }
    if da.heap_free_min_bytes.is_some() || db.heap_free_min_bytes.is_some() {
        changes.push(change(
            "device.heap_free_min".to_string(),
            da.heap_free_min_bytes.map(|v| v as f64),
            db.heap_free_min_bytes.map(|v| v as f64),
            "bytes",
            Direction::LowerIsWorse,
            tol,
        ));
    }
    changes
}

/// Which way a step metric gets worse, from its name and unit. Names follow the
/// metric namespace in `scenarios/README.md`; a name not recognised is never flagged.
pub fn metric_direction(name: &str, unit: &str) -> Direction {
    // Figures that describe what the scenario asked for or how the server chose to
    // treat extra clients, not how well it did.
    const NEUTRAL: [&str; 7] = [
        "first_failure",
        "refused_as_expected",
        "dropped",
        "opened",
        "purged",
        "refused",
        "expected",
    ];
    const WORSE_WHEN_HIGHER: [&str; 11] = [
        "loss",
        "lost",
        "corrupt",
        "late",
        "duplicate",
        "reorder",
        "fail",
        "error",
        "timeout",
        "timed_out",
        "disconnect",
    ];
    const WORSE_WHEN_LOWER: [&str; 9] = [
        "limit",
        "connected",
        "delivered",
        "received",
        "recovered",
        "succeeded",
        "passed",
        "ok",
        "throughput",
    ];
    let name = name.to_ascii_lowercase();
    if NEUTRAL.contains(&name.as_str()) {
        Direction::Neutral
    } else if name == "reset" || WORSE_WHEN_HIGHER.iter().any(|w| name.contains(w)) {
        Direction::HigherIsWorse
    } else if unit.ends_with("/s") || WORSE_WHEN_LOWER.iter().any(|w| name.contains(w)) {
        Direction::LowerIsWorse
    } else {
        Direction::Neutral
    }
}

/// The smallest absolute change worth flagging in this unit.
fn floor(unit: &str, tol: Tolerance) -> f64 {
    match unit {
        "us" | "µs" => tol.latency_floor_us,
        "ms" => tol.latency_floor_us / 1_000.0,
        "s" => tol.latency_floor_us / 1_000_000.0,
        "ratio" => 0.001,
        _ => 0.0,
    }
}

fn change(
    name: String,
    old: Option<f64>,
    new: Option<f64>,
    unit: &str,
    direction: Direction,
    tol: Tolerance,
) -> Change {
    let regression = match (old, new) {
        (Some(o), Some(n)) => {
            let worse_by = match direction {
                Direction::HigherIsWorse => n - o,
                Direction::LowerIsWorse => o - n,
                Direction::Neutral => 0.0,
            };
            let beyond_tolerance = o == 0.0 || worse_by / o.abs() * 100.0 > tol.percent;
            worse_by > floor(unit, tol) && beyond_tolerance
        }
        // A figure the baseline had and the new run lacks cannot be judged better.
        _ => false,
    };
    Change {
        name,
        old,
        new,
        unit: unit.to_string(),
        direction,
        regression,
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
                let flag = if c.regression {
                    "REGRESSION"
                } else if c.direction == Direction::Neutral || c.old == c.new {
                    ""
                } else if improved(c) {
                    "better"
                } else {
                    ""
                };
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
        "tolerance: {} % and at least {} of latency (--tolerance, --latency-floor-us)",
        format::number(tol.percent, 2),
        format::duration_us(tol.latency_floor_us)
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

fn improved(c: &Change) -> bool {
    match (c.old, c.new, c.direction) {
        (Some(o), Some(n), Direction::HigherIsWorse) => n < o,
        (Some(o), Some(n), Direction::LowerIsWorse) => n > o,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Metric;
    use crate::report::sample::{distribution, sample_report};

    fn find<'a>(diff: &'a ReportDiff, name: &str) -> &'a Change {
        diff.sections
            .iter()
            .flat_map(|(_, c)| c)
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no change named {name}"))
    }

    #[test]
    fn same_report_has_no_regressions() {
        let r = sample_report();
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
        let a = sample_report();
        let mut b = sample_report();
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
        let a = sample_report();
        let mut b = sample_report();
        // +5 %: within 10 %.
        b.steps[1]
            .distributions
            .insert("latency".into(), distribution(997, 2998));
        // Connect latency doubles but by less than the 200 µs floor.
        b.steps[0]
            .distributions
            .insert("connect".into(), distribution(260, 6));
        let diff = compare(&a, &b, Tolerance::default());
        assert!(diff.regressions().is_empty(), "{:?}", diff.regressions());
        let strict = compare(
            &a,
            &b,
            Tolerance {
                percent: 1.0,
                latency_floor_us: 10.0,
            },
        );
        assert!(find(&strict, "connect.connect.p50").regression);
    }

    #[test]
    fn improvements_and_directions() {
        assert_eq!(metric_direction("loss", "ratio"), Direction::HigherIsWorse);
        assert_eq!(
            metric_direction("failed", "count"),
            Direction::HigherIsWorse
        );
        assert_eq!(metric_direction("limit", "count"), Direction::LowerIsWorse);
        assert_eq!(metric_direction("echoes", "msg/s"), Direction::LowerIsWorse);
        assert_eq!(metric_direction("sent", "count"), Direction::Neutral);
        assert_eq!(
            metric_direction("timed_out", "count"),
            Direction::HigherIsWorse
        );
        assert_eq!(
            metric_direction("checks_ok", "count"),
            Direction::LowerIsWorse
        );
        assert_eq!(
            metric_direction("largest_ok", "bytes"),
            Direction::LowerIsWorse
        );
        assert_eq!(
            metric_direction("first_failure", "count"),
            Direction::Neutral
        );
        assert_eq!(
            metric_direction("refused_as_expected", "count"),
            Direction::Neutral
        );
        assert_eq!(metric_direction("purged", "count"), Direction::Neutral);
        let a = sample_report();
        let mut b = sample_report();
        b.steps[2].metrics.insert(
            "loss".into(),
            Metric {
                value: 0.0,
                unit: "ratio".into(),
            },
        );
        let diff = compare(&a, &b, Tolerance::default());
        assert!(!find(&diff, "fanout.loss").regression);
        assert!(improved(find(&diff, "fanout.loss")));
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
                value: 3.0,
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
        assert!(line.contains("+1, +50 %"), "{line}");
        assert!(line.ends_with("REGRESSION"), "{line}");
        assert!(text.contains("1 regression:"), "{text}");
    }
}
