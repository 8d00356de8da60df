//! `wsbench run`: drive a scenario and write its report.

use crate::exit::{CommandResult, Failure};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: std::path::PathBuf,
}

pub fn main(_args: RunArgs) -> CommandResult {
    Err(Failure::usage(miette::miette!("wsbench run is not built yet")))
}
