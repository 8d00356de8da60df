//! The fine timeline: 100 ms buckets for the first 30 s of a run, so a short run's
//! charts show how a step ramped and settled rather than two or three points.
//!
//! Kept beside the per-second timeline, never instead of it: the buckets cover a fixed
//! window from the start (at most [`FINE_BUCKETS`] entries), so a 24-hour soak holds
//! the same few tens of kilobytes of them as a 10-second smoke run. Whether the report
//! carries them is decided at the end: a run that ended inside the window gets them,
//! a longer one only the seconds (a 30 s prefix at a finer grain than the rest would
//! draw as a change of behaviour that never happened).
//!
//! Buckets are `Second`s (same figures), fed through the shards like the seconds and
//! sealed with them; their latency histograms are smaller (2 significant digits, 1 %
//! resolution) since each covers a tenth as many samples.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::shard::ShardSecond;
use super::{HIST_MAX_US, Recorder, Second, State};

/// Width of a fine bucket.
pub const FINE_MS: u64 = 100;
/// Length of the window from the start that has fine buckets; runs that end inside it
/// are reported at [`FINE_MS`], longer ones per second.
pub const FINE_WINDOW_MS: u64 = 30_000;
/// Most fine buckets a run keeps.
pub const FINE_BUCKETS: u64 = FINE_WINDOW_MS / FINE_MS;

/// A fine bucket's latency histogram (about 23 KB, a seventh of a second's).
pub fn new_fine_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 2).expect("static histogram bounds are valid")
}

/// The fine bucket index of `at`, if it falls inside the window.
pub fn bucket_of(at: Duration) -> Option<u64> {
    let i = at.as_millis() as u64 / FINE_MS;
    (i < FINE_BUCKETS).then_some(i)
}

/// The resolution a run of length `now` is reported at.
pub fn resolution_ms(now: Duration) -> u32 {
    if (now.as_millis() as u64) < FINE_WINDOW_MS {
        FINE_MS as u32
    } else {
        1000
    }
}

impl Recorder {
    /// The fine bucket at `at`, or None past the window; buckets it adds hold the
    /// gauge as it stands.
    pub(super) fn fine(state: &mut State, at: Duration) -> Option<&mut Second> {
        bucket_of(at).map(|i| Self::fine_no(state, i))
    }

    fn fine_no(state: &mut State, i: u64) -> &mut Second {
        super::slot_at(&mut state.fine, i, state.open_connections)
    }

    /// Adds a shard's fine bucket to the fine timeline.
    pub(super) fn merge_fine(state: &mut State, from: ShardSecond) {
        if from.at >= FINE_BUCKETS {
            return;
        }
        let sealed = (from.at as usize) < state.fine_sealed;
        let bucket = Self::fine_no(state, from.at);
        // A leftover histogram is a small one: dropped, not kept with the spares.
        let _ = super::merge_figures(bucket, from, sealed);
    }

    /// Reduces the fine buckets before second `upto` to their summary figures (the
    /// shards have handed them in already).
    pub(super) fn seal_fine(state: &mut State, upto: u64) {
        let end = ((upto * 1000 / FINE_MS) as usize).min(state.fine.len());
        let begin = state.fine_sealed.min(end);
        for b in &mut state.fine[begin..end] {
            if let Some(h) = b.latency.take() {
                b.latency_p99 = (!h.is_empty()).then(|| h.value_at_quantile(0.99));
            }
        }
        state.fine_sealed = state.fine_sealed.max(end);
    }
}
