//! Running `wsbench` as a user does, in a folder of the test's own, bounded in time, and
//! reading the report it leaves.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

/// The repository, where the shipped scenarios are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where [`scratch`] puts `name`'s folder: named after the test binary, so two binaries
/// running at once never share one.
pub fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "wsbench-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ))
}

/// A fresh, empty folder for one test's files and reports.
pub fn scratch(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `yaml` to `dir/scenario.yaml`.
pub fn scenario_file(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `wsbench ARGS` with stdin closed and the variables that would choose a port, a target
/// or a report folder cleared: the test's own environment must not choose them.
pub fn wsbench(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("WSBENCH_PORT")
        .env_remove("WSBENCH_TARGET")
        .env_remove("WSBENCH_REPORT_DIR")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to its end with both outputs read as they come (a full pipe must not
/// stall it); kills it and fails the test if it has not ended within `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let Some(status) = wait_within(&mut child, limit) else {
        let _ = child.kill();
        let status = child.wait().unwrap();
        let out = Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        panic!("{command:?} did not end within {limit:?}:\n{}", text(&out));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// How `child` ended, once it has; `None` if it is still running after `limit`.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `command`, waits for its progress line `<step>: started`, sends `sig`
/// (`INT`, `TERM`) `after` it; returns how it ended and how long it took to end after
/// the signal. Fails the test if it is still running 30 s after the signal.
pub fn stop_after_step_started(
    command: &mut Command,
    step: &str,
    after: Duration,
    sig: &str,
) -> (ExitStatus, Duration) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (started_tx, started) = std::sync::mpsc::channel();
    let started_line = format!("{step}: started");
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.contains(&started_line) {
                let _ = started_tx.send(());
            }
        }
    });
    if started.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("the {step} step did not start within 30 s");
    }
    std::thread::sleep(after);
    let sent_at = Instant::now();
    signal(child.id(), &format!("-{sig}"));
    let Some(status) = wait_within(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!("wsbench still running 30 s after SIG{sig}");
    };
    (status, sent_at.elapsed())
}

/// Sends `signal` (`-TERM`, `-STOP`, `-CONT` …) to process `pid`, as a user's `kill` does.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// `wsbench run` of `yaml` (written to `name`'s scratch folder) with `extra` arguments,
/// killed (failing the test) after two minutes; returns the output and the folder the
/// report went under.
pub fn run_scenario(name: &str, yaml: &str, extra: &[&str]) -> (Output, PathBuf) {
    let dir = scratch(name);
    let file = scenario_file(&dir, yaml);
    let reports = dir.join("reports");
    let mut command = wsbench(&["run", file.to_str().unwrap(), "--report-dir"]);
    command.arg(&reports).args(extra);
    (
        output_within(&mut command, Duration::from_secs(120)),
        reports,
    )
}

/// Runs `yaml` as [`run_scenario`] does, stopped with `sig` (`INT`, `TERM`) `after` its
/// step `step` started; asserts that wsbench ended as an interrupted run does (exit 3,
/// incomplete) within 8 s of the signal, and returns the report it wrote.
pub fn run_stopped(
    name: &str,
    yaml: &str,
    extra: &[&str],
    step: &str,
    after: Duration,
    sig: &str,
) -> serde_json::Value {
    let dir = scratch(name);
    let file = scenario_file(&dir, yaml);
    let reports = dir.join("reports");
    let mut command = wsbench(&["run", file.to_str().unwrap(), "--report-dir"]);
    command.arg(&reports).args(extra);
    let (status, took) = stop_after_step_started(&mut command, step, after, sig);
    assert_eq!(status.code(), Some(3), "{status}");
    assert!(
        took < Duration::from_secs(8),
        "ended {took:?} after the signal"
    );
    report(&reports)
}

/// Everything a run printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one report folder a run left under `reports`.
pub fn report_folder(reports: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap_or_else(|e| panic!("no report folder {}: {e}", reports.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(
        folders.len(),
        1,
        "expected one report folder in {}: {folders:?}",
        reports.display()
    );
    folders.into_iter().next().unwrap()
}

/// `report.json` of the one report folder under `reports`, parsed.
pub fn report(reports: &Path) -> serde_json::Value {
    report_in(&report_folder(reports))
}

/// `report.json` in the report folder `folder`, parsed.
pub fn report_in(folder: &Path) -> serde_json::Value {
    let json = std::fs::read_to_string(folder.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json in {}: {e}", folder.display()));
    serde_json::from_str(&json).unwrap()
}
