//! The simulated board's `Platform`: the device crate's tokio host platform
//! (`wsbench_device::host`), its console lines going to the board's UART, and the
//! binding's own warning lines.

use std::sync::Arc;

use wsbench_device::Platform as _;
use wsbench_device::host::HostPlatform;
use wsbench_device::idf_log::{self, Level};

use super::uart::Uart;

/// What the device sees of the host. Clones share the boot instant and the console, so
/// the board's own lines (accept and TLS failures) carry the device's timestamps.
pub type SimPlatform = HostPlatform;

/// A platform booted now, printing on `uart`.
pub fn booted_now(uart: Arc<Uart>) -> SimPlatform {
    HostPlatform::new(move |line| uart.write_line(line))
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
