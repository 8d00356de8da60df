//! Scenario files: format, validation, JSON Schema, metric namespace and thresholds.

mod load;
pub mod metrics;
pub mod model;
mod suggest;
pub mod threshold;

pub use load::{LoadedScenario, ScenarioError, load, parse, step_names};

use crate::exit::{CommandResult, Failure, Outcome};

/// Smallest echo payload: the sequence header every echo message carries.
pub const ECHO_MIN_SIZE: u32 = 24;

/// Largest echo payload: far above any ESP32 server's message limit, and small enough
/// that building each message cannot exhaust the host's memory.
pub const ECHO_MAX_SIZE: u32 = 16 * 1024 * 1024;

/// Most messages one echo step may plan (`rate` × `duration`): a day at 10,000 a
/// second. Memory does not grow with the plan (in-flight messages are kept in a ring
/// sized by rate and timeout); this bounds a typo's running time.
pub const ECHO_MAX_MESSAGES: u64 = 1_000_000_000;

#[derive(Debug, clap::Subcommand)]
pub enum ScenarioCommand {
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
}

pub fn main(cmd: ScenarioCommand) -> CommandResult {
    match cmd {
        ScenarioCommand::Schema => {
            let schema = schemars::schema_for!(model::Scenario);
            let text = serde_json::to_string_pretty(&schema).map_err(|e| {
                Failure::unrunnable(miette::miette!(
                    code = "wsbench::scenario::schema",
                    help = "this is a bug in wsbench: please report it",
                    "cannot render the scenario JSON Schema: {e}"
                ))
            })?;
            crate::terminal::out_line(&text);
            Ok(Outcome::Success)
        }
        ScenarioCommand::Check { files } => {
            let mut first_err = None;
            for f in &files {
                match load(f) {
                    Ok(s) => crate::terminal::out_line(&format!(
                        "{}: ok ({} steps, {} thresholds)",
                        f.display(),
                        s.scenario.steps.len(),
                        s.thresholds.len()
                    )),
                    Err(e) => {
                        let report = miette::Report::new(*e);
                        if first_err.is_none() {
                            first_err = Some(report);
                        } else {
                            crate::terminal::err_line(&format!("{report:?}"));
                        }
                    }
                }
            }
            match first_err {
                None => Ok(Outcome::Success),
                Some(r) => Err(Failure::usage(r)),
            }
        }
    }
}
