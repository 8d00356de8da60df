//! Threshold expressions: `<metric> <op> <value><unit>`.
//!
//! ```text
//! threshold = metric op value [unit]
//! metric    = "device." name | step "." name | step "." dist "." stat
//! op        = "<" | "<=" | ">" | ">=" | "==" | "!="
//! unit      = "us" | "ms" | "s" | "%"      (none for counts, flags, bytes, rates)
//! ```
//! Time units apply to distribution statistics (stored in µs), `%` to ratios.

use std::fmt;

use super::metrics::{self, MetricClass};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
            Op::Eq => (actual - limit).abs() < 1e-9,
            Op::Ne => (actual - limit).abs() >= 1e-9,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// Where a threshold's number comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricRef {
    Step {
        step: String,
        metric: String,
        class: MetricClass,
    },
    Distribution {
        step: String,
        dist: String,
        stat: String,
    },
    Device {
        metric: String,
        class: MetricClass,
    },
}

/// The unit a threshold's value is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    None,
    Us,
    Ms,
    S,
    Percent,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Percent => "%",
        }
    }
}

/// A parsed, checked threshold.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub expression: String,
    pub metric_name: String,
    pub metric: MetricRef,
    pub op: Op,
    pub value: f64,
    pub unit: Unit,
}

/// Parses `expr` and checks its metric against the scenario's steps, given as
/// (name, kind) pairs. The error says what is wrong and what would be right.
pub fn parse(expr: &str, steps: &[(String, String)]) -> Result<Threshold, String> {
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if parts.len() < 3 {
        return Err(format!(
            "`{expr}` is not a threshold; write `<metric> <op> <value><unit>`, e.g. `echo.latency.p99 < 50ms`"
        ));
    }
    let metric_name = parts[0];
    let op = Op::parse(parts[1]).ok_or_else(|| {
        format!(
            "`{}` is not a comparison; use one of < <= > >= == !=",
            parts[1]
        )
    })?;
    let value_text: String = parts[2..].concat();
    let split = value_text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(value_text.len());
    let (num, unit_text) = value_text.split_at(split);
    let value: f64 = num.parse().map_err(|_| {
        format!("`{value_text}` is not a number with an optional unit (ms, us, s, %)")
    })?;
    let unit = match unit_text {
        "" => Unit::None,
        "us" | "µs" => Unit::Us,
        "ms" => Unit::Ms,
        "s" => Unit::S,
        "%" => Unit::Percent,
        other => {
            return Err(format!(
                "unknown unit `{other}`; use ms, us, s or % (or none)"
            ));
        }
    };
    let metric = resolve(metric_name, steps)?;
    check_unit(&metric, unit, metric_name)?;
    Ok(Threshold {
        expression: expr.to_string(),
        metric_name: metric_name.to_string(),
        metric,
        op,
        value,
        unit,
    })
}

fn resolve(name: &str, steps: &[(String, String)]) -> Result<MetricRef, String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts[0] == "device" {
        let m = name.strip_prefix("device.").unwrap_or("");
        if let Some(event) = m.strip_prefix("events.")
            && !event.is_empty()
        {
            // Checked against the scenario's `console.events` by the loader.
            return Ok(MetricRef::Device {
                metric: m.to_string(),
                class: MetricClass::Count,
            });
        }
        return match metrics::DEVICE_METRICS.iter().find(|(n, _, _)| *n == m) {
            Some((_, class, _)) => Ok(MetricRef::Device {
                metric: m.to_string(),
                class: *class,
            }),
            _ => Err(unknown(
                name,
                "device metric",
                metrics::DEVICE_METRICS
                    .iter()
                    .map(|(n, _, _)| format!("device.{n}"))
                    .collect(),
                m,
            )),
        };
    }
    let Some((step, kind)) = steps.iter().find(|(n, _)| n == parts[0]) else {
        let names: Vec<String> = steps
            .iter()
            .map(|(n, _)| n.clone())
            .chain(["device".into()])
            .collect();
        return Err(unknown(name, "step", names, parts[0]));
    };
    let all_names = || {
        let mut v: Vec<String> = metrics::step_metrics(kind)
            .iter()
            .map(|(m, _, _)| format!("{step}.{m}"))
            .collect();
        for (d, _) in metrics::step_distributions(kind) {
            v.push(format!("{step}.{d}.p99"));
        }
        v
    };
    match parts.len() {
        2 => match metrics::step_metrics(kind)
            .iter()
            .find(|(m, _, _)| *m == parts[1])
        {
            Some((m, class, _)) => Ok(MetricRef::Step {
                step: step.clone(),
                metric: m.to_string(),
                class: *class,
            }),
            None if metrics::is_distribution(kind, parts[1]) => Err(format!(
                "`{name}` is a distribution; name one of its statistics, e.g. `{name}.p99` ({})",
                metrics::DISTRIBUTION_STATS.join(", ")
            )),
            None => Err(unknown(
                name,
                &format!("metric of `{kind}` step"),
                all_names(),
                name,
            )),
        },
        3 => {
            if !metrics::is_distribution(kind, parts[1]) {
                return Err(unknown(
                    name,
                    &format!("distribution of `{kind}` step"),
                    all_names(),
                    name,
                ));
            }
            if !metrics::DISTRIBUTION_STATS.contains(&parts[2]) {
                return Err(format!(
                    "`{}` is not a statistic of `{}.{}`; use one of {}",
                    parts[2],
                    step,
                    parts[1],
                    metrics::DISTRIBUTION_STATS.join(", ")
                ));
            }
            Ok(MetricRef::Distribution {
                step: step.clone(),
                dist: parts[1].to_string(),
                stat: parts[2].to_string(),
            })
        }
        _ => Err(unknown(name, "metric", all_names(), name)),
    }
}

