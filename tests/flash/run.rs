//! Running `wsbench flash` / `wsbench ports` as a user does, bounded in time.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// The binary under test.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wsbench"))
}

/// Runs `wsbench ARGS` with WSBENCH_PORT and CI cleared (a test's own environment must not
/// choose the port), killing it after `limit`.
pub fn wsbench(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Ran {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("WSBENCH_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run wsbench");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "wsbench {args:?} still running after {limit:?}; stdout so far: {}",
                out_reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}
