//! `junit.xml`: the run as a JUnit test suite, the format CI systems (GitLab, Jenkins,
//! GitHub test reporters) show as test results. One testcase per threshold and per step.

use std::fmt::Write;

use super::format::{self, escape_markup as esc};
use super::model::{Report, StepReport, StepStatus};
use super::summary::{self, SIMULATED_LABEL};

pub fn render(report: &Report) -> String {
    let suite = format!("wsbench.{}", report.scenario.name);
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);

    if !report.started {
        // Nothing ran: one failing case that names why, not a wall of "not measured".
        let why = report
            .interruption
            .as_deref()
            .unwrap_or("the run could not start");
        tests += 1;
        failures += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"run could not start\" time=\"0\">\n      <failure type=\"not-started\" message=\"{}\">{}</failure>\n    </testcase>\n",
            esc(&suite),
            esc(why),
            esc(&format!("target {}\n{why}", report.target.url))
        );
        return wrap(report, &suite, &cases, [tests, failures, errors, skipped]);
    }

    for t in &report.thresholds {
        tests += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"{}.thresholds\" name=\"{}\" time=\"0\">",
            esc(&suite),
            esc(&t.expression)
        );
        if !t.passed {
            failures += 1;
            let _ = write!(
                cases,
                "\n      <failure type=\"threshold\" message=\"{}\">{}</failure>\n    ",
                esc(&t.message),
                esc(&format!("{}\n{}", t.expression, t.message))
            );
        }
        cases.push_str("</testcase>\n");
    }

    for s in &report.steps {
        tests += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}.steps\" name=\"{}\" time=\"{}\">",
            esc(&suite),
            esc(&s.name),
            seconds(s.duration_ms)
        );
        match s.status {
            StepStatus::Passed => {}
            StepStatus::Failed => {
                failures += 1;
                let _ = writeln!(
                    cases,
                    "      <failure type=\"step\" message=\"{}\">{}</failure>",
                    esc(&step_message(s, "failed")),
                    esc(&step_detail(s))
                );
            }
            StepStatus::Interrupted => {
                errors += 1;
                let why = report.interruption.as_deref().unwrap_or("run interrupted");
                let _ = writeln!(
                    cases,
                    "      <error type=\"interrupted\" message=\"{}\">{}</error>",
                    esc(&format!("step {} interrupted: {why}", s.name)),
                    esc(&step_detail(s))
                );
            }
            StepStatus::Skipped => {
                skipped += 1;
                cases.push_str("      <skipped/>\n");
            }
        }
        let _ = writeln!(
            cases,
            "      <system-out>{}</system-out>",
            esc(&step_detail(s))
        );
        cases.push_str("    </testcase>\n");
    }

    // An interrupted run shows as an error even when every step recorded looks fine.
    let run_failed = !report.complete || !report.errors.is_empty();
    if run_failed {
        tests += 1;
        errors += 1;
        let mut problems: Vec<String> = report.interruption.iter().cloned().collect();
        problems.extend(report.errors.iter().cloned());
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"run\" time=\"{}\">\n      <error type=\"{}\" message=\"{}\">{}</error>\n    </testcase>\n",
            esc(&suite),
            seconds(report.duration_ms),
            if report.complete {
                "run-error"
            } else {
                "interrupted"
            },
            esc(problems
                .first()
                .map(String::as_str)
                .unwrap_or("run incomplete")),
            esc(&problems.join("\n"))
        );
    }

    wrap(report, &suite, &cases, [tests, failures, errors, skipped])
}

