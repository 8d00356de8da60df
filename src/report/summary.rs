//! Wording shared by every renderer: the verdict and why, and how a target is labelled,
//! so the markdown, HTML and junit files never tell a different story.

use super::model::{Report, StepStatus, TargetInfo, TargetKind, Verdict};

/// Shown wherever figures from the simulated board appear, so they are never taken for
/// a board's figures.
pub const SIMULATED_LABEL: &str =
    "simulated board: host timing, modelled heap — not a board's figures";

pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Incomplete => "INCOMPLETE",
    }
}

pub fn status_word(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Passed => "passed",
        StepStatus::Failed => "failed",
        StepStatus::Interrupted => "interrupted",
        StepStatus::Skipped => "skipped",
    }
}

/// The reasons behind the verdict, most important first: the interruption, failed
/// thresholds, failed steps, run errors. A pass gets one line saying what held.
pub fn verdict_reasons(report: &Report) -> Vec<String> {
    let mut reasons = Vec::new();
    if !report.complete || report.verdict == Verdict::Incomplete {
        let why = report
            .interruption
            .as_deref()
            .unwrap_or("reason not recorded");
        reasons.push(format!(
            "run interrupted ({why}): figures cover only what was measured before"
        ));
    }
    for t in report.thresholds.iter().filter(|t| !t.passed) {
        let detail = t.message.strip_prefix("FAIL: ").unwrap_or(&t.message);
        reasons.push(format!("threshold `{}` failed: {detail}", t.expression));
    }
    for s in &report.steps {
        match s.status {
            StepStatus::Failed => reasons.push(format!("step `{}` failed", s.name)),
            StepStatus::Interrupted => reasons.push(format!("step `{}` interrupted", s.name)),
            _ => {}
        }
    }
    for e in &report.errors {
        reasons.push(format!("error: {e}"));
    }
    if reasons.is_empty() {
        let passed = report.thresholds.len();
        reasons.push(format!(
            "all {passed} threshold{} held and all {} step{} passed",
            plural(passed),
            report.steps.len(),
            plural(report.steps.len())
        ));
    }
    reasons
}

/// One line naming the target: its kind and URL, with TLS trust when it applies.
pub fn target_line(target: &TargetInfo) -> String {
    let kind = match target.kind {
        TargetKind::Simulated => "simulated board",
        TargetKind::Board => "board",
        TargetKind::Url => "server",
    };
    let mut line = format!("{kind} at {}", target.url);
    if target.tls {
        if target.insecure {
            line.push_str(" (TLS, certificate NOT checked: --insecure)");
        } else {
            let trust = target
                .trust
                .as_deref()
                .unwrap_or("bundled device certificate");
            line.push_str(&format!(" (TLS, trusting {trust})"));
        }
    }
    line
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_report;

    #[test]
    fn failing_report_lists_failed_threshold_and_step() {
        let reasons = verdict_reasons(&sample_report());
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("fanout.loss == 0"));
        assert!(reasons[1].contains("step `fanout` failed"));
    }

    #[test]
    fn interruption_comes_first() {
        let mut report = sample_report();
        report.complete = false;
        report.verdict = Verdict::Incomplete;
        report.interruption = Some("Ctrl-C".into());
        assert!(verdict_reasons(&report)[0].contains("interrupted (Ctrl-C)"));
    }

    #[test]
    fn a_pass_says_what_held() {
        let mut report = sample_report();
        report.thresholds.retain(|t| t.passed);
        report
            .steps
            .iter_mut()
            .for_each(|s| s.status = StepStatus::Passed);
        report.verdict = Verdict::Pass;
        assert_eq!(
            verdict_reasons(&report),
            vec!["all 2 thresholds held and all 4 steps passed".to_string()]
        );
    }
}
