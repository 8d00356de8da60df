//! The heap model: free heap figures for a host that has no real allocator figures (the
//! simulated board). Every figure it produces is labelled `source=modelled`.
//!
//! ```text
//! free = BASE_FREE - WS_SESSION_COST * sessions
//!                  - TLS_SESSION_COST * tls_sessions
//!                  - buffered_bytes            (one byte per byte queued or reassembled)
//! ```
//!
//! The constants are rough ESP32-C3 figures with the Wi-Fi stack up: about 180 KB free
//! after boot, a few KB per socket (lwIP PCB, receive window, session state) and about
//! 40 KB per TLS session (the figure esp_http_server's documentation gives). They make
//! trends visible (a leak, a growing queue); they are not a measurement.

/// Free heap after boot with the radio and the listeners up, no session.
pub const BASE_FREE: u32 = 180_000;
/// Cost of one WebSocket session (socket, buffers, session state).
pub const WS_SESSION_COST: u32 = 4_096;
/// Extra cost of a TLS session on top of [`WS_SESSION_COST`].
pub const TLS_SESSION_COST: u32 = 40_960;

/// Where a heap figure comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapSource {
    /// Computed by this model.
    Modelled,
    /// Reported by the platform's allocator.
    Allocator,
}

impl HeapSource {
    /// The name used in log lines and `!stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            HeapSource::Modelled => "modelled",
            HeapSource::Allocator => "allocator",
        }
    }
}

/// Free heap according to the model.
pub fn modelled_free(sessions: u32, tls_sessions: u32, buffered_bytes: usize) -> u32 {
    let used = u64::from(sessions) * u64::from(WS_SESSION_COST)
        + u64::from(tls_sessions) * u64::from(TLS_SESSION_COST)
        + buffered_bytes as u64;
    u64::from(BASE_FREE).saturating_sub(used) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_cost_lowers_free_heap_and_it_never_wraps() {
        assert_eq!(modelled_free(0, 0, 0), BASE_FREE);
        assert_eq!(modelled_free(2, 0, 0), BASE_FREE - 2 * WS_SESSION_COST);
        assert_eq!(
            modelled_free(1, 1, 100),
            BASE_FREE - WS_SESSION_COST - TLS_SESSION_COST - 100
        );
        assert_eq!(modelled_free(1000, 1000, usize::MAX / 2), 0);
    }
}
