//! The open loop's clock: one thread that releases each planned message at its due time.
//!
//! tokio's timer has a 1 ms granularity, so a send scheduled on it starts up to a
//! millisecond late, which is as large as the latencies worth measuring on loopback. The
//! pacer instead sleeps on the OS clock (with the thread's timer slack set to 1 ns on
//! Linux, so the kernel does not round its wake-ups up by 50 µs). A long sleep ends
//! 200 µs early, because waking an idle CPU overshoots by far more than waking a busy one;
//! the rest is short sleeps and, for a client that is waiting, a spin of the last 12 µs
//! on the monotonic clock, so a release leaves within microseconds of its due time. It
//! spins no longer, and not at all when messages are closer than 48 µs or the client is
//! still busy: on a 2-core host a spinning thread takes the core the clients and the
//! server need. What is left of the lateness (the release, and the client task's own
//! wake-up after it) is measured per message as `send_lag`. So that the scheduler does
//! not hold a woken pacer back for the rest of another thread's time slice, the thread
//! asks for a short one (`slice.rs`).
//!
//! A release is one atomic store per message and a wake-up only for a client that waits
//! for it, so a client behind schedule takes its whole backlog without a hand-over per
//! message.
//!
//! The plan is one merged schedule over all clients: message `k` of the step is due
//! at `start + k / rate` and belongs to client `k mod n` (its sequence number there is
//! `k / n`). With `per: client` that is each client's own rate, staggered evenly; with
//! `per: total` the clients share exactly the asked rate, with no rounding per client.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

mod slice;

/// Below this much time to go, the pacer spins instead of sleeping, when the client it
/// releases next is waiting: a short OS sleep overshoots by its wake-up time, about 5 µs
/// here with no timer slack.
const SPIN_BEFORE: Duration = Duration::from_micros(12);

/// A sleep longer than this lets the CPU go idle, and waking an idle CPU (of a virtual
/// machine above all) overshoots by tens to hundreds of microseconds; so a long wait
/// ends this far ahead of the due time and the rest is waited in short sleeps.
const SHORT_SLEEP: Duration = Duration::from_micros(200);

/// Shortest sleep when not spinning. When the next client is busy it would not send
/// sooner; and at a rate whose messages are closer than [`SPIN_MIN_GAP`], a sleep or a
/// spin per message would make the pacer a busy thread of its own. The messages due
/// meanwhile are released together.
const BATCH_SLEEP: Duration = Duration::from_micros(20);

/// Below this gap between messages, spinning [`SPIN_BEFORE`] per message would take
/// more than a quarter of a core.
const SPIN_MIN_GAP: Duration = Duration::from_micros(4 * SPIN_BEFORE.as_micros() as u64);

/// Waits longer than this are the runtime's (1 ms granularity, so it wakes up to about
/// a millisecond late); the rest is waited on the OS clock.
const RUNTIME_WAIT: Duration = Duration::from_millis(3);

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
        self.due_k(seq * self.clients as u64 + client as u64)
    }

    /// Due time of the step's `k`-th message over all clients.
    fn due_k(&self, k: u64) -> Instant {
        self.start + Duration::from_secs_f64(k as f64 / self.total_rate)
    }

    /// How many messages client `client` sends.
    pub fn count_of(&self, client: u32) -> u64 {
        let n = self.clients as u64;
        self.total / n + u64::from((client as u64) < self.total % n)
    }

    /// Due time of the step's last message.
    pub fn last_due(&self) -> Instant {
        self.due_k(self.total.saturating_sub(1))
    }
}

/// What the pacer thread and one client task share. A release is one store and, only
/// when the client is waiting for it, one wake-up: a client behind schedule picks up
/// everything released meanwhile without a hand-over per message.
struct Slot {
    /// How many of the client's messages are released (sequence numbers below it).
    released: AtomicU64,
    /// The client is parked waiting for its next release.
    waiting: AtomicBool,
    waker: AtomicWaker,
}

/// The slots of all clients, and whether the pacer has stopped releasing.
struct Shared {
    slots: Vec<Slot>,
    ended: AtomicBool,
}

/// A running pacer; dropping it stops the releases (and ends the senders still on it).
pub struct Pacer {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
    /// The pacer thread's own runtime, where the senders run (see [`Spawner`]).
    senders: Option<tokio::runtime::Handle>,
}

/// Asks the pacer thread to end: a flag its precise waits look at, and a wake-up for
/// its last wait, once every message is released. `cut` only ends the releases (the
/// senders on the thread go on): a step winding down after a stop.
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    cut: AtomicBool,
    notify: tokio::sync::Notify,
}

/// One client's side of the pacer: its sequence numbers, in order, once each is due.
pub struct Released {
    shared: Arc<Shared>,
    client: usize,
    next: u64,
    count: u64,
}

