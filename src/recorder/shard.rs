//! Per-thread shards: where the hot path (every message's counters and samples) lands.
//!
//! Each thread records into a shard of its own (a thread picks one on first use), so a
//! sample takes an uncontended lock and one histogram insert, with no allocation and no
//! lock shared by all senders and receivers. The aggregator (`Recorder`) moves what the
//! shards hold into the run's state once a second and whenever the report or the
//! progress display needs it.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use hdrhistogram::Histogram;

use super::new_hist;

/// Shards per recorder: more than the threads that record at once (the runtime's
/// workers and its blocking threads), so two rarely share one.
pub const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The calling thread's shard index, the same for the thread's whole life.
pub fn my_shard() -> usize {
    MY_SHARD.with(|c| {
        c.get().unwrap_or_else(|| {
            let i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            c.set(Some(i));
            i
        })
    })
}

/// What one shard has recorded since the aggregator last took it.
#[derive(Default)]
pub struct Shard {
    /// (step index, distribution, samples).
    pub hists: Vec<(usize, &'static str, Histogram<u64>)>,
    /// (step index, messages sent, messages received).
    pub counts: Vec<(usize, u64, u64)>,
    /// The second of the run this shard is filling, if any.
    pub second: Option<ShardSecond>,
    /// The fine bucket (`fine.rs`) this shard is filling, while the run is young
    /// enough to have them; `at` is the bucket's index.
    pub fine: Option<ShardSecond>,
}

/// One second's (or one fine bucket's) figures as one shard saw them.
pub struct ShardSecond {
    pub at: u64,
    pub sent: u64,
    pub received: u64,
    /// `latency` and `rtt` samples: the timeline's per-second p99.
    pub latency: Option<Box<Histogram<u64>>>,
}

impl ShardSecond {
    pub fn new(at: u64) -> Self {
        ShardSecond {
            at,
            sent: 0,
            received: 0,
            latency: None,
        }
    }
}

impl Shard {
    /// The running second's figures; hands back the previous second when `at` is a new one.
    pub fn second_at(&mut self, at: u64) -> (&mut ShardSecond, Option<ShardSecond>) {
        let old = match &self.second {
            Some(s) if s.at == at => None,
            _ => self.second.replace(ShardSecond::new(at)),
        };
        (self.second.as_mut().expect("just set"), old)
    }

    /// The running fine bucket; hands back the previous one when `at` is a new one.
    pub fn fine_at(&mut self, at: u64) -> Option<ShardSecond> {
        match &self.fine {
            Some(s) if s.at == at => None,
            _ => self.fine.replace(ShardSecond::new(at)),
        }
    }

    pub fn hist(&mut self, step: usize, dist: &'static str) -> &mut Histogram<u64> {
        let i = match self
            .hists
            .iter()
            .position(|(s, d, _)| *s == step && *d == dist)
        {
            Some(i) => i,
            None => {
                self.hists.push((step, dist, new_hist()));
                self.hists.len() - 1
            }
        };
        &mut self.hists[i].2
    }

    pub fn counts(&mut self, step: usize) -> &mut (usize, u64, u64) {
        let i = match self.counts.iter().position(|c| c.0 == step) {
            Some(i) => i,
            None => {
                self.counts.push((step, 0, 0));
                self.counts.len() - 1
            }
        };
        &mut self.counts[i]
    }
}
