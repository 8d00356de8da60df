//! The simulated board's `Platform`: the device crate's tokio host platform
//! (`wsbench_device::host`), its console lines going to the board's UART, and the
//! binding's own warning lines.

use std::sync::Arc;

use wsbench_device::Platform as _;
use wsbench_device::host::HostPlatform;
use wsbench_device::idf_log::{self, DeviceEvent, IdfLine, Level};

use super::uart::Uart;

/// What the device sees of the host. Clones share the boot instant and the console, so
/// the board's own lines (accept and TLS failures) carry the device's timestamps.
pub type SimPlatform = HostPlatform;

/// A platform booted now, printing on `uart`. With a `heap-leak` fault
/// (`leak_per_s` > 0) the device's heap lines report that much less free heap for every
/// second since this boot (and a minimum that follows it down); they stay labelled
/// `source=modelled`.
pub fn booted_now(uart: Arc<Uart>, leak_per_s: u64) -> SimPlatform {
    if leak_per_s == 0 {
        return HostPlatform::new(move |line| uart.write_line(line));
    }
    let leak = HeapLeak {
        boot: std::time::Instant::now(),
        per_s: leak_per_s,
        min_free: std::sync::Mutex::new(u32::MAX),
    };
    HostPlatform::new(move |line| match leak.apply(line) {
        Some(leaked) => uart.write_line(&leaked),
        None => uart.write_line(line),
    })
}

/// The `heap-leak` fault, applied to the device's `heap` lines as they are printed.
struct HeapLeak {
    boot: std::time::Instant,
    per_s: u64,
    min_free: std::sync::Mutex<u32>,
}

impl HeapLeak {
    /// `line` with the leak taken off its figures, if it is a heap line.
    fn apply(&self, line: &str) -> Option<String> {
        let parsed = IdfLine::parse(line)?;
        let DeviceEvent::Heap {
            free,
            min_free,
            source,
        } = DeviceEvent::parse(&parsed.message)?
        else {
            return None;
        };
        let leaked = self.boot.elapsed().as_millis() as u64 * self.per_s / 1000;
        let free = u64::from(free).saturating_sub(leaked) as u32;
        let mut lowest = self.min_free.lock().unwrap_or_else(|e| e.into_inner());
        *lowest = (*lowest).min(min_free).min(free);
        let event = DeviceEvent::Heap {
            free,
            min_free: *lowest,
            source,
        };
        Some(idf_log::format_line(
            parsed.level,
            parsed.ms,
            &parsed.tag,
            &event,
        ))
    }
}

/// Tag of lines about the host binding itself (not the device's protocol logic). Its
/// events, in the device's message grammar:
///
/// ```text
/// W tls_error peer=127.0.0.1:50312 reason="..."        handshake failed or timed out
/// W tls_refuse peer=.. reason=pending_handshakes       too many handshakes at once
/// W accept_error listener=ws|wss reason="..."          accept failed (e.g. out of fds)
/// I boot_simulated app=wsbench-firmware version=.. chip=..   a flashed app booted
/// E listen_failed port=.. reason="..."                  a port could not be bound again
/// E flash_save_failed reason="..."                     the --flash-file could not be written
/// ```
pub const HOST_TAG: &str = "wsbench-sim";

/// A console line from the binding, in the device's ESP-IDF format so one parser reads
/// both.
pub fn log(platform: &SimPlatform, level: Level, message: &str) {
    let ms = platform.now_us() / 1000;
    platform.console(&idf_log::format_line(level, ms, HOST_TAG, &message));
}

/// A W-level line from the binding (e.g. a failed TLS handshake).
pub fn warn(platform: &SimPlatform, message: &str) {
    log(platform, Level::Warn, message);
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
