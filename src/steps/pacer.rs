//! The open loop's clock: one thread that releases each planned message at its due time.
//!
//! tokio's timer has a 1 ms granularity, so a send scheduled on it starts up to a
//! millisecond late, which is as large as the latencies worth measuring on loopback. The
//! pacer instead sleeps on the OS clock (with the thread's timer slack set to 1 ns on
//! Linux, so the kernel does not round its wake-ups up by 50 µs) to just before each due
//! time and spins the last few microseconds on the monotonic clock, so a release leaves
//! within microseconds of its due time; the client task it releases only has to wake and
//! send. It does not spin longer: on a 2-core host a spinning thread takes the core the
//! clients and the server need. What is left of the lateness is measured per message as
//! `send_lag`.
//!
//! The plan is one merged schedule over all clients: message `k` of the step is due
//! at `start + k / rate` and belongs to client `k mod n` (its sequence number there is
//! `k / n`). With `per: client` that is each client's own rate, staggered evenly; with
//! `per: total` the clients share exactly the asked rate, with no rounding per client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Below this much time to go, the pacer spins instead of sleeping: an OS sleep
/// overshoots by its wake-up time, some microseconds with no timer slack.
const SPIN_BEFORE: Duration = Duration::from_micros(30);

/// Longest single sleep, so a stopped pacer notices within this time.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// When each of a step's planned messages is due.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Due time of the step's first message.
    pub start: Instant,
    /// Messages per second over all clients.
    pub total_rate: f64,
    /// Messages in the whole step.
    pub total: u64,
    pub clients: u32,
}

impl Plan {
    /// Due time of message `seq` of client `client`.
    pub fn due(&self, client: u32, seq: u64) -> Instant {
        let k = seq * self.clients as u64 + client as u64;
        self.start + Duration::from_secs_f64(k as f64 / self.total_rate)
    }

    /// How many messages client `client` sends.
    pub fn count_of(&self, client: u32) -> u64 {
        let n = self.clients as u64;
        self.total / n + u64::from((client as u64) < self.total % n)
    }

    /// Due time of the step's last message.
    pub fn last_due(&self) -> Instant {
        self.start + Duration::from_secs_f64(self.total.saturating_sub(1) as f64 / self.total_rate)
    }
}

/// A running pacer; dropping it stops the releases.
pub struct Pacer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the pacer thread for `plan`; each client gets its sequence numbers, in
/// order, on its receiver at their due times. A receiver ends once its client's last
/// message is released.
pub fn start(plan: Plan) -> (Pacer, Vec<UnboundedReceiver<u64>>) {
    let (txs, rxs): (Vec<UnboundedSender<u64>>, Vec<_>) =
        (0..plan.clients).map(|_| unbounded_channel()).unzip();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("wsbench-pacer".into())
        .spawn(move || release_all(plan, txs, &stopped))
        .ok();
    (Pacer { stop, thread }, rxs)
}

impl Pacer {
    /// Whether the pacer thread could be started (if not, nothing is released).
    pub fn running(&self) -> bool {
        self.thread.is_some()
    }
}

#[cfg(test)]
impl Pacer {
    fn wait_done(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn release_all(plan: Plan, txs: Vec<UnboundedSender<u64>>, stop: &AtomicBool) {
    // Precise sleeps for this thread only; failing that, sleeps are 50 µs coarser.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_timerslack(1);
    let n = plan.clients as u64;
    for k in 0..plan.total {
        let due = plan.start + Duration::from_secs_f64(k as f64 / plan.total_rate);
        if !wait_until(due, stop) {
            return;
        }

        // A client that already ended (its connection dropped) takes no more.
        let _ = txs[(k % n) as usize].send(k / n);
    }
}

/// Waits on the OS clock until `due`; false when stopped first.
fn wait_until(due: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        let left = due - now;
        if left > SPIN_BEFORE {
            std::thread::sleep((left - SPIN_BEFORE).min(MAX_SLEEP));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_rate_is_shared_exactly() {
        // 100/s shared by 6 clients for 2 s: 200 messages, not 6 × 33.
        let plan = Plan {
            start: Instant::now(),
            total_rate: 100.0,
            total: 200,
            clients: 6,
        };
        let counts: Vec<u64> = (0..6).map(|c| plan.count_of(c)).collect();
        assert_eq!(counts.iter().sum::<u64>(), 200);
        assert_eq!(counts, [34, 34, 33, 33, 33, 33]);
        assert_eq!(plan.due(1, 0) - plan.start, Duration::from_millis(10));
        assert_eq!(plan.due(0, 1) - plan.start, Duration::from_millis(60));
    }

    #[test]
    fn every_message_is_released_in_order() {
        let plan = Plan {
            start: Instant::now(),
            total_rate: 10_000.0,
            total: 50,
            clients: 3,
        };
        let (pacer, mut rxs) = start(plan);
        assert!(pacer.running());
        pacer.wait_done();
        for (c, rx) in rxs.iter_mut().enumerate() {
            let mut got = Vec::new();
            while let Ok(seq) = rx.try_recv() {
                got.push(seq);
            }
            let want: Vec<u64> = (0..plan.count_of(c as u32)).collect();
            assert_eq!(got, want);
        }
    }
}
