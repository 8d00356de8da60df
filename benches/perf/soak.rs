//! Recorder memory over a long run: `wsbench run` echoing 1,000 msg/s for some minutes
//! against the minimal echo server, its resident memory read every second. Growth is
//! taken from the end of the first minute (start-up, the step's own message table and
//! the first histograms are in place by then) to the end, per minute, and extrapolated
//! to a day. Optional: it takes as long as it says (`WSBENCH_BENCH_SOAK=<minutes>`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc_stats;
use crate::table::{Table, met};

const RATE: u32 = 1_000;
const CLIENTS: u32 = 10;
const DAY_TARGET_BYTES: f64 = 100.0 * 1024.0 * 1024.0;

pub fn run(
    bin: &Path,
    dir: &Path,
    url: &str,
    minutes: u64,
    table: &mut Table,
) -> Result<bool, String> {
    let minutes = minutes.max(2);
    let scenario = dir.join("soak.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: bench-soak\nsteps:\n  - connect: {{ clients: {CLIENTS} }}\n  \
             - echo: {{ rate: {RATE}, per: total, duration: {minutes}m }}\n"
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;
    let mut child = Command::new(bin)
        .arg("run")
        .arg(&scenario)
        .args(["--target", url, "--quiet", "--report-dir"])
        .arg(dir.join("reports-soak"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let mut trace: Vec<(f64, u64)> = Vec::new();
    let limit = Duration::from_secs(minutes * 60 + 60);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the soak did not end within {limit:?}"));
        }
        if let Some(rss) = proc_stats::rss_bytes(pid) {
            trace.push((started.elapsed().as_secs_f64(), rss));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // The echo step runs from about second 1 to `minutes` × 60 + 1.
    let at = |t: f64| trace.iter().find(|(s, _)| *s >= t).map(|(_, r)| *r);
    let end_s = (minutes * 60) as f64 - 2.0;
    let (Some(first), Some(last)) = (at(60.0), at(end_s)) else {
        return Err(format!("too few memory samples ({})", trace.len()));
    };
    let per_minute = (last as f64 - first as f64) / ((end_s - 60.0) / 60.0);
    let per_day = per_minute * 1440.0;
    println!(
        "    {minutes} min at {RATE} msg/s: RSS {:.1} MiB after 1 min, {:.1} MiB at the end: \
         {:.1} KiB per minute, {:.1} MiB per day extrapolated",
        first as f64 / 1048576.0,
        last as f64 / 1048576.0,
        per_minute / 1024.0,
        per_day / 1048576.0
    );
    table.row([
        format!("memory growth, {RATE} msg/s soak ({minutes} min)"),
        "minimal echo server".into(),
        format!(
            "{:.1} KiB/min = {:.1} MiB/day",
            per_minute / 1024.0,
            per_day / 1048576.0
        ),
        "-".into(),
        "< 100 MiB/day".into(),
        met(Some(per_day < DAY_TARGET_BYTES)),
    ]);
    Ok(true)
}
