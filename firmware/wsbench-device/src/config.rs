//! What a host tells the device about itself: limits, ports, the access point it names.

use alloc::string::String;
use core::net::SocketAddr;

/// Most sessions a device serves at once. Each session's slot (two per session, see
/// [`crate::session_table`]) preallocates its queue at [`crate::Device::new`], and slot
/// numbers are 16-bit; a larger `max_open_sockets` is served as this many.
pub const MAX_OPEN_SOCKETS: u16 = 1024;

/// The device's settings. `Default` gives the values of the ESP-IDF WebSocket examples
/// (`max_open_sockets` 7, LRU purge on, a broadcast every 5 s, SoftAP `ESP32-WS-Server`
/// at 192.168.4.1), so an unconfigured device behaves like the reference server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Sessions served at once (esp_http_server `max_open_sockets`), 1 to
    /// [`MAX_OPEN_SOCKETS`]; values outside are served as the nearest bound.
    pub max_open_sockets: u16,
    /// When full, close the least recently active session to admit a new one
    /// (`lru_purge_enable`); when off, the new connection is refused.
    pub lru_purge: bool,
    /// Period of `Server broadcast: Hello #<n>`; 0 turns it off.
    pub broadcast_interval_ms: u32,
    /// Largest message (after reassembling fragments) the device accepts; above it the
    /// session is closed with 1009.
    pub max_message_len: usize,
    /// Bytes queued for one session before its replies wait and broadcasts to it are
    /// dropped (a single frame is always accepted into an empty queue). Bounds memory
    /// per session with clients that read slowly.
    pub max_queued_bytes: usize,
    /// Free heap, in bytes, that buffers whose size a peer chooses (messages being
    /// reassembled, broadcast copies, `!burst` frames) must leave untouched, so the
    /// small allocations every session needs (request heads, log lines, control
    /// replies) always find room. Checked against [`crate::Platform::heap`]; a host
    /// without allocator figures (the simulated board) has no such check. A message
    /// that does not fit closes its session with 1009; a broadcast copy is dropped.
    pub heap_reserve_bytes: usize,
    /// Port of the plain WebSocket listener, as announced in the ready line.
    pub ws_port: u16,
    /// Port of the TLS listener, as announced in the ready line; 0 = not served.
    pub wss_port: u16,
    /// Access point name announced in the ready line.
    pub ssid: String,
    /// Address announced in the ready line.
    pub ip: String,
    /// How long a connection may take to send a complete HTTP request before it is
    /// closed, so a silent client cannot hold a slot forever.
    pub request_timeout_ms: u32,
    /// How long a write may block (a client that does not read) before the session is
    /// dropped.
    pub write_timeout_ms: u32,
    /// Tag of every console line (`I (<ms>) <tag>: ...`).
    pub log_tag: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            max_open_sockets: 7,
            lru_purge: true,
            broadcast_interval_ms: 5000,
            max_message_len: 16 * 1024,
            max_queued_bytes: 16 * 1024,
            heap_reserve_bytes: 0,
            ws_port: 80,
            wss_port: 443,
            ssid: String::from("ESP32-WS-Server"),
            ip: String::from("192.168.4.1"),
            request_timeout_ms: 5000,
            write_timeout_ms: 5000,
            log_tag: String::from(crate::idf_log::DEFAULT_TAG),
        }
    }
}

/// The listener a connection arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Plain TCP (`ws://`).
    Ws,
    /// TLS (`wss://`); costs more heap in the model.
    Wss,
}

impl Transport {
    /// The name used in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

/// The remote end of a connection, as the host's socket reports it.
pub type Peer = SocketAddr;
