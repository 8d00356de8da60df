//! Exit codes and the errors that end a command, in one place so every command means
//! the same thing by them (CI scripts branch on these).

use std::process::ExitCode;

/// How a command that ran to its end finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: done, every threshold held.
    Success,
    /// Exit 1: the run was carried out but a threshold or a step failed.
    ThresholdsFailed,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::ThresholdsFailed => ExitCode::from(1),
        }
    }
}

/// Why a command could not do its job. The report says what happened, the thing
/// involved and what to try (a `miette` diagnostic with a `help`).
#[derive(Debug)]
pub enum Failure {
    /// Exit 2: bad usage or configuration (scenario file, flags). Nothing was run.
    Usage(miette::Report),
    /// Exit 3: the run could not be carried out (target unreachable, port busy, ...).
    Unrunnable(miette::Report),
}

impl Failure {
    pub fn usage(err: impl Into<miette::Report>) -> Self {
        Failure::Usage(err.into())
    }

    pub fn unrunnable(err: impl Into<miette::Report>) -> Self {
        Failure::Unrunnable(err.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Unrunnable(_) => 3,
        }
    }

    /// Prints the diagnostic to stderr and gives the matching exit code.
    pub fn report_and_exit(self) -> ExitCode {
        let code = self.exit_code();
        let (Failure::Usage(report) | Failure::Unrunnable(report)) = self;
        crate::terminal::err_line(&format!("{report:?}"));
        ExitCode::from(code)
    }
}

pub type CommandResult = Result<Outcome, Failure>;
