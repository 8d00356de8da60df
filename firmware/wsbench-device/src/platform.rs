//! What a host gives the device: a clock, a way to wait, heap figures, a console.

use core::future::Future;

/// Heap figures in bytes, as the allocator reports them (or as the model computes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapFigures {
    /// Free heap now.
    pub free: u32,
    /// Lowest free heap seen since boot.
    pub min_free: u32,
}

/// The host side of the device. The firmware implements it with embassy-time and the
/// allocator; the simulated board with tokio and the heap model (`heap` returns `None`).
///
/// Implementations must not call back into the [`crate::Device`] from these methods.
pub trait Platform {
    /// Monotonic microseconds since boot: log timestamps, `!time`, burst stamps.
    fn now_us(&self) -> u64;
    /// Wait `ms` milliseconds (the device never asks for 0). Used for timeouts and
    /// periodic work.
    fn sleep_ms(&self, ms: u32) -> impl Future<Output = ()>;
    /// Real heap figures, or `None` to use the documented model ([`crate::heap_model`]).
    fn heap(&self) -> Option<HeapFigures> {
        None
    }
    /// One complete console line (ESP-IDF format, no line terminator).
    fn console(&self, line: &str);
}
