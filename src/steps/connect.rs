//! `connect`: open N clients (optionally at a ramp rate) and keep them for later steps.

use std::time::Duration;

use tokio::task::JoinSet;

use super::{PooledClient, StepCtx, early_close};
use crate::client::Timings;
use crate::recorder::StepRec;
use crate::scenario::model::ConnectStep;

/// Records one connection's phase timings.
pub fn record_timings(rec: &StepRec, t: &Timings) {
    rec.sample("tcp", t.tcp);
    if let Some(tls) = t.tls {
        rec.sample("tls", tls);
    }
    rec.sample("upgrade", t.upgrade);
    rec.sample("connect", t.total);
}

pub async fn run(cfg: &ConnectStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..cfg.clients {
        if let Some(ramp) = cfg.ramp {
            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / ramp)).await;
        }
        let endpoint = ctx.endpoint.clone();
        let sub = cfg.subprotocol.clone();
        let timeout = cfg.timeout.0;
        let rec = rec.clone();
        tasks.spawn(async move {
            rec.sent(1);
            let result = endpoint.connect(sub.as_deref(), timeout).await;
            if result.is_ok() {
                rec.received(1);
                rec.connected();
            }
            result
        });
    }
    let mut connected = 0u32;
    let mut first_error = None;
    let first_new_id = *ctx.next_client_id;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((ws, timings))) => {
                record_timings(&rec, &timings);
                let id = *ctx.next_client_id;
                *ctx.next_client_id += 1;
                ctx.pool.push(PooledClient { id, ws });
                connected += 1;
            }
            Ok(Err(e)) => {
                rec.failure(&e.cause());
                if first_error.is_none() {
                    first_error = Some(format!("{e}"));
                }
            }
            Err(e) => rec.error(format!("connect task failed: {e}")),
        }
    }
    let closed_early = drop_closed_early(ctx, &rec, first_new_id).await;
    let connected = connected - closed_early;
    ctx.pool.sort_by_key(|c| c.id);
    rec.set("clients", cfg.clients as f64);
    rec.set("connected", connected as f64);
    rec.set("failed", (cfg.clients - connected - closed_early) as f64);
    if let Some(e) = &first_error {
        rec.error(format!(
            "{} of {} clients failed to connect; first: {e}",
            cfg.clients - connected,
            cfg.clients
        ));
    }
    if connected == 0 {
        return Err(first_error.unwrap_or_else(|| {
            if closed_early > 0 {
                format!("the server closed all {closed_early} clients right after opening them")
            } else {
                "no client connected".into()
            }
        }));
    }
    Ok(())
}

/// Takes the clients this step opened that the server closed within
/// [`early_close::WINDOW`] of the last one opening out of the pool; returns how many.
async fn drop_closed_early(ctx: &mut StepCtx<'_>, rec: &StepRec, first_new_id: u32) -> u32 {
    let (new, old): (Vec<PooledClient>, Vec<PooledClient>) = std::mem::take(ctx.pool)
        .into_iter()
        .partition(|c| c.id >= first_new_id);
    *ctx.pool = old;
    let mut early = early_close::EarlyCloses::default();
    ctx.pool
        .extend(early_close::sift(new, rec, &mut early).await);
    early.finish(rec, "connected");
    early.total()
}
