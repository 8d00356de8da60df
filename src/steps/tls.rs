//! `tls`: K full wss connections (TCP, TLS handshake, upgrade) at concurrency C, each
//! closed politely; times per phase and failures by cause.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::StepCtx;
use super::connect::record_timings;
use super::early_close::{EarlyClose, EarlyCloses};
use super::wire::{CloseOutcome, close_politely};
use crate::scenario::model::TlsStep;

pub async fn run(cfg: &TlsStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let Some(endpoint) = ctx
        .wss
        .or(ctx.endpoint.tls.is_some().then_some(ctx.endpoint))
    else {
        return Err(format!(
            "`tls` needs a wss:// target, and {} is plain ws://; give --target wss://… (the simulated board has both)",
            ctx.endpoint.url
        ));
    };
    let next = Arc::new(AtomicU32::new(0));
    let ok = Arc::new(AtomicU32::new(0));
    let early = Arc::new(Mutex::new(EarlyCloses::default()));
    let mut workers = JoinSet::new();
    for _ in 0..cfg.concurrency.min(cfg.handshakes) {
        let (endpoint, next, ok, early, rec) = (
            endpoint.clone(),
            next.clone(),
            ok.clone(),
            early.clone(),
            ctx.rec.clone(),
        );
        let (total, timeout) = (cfg.handshakes, cfg.timeout.0);
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                rec.sent(1);
                match endpoint.connect(None, timeout).await {
                    Ok((mut ws, timings)) => {
                        rec.connected();
                        record_timings(&rec, &timings);
                        // A handshake whose socket the server closes at once (a session
                        // cap) is no success. Its CLOSE, with a code of its own, is there
                        // before or instead of the answer to ours: no wait is added per
                        // handshake, and no second socket is opened meanwhile.
                        match close_politely(&mut ws, Duration::from_secs(1)).await {
                            CloseOutcome::ClosedByServer(code) => {
                                let how = EarlyClose::Close(Some(code));
                                let cause = early.lock().expect("not poisoned").count(&how);
                                rec.failure(&cause);
                            }
                            _ => {
                                rec.received(1);
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        rec.disconnected();
                    }
                    Err(e) => {
                        rec.failure(&e.cause());
                        rec.error(e.to_string());
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let ok = ok.load(Ordering::Relaxed);
    ctx.rec.set("handshakes", cfg.handshakes as f64);
    ctx.rec.set("succeeded", ok as f64);
    let early = early.lock().expect("not poisoned");
    // As in `connect`: `failed` could not open; closed early opened and was shut at once.
    ctx.rec
        .set("failed", (cfg.handshakes - ok - early.total()) as f64);
    early.finish(&ctx.rec, "succeeded");
    ctx.rec.note(format!(
        "{ok} of {} wss connections to {} succeeded",
        cfg.handshakes, endpoint.url
    ));
    Ok(())
}
