//! Reports: the model (`report.json`) and its renderers.

pub mod model;

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
    Err(Failure::usage(miette::miette!("wsbench report is not built yet")))
}
