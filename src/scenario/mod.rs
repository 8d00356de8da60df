//! Scenario files: format, validation, JSON Schema.

use crate::exit::{CommandResult, Failure};

#[derive(Debug, clap::Subcommand)]
pub enum ScenarioCommand {
    /// Validate scenario files without running them.
    Check { files: Vec<std::path::PathBuf> },
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
}

pub fn main(_cmd: ScenarioCommand) -> CommandResult {
    Err(Failure::usage(miette::miette!("wsbench scenario is not built yet")))
}
