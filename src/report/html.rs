//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network)
//! that opens from a CI artifact or an email attachment and reads the same offline.

use std::fmt::Write;

use super::format::{self, escape_markup as esc};
use super::markdown::percentiles;
use super::model::{Report, StepReport, StepStatus, TargetKind, TimelineBucket, Verdict};
use super::summary::{self, SIMULATED_LABEL};
use super::svg::{Band, LineChart, Marker, Rule, Series, XScale};
use crate::scenario::threshold::{self, MetricRef, Unit};

/// Device events listed at most; the rest are in `report.json` and `serial.log`.
const MAX_EVENTS: usize = 500;

const SENT: &str = "#2563eb";
const RECEIVED: &str = "#16a34a";
const CONNECTIONS: &str = "#7c3aed";
const ERRORS: &str = "#dc2626";
const HEAP: &str = "#d97706";
const LATENCY: &str = "#db2777";

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937; margin: 0; background: #f3f4f6; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid #d1d5db; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 8px; }
section, .step { background: #fff; border-radius: 8px; padding: 14px 18px; margin: 12px 0; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.verdict { border-left: 10px solid; }
.verdict.pass { border-color: #16a34a; } .verdict.fail { border-color: #dc2626; } .verdict.incomplete { border-color: #d97706; }
.verdict h1 .word { letter-spacing: .04em; }
.pass .word, .badge.pass { color: #15803d; } .fail .word, .badge.fail { color: #b91c1c; } .incomplete .word, .badge.other { color: #b45309; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.simulated { background: #fef3c7; border: 2px solid #d97706; color: #78350f; font-weight: 600; padding: 10px 14px; border-radius: 8px; margin: 12px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.narrow { width: auto; min-width: 420px; }
table.facts th { width: 190px; background: none; }
code, .line { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
.line { white-space: pre-wrap; word-break: break-all; }
.badge { font-weight: 700; text-transform: uppercase; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
.chart { width: 100%; height: auto; background: #fff; }
.chart .ctitle { font-size: 14px; font-weight: 600; fill: #111827; }
.chart .legend, .chart .tick, .chart .axis { font-size: 11px; fill: #4b5563; }
.chart .blabel { font-size: 10.5px; fill: #6b7280; }
.chart .empty { font-size: 14px; fill: #9ca3af; }
.chart .grid { stroke: #e5e7eb; stroke-width: 1; }
.chart .frame { fill: none; stroke: #9ca3af; stroke-width: 1; }
.chart .rule { stroke: #b91c1c; stroke-width: 1.5; stroke-dasharray: 6 4; }
.chart .rlabel { font-size: 10px; fill: #b91c1c; }
.chart .marker { stroke-width: 1; stroke-opacity: .55; }
.mk { font-size: 10px; }
.chart .band0 { fill: #eef2ff; } .chart .band1 { fill: #f5f3ff; }
.muted { color: #6b7280; }
ul.plain { margin: 4px 0; padding-left: 20px; }
.errors li { color: #b91c1c; }
.events { max-height: 560px; overflow-y: auto; border: 1px solid #e5e7eb; border-radius: 6px; }
.events table { margin: 0; } .events th { position: sticky; top: 0; }
tr.alarm td { background: #fef2f2; color: #991b1b; font-weight: 600; }
footer { color: #6b7280; font-size: 12px; margin-top: 24px; }
"#;

pub fn render(report: &Report) -> String {
    let mut h = String::new();
    let verdict = summary::verdict_word(report.verdict);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{verdict}: {} — wsbench report</title><style>{STYLE}</style></head><body><main>\n",
        esc(&report.scenario.name)
    );
    header(&mut h, report);
    thresholds(&mut h, report);
    timeline(&mut h, report);
    steps(&mut h, report);
    device(&mut h, report);
    if !report.errors.is_empty() {
        h.push_str("<h2>Run errors</h2><section><ul class=\"plain errors\">");
        for e in &report.errors {
            let _ = write!(h, "<li>{}</li>", esc(e));
        }
        h.push_str("</ul></section>\n");
    }
    let _ = write!(
        h,
        "<footer>Written by {} {} from <code>report.json</code> (schema {}), the source of truth for every figure on this page.</footer>\n</main></body></html>\n",
        esc(&report.tool.name),
        esc(&report.tool.version),
        report.schema_version
    );
    h
}

fn header(h: &mut String, r: &Report) {
    let class = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Incomplete => "incomplete",
    };
    let _ = write!(
        h,
        "<section class=\"verdict {class}\"><h1><span class=\"word\">{}</span> · {}</h1><ul>",
        summary::verdict_word(r.verdict),
        esc(&r.scenario.name)
    );
    for reason in summary::verdict_reasons(r) {
        let _ = write!(h, "<li>{}</li>", with_code_spans(&reason));
    }
    h.push_str("</ul></section>\n");
    simulated_label(h, r);
    h.push_str("<section><table class=\"facts\">");
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("Target", esc(&summary::target_line(&r.target)));
    row("Target chosen", esc(&r.target.selected_because));
    row(
        "Scenario",
        format!(
            "{} (<code>{}</code>)",
            esc(&r.scenario.name),
            esc(&r.scenario.file)
        ),
    );
    if let Some(d) = &r.scenario.description {
        row("Description", esc(d));
    }
    row(
        "Scenario sha256",
        format!("<code>{}</code>", esc(&r.scenario.sha256)),
    );
    row("Run id", format!("<code>{}</code>", esc(&r.run_id)));
    row("Started", esc(&r.started_at));
    row("Duration", format::duration_ms(r.duration_ms));
    row(
        "Tool",
        format!("{} {}", esc(&r.tool.name), esc(&r.tool.version)),
    );
    h.push_str("</table></section>\n");
}

/// Escaped text where `backticked` parts become `<code>`, as in the markdown report.
fn with_code_spans(text: &str) -> String {
    let escaped = esc(text);
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escaped;
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

fn simulated_label(h: &mut String, r: &Report) {
    if r.target.kind == TargetKind::Simulated {
        let _ = writeln!(h, "<div class=\"simulated\">{}</div>", esc(SIMULATED_LABEL));
    }
}

fn thresholds(h: &mut String, r: &Report) {
    h.push_str("<h2>Thresholds</h2><section>");
    if r.thresholds.is_empty() {
        h.push_str("<p class=\"muted\">No thresholds in this scenario: the verdict rests on the steps alone.</p>");
    } else {
        h.push_str("<table><tr><th>Result</th><th>Threshold</th><th class=\"num\">Measured</th><th>Detail</th></tr>");
        for t in &r.thresholds {
            let measured = match t.actual {
                Some(v) => format::value_in_unit(v, &t.unit),
                None => "not measured".to_string(),
            };
            let (class, word) = if t.passed {
                ("pass", "pass")
            } else {
                ("fail", "fail")
            };
            let _ = write!(
                h,
                "<tr><td class=\"badge {class}\">{word}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&t.expression),
                esc(&measured),
                esc(&t.message)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>\n");
}

fn step_bands(r: &Report) -> Vec<Band> {
    r.steps
        .iter()
        .map(|s| Band {
            start: s.started_ms as f64 / 1000.0,
            end: (s.started_ms + s.duration_ms) as f64 / 1000.0,
            label: s.name.clone(),
        })
        .collect()
}

/// Device events worth a mark on the timeline, with their colour and label.
const MARKED_EVENTS: [(&str, &str, &str); 7] = [
    ("boot", "#0f766e", "boot"),
    ("reboot", "#be123c", "reboot"),
    ("download_mode", "#a16207", "download mode"),
    ("panic", "#b91c1c", "panic"),
    ("purge", "#ea580c", "purge"),
    ("refuse", "#9333ea", "refusal"),
    ("close", "#64748b", "close"),
];

/// Most marks drawn per kind of event: beyond that a chart is all marks (a churn step
/// closes hundreds of sockets); the events table below lists every one.
const MAX_MARKS_PER_KIND: usize = 60;

fn event_markers(r: &Report) -> Vec<Marker> {
    let mut marks = Vec::new();
    for (kind, color, word) in MARKED_EVENTS {
        let events: Vec<_> = r.device.events.iter().filter(|e| e.kind == kind).collect();
        let every = events.len().div_ceil(MAX_MARKS_PER_KIND).max(1);
        for e in events.iter().step_by(every) {
            marks.push(Marker {
                x: e.at_ms as f64 / 1000.0,
                color,
                label: format!(
                    "{word} at {}: {}",
                    format::duration_ms(e.at_ms),
                    format::printable(&e.line)
                ),
            });
        }
    }
    marks
}

/// Which marks the timeline shows, for the line under the charts.
fn marker_legend(r: &Report) -> String {
    let parts: Vec<String> = MARKED_EVENTS
        .iter()
        .filter_map(|(kind, color, word)| {
            let n = r.device.events.iter().filter(|e| e.kind == *kind).count();
            (n > 0).then(|| {
                format!(
                    "<span class=\"mk\" style=\"color:{color}\">&#9660;</span> {word} ({})",
                    format::count(n as u64)
                )
            })
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"muted\">Device events marked: {} (hover a mark for its console line).</p>",
            parts.join(" · ")
        )
    }
}

/// The thresholds a chart shows as lines: each one `wanted` accepts, at its limit in
/// the model's stored unit (µs for times, bytes, a ratio).
fn threshold_rules(r: &Report, wanted: impl Fn(&MetricRef) -> bool) -> Vec<Rule> {
    let steps: Vec<(String, String)> = r
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.kind.clone()))
        .collect();
    r.thresholds
        .iter()
        .filter_map(|t| threshold::parse(&t.expression, &steps).ok())
        .filter(|t| wanted(&t.metric))
        .map(|t| Rule {
            y: from_unit(t.value, t.unit),
            label: t.expression.clone(),
        })
        .collect()
}

/// A threshold's limit back in the stored unit (the inverse of `threshold::to_unit`).
fn from_unit(value: f64, unit: Unit) -> f64 {
    match unit {
        Unit::None | Unit::Us => value,
        Unit::Ms => value * 1_000.0,
        Unit::S => value * 1_000_000.0,
        Unit::Percent => value / 100.0,
    }
}

fn timeline(h: &mut String, r: &Report) {
    h.push_str("<h2>Timeline</h2><section>");
    simulated_label(h, r);
    if r.timeline.is_empty() {
        h.push_str("<p class=\"muted\">No per-second timeline was recorded.</p></section>\n");
        return;
    }
    // Short runs come in 100 ms buckets, longer ones per second (`timeline_resolution_ms`).
    let (resolution_ms, buckets) = r.finest_timeline();
    let per = if resolution_ms == 1000 {
        "second".to_string()
    } else {
        format!("{resolution_ms} ms")
    };
    let _ = write!(
        h,
        "<p class=\"muted\">Per {per} since the run started (runs under {} are drawn in {} ms buckets, longer ones per second); shaded spans are the steps, dashed lines the thresholds, triangles the device's events. Buckets with no sample are left as gaps.</p><div class=\"charts\">",
        format::duration_ms(crate::recorder::FINE_WINDOW_MS),
        crate::recorder::FINE_MS,
    );
    let x = |t: &TimelineBucket| t.t_ms as f64 / 1000.0;
    let per_bucket = |f: fn(&TimelineBucket) -> u64| -> Vec<(f64, f64)> {
        buckets.iter().map(|t| (x(t), f(t) as f64)).collect()
    };
    // A bucket without a figure is a gap, not a zero and not a line across it.
    let gapped = |f: fn(&TimelineBucket) -> Option<u64>| -> Vec<(f64, f64)> {
        buckets
            .iter()
            .map(|t| (x(t), f(t).map_or(f64::NAN, |v| v as f64)))
            .collect()
    };
    let count_format: fn(f64) -> String = |v| format::number(v, 1);
    let markers = event_markers(r);
    let chart =
        |title: &str, y_format: fn(f64) -> String, y_tick_unit: f64, series, rules| LineChart {
            title: title.to_string(),
            x_label: "seconds since start".to_string(),
            x_scale: XScale::Linear,
            y_format,
            y_tick_unit,
            series,
            bands: step_bands(r),
            rules,
            markers: markers.clone(),
        };
    let line = |name: &str, color, points, dashed| Series {
        name: name.into(),
        color,
        points,
        dashed,
    };
    // Received drawn solid under a dashed "sent": equal when nothing is lost, and
    // both still visible then.
    let throughput = chart(
        &format!("Messages per {per}"),
        count_format,
        1.0,
        vec![
            line(
                "received",
                RECEIVED,
                per_bucket(|t| t.counts.messages_received),
                false,
            ),
            line("sent", SENT, per_bucket(|t| t.counts.messages_sent), true),
        ],
        Vec::new(),
    );
    h.push_str(&throughput.render());
    let mut conn_series = vec![line(
        "open connections",
        CONNECTIONS,
        per_bucket(|t| t.counts.connections),
        false,
    )];
    if buckets.iter().any(|t| t.counts.errors > 0) {
        conn_series.push(line(
            "errors",
            ERRORS,
            per_bucket(|t| t.counts.errors),
            true,
        ));
    }
    h.push_str(&chart("Connections", count_format, 1.0, conn_series, Vec::new()).render());
    if buckets.iter().any(|t| t.counts.latency_p99_us.is_some()) {
        let rules = threshold_rules(
            r,
            |m| matches!(m, MetricRef::Distribution { dist, stat, .. } if dist == "latency" && stat == "p99"),
        );
        let series = vec![line(
            "p99",
            LATENCY,
            gapped(|t| t.counts.latency_p99_us),
            false,
        )];
        h.push_str(
            &chart(
                &format!("Latency p99 per {per}"),
                format::duration_us,
                1.0,
                series,
                rules,
            )
            .render(),
        );
    }
    if buckets.iter().any(|t| t.counts.heap_free_bytes.is_some()) {
        let title = match r.device.heap_source.as_deref() {
            Some("modelled") => "Free heap on the device (modelled, not measured)",
            Some("allocator") => "Free heap on the device (allocator)",
            _ => "Free heap on the device",
        };
        let mut rules = threshold_rules(
            r,
            |m| matches!(m, MetricRef::Device { metric, .. } if metric == "heap_free_min"),
        );
        // The lowest point seen may fall between two per-second figures: drawn as its
        // own line so it is never hidden.
        if let Some(min) = r.device.heap_free_min_bytes {
            rules.push(Rule {
                y: min as f64,
                label: format!("lowest free {}", format::bytes(min as f64)),
            });
        }
        let series = vec![line(
            "free heap",
            HEAP,
            gapped(|t| t.counts.heap_free_bytes),
            false,
        )];
        h.push_str(&chart(title, format::bytes, 1024.0, series, rules).render());
    }
    h.push_str("</div>");
    h.push_str(&marker_legend(r));
    h.push_str("</section>\n");
}

fn steps(h: &mut String, r: &Report) {
    h.push_str("<h2>Steps</h2>");
    if r.steps.is_empty() {
        h.push_str("<section><p class=\"muted\">No step ran.</p></section>\n");
        return;
    }
    h.push_str("<section><table><tr><th>Step</th><th>Kind</th><th>Status</th><th class=\"num\">Started at</th><th class=\"num\">Duration</th></tr>");
    for s in &r.steps {
        let _ = write!(
            h,
            "<tr><td><a href=\"#step-{id}\">{name}</a></td><td>{}</td><td class=\"badge {}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&s.kind),
            status_class(s.status),
            summary::status_word(s.status),
            format::duration_ms(s.started_ms),
            format::duration_ms(s.duration_ms),
            id = anchor(&s.name),
            name = esc(&s.name),
        );
    }
    h.push_str("</table></section>\n");
    for s in &r.steps {
        step(h, r, s);
    }
}

fn status_class(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Passed => "pass",
        StepStatus::Failed => "fail",
        StepStatus::Interrupted | StepStatus::Skipped => "other",
    }
}

/// An id attribute value made of safe characters only.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn step(h: &mut String, r: &Report, s: &StepReport) {
    let _ = write!(
        h,
        "<div class=\"step\" id=\"step-{}\"><h3>{} <span class=\"muted\">({})</span> · <span class=\"badge {}\">{}</span> <span class=\"muted\">at {} for {}</span></h3>",
        anchor(&s.name),
        esc(&s.name),
        esc(&s.kind),
        status_class(s.status),
        summary::status_word(s.status),
        format::duration_ms(s.started_ms),
        format::duration_ms(s.duration_ms)
    );
    if !s.settings.is_null() && s.settings != serde_json::json!({}) {
        let _ = write!(
            h,
            "<p>Settings: <code>{}</code></p>",
            esc(&s.settings.to_string())
        );
    }
    if !s.metrics.is_empty() {
        h.push_str("<table class=\"narrow\"><tr><th>Metric</th><th class=\"num\">Value</th></tr>");
        for (name, m) in &s.metrics {
            let _ = write!(
                h,
                "<tr><td><code>{}.{}</code></td><td class=\"num\">{}</td></tr>",
                esc(&s.name),
                esc(name),
                esc(&format::metric(m))
            );
        }
        h.push_str("</table>");
    }
    if !s.distributions.is_empty() {
        h.push_str("<table><tr><th>Distribution</th><th class=\"num\">Count</th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th></tr>");
        for (name, d) in &s.distributions {
            let _ = write!(
                h,
                "<tr><td><code>{}.{}</code></td><td class=\"num\">{}</td>",
                esc(&s.name),
                esc(name),
                format::count(d.count)
            );
            for p in percentiles(d) {
                let _ = write!(h, "<td class=\"num\">{}</td>", esc(&p));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table><div class=\"charts\">");
        for (name, d) in &s.distributions {
            let points = if d.count == 0 {
                Vec::new()
            } else if d.percentile_curve.is_empty() {
                // Without a curve, the summary percentiles still make a coarse chart.
                vec![
                    (0.0, d.min_us as f64),
                    (50.0, d.p50_us as f64),
                    (90.0, d.p90_us as f64),
                    (99.0, d.p99_us as f64),
                    (99.9, d.p999_us as f64),
                    (100.0, d.max_us as f64),
                ]
            } else {
                d.percentile_curve
                    .iter()
                    .map(|&(p, v)| (p, v as f64))
                    .collect()
            };
            let chart = LineChart {
                title: format!(
                    "{}.{name} by percentile ({} samples)",
                    s.name,
                    format::count(d.count)
                ),
                x_label: "percentile (log scale of 1/(1-p))".to_string(),
                x_scale: XScale::Percentile,
                y_format: format::duration_us,
                y_tick_unit: 1.0,
                series: vec![Series {
                    name: name.clone(),
                    color: LATENCY,
                    points,
                    dashed: false,
                }],
                bands: vec![],
                rules: threshold_rules(r, |m| {
                    matches!(m, MetricRef::Distribution { step, dist, stat }
                        if step == &s.name && dist == name && stat != "count" && stat != "mean" && stat != "min")
                }),
                markers: vec![],
            };
            h.push_str(&chart.render());
        }
        h.push_str("</div>");
    }
    if !s.rungs.is_empty() {
        h.push_str(&super::svg::capacity_chart(&s.name, &s.rungs));
    }
    if !s.failures.is_empty() {
        h.push_str(
            "<table class=\"narrow\"><tr><th>Failure cause</th><th class=\"num\">Count</th></tr>",
        );
        for (cause, n) in &s.failures {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(cause),
                format::count(*n)
            );
        }
        h.push_str("</table>");
    }
    list(h, "Notes", &s.notes, "plain");
    list(h, "Errors", &s.errors, "plain errors");
    h.push_str("</div>\n");
}

fn list(h: &mut String, title: &str, items: &[String], class: &str) {
    if items.is_empty() {
        return;
    }
    let _ = write!(h, "<p><strong>{title}</strong></p><ul class=\"{class}\">");
    for item in items {
        let _ = write!(h, "<li>{}</li>", esc(item));
    }
    h.push_str("</ul>");
}

fn device(h: &mut String, r: &Report) {
    let d = &r.device;
    h.push_str("<h2>Device</h2><section>");
    if !d.observed {
        let why = d.source.as_deref().unwrap_or("no serial console was read");
        let _ = writeln!(
            h,
            "<p class=\"muted\">Device side not observed ({}).</p></section>",
            esc(why)
        );
        return;
    }
    simulated_label(h, r);
    let heap_note = match d.heap_source.as_deref() {
        Some("modelled") => " (modelled, not measured)",
        Some("allocator") => " (from the allocator)",
        _ => "",
    };
    h.push_str("<table class=\"facts\">");
    let _ = write!(h, "<tr><th>Reboots</th><td>{}</td></tr>", d.reboots);
    let _ = write!(h, "<tr><th>Panics</th><td>{}</td></tr>", d.panics);
    let _ = write!(
        h,
        "<tr><th>Errors / warnings</th><td>{} / {}</td></tr>",
        d.errors, d.warnings
    );
    for (name, n) in &d.user_events {
        let _ = write!(h, "<tr><th>Event {}</th><td>{n}</td></tr>", esc(name));
    }
    if let Some(src) = &d.source {
        let _ = write!(h, "<tr><th>Read from</th><td>{}</td></tr>", esc(src));
    }
    if let Some(min) = d.heap_free_min_bytes {
        let _ = write!(
            h,
            "<tr><th>Lowest free heap</th><td>{}{heap_note}</td></tr>",
            format::bytes(min as f64)
        );
    }
    let _ = write!(
        h,
        "<tr><th>Events</th><td>{}</td></tr></table>",
        format::count(d.events.len() as u64)
    );
    let listed: Vec<_> = d.events.iter().filter(|e| e.kind != "heap").collect();
    if !listed.is_empty() {
        // A scroll box keeps a long soak's events from burying the rest of the page.
        h.push_str("<div class=\"events\"><table><tr><th class=\"num\">At</th><th>Event</th><th>Console line</th></tr>");
        for e in listed.iter().take(MAX_EVENTS) {
            let alarm = matches!(
                e.kind.as_str(),
                "panic" | "reboot" | "download_mode" | "watchdog" | "error"
            );
            let _ = write!(
                h,
                "<tr{}><td class=\"num\">{}</td><td>{}</td><td class=\"line\">{}</td></tr>",
                if alarm { " class=\"alarm\"" } else { "" },
                format::duration_ms(e.at_ms),
                esc(&e.kind),
                esc(&e.line)
            );
        }
        h.push_str("</table></div>");
        if listed.len() > MAX_EVENTS {
            let _ = write!(
                h,
                "<p class=\"muted\">{} more events in <code>report.json</code> and <code>serial.log</code>.</p>",
                listed.len() - MAX_EVENTS
            );
        }
    }
    if d.events.len() > listed.len() {
        h.push_str("<p class=\"muted\">Heap readings are left out of this list; they are charted on the timeline.</p>");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_report;

    #[test]
    fn is_self_contained() {
        let html = render(&sample_report());
        for needle in [
            "http://", "https://", "<script", "<link", "@import", "url(", "src=",
        ] {
            assert!(!html.contains(needle), "found {needle}");
        }
    }

    #[test]
    fn shows_verdict_label_thresholds_and_charts() {
        let html = render(&sample_report());
        assert!(html.contains("<span class=\"word\">FAIL</span>"));
        assert!(html.contains(&esc(SIMULATED_LABEL)));
        assert!(html.contains("<code>fanout.loss == 0</code>"));
        assert!(html.contains("<li>threshold <code>fanout.loss == 0</code> failed"));
        assert!(html.contains("<code>echo.latency.p99 &lt; 50ms</code>"));
        // Two timeline charts, latency p99, heap, and one percentile chart per distribution.
        assert_eq!(html.matches("<svg").count(), 4 + 5);
        assert!(html.contains("Free heap on the device (modelled, not measured)"));
        assert!(html.contains("echo.latency by percentile (2 998 samples)"));
    }

    #[test]
    fn escapes_all_text() {
        let mut report = sample_report();
        report.scenario.name = "<script>alert(1)</script>".into();
        report.steps[0].name = "a\"b<c>".into();
        let html = render(&report);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("2 messages lost &lt;after&gt; the purge &amp; &#39;reconnect&#39;"));
        assert!(html.contains("W (19000) ws: purge id=1 reason=lru &lt;oldest&gt;"));
        assert!(!html.contains('\u{1b}'));
        assert!(html.contains("id=\"step-a_b_c_\""));
    }

    #[test]
    fn panics_stand_out_in_the_event_list() {
        let mut report = sample_report();
        report
            .device
            .events
            .push(crate::report::model::DeviceEvent {
                at_ms: 20_000,
                kind: "panic".into(),
                line: "Guru Meditation Error: Core  0 panic'ed (LoadProhibited)".into(),
            });
        let html = render(&report);
        assert_eq!(html.matches("<tr class=\"alarm\">").count(), 1);
        assert!(html.contains("Guru Meditation Error: Core  0 panic&#39;ed (LoadProhibited)"));
    }

    #[test]
    fn board_report_has_no_simulated_label() {
        let mut report = sample_report();
        report.target.kind = TargetKind::Board;
        report.device.heap_source = Some("allocator".into());
        let html = render(&report);
        assert!(!html.contains(&esc(SIMULATED_LABEL)));
        assert!(html.contains("Free heap on the device (allocator)"));
    }
}
