//! The servers and idle holders the benchmark starts as separate processes: started,
//! waited on until they say they are ready, and killed when dropped, so a failed
//! benchmark never leaves them behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process that is killed and reaped when this is dropped.
pub struct Running {
    child: Child,
    pub ready_line: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the child to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<(), String> {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(format!("exited with {s}")),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("still running after {limit:?}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits up to `limit` for a stdout line for which `ready` gives true;
/// later output is drained so the child never blocks on a full pipe.
pub fn start(
    mut cmd: Command,
    what: &str,
    limit: Duration,
    ready: fn(&str) -> bool,
) -> Result<Running, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && ready(&line) {
                sent = tx.send(line).is_ok();
            }
        }
    });
    let mut running = Running {
        child,
        ready_line: String::new(),
    };
    match rx.recv_timeout(limit) {
        Ok(line) => {
            running.ready_line = line;
            Ok(running)
        }
        Err(_) => Err(format!("{what} did not say it was ready within {limit:?}")),
    }
}
