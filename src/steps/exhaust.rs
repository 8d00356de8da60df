//! `exhaust`: open connections one at a time until the server refuses one or closes an
//! older one (LRU purge), up to `cap`. Reports the limit found and how the extra client
//! was treated, then closes everything and checks that a new client is served.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::StepCtx;
use super::wire::{EchoResult, echo_once};
use crate::client::Ws;
use crate::scenario::model::ExhaustStep;

struct Held {
    sink: SplitSink<Ws, Message>,
    closed: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

pub async fn run(cfg: &ExhaustStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    // Clients from earlier steps would be purged unseen and skew the limit: close them.
    let earlier = std::mem::take(ctx.pool);
    if !earlier.is_empty() {
        rec.note(format!("closed the {} clients opened by earlier steps first, so the limit is counted from zero", earlier.len()));
        let closes = earlier.into_iter().map(|mut c| {
            let rec = rec.clone();
            async move {
                super::wire::close_politely(&mut c.ws, Duration::from_secs(1)).await;
                rec.disconnected();
            }
        });
        futures_util::future::join_all(closes).await;
        tokio::time::sleep(cfg.settle.0).await;
    }
    let mut held: Vec<Held> = Vec::new();
    let mut limit = None;
    let mut treatment = String::new();
    let mut closed_before: Vec<usize> = Vec::new();
    for _ in 0..cfg.cap {
        let open_before = held
            .iter()
            .filter(|h| !h.closed.load(Ordering::Relaxed))
            .count() as u32;
        rec.sent(1);
        match ctx.endpoint.connect(None, cfg.timeout.0).await {
            Err(e) => {
                let cause = e.cause();
                let key = match cause.as_str() {
                    "refused" => "refused",
                    "timeout" | "upgrade timeout" | "tls timeout" => "timed_out",
                    "reset" => "reset",
                    _ => "refused",
                };
                rec.add(key, 1.0);
                rec.failure(&cause);
                limit = Some(open_before);
                treatment = format!("extra client {} ({e})", describe(&cause));
                break;
            }
            Ok((ws, timings)) => {
                rec.sample("connect", timings.total);
                rec.received(1);
                rec.connected();
                let (sink, mut stream) = ws.split();
                let closed = Arc::new(AtomicBool::new(false));
                let flag = closed.clone();
                let r = rec.clone();
                let reader = tokio::spawn(async move {
                    loop {
                        match stream.next().await {
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                            Some(Ok(_)) => {}
                        }
                    }
                    flag.store(true, Ordering::Relaxed);
                    r.disconnected();
                });
                held.push(Held {
                    sink,
                    closed,
                    reader,
                });
            }
        }
        tokio::time::sleep(cfg.settle.0).await;
        let newest = held.len() - 1;
        if held[newest].closed.load(Ordering::Relaxed) {
            rec.add("refused", 1.0);
            rec.failure("closed after upgrade");
            limit = Some(open_before);
            treatment = "extra client accepted, then closed by the server".into();
            break;
        }
        let newly_closed: Vec<usize> = (0..newest)
            .filter(|i| held[*i].closed.load(Ordering::Relaxed) && !closed_before.contains(i))
            .collect();
        if !newly_closed.is_empty() {
            rec.add("purged", newly_closed.len() as f64);
            limit = Some(open_before);
            let oldest_open = (0..newest).find(|i| !closed_before.contains(i));
            treatment = if newly_closed.len() == 1 && Some(newly_closed[0]) == oldest_open {
                format!(
                    "extra client accepted, oldest client (#{}) purged",
                    newly_closed[0] + 1
                )
            } else {
                let ids: Vec<String> = newly_closed.iter().map(|i| format!("#{}", i + 1)).collect();
                format!(
                    "extra client accepted, clients {} closed by the server",
                    ids.join(", ")
                )
            };
            break;
        }
        closed_before = (0..held.len())
            .filter(|i| held[*i].closed.load(Ordering::Relaxed))
            .collect();
    }
    let opened = held.len() as u32;
    rec.set("opened", opened as f64);
    for key in ["purged", "refused", "timed_out", "reset"] {
        if rec.metric(key).is_none() {
            rec.set(key, 0.0);
        }
    }
    match limit {
        Some(l) => {
            rec.set("limit", l as f64);
            rec.note(format!("limit found: {l} connections; {treatment}"));
        }
        None => rec.note(format!(
            "no limit found up to the cap of {} connections",
            cfg.cap
        )),
    }
    // Close everything, then check that the server serves a new client.
    for mut h in held {
        if !h.closed.load(Ordering::Relaxed) {
            let _ = tokio::time::timeout(Duration::from_millis(500), h.sink.close()).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut h.reader).await;
        h.reader.abort();
    }
    tokio::time::sleep(cfg.settle.0 * 2).await;
    let recovered = match ctx.endpoint.connect(None, cfg.timeout.0).await {
        Ok((mut ws, _)) => {
            let probe = Message::text("#exhaust-recovery-check");
            let result = echo_once(&mut ws, probe, cfg.timeout.0).await;
            let _ = ws.close(None).await;
            match result {
                EchoResult::Ok(_) => true,
                other => {
                    rec.error(format!(
                        "after closing all, a new client got no echo: {}",
                        other.cause()
                    ));
                    false
                }
            }
        }
        Err(e) => {
            rec.error(format!(
                "after closing all, a new client could not connect: {e}"
            ));
            false
        }
    };
    rec.set("recovered", if recovered { 1.0 } else { 0.0 });
    Ok(())
}

fn describe(cause: &str) -> &str {
    match cause {
        "refused" => "refused at TCP connect",
        "timeout" | "upgrade timeout" | "tls timeout" => "timed out",
        "reset" => "reset",
        "closed at once" => "closed before the upgrade",
        _ => cause,
    }
}
