use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Messages read by scripts and CI logs (stderr not a terminal) are not wrapped, so a
    // file:line or a URL is never split across lines.
    if !std::io::stderr().is_terminal() {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
        }));
    }
    let cli = wsbench::cli::Cli::parse();
    match wsbench::cli::dispatch(cli) {
        Ok(code) => code.into(),
        Err(failure) => failure.report_and_exit(),
    }
}
