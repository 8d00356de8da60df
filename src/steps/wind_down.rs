//! Ending an open-loop step early (Ctrl-C, SIGTERM) without losing what it measured.
//!
//! Dropping a step on a stop signal would lose the figures it sets at its end:
//! `planned`, `unsent`, `loss`. So a step that can wind down is told instead: the pacer
//! stops releasing (what was due until then is the step's plan), each client sends what
//! was already due and waits for the echoes in flight, but no longer than
//! [`WIND_DOWN`], and the step then reports over the part it ran. An echo still within
//! its timeout when the waiting ends was neither answered nor lost: it is counted apart.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet};

use super::StopSignal;
use super::pacer::Pacer;

/// Longest wait for the echoes in flight after a stop, so Ctrl-C still ends the run
/// promptly.
const WIND_DOWN: Duration = Duration::from_secs(1);

/// How long the runner lets a step that winds down finish after a stop before dropping
/// it: the wind-down itself and the time to add up its figures.
pub const WIND_DOWN_GRACE: Duration = Duration::from_secs(3);

/// How long a step whose messages each have `timeout` waits for answers after a stop.
pub fn wait_after_stop(timeout: Duration) -> Duration {
    WIND_DOWN.min(timeout)
}

/// A step's side of the wind-down: the run's stop, and the cuts of its clients' tasks
/// to fire when it comes.
pub struct WindDown {
    stop: StopSignal,
    watching: bool,
    wait: Duration,
    cuts: Vec<oneshot::Sender<Instant>>,
    stopped_at: Option<Instant>,
}

impl WindDown {
    /// Watches `stop` for a step whose messages each have `timeout` to be answered (the
    /// wait after a stop is never longer).
    pub fn new(stop: &StopSignal, timeout: Duration) -> Self {
        WindDown {
            stop: stop.clone(),
            watching: true,
            wait: wait_after_stop(timeout),
            cuts: Vec::new(),
            stopped_at: None,
        }
    }

    /// The cuts of one client's sender and receiver.
    pub fn client(&mut self) -> (Cut, Cut) {
        let (send_cut, sender) = Cut::pair();
        let (receive_cut, receiver) = Cut::pair();
        self.cuts.extend([send_cut, receive_cut]);
        (sender, receiver)
    }

    /// The next client task to end, as [`JoinSet::join_next`]; when the stop comes
    /// meanwhile, fires every cut and then cuts `pacer`'s releases.
    pub async fn join_next<T: 'static>(
        &mut self,
        tasks: &mut JoinSet<T>,
        pacer: &Pacer,
    ) -> Option<Result<T, JoinError>> {
        loop {
            tokio::select! {
                joined = tasks.join_next() => return joined,
                stopped = self.stop.wait_for(|s| s.is_some()), if self.watching => {
                    self.watching = false;
                    // A dropped stop sender is no stop.
                    if stopped.is_ok() {
                        let now = Instant::now();
                        self.stopped_at = Some(now);
                        // The clients learn the deadline before the releases end, so a
                        // sender whose releases ended knows why.
                        for cut in self.cuts.drain(..) {
                            let _ = cut.send(now + self.wait);
                        }
                        pacer.cut();
                    }
                }
            }
        }
    }

    /// When the stop came, if it did.
    pub fn stopped_at(&self) -> Option<Instant> {
        self.stopped_at
    }

    /// How long the clients waited for answers after the stop, at most
    /// ([`wait_after_stop`]).
    pub fn wait(&self) -> Duration {
        self.wait
    }
}

/// One task's view of a stop: until it comes, nothing; after it, a deadline every wait
/// of the task ends at.
pub struct Cut {
    signal: Option<oneshot::Receiver<Instant>>,
    deadline: Option<Instant>,
}

impl Cut {
    /// A cut and the sender that fires it with the wind-down's deadline.
    pub fn pair() -> (oneshot::Sender<Instant>, Cut) {
        let (tx, rx) = oneshot::channel();
        (
            tx,
            Cut {
                signal: Some(rx),
                deadline: None,
            },
        )
    }

    /// When the wind-down ends, once the step was stopped.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the stop has come, looked at now (a task that was not waiting in
    /// [`Cut::within`] when it came has not seen it yet).
    pub fn stopped(&mut self) -> bool {
        if let Some(signal) = &mut self.signal {
            match signal.try_recv() {
                Ok(at) => {
                    self.deadline = Some(at);
                    self.signal = None;
                }
                Err(oneshot::error::TryRecvError::Closed) => self.signal = None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        self.deadline.is_some()
    }

    /// Runs `work` until it completes (`Some`) or until `give_up` or, after a stop, the
    /// wind-down's deadline, whichever is first (`None`). `work` is polled first, so a
    /// send or read that is ready costs no timer.
    pub async fn within<F: Future>(&mut self, give_up: Instant, work: F) -> Option<F::Output> {
        let mut work = pin!(work);
        loop {
            let until = self.deadline.map_or(give_up, |d| d.min(give_up));
            tokio::select! {
                biased;
                done = &mut work => return Some(done),
                _ = tokio::time::sleep_until(until.into()) => return None,
                at = async { self.signal.as_mut().expect("guarded").await }, if self.signal.is_some() => {
                    self.signal = None;
                    // A dropped sender (the step ended) is no stop.
                    self.deadline = at.ok();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_shortens_the_wait_to_its_deadline() {
        let (tx, mut cut) = Cut::pair();
        let start = Instant::now();
        let far = start + Duration::from_secs(30);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(Instant::now() + Duration::from_millis(30));
        });
        let never = std::future::pending::<()>();
        assert_eq!(cut.within(far, never).await, None);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert!(cut.deadline().is_some());
    }

    #[tokio::test]
    async fn without_a_stop_work_ends_the_wait() {
        let (tx, mut cut) = Cut::pair();
        drop(tx);
        let far = Instant::now() + Duration::from_secs(30);
        assert_eq!(cut.within(far, async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_millis(10));
        assert_eq!(cut.within(far, slow).await, Some(()));
        assert_eq!(cut.deadline(), None);
    }
}
