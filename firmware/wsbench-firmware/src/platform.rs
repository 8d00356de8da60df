//! The device crate's view of the board: embassy-time for the clock and waits, esp-alloc
//! for heap figures, the console queue for log lines.

use core::cell::Cell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Instant, Timer};
use wsbench_device::{HeapFigures, Platform};

use crate::console;

/// The board as [`wsbench_device::Device`] sees it. Holds nothing: every figure is read
/// from the hardware or the allocator when asked.
pub struct Board;

/// Lowest free heap sampled since boot.
static MIN_FREE: Mutex<CriticalSectionRawMutex, Cell<usize>> = Mutex::new(Cell::new(usize::MAX));

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

    /// Real figures from esp-alloc: free bytes now (one walk of the heap's blocks; the
    /// allocator keeps no running total), and the lowest free figure sampled so far. The
    /// device samples at every heap line and `!stats`, and before every buffer a peer
    /// sizes, which is when the heap is lowest. esp-alloc's own peak tracking
    /// (`internal-heap-stats`) is not used: it walks the whole heap twice on every
    /// allocation and every free, with interrupts masked.
    fn heap(&self) -> Option<HeapFigures> {
        let free = esp_alloc::HEAP.free();
        let min_free = MIN_FREE.lock(|min| {
            let lowest = min.get().min(free);
            min.set(lowest);
            lowest
        });
        Some(HeapFigures {
            free: u32::try_from(free).unwrap_or(u32::MAX),
            min_free: u32::try_from(min_free).unwrap_or(u32::MAX),
        })
    }

    fn console(&self, line: &str) {
        console::push(line);
    }
}
