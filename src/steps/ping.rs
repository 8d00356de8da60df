//! `ping`: PING/PONG round trips, on the open clients or on a connection of its own.
//!
//! Open loop, with the same pacer as `echo`: each ping leaves at its due time whether
//! or not earlier pongs came back, and its round trip is timed from that due time (the
//! host's wake-up forgiven up to the same bound), so a server that answers slowly shows
//! up as round-trip time, not as fewer pings.
//!
//! A stopped run winds it down as it does `echo` (`wind_down.rs`): no ping after the
//! stop, the PONGs in flight waited for a bounded time, and a ping still within its
//! timeout then is `in_flight`, not lost.

/// A ping slot not sent yet, and one already answered.
const NOT_SENT: u64 = u64::MAX - 1;
const ANSWERED: u64 = u64::MAX;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::early_close::{self, EarlyCloses};
use super::echo::SEND_LAG_ALLOWANCE;
use super::pacer::{self, Plan};
use super::wind_down::{Cut, WindDown};
use super::wire::fill;
use super::{PooledClient, StepCtx};
use crate::recorder::StepRec;
use crate::scenario::model::PingStep;

pub async fn run(cfg: &PingStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let own = ctx.pool.is_empty();
    let mut early = EarlyCloses::default();
    let clients = if own {
        let (mut ws, _) = ctx
            .endpoint
            .connect(None, cfg.timeout.0)
            .await
            .map_err(|e| e.to_string())?;
        ctx.rec.connected();
        let until = tokio::time::Instant::now() + early_close::WINDOW;
        if let Some(how) = early_close::watch(&mut ws, until).await {
            ctx.rec.disconnected();
            let cause = early.count(&how);
            ctx.rec.failure(&cause);
            early.finish(&ctx.rec, "a client to ping on");
            ctx.rec.set("sent", 0.0);
            return Err(format!(
                "the server shut the ping client right after opening it: {cause}"
            ));
        }
        vec![PooledClient { id: u32::MAX, ws }]
    } else {
        std::mem::take(ctx.pool)
    };
    // Open loop: ping `n` of a client is due at `n × interval` (clients staggered
    // evenly), whether or not earlier pongs came back.
    let n = clients.len() as u32;
    let plan = Plan {
        start: Instant::now() + Duration::from_millis(20),
        total_rate: n as f64 / cfg.interval.0.as_secs_f64().max(1e-6),
        total: cfg.count as u64 * n as u64,
        clients: n,
    };
    let (pacer, releases) = pacer::start(plan);
    let mut tasks = JoinSet::new();
    let mut wind_down = WindDown::new(&ctx.stop, cfg.timeout.0);
    for (i, (c, released)) in clients.into_iter().zip(releases).enumerate() {
        let (sender_cut, receiver_cut) = wind_down.client();
        let job = PingJob {
            cfg: cfg.clone(),
            rec: ctx.rec.clone(),
            plan,
            index: i as u32,
        };
        tasks.spawn(job.run(c, released, pacer.spawner(), sender_cut, receiver_cut));
    }
    let mut total = Pinged::default();
    while let Some(joined) = wind_down.join_next(&mut tasks, &pacer).await {
        let Ok((pinged, client)) = joined else {
            continue;
        };
        total.sent += pinged.sent;
        total.received += pinged.received;
        total.in_flight += pinged.in_flight;
        match client {
            Some(c) if !own => ctx.pool.push(c),
            Some(mut c) => {
                let _ = c.ws.close(None).await;
                ctx.rec.disconnected();
            }
            None => ctx.rec.disconnected(),
        }
    }
    drop(pacer);
    ctx.pool.sort_by_key(|c| c.id);
    ctx.rec.set("sent", total.sent as f64);
    ctx.rec.set("received", total.received as f64);
    ctx.rec.set("lost", total.lost() as f64);
    if let Some(stop) = wind_down.stopped_at() {
        ctx.rec.set("in_flight", total.in_flight as f64);
        ctx.rec.note(format!(
            "stopped after {:.1} s: {} pings sent before the stop; {} of them were still within their \
             timeout when the step stopped waiting ({} ms after the stop) and count as neither received nor lost",
            stop.saturating_duration_since(plan.start).as_secs_f64(),
            total.sent,
            total.in_flight,
            wind_down.wait().as_millis()
        ));
    }
    early.finish(&ctx.rec, "a client to ping on");
    Ok(())
}

/// What one client's pings came to.
#[derive(Default)]
struct Pinged {
    sent: u64,
    received: u64,
    /// Sent, unanswered and still within their timeout when a stopped step stopped
    /// waiting.
    in_flight: u64,
}

impl Pinged {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received + self.in_flight)
    }
}

/// What one client's two halves share.
#[derive(Clone)]
struct PingJob {
    cfg: PingStep,
    rec: StepRec,
    plan: Plan,
    index: u32,
}

