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
}