fn unknown(name: &str, what: &str, candidates: Vec<String>, typed: &str) -> String {
    let full: Vec<&str> = candidates.iter().map(String::as_str).collect();
    let mut msg = format!("unknown {what} in `{name}`");
    if let Some(best) =
        super::suggest::nearest(typed, &full).or_else(|| super::suggest::nearest(name, &full))
    {
        msg.push_str(&format!("; did you mean `{best}`?"));
    }
    if !full.is_empty() {
        msg.push_str(&format!(" (known: {})", full.join(", ")));
    }
    msg
}

fn check_unit(metric: &MetricRef, unit: Unit, name: &str) -> Result<(), String> {
    let time = matches!(unit, Unit::Us | Unit::Ms | Unit::S);
    match metric {
        MetricRef::Distribution { stat, .. } if stat == "count" => {
            if unit != Unit::None {
                return Err(format!(
                    "`{name}` is a count; write the value without a unit"
                ));
            }
        }
        MetricRef::Distribution { .. } => {
            if !time {
                return Err(format!(
                    "`{name}` is a time; give the value a unit (us, ms or s), e.g. `50ms`"
                ));
            }
        }
        MetricRef::Step { class, .. } | MetricRef::Device { class, .. } => {
            if time {
                return Err(format!(
                    "`{name}` is not a time; write the value without ms/us/s"
                ));
            }
            if unit == Unit::Percent && *class != MetricClass::Ratio {
                return Err(format!(
                    "`{name}` is not a ratio; `%` applies to ratios like `loss`"
                ));
            }
        }
    }
    Ok(())
}

/// Converts a stored value (µs for distributions, 0..1 for ratios) into the threshold's unit.
pub fn to_unit(stored: f64, unit: Unit) -> f64 {
    match unit {
        Unit::None => stored,
        Unit::Us => stored,
        Unit::Ms => stored / 1_000.0,
        Unit::S => stored / 1_000_000.0,
        Unit::Percent => stored * 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<(String, String)> {
        vec![
            ("echo".into(), "echo".into()),
            ("fanout".into(), "fanout".into()),
        ]
    }

    #[test]
    fn parses_time_threshold() {
        let t = parse("echo.latency.p99 < 50ms", &steps()).unwrap();
        assert_eq!(t.op, Op::Lt);
        assert_eq!(t.value, 50.0);
        assert_eq!(t.unit, Unit::Ms);
        assert!(t.op.holds(to_unit(12_000.0, t.unit), t.value));
    }

    #[test]
    fn percent_on_ratio() {
        let t = parse("fanout.loss <= 1 %", &steps()).unwrap();
        assert!(t.op.holds(to_unit(0.005, t.unit), t.value));
        assert!(!t.op.holds(to_unit(0.02, t.unit), t.value));
    }

    #[test]
    fn unknown_metric_suggests() {
        let e = parse("echo.latncy.p99 < 5ms", &steps()).unwrap_err();
        assert!(e.contains("did you mean `echo.latency.p99`"), "{e}");
        let e = parse("eco.lost == 0", &steps()).unwrap_err();
        assert!(e.contains("did you mean `echo`"), "{e}");
    }

    #[test]
    fn unit_mismatch_is_an_error() {
        assert!(parse("echo.lost < 5ms", &steps()).is_err());
        assert!(parse("echo.latency.p99 < 5", &steps()).is_err());
        assert!(parse("echo.lost < 5%", &steps()).is_err());
        assert!(parse("device.reboots == 0", &steps()).is_ok());
    }
}
