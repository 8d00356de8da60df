//! `report.md`: the report as a person reads it in a terminal, a merge request or a
//! chat message. Verdict first, then what was tested, then the figures.

use std::fmt::Write;

use super::format;
use super::model::{Distribution, Report, StepReport, TargetKind};
use super::summary::{self, SIMULATED_LABEL};

/// Device events listed at most; the rest are in `report.json` and `serial.log`.
const MAX_EVENTS: usize = 50;

pub fn render(report: &Report) -> String {
    let mut md = String::new();
    header(&mut md, report);
    thresholds(&mut md, report);
    steps(&mut md, report);
    device(&mut md, report);
    if !report.errors.is_empty() {
        md.push_str("## Run errors\n\n");
        for e in &report.errors {
            let _ = writeln!(md, "- {}", text(e));
        }
        md.push('\n');
    }
    md
}

fn header(md: &mut String, r: &Report) {
    let verdict = summary::verdict_word(r.verdict);
    let _ = writeln!(
        md,
        "# {verdict}: {} — wsbench report\n",
        text(&r.scenario.name)
    );
    if r.target.kind == TargetKind::Simulated {
        let _ = writeln!(md, "> **{SIMULATED_LABEL}**\n");
    }
    let _ = writeln!(md, "**{verdict}**:\n");
    for reason in summary::verdict_reasons(r) {
        let _ = writeln!(md, "- {}", text(&reason));
    }
    md.push('\n');

    md.push_str("| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(md, "| {k} | {v} |");
    };
    row("Target", text(&summary::target_line(&r.target)));
    row("Target chosen", text(&r.target.selected_because));
    row(
        "Scenario",
        format!("{} ({})", text(&r.scenario.name), code(&r.scenario.file)),
    );
    if let Some(d) = &r.scenario.description {
        row("Description", text(d));
    }
    row("Scenario sha256", code(&r.scenario.sha256));
    row("Run id", code(&r.run_id));
    row("Started", text(&r.started_at));
    row("Duration", format::duration_ms(r.duration_ms));
    row(
        "Tool",
        format!("{} {}", text(&r.tool.name), text(&r.tool.version)),
    );
    md.push('\n');
}

fn thresholds(md: &mut String, r: &Report) {
    md.push_str("## Thresholds\n\n");
    if r.thresholds.is_empty() {
        md.push_str("No thresholds in this scenario: the verdict rests on the steps alone.\n\n");
        return;
    }
    md.push_str("| Result | Threshold | Measured | Detail |\n|---|---|---|---|\n");
    for t in &r.thresholds {
        let measured = match t.actual {
            Some(v) => format::value_in_unit(v, &t.unit),
            None => "not measured".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            if t.passed { "pass" } else { "**FAIL**" },
            code(&t.expression),
            measured,
            text(&t.message)
        );
    }
    md.push('\n');
}

fn steps(md: &mut String, r: &Report) {
    md.push_str("## Steps\n\n");
    if r.steps.is_empty() {
        md.push_str("No step ran.\n\n");
        return;
    }
    md.push_str("| Step | Kind | Status | Started at | Duration |\n|---|---|---|---|---|\n");
    for s in &r.steps {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            text(&s.name),
            text(&s.kind),
            status(s),
            format::duration_ms(s.started_ms),
            format::duration_ms(s.duration_ms)
        );
    }
    md.push('\n');
    for s in &r.steps {
        step(md, s);
    }
}

fn status(s: &StepReport) -> String {
    let word = summary::status_word(s.status);
    match s.status {
        super::model::StepStatus::Passed | super::model::StepStatus::Skipped => word.to_string(),
        _ => format!("**{word}**"),
    }
}

fn step(md: &mut String, s: &StepReport) {
    let _ = writeln!(
        md,
        "### {} ({}) — {}\n",
        text(&s.name),
        text(&s.kind),
        status(s)
    );
    if !s.settings.is_null() && s.settings != serde_json::json!({}) {
        let _ = writeln!(md, "Settings: {}\n", code(&s.settings.to_string()));
    }
    if !s.metrics.is_empty() {
        md.push_str("| Metric | Value |\n|---|---|\n");
        for (name, m) in &s.metrics {
            let _ = writeln!(
                md,
                "| {} | {} |",
                code(&format!("{}.{name}", s.name)),
                format::metric(m)
            );
        }
        md.push('\n');
    }
    if !s.distributions.is_empty() {
        md.push_str(
            "| Distribution | Count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n",
        );
        for (name, d) in &s.distributions {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                code(&format!("{}.{name}", s.name)),
                format::count(d.count),
                percentiles(d).join(" | ")
            );
        }
        md.push('\n');
    }
    if !s.rungs.is_empty() {
        capacity_rungs(md, s);
    }
    if !s.failures.is_empty() {
        md.push_str("| Failure cause | Count |\n|---|---|\n");
        for (cause, n) in &s.failures {
            let _ = writeln!(md, "| {} | {} |", text(cause), format::count(*n));
        }
        md.push('\n');
    }
    list(md, "Notes", &s.notes);
    list(md, "Errors", &s.errors);
}

