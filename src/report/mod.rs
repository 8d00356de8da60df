//! Reports: the model (`report.json`) and its renderers.
//!
//! Data flows one way: `wsbench run` builds a [`model::Report`]; each renderer turns it
//! into one file and computes no figure of its own; `report diff` reads two models back.

pub mod diff;
pub mod format;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod summary;
pub mod svg;

#[cfg(test)]
pub(crate) mod sample;

use std::path::{Path, PathBuf};

use crate::exit::{CommandResult, Failure, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Compare two reports and flag regressions (exit 1 when there are any).
    ///
    /// A is the baseline, B the newer run. Each is a report.json file or a report
    /// folder. A change is a regression when the figure got worse in its own direction
    /// (declared per metric: latency, loss and failures up; limits, throughput and free
    /// heap down; neutral and tool-side figures like send_lag never) by more than the
    /// tolerance, widened for few samples, and, for latency, by more than the latency
    /// floor. A percentile needs enough samples to be judged (p99: 100, p99.9: 1,000).
    /// Exit 0: no regression; 1: regressions; 2: unreadable input or different
    /// scenarios (without --force).
    Diff {
        /// The baseline report (report.json or its folder).
        a: PathBuf,
        /// The report to compare against the baseline.
        b: PathBuf,
        /// Relative change, in percent, that is treated as noise.
        #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
        tolerance: f64,
        /// Latency changes smaller than this many microseconds are treated as noise.
        #[arg(long, default_value_t = 200.0, value_parser = non_negative)]
        latency_floor_us: f64,
        /// Print the comparison as one JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// Compare even when the two runs used different scenario files (by sha256).
        #[arg(long)]
        force: bool,
    },
}

/// Why two reports are not compared.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "the reports ran different scenarios: A {a_file} (sha256 {a_sha}), B {b_file} (sha256 {b_sha})"
)]
#[diagnostic(
    code(wsbench::report::different_scenarios),
    help("compare two runs of the same scenario file, or pass --force to compare anyway")
)]
pub struct DifferentScenarios {
    a_file: String,
    a_sha: String,
    b_file: String,
    b_sha: String,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number 0 or above, got `{s}`")),
    }
}

pub fn main(cmd: ReportCommand) -> CommandResult {
    match cmd {
        ReportCommand::Diff {
            a,
            b,
            tolerance,
            latency_floor_us,
            json: as_json,
            force,
        } => {
            let old = json::read_report(&a).map_err(Failure::usage)?;
            let new = json::read_report(&b).map_err(Failure::usage)?;
            if old.scenario.sha256 != new.scenario.sha256 && !force {
                let short = |s: &str| s.get(..12).unwrap_or(s).to_string();
                return Err(Failure::usage(DifferentScenarios {
                    a_file: old.scenario.file.clone(),
                    a_sha: short(&old.scenario.sha256),
                    b_file: new.scenario.file.clone(),
                    b_sha: short(&new.scenario.sha256),
                }));
            }
            let tol = diff::Tolerance {
                percent: tolerance,
                latency_floor_us,
            };
            let result = diff::compare(&old, &new, tol);
            if as_json {
                crate::terminal::out_line(&diff::to_json(&result, &old, &new, tol));
            } else {
                crate::terminal::out(&diff::render(&result, &old, &new, tol));
            }
            if result.regressions().is_empty() {
                Ok(Outcome::Success)
            } else {
                Ok(Outcome::ThresholdsFailed)
            }
        }
    }
}

/// Writes every rendering of `report` into `dir` (created if missing) and returns the
/// paths written: report.json, report.md, report.html, junit.xml and, when a serial
/// console was read, serial.log (`serial_log` is its raw text).
///
/// Contract used by `wsbench run`: renderers read only the model.
pub fn write_report_dir(
    report: &model::Report,
    dir: &Path,
    serial_log: Option<&str>,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        (json::FILE_NAME, json::to_json(report)),
        ("report.md", markdown::render(report)),
        ("report.html", html::render(report)),
        ("junit.xml", junit::render(report)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    if let Some(log) = serial_log {
        let path = dir.join("serial.log");
        std::fs::write(&path, log)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run cut short before its first step still gives readable files.
    #[test]
    fn empty_interrupted_run_renders() {
        let mut report = sample::sample_report();
        report.steps.clear();
        report.timeline.clear();
        report.device = model::DeviceReport::default();
        report.complete = false;
        report.verdict = model::Verdict::Incomplete;
        report.interruption = Some("target unreachable: connection refused".into());
        report.thresholds.iter_mut().for_each(|t| {
            t.actual = None;
            t.passed = false;
        });
        let md = markdown::render(&report);
        assert!(md.contains("No step ran."));
        assert!(
            md.contains("| **FAIL** | `exhaust.limit >= 7` | not measured |"),
            "{md}"
        );
        assert!(md.contains("Device side not observed"));
        let html = html::render(&report);
        assert!(html.contains("No per-second timeline was recorded."));
        assert!(!html.contains("<svg"));
        let xml = junit::render(&report);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(cases, 3 + 1, "three thresholds and the interrupted run");
    }

    #[test]
    fn writes_every_rendering() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample::sample_report();
        let written =
            write_report_dir(&report, &dir.path().join("run"), Some("I (1) ws: ready\n")).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "report.json",
                "report.md",
                "report.html",
                "junit.xml",
                "serial.log"
            ]
        );
        assert_eq!(json::read_report(&dir.path().join("run")).unwrap(), report);
    }
}
