//! The device side of wsbench: one implementation of the WebSocket server that runs on
//! the ESP32 firmware (bound to embassy-net) and on the simulated board (bound to tokio).
//!
//! API CONTRACT (draft, to be refined by whoever implements it; keep the shape):
//!
//! ```text
//! pub struct DeviceConfig { max_open_sockets, lru_purge, broadcast_interval_ms,
//!                           max_message_len, ws_port, wss_port, ssid, ip, .. }  // Default = ESP-IDF example values
//! pub trait Platform {            // what a host gives the device
//!     fn now_us(&self) -> u64;                              // monotonic, since boot
//!     fn sleep_ms(&self, ms: u32) -> impl Future<Output = ()>;
//!     fn heap(&self) -> Option<HeapFigures>;               // None: use the documented model
//!     fn console(&self, line: &str);                        // one formatted ESP-IDF log line
//! }
//! pub struct Device<P: Platform> { .. }
//! impl<P: Platform> Device<P> {
//!     pub fn new(config: DeviceConfig, platform: P) -> Self;
//!     pub fn announce_ready(&self);                         // the ready line, once ports listen
//!     pub fn admit(&self, peer: Peer, transport: Transport) -> Admission;  // Admitted(SessionId) | Refused
//!     pub async fn serve<R: Read, W: Write>(&self, id: SessionId, reader: R, writer: W);
//!     pub async fn run_background(&self) -> !;              // periodic broadcast, bursts, heap log
//! }
//! ```
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod certs;
pub mod config_record;
