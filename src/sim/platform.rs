//! The simulated board's `Platform`: the host's monotonic clock, tokio timers, the heap
//! model (the device crate's, chosen by returning no allocator figures) and the console.

use std::sync::Arc;
use std::time::Instant;

use wsbench_device::Platform;
use wsbench_device::idf_log::{self, Level};

use super::console::Console;

/// What the device sees of the host. Clones share the boot instant and the console, so
/// the board's own lines (accept and TLS failures) carry the device's timestamps.
#[derive(Clone)]
pub struct SimPlatform {
    boot: Instant,
    console: Arc<Console>,
}

impl SimPlatform {
    pub fn new(console: Arc<Console>) -> Self {
        SimPlatform {
            boot: Instant::now(),
            console,
        }
    }
}

/// Tag of lines about the host binding itself (not the device's protocol logic). Its
/// events, in the device's message grammar:
///
/// ```text
/// W tls_error peer=127.0.0.1:50312 reason="..."        handshake failed or timed out
/// W tls_refuse peer=.. reason=pending_handshakes       too many handshakes at once
/// W accept_error listener=ws|wss reason="..."          accept failed (e.g. out of fds)
/// ```
pub const HOST_TAG: &str = "wsbench-sim";

impl SimPlatform {
    /// A W-level console line from the binding (e.g. a failed TLS handshake), in the
    /// device's ESP-IDF format so one parser reads both.
    pub fn warn(&self, message: &str) {
        let ms = self.now_us() / 1000;
        self.console
            .write_line(&idf_log::format_line(Level::Warn, ms, HOST_TAG, &message));
    }
}

impl Platform for SimPlatform {
    fn now_us(&self) -> u64 {
        u64::try_from(self.boot.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    async fn sleep_ms(&self, ms: u32) {
        if ms == 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(ms))).await;
        }
    }

    // `heap` keeps the default (`None`): the device crate's documented heap model, whose
    // figures it labels `modelled`. The host's own allocator says nothing about a board.

    fn console(&self, line: &str) {
        self.console.write_line(line);
    }
}

#[cfg(test)]
mod tests {
    use wsbench_device::idf_log::{IdfLine, KeyValues, Value};

    #[test]
    fn error_texts_parse_back_with_the_device_grammar() {
        let reason = "peer said \"no\" \\ twice\nand again\u{7}";
        let line = format!(
            "W (5) wsbench-sim: tls_error peer=1.2.3.4:5 reason={}",
            Value(reason)
        );
        assert!(!line.contains('\n'));
        let parsed = IdfLine::parse(&line).unwrap();
        let kv = KeyValues::parse(parsed.message.split_once(' ').unwrap().1).unwrap();
        assert_eq!(kv.get("reason"), Some(reason));
        assert_eq!(kv.get("peer"), Some("1.2.3.4:5"));
    }
}
