//! What the kernel says about a process: resident memory, open descriptors, CPU time.
//! Read from /proc so the figures are the process's own, not an estimate.

use std::time::{Duration, Instant};

/// VmRSS of `pid` in bytes, None once the process is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Number of open file descriptors of `pid` (sockets included).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// User + system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// RSS samples taken while the process held at least `min_fds` descriptors.
pub struct HeldRss {
    pub samples: Vec<u64>,
    pub peak_fds: usize,
}

impl HeldRss {
    /// The median of the samples taken while holding, the steady figure.
    pub fn median(&self) -> Option<u64> {
        let mut s = self.samples.clone();
        s.sort_unstable();
        s.get(s.len() / 2).copied()
    }
}

/// Samples `pid` every 100 ms until it exits or `limit` passes, keeping the RSS of the
/// moments when it held at least `min_fds` open descriptors (its connections are open).
pub fn sample_while_holding(pid: u32, min_fds: usize, limit: Duration) -> HeldRss {
    let end = Instant::now() + limit;
    let mut held = HeldRss {
        samples: Vec::new(),
        peak_fds: 0,
    };
    while Instant::now() < end {
        let (Some(fds), Some(rss)) = (open_fds(pid), rss_bytes(pid)) else {
            break;
        };
        held.peak_fds = held.peak_fds.max(fds);
        if fds >= min_fds {
            held.samples.push(rss);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    held
}
