//! A `wsbench sim` process started as a user starts it: a thread collects its stdout line
//! by line, its banner gives the values a test needs (URLs, the console's path). Every
//! wait is bounded; the process is killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SimProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl SimProcess {
    /// Spawns `command` (a `wsbench sim …`) and waits up to `limit` until its banner
    /// gives a value for each of `labels` (`ws:`, `console:` …); returns the process and
    /// those values in the order asked.
    pub fn start(
        mut command: Command,
        labels: &[&str],
        limit: Duration,
    ) -> (SimProcess, Vec<String>) {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run wsbench sim");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut sim = SimProcess { child, lines };
        let deadline = Instant::now() + limit;
        loop {
            let printed = sim.lines();
            let values: Option<Vec<String>> = labels
                .iter()
                .map(|label| banner_value(&printed, label))
                .collect();
            if let Some(values) = values {
                return (sim, values);
            }
            if let Ok(Some(status)) = sim.child.try_wait() {
                panic!("wsbench sim exited at start ({status}): {printed:?}");
            }
            assert!(
                Instant::now() < deadline,
                "no {labels:?} printed within {limit:?}: {printed:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// How many lines have been printed so far.
    pub fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// The first line from the `from`th on for which `want` holds, if one was printed.
    pub fn find_from(&self, from: usize, want: impl Fn(&str) -> bool) -> Option<String> {
        self.lines.lock().unwrap()[from..]
            .iter()
            .find(|l| want(l))
            .cloned()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first word after `label` on a banner line that starts with it.
fn banner_value(printed: &[String], label: &str) -> Option<String> {
    printed.iter().find_map(|l| {
        l.trim_start()
            .strip_prefix(label)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    })
}
