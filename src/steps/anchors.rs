//! When each in-flight echo message's latency counts from, in memory bounded by the
//! rate and the timeout, not by the length of the step.
//!
//! An anchor matters only until its message's timeout has passed: an echo later than
//! that is `timed_out` whatever its anchor. So a client keeps a ring of slots, a power
//! of two large enough that a slot is reused only after twice the timeout (plus a second)
//! of the client's sends, and each slot holds its message's anchor together with a tag
//! of which lap of the ring it belongs to. A day-long soak at 1,000 messages a second
//! then holds a few kilobytes per client instead of 8 bytes per planned message.
//!
//! The sender writes a slot just before its send; the receiver takes it with one
//! compare-and-swap, which also marks the message as answered (a second echo of it is a
//! duplicate).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bits of a slot that hold the anchor, in nanoseconds after the plan's start
/// (2^48 ns is 78 hours).
const ANCHOR_BITS: u32 = 48;
const ANCHOR_MASK: u64 = (1 << ANCHOR_BITS) - 1;
/// The anchor value of a message whose echo came back.
const ANSWERED: u64 = ANCHOR_MASK;
/// Fewest slots per client, so tiny plans do not pay for the arithmetic of sizing.
const MIN_SLOTS: u64 = 64;

/// What [`Anchors::take`] found for an echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Nanoseconds after the plan's start from which its latency counts.
    Anchor(u64),
    /// Its echo had already come back.
    Duplicate,
    /// Its slot holds another message's anchor (a later lap): it is far past its
    /// timeout, or it was never sent.
    Expired,
}

/// One client's ring of anchors.
pub struct Anchors {
    slots: Box<[AtomicU64]>,
    /// log2 of the number of slots.
    shift: u32,
}

impl Anchors {
    /// A ring for a client that sends `count` messages at `rate` a second, each with
    /// `timeout` to come back.
    pub fn new(count: u64, rate: f64, timeout: Duration) -> Self {
        let horizon = (rate * (2.0 * timeout.as_secs_f64() + 1.0)).ceil();
        let wanted = if horizon.is_finite() && horizon < (1u64 << 40) as f64 {
            horizon as u64
        } else {
            1 << 40
        };
        let slots = wanted.min(count).max(MIN_SLOTS).next_power_of_two();
        Anchors {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            shift: slots.trailing_zeros(),
        }
    }

    /// Records message `seq`'s anchor, just before it is sent.
    pub fn set(&self, seq: u64, anchor_ns: u64) {
        let (slot, tag) = self.place(seq);
        slot.store(tag | anchor_ns.min(ANSWERED - 1), Ordering::Release);
    }

    /// Takes message `seq`'s anchor as its echo arrives.
    pub fn take(&self, seq: u64) -> Taken {
        let (slot, tag) = self.place(seq);
        let mut seen = slot.load(Ordering::Acquire);
        loop {
            if seen & !ANCHOR_MASK != tag {
                return Taken::Expired;
            }
            let anchor = seen & ANCHOR_MASK;
            if anchor == ANSWERED {
                return Taken::Duplicate;
            }
            match slot.compare_exchange(seen, tag | ANSWERED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Taken::Anchor(anchor),
                Err(now) => seen = now,
            }
        }
    }

    /// Whether message `seq` was sent (its anchor set) and its echo has not come back.
    /// Only meaningful within twice the timeout of the client's newest send, as long as
    /// its slot is not reused.
    pub fn pending(&self, seq: u64) -> bool {
        let (slot, tag) = self.place(seq);
        let seen = slot.load(Ordering::Acquire);
        seen & !ANCHOR_MASK == tag && seen & ANCHOR_MASK != ANSWERED
    }

    /// The slot of `seq` and its lap's tag (never 0, so an unwritten slot matches no lap).
    fn place(&self, seq: u64) -> (&AtomicU64, u64) {
        let index = seq & ((1 << self.shift) - 1);
        let lap = (seq >> self.shift) + 1;
        let tag = (lap & ((1 << (64 - ANCHOR_BITS)) - 1)).max(1) << ANCHOR_BITS;
        (&self.slots[index as usize], tag)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_at_a_thousand_a_second_holds_kilobytes() {
        // 10 clients sharing 1,000/s for 24 h, 5 s timeout: 100/s each.
        let a = Anchors::new(8_640_000, 100.0, Duration::from_secs(5));
        assert_eq!(a.len(), 2048);
        // A short plan never holds more than its own messages (rounded up).
        assert_eq!(Anchors::new(100, 1e6, Duration::from_secs(5)).len(), 128);
    }

    #[test]
    fn a_sent_message_is_pending_until_its_echo() {
        let a = Anchors::new(100, 10.0, Duration::from_secs(1));
        assert!(!a.pending(3), "never sent");
        a.set(3, 1_000);
        assert!(a.pending(3));
        assert_eq!(a.take(3), Taken::Anchor(1_000));
        assert!(!a.pending(3));
    }

    #[test]
    fn an_echo_takes_its_anchor_once() {
        let a = Anchors::new(1_000, 10.0, Duration::from_secs(1));
        a.set(5, 1_234);
        assert_eq!(a.take(5), Taken::Anchor(1_234));
        assert_eq!(a.take(5), Taken::Duplicate);
        // Never sent: no anchor to take.
        assert_eq!(a.take(6), Taken::Expired);
    }

    #[test]
    fn a_slot_reused_by_a_later_lap_expires_the_old_message() {
        let a = Anchors::new(1_000_000, 10.0, Duration::from_secs(1));
        let n = a.len() as u64;
        a.set(3, 10);
        a.set(3 + n, 20);
        assert_eq!(a.take(3), Taken::Expired);
        assert_eq!(a.take(3 + n), Taken::Anchor(20));
        assert_eq!(a.take(3 + 2 * n), Taken::Expired);
    }
}