/// A `capacity` step's rungs in the order tried, then what they add up to: the rate
/// the target sustained and the knee where it broke.
fn capacity_rungs(md: &mut String, s: &StepReport) {
    md.push_str(
        "| Rate offered | Achieved | p50 | p99 | Loss | Conditions |\n|---|---|---|---|---|---|\n",
    );
    for r in &s.rungs {
        let latency = |us: u64| {
            if r.received == 0 {
                "no echo".to_string()
            } else {
                format::duration_us(us as f64)
            }
        };
        let conditions = if r.broke.is_empty() {
            "held".to_string()
        } else {
            format!(
                "broke: {}",
                r.broke
                    .iter()
                    .map(|c| code(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            md,
            "| {} msg/s | {} msg/s | {} | {} | {} | {conditions} |",
            format::rate(r.rate),
            format::rate(r.throughput),
            latency(r.latency_p50_us),
            latency(r.latency_p99_us),
            format::percent(r.loss * 100.0),
        );
    }
    md.push('\n');
    let rate_of = |name: &str| s.metrics.get(name).map(|m| format::rate(m.value));
    let sustained = rate_of("sustained").unwrap_or_else(|| "–".into());
    let knee = match rate_of("knee") {
        Some(k) => format!("knee (lowest rate that broke): {k} msg/s"),
        None => "no rung broke up to the highest rate tried, so no knee found".to_string(),
    };
    let _ = writeln!(md, "Sustained: {sustained} msg/s; {knee}.\n");
}

/// p50, p90, p99, p99.9 and max, in that order, formatted as durations.
pub(super) fn percentiles(d: &Distribution) -> [String; 5] {
    [d.p50_us, d.p90_us, d.p99_us, d.p999_us, d.max_us].map(|us| format::duration_us(us as f64))
}

fn list(md: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(md, "{title}:\n");
    for item in items {
        let _ = writeln!(md, "- {}", text(item));
    }
    md.push('\n');
}

fn device(md: &mut String, r: &Report) {
    let d = &r.device;
    md.push_str("## Device\n\n");
    if !d.observed {
        let why = d.source.as_deref().unwrap_or("no serial console was read");
        let _ = writeln!(md, "Device side not observed ({why}).\n");
        return;
    }
    let heap_note = match d.heap_source.as_deref() {
        Some("modelled") => " (modelled, not measured)",
        Some("allocator") => " (from the allocator)",
        _ => "",
    };
    md.push_str("| | |\n|---|---|\n");
    let _ = writeln!(md, "| Reboots | {} |", d.reboots);
    let _ = writeln!(md, "| Panics | {} |", d.panics);
    let _ = writeln!(md, "| Errors / warnings | {} / {} |", d.errors, d.warnings);
    for (name, n) in &d.user_events {
        let _ = writeln!(md, "| Event {} | {n} |", text(name));
    }
    if let Some(min) = d.heap_free_min_bytes {
        let _ = writeln!(
            md,
            "| Lowest free heap | {}{heap_note} |",
            format::bytes(min as f64)
        );
    }
    let _ = writeln!(md, "| Events | {} |", format::count(d.events.len() as u64));
    md.push('\n');
    let listed: Vec<_> = d.events.iter().filter(|e| e.kind != "heap").collect();
    if listed.is_empty() {
        return;
    }
    md.push_str("| At | Event | Console line |\n|---|---|---|\n");
    for e in listed.iter().take(MAX_EVENTS) {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            format::duration_ms(e.at_ms),
            text(&e.kind),
            code(&e.line)
        );
    }
    md.push('\n');
    if listed.len() > MAX_EVENTS {
        let _ = writeln!(
            md,
            "{} more events in `report.json` and `serial.log`.\n",
            listed.len() - MAX_EVENTS
        );
    }
    if d.events.len() > listed.len() {
        md.push_str(
            "Heap readings are left out of this list; see the timeline in `report.html`.\n\n",
        );
    }
}

/// Plain text for a paragraph or a table cell: one line, no table breaks, no raw HTML.
/// Code spans already in the text (`` `a < b` ``) are kept as written: Markdown shows
/// an entity inside a code span literally, so `<` is escaped only outside them.
fn text(s: &str) -> String {
    let line = format::printable(s).replace(['\n', '\r'], " ");
    let parts: Vec<&str> = line.split('`').collect();
    // An unpaired last backtick opens no code span: what follows it is plain text.
    let paired = parts.len() % 2 == 1;
    let mut out = String::with_capacity(line.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        let in_code = i % 2 == 1 && (paired || i + 1 < parts.len());
        if in_code {
            out.push_str(part);
        } else {
            out.push_str(&part.replace('&', "&amp;").replace('<', "&lt;"));
        }
    }
    out.replace('|', "\\|")
}

/// A code span that survives backticks and pipes in its content.
fn code(s: &str) -> String {
    let body = format::printable(s)
        .replace(['\n', '\r'], " ")
        .replace('|', "\\|");
    let fence = if body.contains('`') { "``" } else { "`" };
    format!("{fence}{body}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{StepStatus, Verdict};
    use crate::report::sample::sample_report;

    #[test]
    fn verdict_and_simulated_label_come_first() {
        let md = render(&sample_report());
        assert!(md.starts_with("# FAIL: fanout"), "{md}");
        let label = md.find(SIMULATED_LABEL).expect("simulated label");
        assert!(label < md.find("## Thresholds").unwrap());
        assert!(md.contains("threshold `fanout.loss == 0` failed"));
    }

    #[test]
    fn thresholds_steps_and_figures_appear() {
        let md = render(&sample_report());
        assert!(
            md.contains("| **FAIL** | `fanout.loss == 0` | 1 % |"),
            "{md}"
        );
        assert!(md.contains("| pass | `exhaust.limit >= 7` | 7 |"), "{md}");
        assert!(md.contains("### fanout (fanout) — **failed**"));
        assert!(md.contains("| `echo.loss` | 0.0667 % |"), "{md}");
        assert!(md.contains("| `echo.latency` | 2 998 |"), "{md}");
        assert!(md.contains("| timeout | 2 |"));
        assert!(md.contains("- limit found: 7, extra clients: oldest purged"));
        assert!(md.contains("- client 3: connection reset by peer"));
        assert!(
            md.contains("Lowest free heap | 184 KiB (modelled, not measured)"),
            "{md}"
        );
    }

    #[test]
    fn capacity_rungs_are_a_table_with_the_sustained_rate_and_the_knee() {
        use crate::report::model::{CapacityRung, Metric};
        let mut report = sample_report();
        let mut cap = report.steps[0].clone();
        cap.name = "capacity".into();
        cap.kind = "capacity".into();
        let rung = |rate: f64, received: u64, p99: u64, broke: &[&str]| CapacityRung {
            rate,
            planned: 100,
            sent: 100,
            received,
            loss: 1.0 - received as f64 / 100.0,
            throughput: rate * received as f64 / 100.0,
            latency_p50_us: 900,
            latency_p99_us: p99,
            latency_max_us: p99,
            broke: broke.iter().map(|b| b.to_string()).collect(),
        };
        cap.rungs = vec![
            rung(50.0, 100, 2_000, &[]),
            rung(100.0, 99, 61_000, &["latency.p99 > 50ms", "loss > 0"]),
            rung(70.7, 0, 0, &["loss > 0"]),
        ];
        for (name, value) in [("sustained", 50.0), ("knee", 70.7)] {
            let unit = "msg/s".to_string();
            cap.metrics.insert(name.into(), Metric { value, unit });
        }
        report.steps = vec![cap];
        let md = render(&report);
        assert!(md.contains("| Rate offered | Achieved | p50 | p99 | Loss | Conditions |"));
        assert!(
            md.contains("| 50 msg/s | 50 msg/s | 900 µs | 2 ms | 0 % | held |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| 100 msg/s | 99 msg/s | 900 µs | 61 ms | 1 % | broke: `latency.p99 > 50ms`, `loss > 0` |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 70.7 msg/s | 0 msg/s | no echo | no echo | 100 % | broke: `loss > 0` |"),
            "{md}"
        );
        assert!(
            md.contains("Sustained: 50 msg/s; knee (lowest rate that broke): 70.7 msg/s."),
            "{md}"
        );
    }

    #[test]
    fn text_is_escaped_and_console_colours_removed() {
        let md = render(&sample_report());
        assert!(
            md.contains("2 messages lost &lt;after> the purge &amp; 'reconnect'"),
            "{md}"
        );
        assert!(
            md.contains("`W (19000) ws: purge id=1 reason=lru <oldest>`"),
            "{md}"
        );
        assert!(!md.contains('\u{1b}'));
        assert_eq!(code("a|b`c"), "``a\\|b`c``");
        assert_eq!(
            text("threshold `p99 < 5ms` failed: 2 < 3 & `a|b`"),
            "threshold `p99 < 5ms` failed: 2 &lt; 3 &amp; `a\\|b`"
        );
        assert_eq!(text("odd ` 1 < 2"), "odd ` 1 &lt; 2");
    }

    #[test]
    fn board_runs_have_no_simulated_label_and_interruptions_show() {
        let mut report = sample_report();
        report.target.kind = TargetKind::Board;
        report.verdict = Verdict::Incomplete;
        report.complete = false;
        report.interruption = Some("target lost: connection refused".into());
        report.steps[3].status = StepStatus::Interrupted;
        let md = render(&report);
        assert!(!md.contains(SIMULATED_LABEL));
        assert!(md.starts_with("# INCOMPLETE"));
        assert!(md.contains("run interrupted (target lost: connection refused)"));
        assert!(md.contains("step `exhaust` interrupted"));
    }
}
