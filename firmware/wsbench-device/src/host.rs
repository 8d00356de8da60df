//! The device on a std host with tokio: the one `Platform` the simulated board, the
//! device crate's own tests and the loopback example share, so host behaviour (clock,
//! timers, where lines go) is defined once.

use alloc::sync::Arc;
use core::time::Duration;
use std::time::Instant;

use crate::platform::{HeapFigures, Platform};

/// Where a host's console lines go.
pub type ConsoleSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The host's monotonic clock (since this platform was made: the device's "boot"),
/// tokio timers, a console sink, and optionally fixed heap figures (`None`: the device
/// crate's documented model, which is what a host with no board allocator should use).
///
/// Clones share the boot instant and the sink.
#[derive(Clone)]
pub struct HostPlatform {
    boot: Instant,
    console: ConsoleSink,
    heap: Option<HeapFigures>,
}

impl HostPlatform {
    /// A platform whose console lines go to `console`.
    pub fn new(console: impl Fn(&str) + Send + Sync + 'static) -> HostPlatform {
        HostPlatform {
            boot: Instant::now(),
            console: Arc::new(console),
            heap: None,
        }
    }

    /// The same platform reporting `heap` as allocator figures (tests of the heap
    /// checks).
    pub fn with_heap(mut self, heap: Option<HeapFigures>) -> HostPlatform {
        self.heap = heap;
        self
    }

    /// Milliseconds since boot, as log lines print them.
    pub fn uptime_ms(&self) -> u64 {
        self.now_us() / 1000
    }
}

impl Platform for HostPlatform {
    fn now_us(&self) -> u64 {
        u64::try_from(self.boot.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    async fn sleep_ms(&self, ms: u32) {
        if ms == 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
        }
    }

    fn heap(&self) -> Option<HeapFigures> {
        self.heap
    }

    fn console(&self, line: &str) {
        (self.console)(line);
    }
}
