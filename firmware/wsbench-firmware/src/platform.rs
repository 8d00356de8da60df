//! The device crate's view of the board: embassy-time for the clock and waits, esp-alloc
//! for heap figures, the console queue for log lines.

use embassy_time::{Instant, Timer};
use wsbench_device::{HeapFigures, Platform};

use crate::console;

/// The board as [`wsbench_device::Device`] sees it. Holds nothing: every figure is read
/// from the hardware or the allocator when asked.
pub struct Board;

impl Platform for Board {
    fn now_us(&self) -> u64 {
        Instant::now().as_micros()
    }

    async fn sleep_ms(&self, ms: u32) {
        if ms == 0 {
            embassy_futures::yield_now().await;
        } else {
            Timer::after_millis(u64::from(ms)).await;
        }
    }

    /// Real figures from esp-alloc: free bytes now, and the low-water mark from the
    /// allocator's own peak usage (`internal-heap-stats`).
    fn heap(&self) -> Option<HeapFigures> {
        let stats = esp_alloc::HEAP.stats();
        let free = stats.size.saturating_sub(stats.current_usage);
        let min_free = stats.size.saturating_sub(stats.max_usage);
        Some(HeapFigures {
            free: u32::try_from(free).unwrap_or(u32::MAX),
            min_free: u32::try_from(min_free).unwrap_or(u32::MAX),
        })
    }

    fn console(&self, line: &str) {
        console::push(line);
    }
}
