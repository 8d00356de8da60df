//! `ping`: PING/PONG round trips, on the open clients or on a connection of its own.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::wire::fill;
use super::{PooledClient, StepCtx};
use crate::recorder::StepRec;
use crate::scenario::model::PingStep;

pub async fn run(cfg: &PingStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let own = ctx.pool.is_empty();
    let clients = if own {
        let (ws, _) = ctx
            .endpoint
            .connect(None, cfg.timeout.0)
            .await
            .map_err(|e| e.to_string())?;
        ctx.rec.connected();
        vec![PooledClient { id: u32::MAX, ws }]
    } else {
        std::mem::take(ctx.pool)
    };
    let mut tasks = JoinSet::new();
    for c in clients {
        tasks.spawn(ping_client(c, cfg.clone(), ctx.rec.clone()));
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
    ctx.pool.sort_by_key(|c| c.id);
    ctx.rec.set("sent", sent as f64);
    ctx.rec.set("received", received as f64);
    ctx.rec.set("lost", sent.saturating_sub(received) as f64);
    Ok(())
}

async fn ping_client(
    mut c: PooledClient,
    cfg: PingStep,
    rec: StepRec,
) -> (u64, u64, Option<PooledClient>) {
    let (mut sent, mut received) = (0, 0);
    let start = tokio::time::Instant::now();
    for seq in 0..cfg.count as u64 {
        tokio::time::sleep_until(start + cfg.interval.0 * seq as u32).await;
        let mut payload = format!("{seq:08}").into_bytes();
        fill(&mut payload, cfg.size.max(8) as usize, seq);
        payload.truncate(cfg.size as usize);
        let t0 = Instant::now();
        if let Err(e) = c.ws.send(Message::Ping(payload.clone().into())).await {
            rec.error(format!("client {}: ping failed: {e}", c.id));
            return (sent, received, None);
        }
        sent += 1;
        rec.sent(1);
        let deadline = tokio::time::Instant::now() + cfg.timeout.0;
        loop {
            match tokio::time::timeout_at(deadline, c.ws.next()).await {
                Err(_) => {
                    rec.failure("no pong");
                    break;
                }
                Ok(Some(Ok(Message::Pong(p)))) if p.as_ref() == payload.as_slice() => {
                    received += 1;
                    rec.received(1);
                    rec.sample("rtt", t0.elapsed());
                    break;
                }
                Ok(Some(Ok(Message::Pong(_)))) => rec.failure("pong with another payload"),
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    rec.error(format!("client {}: connection ended during ping", c.id));
                    return (sent, received, None);
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
    (sent, received, Some(c))
}
