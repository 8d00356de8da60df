//! `ping`: PING/PONG round trips, on the open clients or on a connection of its own.
//!
//! Open loop, with the same pacer as `echo`: each ping leaves at its due time whether
//! or not earlier pongs came back, and its round trip is timed from that due time (the
//! host's wake-up forgiven up to the same bound), so a server that answers slowly shows
//! up as round-trip time, not as fewer pings.

/// A ping slot not sent yet, and one already answered.
const NOT_SENT: u64 = u64::MAX - 1;
const ANSWERED: u64 = u64::MAX;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::early_close::{self, EarlyCloses};
use super::echo::SEND_LAG_ALLOWANCE;
use super::pacer::{self, Plan};
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
    for (i, (c, released)) in clients.into_iter().zip(releases).enumerate() {
        tasks.spawn(ping_client(
            c,
            cfg.clone(),
            ctx.rec.clone(),
            plan,
            i as u32,
            released,
            pacer.spawner(),
        ));
    }
    let (mut sent, mut received) = (0u64, 0u64);
    while let Some(Ok((s, r, client))) = tasks.join_next().await {
        sent += s;
        received += r;
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
    ctx.rec.set("sent", sent as f64);
    ctx.rec.set("received", received as f64);
    ctx.rec.set("lost", sent.saturating_sub(received) as f64);
    early.finish(&ctx.rec, "a client to ping on");
    Ok(())
}

async fn ping_client(
    c: PooledClient,
    cfg: PingStep,
    rec: StepRec,
    plan: Plan,
    index: u32,
    mut released: pacer::Released,
    senders: pacer::Spawner,
) -> (u64, u64, Option<PooledClient>) {
    let id = c.id;
    let count = plan.count_of(index);
    let (mut sink, mut stream) = c.ws.split();
    let give_up = plan.last_due() + cfg.timeout.0;
    // Per ping: when it left (ns after the plan's start), or not yet.
    let left: Arc<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(NOT_SENT)).collect();
    let sender = senders.spawn({
        let left = Arc::clone(&left);
        let rec = rec.clone();
        let size = cfg.size as usize;
        async move {
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
                match tokio::time::timeout_at(give_up.into(), send).await {
                    Ok(Ok(())) => {
                        sent += 1;
                        rec.sent(1);
                    }
                    _ => {
                        rec.error(format!("client {id}: ping failed after {sent} pings"));
                        return (sink, sent, false);
                    }
                }
            }
            (sink, sent, true)
        }
    });
    let mut received = 0u64;
    let mut open = true;
    while received < count {
        match tokio::time::timeout_at(give_up.into(), stream.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Pong(p)))) => {
                let now = Instant::now();
                let seq = parse_seq(&p).filter(|&s| s < count);
                let sent_at = seq.map(|s| left[s as usize].swap(ANSWERED, Ordering::AcqRel));
                match sent_at {
                    Some(ns) if ns != NOT_SENT && ns != ANSWERED => {
                        received += 1;
                        rec.received(1);
                        let anchor = plan.start + Duration::from_nanos(ns);
                        rec.sample("rtt", now.saturating_duration_since(anchor));
                    }
                    _ => rec.failure("pong with another payload"),
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                rec.error(format!("client {id}: connection ended during ping"));
                open = false;
                break;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let Ok((sink, sent, sender_ok)) = sender.await else {
        return (0, received, None);
    };
    for _ in received..sent {
        rec.failure("no pong");
    }
    let client = match sink.reunite(stream) {
        Ok(ws) if open && sender_ok => Some(PooledClient { id, ws }),
        _ => None,
    };
    (sent, received, client)
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
