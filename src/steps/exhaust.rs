//! `exhaust`: open connections one at a time until the server refuses one or closes an
//! older one (LRU purge), up to `cap`. Reports the limit found and how the extra client
//! was treated, then closes everything and checks that a new client is served.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::StepCtx;
use super::early_close::{self, EarlyClose, EarlyCloses};
use super::wire::{EchoResult, echo_once};
use crate::client::Ws;
use crate::scenario::model::ExhaustStep;

struct Held {
    sink: SplitSink<Ws, Message>,
    opened: tokio::time::Instant,
    /// When and how the server ended it, once it did.
    closed: Arc<OnceLock<(tokio::time::Instant, EarlyClose)>>,
    reader: JoinHandle<()>,
}

impl Held {
    fn is_closed(&self) -> bool {
        self.closed.get().is_some()
    }

    /// How the server ended it, when that came within the early-close window of opening.
    fn closed_early(&self) -> Option<EarlyClose> {
        let (at, how) = self.closed.get()?;
        (at.saturating_duration_since(self.opened) <= early_close::WINDOW).then(|| how.clone())
    }
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
    // Every close by the server bumps this count, whichever socket it hit, so a purge
    // arriving after `settle` is still seen (and counted once, at the end).
    let (closes_tx, mut closes) = tokio::sync::watch::channel(0usize);
    let closes_tx = Arc::new(closes_tx);
    let mut refusal: Option<String> = None;
    let mut last_open: Option<tokio::time::Instant> = None;
    let mut widest_gap = Duration::ZERO;
    for _ in 0..cfg.cap {
        rec.sent(1);
        let now = tokio::time::Instant::now();
        if let Some(last) = last_open.replace(now) {
            widest_gap = widest_gap.max(now - last);
        }
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
                refusal = Some(format!("extra client {} ({e})", describe(&cause)));
                break;
            }
            Ok((ws, timings)) => {
                let opened = tokio::time::Instant::now();
                rec.sample("connect", timings.total);
                rec.received(1);
                rec.connected();
                let (sink, mut stream) = ws.split();
                let closed = Arc::new(OnceLock::new());
                let flag = closed.clone();
                let r = rec.clone();
                let tx = closes_tx.clone();
                let reader = tokio::spawn(async move {
                    let how = loop {
                        match stream.next().await {
                            Some(Ok(Message::Close(f))) => {
                                break EarlyClose::Close(f.map(|f| u16::from(f.code)));
                            }
                            None | Some(Err(_)) => break EarlyClose::Dropped,
                            Some(Ok(_)) => {}
                        }
                    };
                    let _ = flag.set((tokio::time::Instant::now(), how));
                    tx.send_modify(|n| *n += 1);
                    r.disconnected();
                });
                held.push(Held {
                    sink,
                    opened,
                    closed,
                    reader,
                });
            }
        }
        tokio::time::sleep(cfg.settle.0).await;
        if *closes.borrow_and_update() > 0 {
            break;
        }
    }
    // The closes caused by the connections opened so far may still be on their way (a
    // server purging later than `settle`): each extra connection causes one, in the order
    // they opened, so they come about as far apart as the opens did. Wait until none has
    // come for twice the widest gap between opens (bounded by `timeout`); then the open
    // count is what the server really holds, whichever connection each purge belongs to.
    let quiet = (widest_gap * 2)
        .max(cfg.settle.0)
        .max(Duration::from_millis(100));
    let bound = tokio::time::Instant::now() + cfg.timeout.0.max(quiet);
    let any_closed = *closes.borrow() > 0;
    if any_closed || refusal.is_some() {
        loop {
            let next = (tokio::time::Instant::now() + quiet).min(bound);
            match tokio::time::timeout_at(next, closes.changed()).await {
                Ok(Ok(())) if tokio::time::Instant::now() < bound => continue,
                _ => break,
            }
        }
    }
    let closed: Vec<usize> = (0..held.len()).filter(|i| held[*i].is_closed()).collect();
    let open_now = (held.len() - closed.len()) as u32;
    let newest_closed = closed.last().is_some_and(|i| *i + 1 == held.len());
    let purged: Vec<usize> = closed
        .iter()
        .copied()
        .filter(|i| *i + 1 != held.len())
        .collect();
    // The newest client closed at once is the server refusing it after the upgrade
    // (`closed_early`, with its code); an older client's close is a purge, whenever it
    // came: the purge is what this step measures.
    let mut early = EarlyCloses::default();
    let newest_early = held
        .last()
        .filter(|_| newest_closed)
        .and_then(Held::closed_early);
    match &newest_early {
        Some(how) => rec.failure(&early.count(how)),
        None if newest_closed => {
            rec.add("refused", 1.0);
            rec.failure("closed after upgrade");
        }
        None => {}
    }
    if !purged.is_empty() {
        rec.add("purged", purged.len() as f64);
    }
    let limit = if refusal.is_some() || !closed.is_empty() {
        Some(open_now)
    } else {
        None
    };
    let treatment = if let Some(r) = refusal {
        r
    } else if !purged.is_empty() {
        let oldest: Vec<usize> = (0..purged.len()).collect();
        let ids: Vec<String> = purged.iter().map(|i| format!("#{}", i + 1)).collect();
        if purged == oldest {
            format!(
                "extra client accepted, oldest client{} ({}) purged",
                if purged.len() == 1 { "" } else { "s" },
                ids.join(", ")
            )
        } else {
            format!(
                "extra client accepted, clients {} closed by the server",
                ids.join(", ")
            )
        }
    } else if let Some(how) = &newest_early {
        format!("extra client accepted, then {}", how.cause())
    } else {
        "extra client accepted, then closed by the server".into()
    };
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
        if !h.is_closed() {
            let _ = tokio::time::timeout(Duration::from_millis(500), h.sink.close()).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut h.reader).await;
        h.reader.abort();
    }
    tokio::time::sleep(cfg.settle.0 * 2).await;
    let recovered = match ctx.endpoint.connect(None, cfg.timeout.0).await {
        Ok((mut ws, _)) => {
            let opened = tokio::time::Instant::now();
            let probe = Message::text("#exhaust-recovery-check");
            let result = echo_once(&mut ws, probe, cfg.timeout.0).await;
            let closed_early = early_close::of_echo(&result, opened);
            let _ = ws.close(None).await;
            let cause = match (result, closed_early) {
                (EchoResult::Ok(_), _) => None,
                (_, Some(how)) => {
                    let cause = early.count(&how);
                    rec.failure(&cause);
                    Some(cause)
                }
                (other, None) => Some(other.cause()),
            };
            if let Some(cause) = &cause {
                rec.error(format!(
                    "after closing all, a new client got no echo: {cause}"
                ));
            }
            cause.is_none()
        }
        Err(e) => {
            rec.error(format!(
                "after closing all, a new client could not connect: {e}"
            ));
            false
        }
    };
    rec.set("recovered", if recovered { 1.0 } else { 0.0 });
    early.finish(&rec, "held connections");
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
