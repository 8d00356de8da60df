//! Reports: the model (`report.json`) and its renderers.

pub mod model;

use std::path::{Path, PathBuf};

use crate::exit::{CommandResult, Failure};

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Compare two reports and flag regressions.
    Diff {
        a: std::path::PathBuf,
        b: std::path::PathBuf,
    },
}

pub fn main(_cmd: ReportCommand) -> CommandResult {
    Err(Failure::usage(miette::miette!(
        "wsbench report is not built yet"
    )))
}

/// Writes every rendering of `report` into `dir` (created if missing) and returns the
/// paths written. `serial_log` is the raw console text, when one was read.
///
/// Contract used by `wsbench run`: renderers read only the model.
pub fn write_report_dir(
    report: &model::Report,
    dir: &Path,
    serial_log: Option<&str>,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let json = dir.join("report.json");
    std::fs::write(
        &json,
        serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?,
    )?;
    written.push(json);
    if let Some(log) = serial_log {
        let path = dir.join("serial.log");
        std::fs::write(&path, log)?;
        written.push(path);
    }
    Ok(written)
}
