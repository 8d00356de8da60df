//! `wsbench run --json`: the run's result as one JSON object on stdout, for scripts
//! that want the verdict without parsing text or opening the report folder.

use std::path::Path;

use serde_json::json;

use crate::report::model::{Report, TargetKind};
use crate::report::summary;

/// One line of JSON: verdict, exit code, why, thresholds, where the report is.
pub fn render(report: &Report, dir: &Path, exit_code: u8) -> String {
    let thresholds: Vec<_> = report
        .thresholds
        .iter()
        .map(|t| {
            json!({
                "expression": t.expression,
                "passed": t.passed,
                "actual": t.actual,
                "unit": t.unit,
                "message": t.message,
            })
        })
        .collect();
    json!({
        "verdict": format!("{:?}", report.verdict).to_lowercase(),
        "exit_code": exit_code,
        "run_id": report.run_id,
        "scenario": report.scenario.name,
        "target": report.target.url,
        "simulated": report.target.kind == TargetKind::Simulated,
        "complete": report.complete,
        "started": report.started,
        "interruption": report.interruption,
        "reasons": summary::verdict_reasons(report),
        "thresholds": thresholds,
        "report_dir": dir.display().to_string(),
        "report_json": dir.join(crate::report::json::FILE_NAME).display().to_string(),
    })
    .to_string()
}
