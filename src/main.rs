use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wsbench::cli::Cli::parse();
    match wsbench::cli::dispatch(cli) {
        Ok(code) => code.into(),
        Err(failure) => failure.report_and_exit(),
    }
}
