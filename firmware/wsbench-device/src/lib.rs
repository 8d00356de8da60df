//! The device side of wsbench: one implementation of the WebSocket server that runs on
//! the ESP32 firmware (bound to embassy-net) and on the simulated board (bound to tokio).
//! It knows HTTP, frames, sessions and commands; the hosts only move bytes.
//!
//! ```text
//! pub struct DeviceConfig { max_open_sockets, lru_purge, broadcast_interval_ms,
//!                           max_message_len, ws_port, wss_port, ssid, ip, .. }  // Default = ESP-IDF example values
//! pub trait Platform {            // what a host gives the device
//!     fn now_us(&self) -> u64;                              // monotonic, since boot
//!     fn sleep_ms(&self, ms: u32) -> impl Future<Output = ()>;
//!     fn heap(&self) -> Option<HeapFigures>;               // None (default): the documented model
//!     fn console(&self, line: &str);                        // one formatted ESP-IDF log line
//! }
//! pub struct Device<P: Platform> { .. }
//! impl<P: Platform> Device<P> {
//!     pub fn new(config: DeviceConfig, platform: P) -> Self;
//!     pub fn announce_ready(&self);                         // the ready line, once ports listen
//!     pub fn admit(&self, peer: Peer, transport: Transport) -> Admission;  // Admitted(SessionId) | Refused
//!     pub async fn serve<R: Read, W: Write>(&self, id: SessionId, reader: R, writer: W);
//!     pub async fn run_background(&self);                   // never returns: broadcast, bursts, heap log
//! }
//! ```
//!
//! A host's accept loop: `match device.admit(peer, transport)`; on `Refused` close the
//! connection without writing; on `Admitted(id)` split the stream and run
//! `device.serve(id, reader, writer)` in its own task, then close the connection when it
//! returns. Run `device.run_background()` once, and call `announce_ready()` once the
//! listeners accept connections.
//!
//! Shared state sits behind `embassy_sync` critical-section mutexes: no atomics, since
//! the ESP32-C3 has no compare-and-swap.
#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod certs;
pub mod command;
pub mod config;
pub mod config_record;
mod device;
pub mod heap_model;
#[cfg(feature = "host")]
pub mod host;
mod http_phase;
pub mod idf_log;
pub mod platform;
pub mod session_table;
mod wire;
mod ws_session;

pub use config::{DeviceConfig, MAX_OPEN_SOCKETS, Peer, Transport};
pub use device::{Device, SESSION_QUEUE_FRAMES};
pub use heap_model::HeapSource;
pub use http_phase::MAX_REQUEST_HEAD;
pub use platform::{HeapFigures, Platform};
pub use session_table::{Admission, SessionId};
