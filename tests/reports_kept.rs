//! Reports are never lost, and the CLI follows the conventions users expect: the real
//! binary, the in-process simulated board, loopback only, every run a second or two.

#[allow(dead_code)]
mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::run::{scratch, text, wsbench};

/// One quick step on the simulated board.
const TINY: &str =
    "name: tiny\nsteps:\n  - connect: { clients: 2 }\nthresholds: [\"connect.connected == 2\"]\n";

fn tiny(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.yaml");
    std::fs::write(&path, TINY).unwrap();
    path
}

fn folders(reports: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(reports)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn six_runs_at_once_leave_six_reports() {
    let dir = scratch("six");
    let file = tiny(&dir);
    let reports = dir.join("reports");
    let children: Vec<_> = (0..6)
        .map(|_| {
            wsbench(&["run", file.to_str().unwrap(), "--sim", "--quiet"])
                .args(["--report-dir", reports.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let found = folders(&reports);
    assert_eq!(found.len(), 6, "{found:?}");
    for f in &found {
        let json = std::fs::read_to_string(f.join("report.json")).unwrap();
        let rep: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            rep["run_id"].as_str().unwrap(),
            f.file_name().unwrap().to_str().unwrap()
        );
    }
}

#[test]
fn a_closed_stdout_does_not_stop_the_run_or_lose_its_report() {
    let dir = scratch("pipe");
    let file = tiny(&dir);
    let reports = dir.join("reports");
    let mut child = wsbench(&["run", file.to_str().unwrap(), "--sim"])
        .args(["--report-dir", reports.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let found = folders(&reports);
    assert_eq!(found.len(), 1);
    for name in ["report.json", "report.md", "report.html", "junit.xml"] {
        assert!(found[0].join(name).is_file(), "{name} missing");
    }
}

#[test]
fn an_unwritable_report_dir_exits_2_before_running() {
    let dir = scratch("nodir");
    let file = tiny(&dir);
    let started = Instant::now();
    let out = wsbench(&["run", file.to_str().unwrap(), "--sim"])
        .args(["--report-dir", "/proc/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("wsbench::run::report_dir"), "{t}");
    assert!(t.contains("/proc/nope"), "{t}");
    assert!(t.contains("--report-dir"), "{t}");
    // Nothing ran: no step progress, no simulated board started.
    assert!(!t.contains("[1/1]"), "{t}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_report_dir_comes_from_the_environment() {
    let dir = scratch("env");
    let file = tiny(&dir);
    let reports = dir.join("from-env");
    let out = wsbench(&["run", file.to_str().unwrap(), "--sim", "-q"])
        .env("WSBENCH_REPORT_DIR", &reports)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(folders(&reports).len(), 1);
}

#[test]
fn an_unresolvable_host_exits_3_and_leaves_a_report() {
    let dir = scratch("dns");
    let file = tiny(&dir);
    let reports = dir.join("reports");
    let out = wsbench(&["run", file.to_str().unwrap()])
        .args(["--report-dir", reports.to_str().unwrap()])
        .env("WSBENCH_TARGET", "ws://no-such-host.invalid/ws")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("wsbench::run::unreachable"), "{t}");
    assert!(t.contains("no-such-host.invalid"), "{t}");
    assert!(t.contains("help:"), "{t}");
    let found = folders(&reports);
    assert_eq!(found.len(), 1);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(found[0].join("report.json")).unwrap())
            .unwrap();
    assert_eq!(rep["started"], false);
    assert_eq!(rep["target"]["url"], "ws://no-such-host.invalid/ws");
    assert!(found[0].join("junit.xml").is_file());
}

#[test]
fn json_prints_one_object_with_verdict_thresholds_and_report_path() {
    let dir = scratch("json");
    let file = tiny(&dir);
    let reports = dir.join("reports");
    let out = wsbench(&["run", file.to_str().unwrap(), "--sim", "--json"])
        .args(["--report-dir", reports.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["simulated"], true);
    assert_eq!(v["thresholds"][0]["expression"], "connect.connected == 2");
    assert_eq!(v["thresholds"][0]["passed"], true);
    let json_path = PathBuf::from(v["report_json"].as_str().unwrap());
    assert!(json_path.is_file(), "{}", json_path.display());
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = wsbench(&["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("wsbench"), "{shell}");
        assert!(
            script.contains("report-dir"),
            "{shell}: flags of run missing"
        );
    }
    let out = wsbench(&["man"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH wsbench 1"), "{page}");
    let dir = scratch("man").join("man1");
    let out = wsbench(&["man", "--out-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run_page = std::fs::read_to_string(dir.join("wsbench-run.1")).unwrap();
    assert!(
        run_page.contains("WSBENCH_TARGET"),
        "env vars in the man page"
    );
    assert!(dir.join("wsbench-report-diff.1").is_file());
}

#[test]
fn help_shows_the_environment_variables() {
    let out = wsbench(&["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in ["WSBENCH_TARGET", "WSBENCH_PORT", "WSBENCH_REPORT_DIR"] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
}

#[test]
fn no_color_and_color_never_keep_escapes_out() {
    let missing = "/nonexistent/scenario.yaml";
    for (env, flag) in [(Some("1"), None), (None, Some("never"))] {
        let mut cmd = wsbench(&["run", missing]);
        if let Some(v) = env {
            cmd.env("NO_COLOR", v);
        }
        if let Some(f) = flag {
            cmd.args(["--color", f]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(!text(&out).contains('\u{1b}'), "{}", text(&out));
    }
    let out = wsbench(&["run", missing, "--color", "always"])
        .output()
        .unwrap();
    assert!(text(&out).contains('\u{1b}'), "--color always colours");
}

#[test]
fn scenario_check_reports_every_error_at_its_own_step() {
    let dir = scratch("check");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nsteps:\n  - echo: { rate: 5, duration: 1s }\n  - ping: { count: 0 }\n  - echo: { rate: 0, duration: 1s }\nthresholds: [\"echo.nope == 0\"]\n",
    )
    .unwrap();
    let out = wsbench(&["scenario", "check", file.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    let f = file.display();
    assert!(t.contains("3 errors"), "{t}");
    assert!(t.contains(&format!("{f}:4:5: step 2 (`ping`)")), "{t}");
    // The second echo step's error points at line 5, not at the first echo.
    assert!(t.contains(&format!("{f}:5:5: step 3 (`echo`)")), "{t}");
    assert!(t.contains("threshold `echo.nope == 0`"), "{t}");
    assert!(t.contains("wsbench::scenario::invalid"), "{t}");
}