/// The document around the test cases: suite totals and the run's properties.
fn wrap(report: &Report, suite: &str, cases: &str, totals: [u32; 4]) -> String {
    let [tests, failures, errors, skipped] = totals;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"wsbench\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
        seconds(report.duration_ms)
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">",
        esc(suite),
        seconds(report.duration_ms),
        esc(report.started_at.trim_end_matches('Z'))
    );
    xml.push_str("    <properties>\n");
    let mut property = |name: &str, value: &str| {
        let _ = writeln!(
            xml,
            "      <property name=\"{name}\" value=\"{}\"/>",
            esc(value)
        );
    };
    property("verdict", summary::verdict_word(report.verdict));
    property("run_id", &report.run_id);
    property("target", &summary::target_line(&report.target));
    if report.target.kind == super::model::TargetKind::Simulated {
        property("target.label", SIMULATED_LABEL);
    }
    property("scenario.file", &report.scenario.file);
    property("scenario.sha256", &report.scenario.sha256);
    property("tool.version", &report.tool.version);
    xml.push_str("    </properties>\n");
    xml.push_str(cases);
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn step_message(s: &StepReport, word: &str) -> String {
    match s.errors.first() {
        Some(first) => format!("step {} {word}: {first}", s.name),
        None => format!("step {} {word}", s.name),
    }
}

/// The step's figures in plain text, for the CI system's detail view.
fn step_detail(s: &StepReport) -> String {
    let mut out = String::new();
    for (name, m) in &s.metrics {
        let _ = writeln!(out, "{}.{name} = {}", s.name, format::metric(m));
    }
    for (name, d) in &s.distributions {
        let _ = writeln!(
            out,
            "{}.{name}: p50 {} p99 {} max {} ({} samples)",
            s.name,
            format::duration_us(d.p50_us as f64),
            format::duration_us(d.p99_us as f64),
            format::duration_us(d.max_us as f64),
            d.count
        );
    }
    for (cause, n) in &s.failures {
        let _ = writeln!(out, "failure {cause}: {n}");
    }
    for note in &s.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for e in &s.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Verdict;
    use crate::report::sample::sample_report;

    fn cases<'a>(doc: &'a roxmltree::Document) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect()
    }

    #[test]
    fn one_testcase_per_threshold_and_step() {
        let xml = render(&sample_report());
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("name"), Some("wsbench.fanout"));
        assert_eq!(suite.attribute("tests"), Some("7"));
        assert_eq!(suite.attribute("failures"), Some("2"));
        assert_eq!(suite.attribute("errors"), Some("0"));
        let cases = cases(&doc);
        assert_eq!(cases.len(), 7);
        assert_eq!(cases[0].attribute("name"), Some("echo.latency.p99 < 50ms"));
        let failed = &cases[1];
        assert_eq!(failed.attribute("name"), Some("fanout.loss == 0"));
        let failure = failed
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("fanout.loss is 0.01, expected == 0")
        );
        let step = cases
            .iter()
            .find(|c| c.attribute("name") == Some("fanout"))
            .unwrap();
        let failure = step.children().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("step fanout failed: client 3: connection reset by peer")
        );
        assert_eq!(step.attribute("time"), Some("6.000"));
    }

    #[test]
    fn interrupted_steps_and_runs_are_errors() {
        let mut report = sample_report();
        report.complete = false;
        report.verdict = Verdict::Incomplete;
        report.interruption = Some("Ctrl-C <SIGINT> & \u{1b}[0m".into());
        report.steps[3].status = StepStatus::Interrupted;
        report.steps[0].name = "conn\"ect]]>".into();
        let xml = render(&report);
        let doc = roxmltree::Document::parse(&xml).expect("valid XML despite odd text");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("errors"), Some("2"));
        assert_eq!(suite.attribute("tests"), Some("8"));
        let step = cases(&doc)
            .into_iter()
            .find(|c| c.attribute("name") == Some("exhaust"))
            .unwrap();
        let error = step.children().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(
            error.attribute("message"),
            Some("step exhaust interrupted: Ctrl-C <SIGINT> & ")
        );
        assert!(
            cases(&doc)
                .iter()
                .any(|c| c.attribute("name") == Some("conn\"ect]]>"))
        );
        let run = cases(&doc)
            .into_iter()
            .find(|c| c.attribute("name") == Some("run"))
            .unwrap();
        assert!(run.children().any(|n| n.has_tag_name("error")));
    }

    #[test]
    fn simulated_target_is_labelled_in_properties() {
        let xml = render(&sample_report());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let label = doc
            .descendants()
            .find(|n| n.attribute("name") == Some("target.label"))
            .and_then(|n| n.attribute("value"));
        assert_eq!(label, Some(SIMULATED_LABEL));
    }
}
