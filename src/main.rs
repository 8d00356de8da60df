use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wsbench::cli::Cli::parse();
    let color = wsbench::terminal::init_color(cli.color);
    // Messages read by scripts and CI logs (stderr not a terminal) are not wrapped, so a
    // file:line or a URL is never split across lines.
    let wrap = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = miette::MietteHandlerOpts::new().wrap_lines(wrap);
        let opts = if color {
            opts.color(true)
        } else {
            opts.color(false).unicode(wrap)
        };
        Box::new(opts.build())
    }));
    match wsbench::cli::dispatch(cli) {
        Ok(code) => code.into(),
        Err(failure) => failure.report_and_exit(),
    }
}