impl PingJob {
    async fn run(
        self,
        c: PooledClient,
        released: pacer::Released,
        senders: pacer::Spawner,
        sender_cut: Cut,
        mut cut: Cut,
    ) -> (Pinged, Option<PooledClient>) {
        let id = c.id;
        let count = self.plan.count_of(self.index);
        let (sink, mut stream) = c.ws.split();
        let give_up = self.give_up();
        // Per ping: when it left (ns after the plan's start), or not yet.
        let left: Arc<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(NOT_SENT)).collect();
        let (done_tx, done_rx) = oneshot::channel();
        let sender = senders.spawn({
            let job = self.clone();
            let left = Arc::clone(&left);
            async move {
                let out = job.send_pings(id, sink, released, sender_cut, &left).await;
                let _ = done_tx.send(out.1);
                out
            }
        });
        let PingJob {
            cfg,
            rec,
            plan,
            index,
        } = self;
        let mut pinged = Pinged::default();
        let mut open = true;
        let mut stopped_waiting = None;
        // Pongs that can still come: all planned until the sender says how many left.
        let mut expected = count;
        let mut done = Some(done_rx);
        while pinged.received < expected {
            let next = tokio::select! {
                next = cut.within(give_up, stream.next()) => next,
                sent = async { done.as_mut().expect("guarded").await }, if done.is_some() => {
                    done = None;
                    expected = sent.unwrap_or(expected);
                    continue;
                }
            };
            match next {
                None => {
                    if cut.stopped() {
                        stopped_waiting = Some(Instant::now());
                    }
                    break;
                }
                Some(Some(Ok(Message::Pong(p)))) => {
                    let now = Instant::now();
                    let seq = parse_seq(&p).filter(|&s| s < count);
                    let sent_at = seq.map(|s| left[s as usize].swap(ANSWERED, Ordering::AcqRel));
                    match sent_at {
                        Some(ns) if ns != NOT_SENT && ns != ANSWERED => {
                            pinged.received += 1;
                            rec.received(1);
                            let anchor = plan.start + Duration::from_nanos(ns);
                            rec.sample("rtt", now.saturating_duration_since(anchor));
                        }
                        _ => rec.failure("pong with another payload"),
                    }
                }
                Some(Some(Ok(Message::Close(_)))) | Some(None) | Some(Some(Err(_))) => {
                    rec.error(format!("client {id}: connection ended during ping"));
                    open = false;
                    break;
                }
                Some(Some(Ok(_))) => {}
            }
        }
        let Ok((sink, sent, sender_ok)) = sender.await else {
            return (pinged, None);
        };
        pinged.sent = sent;
        if let Some(end) = stopped_waiting {
            pinged.in_flight = (0..count)
                .filter(|&s| {
                    let at = left[s as usize].load(Ordering::Acquire);
                    at != NOT_SENT && at != ANSWERED && plan.due(index, s) + cfg.timeout.0 > end
                })
                .count() as u64;
        }
        for _ in 0..pinged.lost() {
            rec.failure("no pong");
        }
        let client = match sink.reunite(stream) {
            Ok(ws) if open && sender_ok => Some(PooledClient { id, ws }),
            _ => None,
        };
        (pinged, client)
    }
}

type PingSink = futures_util::stream::SplitSink<crate::client::Ws, Message>;

impl PingJob {
    /// Past this no pong is waited for: every ping's timeout is over.
    fn give_up(&self) -> Instant {
        self.plan.last_due() + self.cfg.timeout.0
    }

    /// Sends each ping at its release, until the last or a stop; returns the sink, how
    /// many left and whether every send succeeded.
    async fn send_pings(
        self,
        id: u32,
        mut sink: PingSink,
        mut released: pacer::Released,
        mut cut: Cut,
        left: &[AtomicU64],
    ) -> (PingSink, u64, bool) {
        let (plan, index, rec) = (self.plan, self.index, &self.rec);
        let size = self.cfg.size as usize;
        let give_up = self.give_up();
        let mut sent = 0u64;
        while let Some(seq) = released.recv().await {
            let due = plan.due(index, seq);
            let now = Instant::now();
            rec.sample("send_lag", now.saturating_duration_since(due));
            // Timed from the due time (open loop), like echo; the host's wake-up is
            // forgiven up to the same bound.
            let lag = now.saturating_duration_since(due).min(SEND_LAG_ALLOWANCE);
            let anchor = (due + lag).saturating_duration_since(plan.start);
            left[seq as usize].store(anchor.as_nanos() as u64, Ordering::Release);
            let send = sink.send(Message::Ping(payload(seq, size).into()));
            match cut.within(give_up, send).await {
                Some(Ok(())) => {
                    sent += 1;
                    rec.sent(1);
                }
                _ => {
                    // It never left: no pong is owed for it.
                    left[seq as usize].store(NOT_SENT, Ordering::Release);
                    rec.error(format!("client {id}: ping failed after {sent} pings"));
                    return (sink, sent, false);
                }
            }
        }
        (sink, sent, true)
    }
}

/// A ping's payload: its sequence number (8 digits) padded to `size` (at least 8).
fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("{seq:08}").into_bytes();
    fill(&mut p, size.max(8), seq);
    p
}

fn parse_seq(p: &[u8]) -> Option<u64> {
    std::str::from_utf8(p.get(..8)?).ok()?.parse().ok()
}
