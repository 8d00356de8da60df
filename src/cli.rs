//! The command line: one place where flags are declared (help text, the man page and
//! the shell completions all come from here) and each subcommand is handed to the
//! module that does the work.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::{CommandResult, Outcome};
use crate::terminal::ColorChoice;

#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about, long_about = None)]
pub struct Cli {
    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
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
    /// Flash the bundled firmware (or --image) over USB, then wait for its ready line.
    Flash(Box<crate::flash::FlashArgs>),
    /// List serial ports with their USB identity and the adapter each looks like.
    Ports(crate::serial::PortsArgs),
    /// Work with written reports.
    #[command(subcommand)]
    Report(crate::report::ReportCommand),
    /// Print a shell completion script (e.g. `wsbench completions bash > /etc/bash_completion.d/wsbench`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a folder.
    Man {
        /// Write wsbench.1, wsbench-run.1, … into this folder instead of printing
        /// wsbench.1.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Watch a board's serial console (or parse a saved log): boots, panics, heap, clients.
    Monitor(crate::console::monitor::MonitorArgs),
}

pub fn dispatch(cli: Cli) -> CommandResult {
    match cli.command {
        Command::Run(args) => crate::run::main(args),
        Command::Sim(args) => crate::sim::main(args),
        Command::Scenario(cmd) => crate::scenario::main(cmd),
        Command::Report(cmd) => crate::report::main(cmd),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wsbench", &mut buf);
            crate::terminal::out(&String::from_utf8_lossy(&buf));
            Ok(Outcome::Success)
        }
        Command::Man { out_dir } => crate::manpage::main(Cli::command(), out_dir.as_deref()),
        Command::Flash(args) => crate::flash::main(*args),
        Command::Ports(args) => crate::serial::main(args),
        Command::Monitor(args) => crate::console::monitor::main(args),
    }
}