impl Released {
    /// The next sequence number once it is due; `None` after the client's last one, or
    /// when the pacer stopped before releasing it.
    pub async fn recv(&mut self) -> Option<u64> {
        if self.next >= self.count {
            return None;
        }
        let slot = &self.shared.slots[self.client];
        let seq = self.next;
        let ready = poll_fn(|cx| {
            if slot.released.load(Ordering::Acquire) > seq {
                return Poll::Ready(true);
            }
            slot.waker.register(cx.waker());
            slot.waiting.store(true, Ordering::SeqCst);
            // Released (or stopped) between the first look and the registration.
            if slot.released.load(Ordering::SeqCst) > seq {
                return Poll::Ready(true);
            }
            if self.shared.ended.load(Ordering::SeqCst) {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        // Not waiting any more, however the wait ended.
        slot.waiting.store(false, Ordering::Relaxed);
        if !ready {
            return None;
        }
        self.next += 1;
        Some(seq)
    }

    /// How many of the client's messages were released: after [`Pacer::cut`], those
    /// due before it, the client's share of the plan that ran.
    pub fn released(&self) -> u64 {
        self.shared.slots[self.client]
            .released
            .load(Ordering::Acquire)
    }

    /// Whether messages after the last one taken are already due (a backlog).
    pub fn is_empty(&self) -> bool {
        self.shared.slots[self.client]
            .released
            .load(Ordering::Acquire)
            <= self.next
    }
}

/// Starts the pacer thread for `plan`; each client gets its sequence numbers, in
/// order, from its [`Released`] at their due times.
pub fn start(plan: Plan) -> (Pacer, Vec<Released>) {
    let shared = Arc::new(Shared {
        slots: (0..plan.clients)
            .map(|_| Slot {
                released: AtomicU64::new(0),
                waiting: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            })
            .collect(),
        ended: AtomicBool::new(false),
    });
    let released = (0..plan.clients)
        .map(|c| Released {
            shared: Arc::clone(&shared),
            client: c as usize,
            next: 0,
            count: plan.count_of(c),
        })
        .collect();
    let stop = Arc::new(Stop::default());
    let stopped = Arc::clone(&stop);
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("wsbench-pacer".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else {
                let _ = handle_tx.send(None);
                return;
            };
            let _ = handle_tx.send(Some(runtime.handle().clone()));
            runtime.block_on(async {
                release_all(plan, &shared, &stopped.cut).await;
                shared.ended.store(true, Ordering::SeqCst);
                for slot in &shared.slots {
                    slot.waker.wake();
                }
                // The senders finish on this runtime until the step lets go of the pacer.
                while !stopped.flag.load(Ordering::SeqCst) {
                    stopped.notify.notified().await;
                }
            });
        })
        .ok();
    let senders = thread
        .as_ref()
        .and_then(|_| handle_rx.recv().ok().flatten());
    (
        Pacer {
            stop,
            thread,
            senders,
        },
        released,
    )
}

impl Pacer {
    /// Whether the pacer thread could be started (if not, nothing is released).
    pub fn running(&self) -> bool {
        self.senders.is_some()
    }

    /// Stops releasing messages (within a sleep of at most 20 ms); each client's
    /// [`Released`] then ends after what was already due. The senders keep running.
    pub fn cut(&self) {
        self.stop.cut.store(true, Ordering::SeqCst);
    }

    /// Where the clients' senders run: see [`Spawner`].
    pub fn spawner(&self) -> Spawner {
        Spawner(self.senders.clone())
    }
}

/// Runs a client's sender on the pacer's own thread, so the release of a message and
/// the start of its send are one step on one thread, with no wake-up of another thread
/// in between (on an idle host that wake-up alone costs tens of microseconds, more on a
/// virtual machine). The receiving halves stay on the run's runtime. Falls back to the
/// caller's runtime when the pacer could not start.
#[derive(Clone)]
pub struct Spawner(Option<tokio::runtime::Handle>);

impl Spawner {
    pub fn spawn<F>(&self, sender: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(h) => h.spawn(sender),
            None => tokio::spawn(sender),
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.cut.store(true, Ordering::SeqCst);
        self.stop.flag.store(true, Ordering::SeqCst);
        self.stop.notify.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn release_all(plan: Plan, shared: &Shared, stop: &AtomicBool) {
    // Precise sleeps for this thread only; failing that, sleeps are 50 µs coarser.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_timerslack(1);
    slice::ask_for_short_slice();
    let n = plan.clients as u64;
    let may_spin = plan.total_rate <= 1.0 / SPIN_MIN_GAP.as_secs_f64();
    for k in 0..plan.total {
        let slot = &shared.slots[(k % n) as usize];
        let due = plan.due_k(k);
        // A long wait is the runtime's, so the senders on this thread go on meanwhile
        // (a send that waited for the server, a backlog's flush); tokio's 1 ms timer
        // ends it before the precise part.
        loop {
            let left = due.saturating_duration_since(Instant::now());
            if left <= RUNTIME_WAIT || stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep((left - RUNTIME_WAIT).min(MAX_SLEEP)).await;
        }
        if Instant::now() < due {
            // Whatever is ready runs before the precise wait, not during it.
            tokio::task::yield_now().await;
        }
        if !wait_until(due, may_spin.then_some(&slot.waiting), stop) {
            return;
        }
        slot.released.store(k / n + 1, Ordering::SeqCst);
        if slot.waiting.load(Ordering::SeqCst) {
            slot.waker.wake();
            // The woken sender (on this thread) starts its send now, unless later
            // messages are already due.
            if k + 1 == plan.total || plan.due_k(k + 1) > Instant::now() {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Waits on the OS clock until `due`, spinning the last microseconds only while the
/// client is `waiting` (one still busy with earlier messages would not send this one
/// sooner, and a spinning thread takes a core the clients and the server need), and
/// never when there is no `waiting` to look at; false when stopped first.
fn wait_until(due: Instant, waiting: Option<&AtomicBool>, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        let left = due - now;
        if left > SHORT_SLEEP {
            std::thread::sleep((left - SHORT_SLEEP).min(MAX_SLEEP));
        } else if !waiting.is_some_and(|w| w.load(Ordering::Relaxed)) {
            std::thread::sleep(left.max(BATCH_SLEEP));
        } else if left > SPIN_BEFORE {
            std::thread::sleep(left - SPIN_BEFORE);
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for (c, rx) in rxs.iter_mut().enumerate() {
            let mut got = Vec::new();
            while let Some(seq) = runtime.block_on(rx.recv()) {
                got.push(seq);
            }
            let want: Vec<u64> = (0..plan.count_of(c as u32)).collect();
            assert_eq!(got, want);
        }
    }

    /// One task per client taking its releases until they end.
    fn receive_each(rxs: Vec<Released>) -> Vec<tokio::task::JoinHandle<Vec<u64>>> {
        rxs.into_iter()
            .map(|mut rx| {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(seq) = rx.recv().await {
                        got.push(seq);
                    }
                    got
                })
            })
            .collect()
    }

    #[test]
    fn waiting_clients_are_woken_and_a_stop_ends_them() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        // 4 clients waiting on their releases, 2,000 messages a second: all in order.
        let plan = Plan {
            start: Instant::now() + Duration::from_millis(5),
            total_rate: 2_000.0,
            total: 200,
            clients: 4,
        };
        let (pacer, rxs) = start(plan);
        let got = runtime.block_on(async {
            let mut all = Vec::new();
            for t in receive_each(rxs) {
                all.push(t.await.unwrap());
            }
            all
        });
        drop(pacer);
        for (c, seqs) in got.iter().enumerate() {
            assert_eq!(*seqs, (0..plan.count_of(c as u32)).collect::<Vec<_>>());
        }

        // A pacer stopped long before its plan's end ends every waiting client.
        let plan = Plan {
            start: Instant::now(),
            total_rate: 10.0,
            total: 1_000,
            clients: 2,
        };
        let (pacer, rxs) = start(plan);
        let counts = runtime.block_on(async {
            let tasks = receive_each(rxs);
            tokio::time::sleep(Duration::from_millis(150)).await;
            drop(pacer);
            let mut counts = Vec::new();
            for t in tasks {
                let n = tokio::time::timeout(Duration::from_secs(10), t).await;
                counts.push(n.expect("a stopped pacer ends its clients").unwrap().len());
            }
            counts
        });
        assert!(counts.iter().all(|&n| n < 500), "{counts:?}");
    }

    #[test]
    fn a_cut_ends_the_releases_and_tells_each_client_its_share() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // 100 a second over 2 clients for 10 s, cut after about 0.3 s.
        let plan = Plan {
            start: Instant::now(),
            total_rate: 100.0,
            total: 1_000,
            clients: 2,
        };
        let (pacer, rxs) = start(plan);
        let shares = runtime.block_on(async {
            let tasks: Vec<_> = rxs
                .into_iter()
                .map(|mut rx| {
                    tokio::spawn(async move {
                        let mut n = 0;
                        while rx.recv().await.is_some() {
                            n += 1;
                        }
                        (n, rx.released())
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            pacer.cut();
            let mut shares = Vec::new();
            for t in tasks {
                let got = tokio::time::timeout(Duration::from_secs(5), t).await;
                shares.push(got.expect("a cut ends its clients").unwrap());
            }
            shares
        });
        drop(pacer);
        for (taken, released) in shares {
            assert_eq!(taken, released);
            assert!((10..=25).contains(&taken), "{taken} of 500");
        }
    }
}
