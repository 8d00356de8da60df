//! Why `wsbench run` ended without a verdict: each with its diagnostic code and what to
//! try, as every wsbench error reads.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum RunError {
    #[error("cannot run against {url}: {reason}; report (incomplete) written to {}", report.display())]
    #[diagnostic(code(wsbench::run::unreachable))]
    CouldNotStart {
        url: String,
        reason: String,
        #[help]
        help: String,
        report: PathBuf,
    },
    #[error("the run did not finish: {reason}; partial report in {}", report.display())]
    #[diagnostic(
        code(wsbench::run::incomplete),
        help("the report holds what was measured before the interruption")
    )]
    Incomplete { reason: String, report: PathBuf },
    #[error("cannot write the report to {}: {reason}", path.display())]
    #[diagnostic(
        code(wsbench::run::write_report),
        help(
            "check the free space and permissions there, or choose another folder with --report-dir DIR"
        )
    )]
    WriteReport { path: PathBuf, reason: String },
    #[error("cannot start the async runtime: {0}")]
    #[diagnostic(
        code(wsbench::run::runtime),
        help("the system refused threads or file descriptors; check `ulimit -n` and `ulimit -u`")
    )]
    Runtime(String),
    #[error("cannot read the board's console on {port}: {reason}")]
    #[diagnostic(
        code(wsbench::run::console),
        help(
            "check the path (`wsbench ports` lists the serial ports) and that no other program (idf.py monitor, screen, a second wsbench) holds it; or run without --port / WSBENCH_PORT"
        )
    )]
    Console { port: String, reason: String },
    #[error(
        "no ready line from the board on {port} within {timeout}, so its address is unknown; last console lines: {last_lines}"
    )]
    #[diagnostic(
        code(wsbench::run::no_ready_line),
        help(
            "press the board's reset (EN) button while wsbench waits, check that it runs firmware that prints `ready ... ip=...` (`wsbench flash`), or give the address with --target ws://IP/ws"
        )
    )]
    NoReadyLine {
        port: String,
        timeout: String,
        last_lines: String,
    },
}
