//! The command line: one place where flags are declared (help text comes from here) and
//! each subcommand is handed to the module that does the work.

use clap::{Parser, Subcommand};

use crate::exit::CommandResult;

#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario against a board, the simulated board or any ws:// / wss:// server.
    Run(crate::run::RunArgs),
    /// Run the simulated board on 127.0.0.1 (the firmware's protocol logic on the host).
    Sim(crate::sim::SimArgs),
    /// Check scenario files or print their JSON Schema.
    #[command(subcommand)]
    Scenario(crate::scenario::ScenarioCommand),
    /// Work with written reports.
    #[command(subcommand)]
    Report(crate::report::ReportCommand),
    /// Watch a board's serial console (or parse a saved log): boots, panics, heap, clients.
    Monitor(crate::console::monitor::MonitorArgs),
}

pub fn dispatch(cli: Cli) -> CommandResult {
    match cli.command {
        Command::Run(args) => crate::run::main(args),
        Command::Sim(args) => crate::sim::main(args),
        Command::Scenario(cmd) => crate::scenario::main(cmd),
        Command::Report(cmd) => crate::report::main(cmd),
        Command::Monitor(args) => crate::console::monitor::main(args),
    }
}
