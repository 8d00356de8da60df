//! Progress of a flash write: an indicatif bar with bytes/s on a terminal, one plain line
//! per region otherwise (CI logs), and the totals the final line reports.

use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use espflash::target::ProgressCallbacks;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::image::Region;

/// What happened to the regions, for the summary line.
#[derive(Debug, Clone, Default)]
pub struct WriteTotals {
    pub written: usize,
    pub skipped: usize,
    pub bytes_written: u64,
    pub writing_time: Duration,
}

struct Current {
    index: usize,
    chunks: usize,
    started: Instant,
    bar: Option<ProgressBar>,
}

/// espflash's progress callbacks, region by region, in the order they are written.
pub struct FlashProgress {
    regions: Vec<(String, u32, usize)>,
    /// The region espflash is on: it reports a skipped region without `init`.
    next: usize,
    current: Option<Current>,
    bar: bool,
    verify: bool,
    pub totals: WriteTotals,
}

impl FlashProgress {
    pub fn new(regions: &[Region], verify: bool) -> FlashProgress {
        FlashProgress {
            regions: regions
                .iter()
                .map(|r| (r.name.clone(), r.offset, r.bytes.len()))
                .collect(),
            next: 0,
            current: None,
            bar: std::io::stderr().is_terminal(),
            verify,
            totals: WriteTotals::default(),
        }
    }

    fn line(text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }

    fn region(&self, index: usize) -> (String, u32, usize) {
        self.regions
            .get(index)
            .cloned()
            .unwrap_or_else(|| ("region".into(), 0, 0))
    }
}

/// Bytes per second as people read it.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!("{:.1} KiB/s", bytes as f64 / 1024.0 / secs)
}

impl ProgressCallbacks for FlashProgress {
    fn init(&mut self, addr: u32, total: usize) {
        let index = self
            .regions
            .iter()
            .position(|(_, offset, _)| *offset == addr)
            .unwrap_or(self.next);
        self.next = index;
        let (name, offset, len) = self.region(index);
        let bar = self.bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:<24} [{bar:30}] {bytes:>9}/{total_bytes:<9} {bytes_per_sec:>11} {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{name} @ {offset:#x}"));
            bar
        });
        self.current = Some(Current {
            index,
            chunks: total.max(1),
            started: Instant::now(),
            bar,
        });
    }

    fn update(&mut self, current: usize) {
        if let Some(c) = &self.current
            && let Some(bar) = &c.bar
        {
            let len = self.regions.get(c.index).map_or(0, |r| r.2) as u64;
            bar.set_position(len * current as u64 / c.chunks as u64);
        }
    }

    fn verifying(&mut self) {
        if let Some(bar) = self.current.as_ref().and_then(|c| c.bar.as_ref()) {
            bar.set_message("verifying (MD5)");
        }
    }

    fn finish(&mut self, skipped: bool) {
        let current = self.current.take();
        let index = current.as_ref().map_or(self.next, |c| c.index);
        let (name, offset, len) = self.region(index);
        if let Some(bar) = current.as_ref().and_then(|c| c.bar.as_ref()) {
            bar.finish_and_clear();
        }
        if skipped {
            self.totals.skipped += 1;
            Self::line(&format!(
                "  {name:<16} {offset:#08x}  {len:>8} bytes  unchanged (MD5 matches), skipped"
            ));
        } else {
            let elapsed = current.map_or(Duration::ZERO, |c| c.started.elapsed());
            self.totals.written += 1;
            self.totals.bytes_written += len as u64;
            self.totals.writing_time += elapsed;
            Self::line(&format!(
                "  {name:<16} {offset:#08x}  {len:>8} bytes  written{} in {:.2} s ({})",
                if self.verify {
                    " and verified (MD5)"
                } else {
                    ""
                },
                elapsed.as_secs_f64(),
                rate(len as u64, elapsed)
            ));
        }
        self.next = index + 1;
    }
}
