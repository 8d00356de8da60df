//! Runs the real `wsbench run` binary on a scenario written for the benchmark and reads
//! back its report.json (through the crate's own report model) and, while it runs, the
//! process's resident memory and CPU time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wsbench::report::model::{Distribution, Report, StepReport};

use crate::proc_stats::{self, HeldRss};

/// One finished `wsbench run`.
pub struct WsbenchRun {
    pub report: Report,
    /// RSS while at least `hold_fds` descriptors were open (when asked for).
    pub held: Option<HeldRss>,
    pub cpu: Duration,
}

impl WsbenchRun {
    pub fn step(&self, name: &str) -> Result<&StepReport, String> {
        self.report
            .steps
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("report has no step `{name}`"))
    }

    pub fn metric(&self, step: &str, metric: &str) -> Result<f64, String> {
        let s = self.step(step)?;
        s.metrics.get(metric).map(|m| m.value).ok_or_else(|| {
            format!(
                "step `{step}` has no metric `{metric}` (errors: {:?})",
                s.errors
            )
        })
    }

    pub fn distribution(&self, step: &str, name: &str) -> Result<&Distribution, String> {
        let s = self.step(step)?;
        s.distributions.get(name).ok_or_else(|| {
            format!(
                "step `{step}` has no distribution `{name}` (errors: {:?})",
                s.errors
            )
        })
    }
}

/// Writes `yaml` as `<dir>/<name>.yaml`, runs `wsbench run` on it against `target`,
/// and returns its report. `hold_fds`: sample RSS while that many descriptors are open.
pub fn run(
    bin: &Path,
    dir: &Path,
    name: &str,
    yaml: &str,
    target: &str,
    hold_fds: Option<usize>,
    limit: Duration,
) -> Result<WsbenchRun, String> {
    let scenario = dir.join(format!("{name}.yaml"));
    std::fs::write(&scenario, yaml)
        .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;
    let reports = dir.join(format!("reports-{name}"));
    let log = dir.join(format!("{name}.log"));
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut child = Command::new(bin)
        .arg("run")
        .arg(&scenario)
        .args(["--target", target, "--quiet", "--report-dir"])
        .arg(&reports)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let held = hold_fds.map(|fds| proc_stats::sample_while_holding(pid, fds, limit));
    // CPU time is readable until the process is reaped: poll it while waiting.
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Some(t) = proc_stats::cpu_time(pid) {
            cpu = cpu.max(t);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "wsbench run {name} did not finish within {limit:?}; log: {}",
                    log.display()
                ));
            }
        }
    };
    // 0 = passed, 1 = a threshold or step failed: both wrote a report worth reading.
    if !matches!(status.code(), Some(0 | 1)) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "wsbench run {name} exited with {status}:\n{}",
            tail(&text, 20)
        ));
    }
    let path = find_report(&reports)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: Report = serde_json::from_str(&text)
        .map_err(|e| format!("{} does not match the report model: {e}", path.display()))?;
    Ok(WsbenchRun { report, held, cpu })
}

fn find_report(reports: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(reports)
        .map_err(|e| format!("no report folder {}: {e}", reports.display()))?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("report.json"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no report.json under {}", reports.display()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
