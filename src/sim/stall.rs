//! The `stall` fault: windows of time in which the device serves nothing. New
//! connections wait before they are admitted and every session's reads wait, so a
//! frame sent during a stall is answered once it ends, as when a board's server task
//! is starved (a busy loop, a long flash write) and then recovers.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// When the device is stalled; shared by the listeners and sessions of every boot.
#[derive(Clone, Debug, Default)]
pub struct StallGate {
    /// (start, end), from the board's start.
    windows: Arc<Vec<(Instant, Instant)>>,
}

impl StallGate {
    /// Windows of `(start, length)` counted from `origin`.
    pub fn new(
        origin: std::time::Instant,
        stalls: &[(std::time::Duration, std::time::Duration)],
    ) -> StallGate {
        let origin = Instant::from_std(origin);
        StallGate {
            windows: Arc::new(
                stalls
                    .iter()
                    .map(|(at, length)| (origin + *at, origin + *at + *length))
                    .collect(),
            ),
        }
    }

    /// The end of the stall `now` falls in, if any.
    fn stalled_until(&self, now: Instant) -> Option<Instant> {
        self.windows
            .iter()
            .filter(|(start, end)| *start <= now && now < *end)
            .map(|(_, end)| *end)
            .max()
    }

    /// Returns at once, or when the current stall ends.
    pub async fn pass(&self) {
        while let Some(end) = self.stalled_until(Instant::now()) {
            tokio::time::sleep_until(end).await;
        }
    }

    /// `inner`, whose reads wait out every stall.
    pub fn reader<R>(&self, inner: R) -> StalledReader<R> {
        StalledReader {
            inner,
            gate: self.clone(),
            sleep: None,
        }
    }
}

/// A reader that returns nothing while the device is stalled.
pub struct StalledReader<R> {
    inner: R,
    gate: StallGate,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<R> StalledReader<R> {
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StalledReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while let Some(end) = this.gate.stalled_until(Instant::now()) {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(end)));
            if sleep.deadline() != end {
                sleep.as_mut().reset(end);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.sleep = None;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn windows_cover_their_span_only() {
        let origin = std::time::Instant::now();
        let gate = StallGate::new(origin, &[(Duration::from_secs(10), Duration::from_secs(5))]);
        let base = Instant::from_std(origin);
        assert_eq!(gate.stalled_until(base), None);
        assert_eq!(
            gate.stalled_until(base + Duration::from_secs(12)),
            Some(base + Duration::from_secs(15))
        );
        assert_eq!(gate.stalled_until(base + Duration::from_secs(15)), None);
    }
}
