//! Running `wsbench flash` / `wsbench ports` as a user does, bounded in time.

use std::process::Output;
use std::time::Duration;

use crate::common::run::output_within;

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// A failure must never read as a success.
    pub fn assert_not_flashed(&self) {
        assert!(
            !self.stdout.contains("flashed:") && !self.stdout.contains("ready:"),
            "a failed flash claims success:\n{}",
            self.all()
        );
    }

    pub fn assert_fails(&self, code: i32, diagnostic: &str) {
        assert_eq!(self.code, Some(code), "exit code; output:\n{}", self.all());
        assert!(
            self.stderr.contains(diagnostic),
            "no `{diagnostic}` in:\n{}",
            self.all()
        );
        assert!(
            self.stderr.contains("help:"),
            "no help line in:\n{}",
            self.all()
        );
        self.assert_not_flashed();
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `wsbench ARGS` with `env` set (the test's own environment does not choose the
/// port), killing it after `limit`.
pub fn wsbench(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Ran {
    let mut command = crate::common::run::wsbench(args);
    command.envs(env.iter().copied());
    output_within(&mut command, limit).into()
}
