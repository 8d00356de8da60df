//! Thresholds judged against the finished report model, and the run's verdict.

use crate::report::model::{Report, StepReport, StepStatus, ThresholdResult, Verdict};
use crate::scenario::threshold::{MetricRef, Threshold, Unit, to_unit};

/// The stored value a threshold names (µs for distributions), if it was measured.
fn stored_value(t: &Threshold, report: &Report) -> Result<f64, String> {
    let step = |name: &str| report.steps.iter().find(|s| s.name == name);
    match &t.metric {
        MetricRef::Device { metric, .. } => {
            if !report.device.observed {
                return Err(format!(
                    "not measured: the device side was not observed ({})",
                    report
                        .device
                        .source
                        .as_deref()
                        .unwrap_or("no device console was read on this target")
                ));
            }
            crate::recorder::device_metric(&report.device, metric)
                .ok_or_else(|| "not measured: the device reported no heap figures".into())
        }
        MetricRef::Step {
            step: s, metric, ..
        } => {
            let st = step(s).ok_or_else(|| format!("not measured: step `{s}` did not run"))?;
            st.metrics.get(metric).map(|m| m.value).ok_or_else(|| {
                format!(
                    "not measured: step `{s}` recorded no `{metric}` ({})",
                    why_missing(st)
                )
            })
        }
        MetricRef::Distribution {
            step: s,
            dist,
            stat,
        } => {
            let st = step(s).ok_or_else(|| format!("not measured: step `{s}` did not run"))?;
            let d = st.distributions.get(dist).ok_or_else(|| {
                format!(
                    "not measured: step `{s}` recorded no `{dist}` samples ({})",
                    why_missing(st)
                )
            })?;
            Ok(match stat.as_str() {
                "p50" => d.p50_us as f64,
                "p90" => d.p90_us as f64,
                "p99" => d.p99_us as f64,
                "p999" => d.p999_us as f64,
                "max" => d.max_us as f64,
                "min" => d.min_us as f64,
                "mean" => d.mean_us,
                _ => d.count as f64,
            })
        }
    }
}

/// Why a step has no value for a metric, in the step's own words: its first error,
/// else its last note (`no limit found up to the cap…`, `not started…`), else its status.
fn why_missing(step: &StepReport) -> String {
    if let Some(e) = step.errors.first() {
        return format!("step failed: {e}");
    }
    match step.notes.last() {
        Some(n) => n.clone(),
        None => match step.status {
            StepStatus::Passed => "the step passed without setting it".into(),
            StepStatus::Failed => "the step failed".into(),
            StepStatus::Interrupted => "the step was interrupted".into(),
            StepStatus::Skipped => "the step was skipped".into(),
        },
    }
}

/// Whether the step a threshold names was cut short by a stop (its figures, set
/// while it wound down, cover only the part it ran).
fn step_interrupted(t: &Threshold, report: &Report) -> bool {
    let name = match &t.metric {
        MetricRef::Step { step, .. } | MetricRef::Distribution { step, .. } => step,
        MetricRef::Device { .. } => return false,
    };
    report
        .steps
        .iter()
        .any(|s| &s.name == name && s.status == StepStatus::Interrupted)
}

pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let unit = t.unit.as_str().to_string();
            match stored_value(t, report) {
                Ok(stored) => {
                    let actual = if matches!(t.metric, MetricRef::Distribution { ref stat, .. } if stat == "count") {
                        stored
                    } else {
                        to_unit(stored, t.unit)
                    };
                    let passed = t.op.holds(actual, t.value);
                    let shown = shown(actual, t);
                    let partial = if step_interrupted(t, report) {
                        " (interrupted: over the part of the step that ran)"
                    } else {
                        ""
                    };
                    ThresholdResult {
                        expression: t.expression.clone(),
                        metric: t.metric_name.clone(),
                        actual: Some(actual),
                        unit,
                        passed,
                        message: format!(
                            "{}: {} is {shown}, wanted {} {}{}{partial}",
                            if passed { "pass" } else { "FAIL" },
                            t.metric_name,
                            t.op,
                            t.value,
                            t.unit.as_str()
                        ),
                    }
                }
                Err(why) => ThresholdResult {
                    expression: t.expression.clone(),
                    metric: t.metric_name.clone(),
                    actual: None,
                    unit,
                    passed: false,
                    message: format!("FAIL: {}: {why}", t.metric_name),
                },
            }
        })
        .collect()
}

/// The measured value as a reader wants it (`90.8 %`, `1 394 msg/s`, `12.3 ms`); the
/// raw value stays in `actual` for `report.json`.
fn shown(actual: f64, t: &Threshold) -> String {
    use crate::report::format;
    match t.unit {
        Unit::Percent => format::percent(actual),
        Unit::Us => format::duration_us(actual),
        Unit::Ms => format::duration_us(actual * 1_000.0),
        Unit::S => format::duration_us(actual * 1_000_000.0),
        Unit::None => match &t.metric {
            MetricRef::Step { class, .. } | MetricRef::Device { class, .. } => {
                format::value_in_unit(actual, class.unit())
            }
            MetricRef::Distribution { stat, .. } if stat == "count" => format::number(actual, 0),
            MetricRef::Distribution { .. } => format::duration_us(actual),
        },
    }
}

/// Incomplete when interrupted, Fail when a threshold or a step failed, else Pass.
pub fn verdict(report: &Report) -> Verdict {
    if !report.complete {
        Verdict::Incomplete
    } else if report.thresholds.iter().any(|t| !t.passed)
        || report.steps.iter().any(|s| s.status == StepStatus::Failed)
    {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}
