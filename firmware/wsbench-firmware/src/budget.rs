//! The RAM budget: how many sessions of each kind the image can hold, and the buffers
//! each one costs. Everything here is sized at compile time, so the worst case is known
//! from the linker map (static buffers) plus the allocator's figures (heap); see
//! `firmware/README.md` for the figures measured on both chips.
//!
//! A settings record may ask for fewer sessions than these capacities, never more: the
//! accept tasks and their socket buffers are allocated once, at boot.

/// Most plain WebSocket sessions (ESP-IDF's `max_open_sockets` default is 7).
pub const WS_CAPACITY: usize = 7;

/// Most TLS WebSocket sessions. Each one holds MbedTLS's 16 KiB in and 16 KiB out record
/// buffers plus its context (about 38 KiB of heap in all), which is what limits them.
#[cfg(feature = "esp32c3")]
pub const WSS_CAPACITY: usize = 2;
/// Most TLS WebSocket sessions: the C6 has 512 KiB of SRAM against the C3's 400 KiB.
#[cfg(feature = "esp32c6")]
pub const WSS_CAPACITY: usize = 4;

/// Accept tasks per port: one more than the session limit, so the connection that finds
/// the table full is still accepted and the device can purge the least recently active
/// session (or refuse the newcomer) as esp_http_server does, instead of the TCP handshake
/// simply stalling.
pub const WS_ACCEPTORS: usize = WS_CAPACITY + 1;
/// TLS acceptors: exactly the TLS cap, since each handshake already costs a TLS
/// session's heap. A TLS client beyond the cap finds no listener and is reset; one that
/// finds the (shared) session table full is admitted by purging, as on the ws port.
pub const WSS_ACCEPTORS: usize = WSS_CAPACITY;

/// TCP receive window per socket. Frames larger than this still pass, a window at a time.
pub const TCP_RX_LEN: usize = 2048;
/// TCP send buffer per socket.
pub const TCP_TX_LEN: usize = 2048;

/// Sockets in the network stack: every acceptor, plus the DHCP server (access point) or
/// DHCP client (station), plus one spare for DNS.
pub const STACK_SOCKETS: usize = WS_ACCEPTORS + WSS_ACCEPTORS + 2;

/// Heap regions handed to esp-alloc. The first is RAM the ROM bootloader used and gives
/// back after boot; the second is ordinary DRAM. Wi-Fi (about 60-80 KiB with the default
/// buffer counts), TLS sessions and the device's per-session state all come from here.
pub const HEAP_RECLAIMED_LEN: usize = 64 * 1024;
/// Second heap region, in ordinary DRAM.
#[cfg(feature = "esp32c3")]
pub const HEAP_MAIN_LEN: usize = 128 * 1024;
/// Second heap region, in ordinary DRAM.
#[cfg(feature = "esp32c6")]
pub const HEAP_MAIN_LEN: usize = 240 * 1024;

/// How long the TLS handshake may take before the connection is dropped: ESP-IDF's
/// first handshake takes about 2 s, so this leaves room without letting a silent client
/// hold a TLS slot.
pub const TLS_HANDSHAKE_TIMEOUT_S: u64 = 10;

/// A connection whose peer stops answering (no ACKs, keep-alives unanswered) is dropped
/// after this long, so a client that vanishes without a CLOSE frees its session.
pub const TCP_TIMEOUT_S: u64 = 30;
/// Keep-alive interval: idle but healthy clients stay connected indefinitely.
pub const TCP_KEEPALIVE_S: u64 = 10;

/// Console lines that can wait for the UART before new ones are dropped (and counted).
pub const CONSOLE_QUEUE_LINES: usize = 32;
/// Longest console line kept; longer ones are cut (the device's lines are far shorter).
pub const CONSOLE_LINE_LEN: usize = 200;

/// Largest message the device accepts (larger ones close the session with 1009). With
/// [`MAX_QUEUED_BYTES`] it bounds a session's heap: one message being read plus what is
/// queued to it. The C3's smaller heap gets the smaller limits.
#[cfg(feature = "esp32c3")]
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;
/// Largest message the device accepts: the device crate's default, as on the simulated
/// board.
#[cfg(feature = "esp32c6")]
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// Bytes queued to one session before its replies wait and broadcasts to it are dropped
/// (counted by the device), so a client that reads slowly cannot exhaust the heap.
#[cfg(feature = "esp32c3")]
pub const MAX_QUEUED_BYTES: usize = 8 * 1024;
/// Bytes queued to one session: the device crate's default, as on the simulated board.
#[cfg(feature = "esp32c6")]
pub const MAX_QUEUED_BYTES: usize = 16 * 1024;

/// Free heap that buffers a peer sizes (messages, broadcast copies, bursts) must leave
/// alone: room for a full table's request heads (7 x 2 KiB), log lines and control
/// replies, which are allocated without a fallback. A message that would eat into it
/// closes its session with 1009; a broadcast copy is dropped (counted).
pub const HEAP_RESERVE_LEN: usize = 16 * 1024;
