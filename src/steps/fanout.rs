//! `fanout`: messages the server delivers to every open client. Per message: which
//! clients got it, duplicates, order, the spread between first and last arrival, and
//! (with our device's `!burst`) device-to-client latency from the device's `t_us` stamp,
//! corrected by a clock offset estimated with `!time`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::{PooledClient, StepCtx, need_pool};
use crate::client::Ws;
use crate::scenario::model::{FanoutStep, FanoutTrigger};

/// One fan-out message as a client saw it.
struct Arrival {
    key: u64,
    at: Instant,
    /// The device's send time in µs since its boot, when stamped.
    device_us: Option<u64>,
}

struct ClientResult {
    id: u32,
    arrivals: Vec<Arrival>,
    ws: Option<Ws>,
    /// The first client's read half (its write half stayed with the trigger).
    stream: Option<SplitStream<Ws>>,
}

/// Reads `key=value` words of a `burst …` frame.
fn burst_fields(text: &str) -> Option<HashMap<&str, u64>> {
    let rest = text.strip_prefix("burst ")?;
    let mut fields = HashMap::new();
    for word in rest.split(' ') {
        let Some((k, v)) = word.split_once('=') else {
            break;
        };
        let Ok(v) = v.parse() else { break };
        fields.insert(k, v);
    }
    fields.contains_key("seq").then_some(fields)
}

/// The number after the last `#` (`Server broadcast: Hello #12`), if any.
fn trailing_number(text: &str) -> Option<u64> {
    text.rsplit_once('#')?.1.trim().parse().ok()
}

pub async fn run(cfg: &FanoutStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    need_pool(ctx, "fanout")?;
    let rec = ctx.rec.clone();
    let clients = std::mem::take(ctx.pool);
    let n = clients.len();
    let wait = match cfg.trigger {
        FanoutTrigger::Broadcast => cfg.interval.0 * (cfg.count + 1) + cfg.timeout.0,
        _ => cfg.interval.0 * cfg.count + cfg.timeout.0 + Duration::from_secs(3),
    };
    // The receivers' deadline is set again once the clock exchange is over, so the
    // exchange (up to 5 round trips of 1 s) never eats into the step's own time; until
    // then it is far enough out to cover the longest exchange.
    let (deadline_tx, deadline) = watch::channel(Instant::now() + wait + Duration::from_secs(10));
    // Replies to commands (`time …`, `!burst started …`) seen by the first client.
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<(Instant, String)>();
    let mut sink0: Option<SplitSink<Ws, Message>> = None;
    // Ends the receivers early when the trigger failed, so the clients go back open.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (sink, stream) = client.ws.split();
        let replies = (i == 0).then(|| reply_tx.clone());
        let keep_sink = if i == 0 {
            sink0 = Some(sink);
            None
        } else {
            Some(sink)
        };
        tasks.spawn(receive(
            client.id,
            stream,
            keep_sink,
            replies,
            cfg.clone(),
            Until {
                deadline: deadline.clone(),
                stop: stop_rx.clone(),
            },
            rec.clone(),
        ));
    }
    drop(reply_tx);
    let mut sink0 = sink0.expect("pool is not empty");
    let base = Instant::now();
    let mut offset_us: Option<i128> = None;
    let mut failed: Option<String> = None;
    match cfg.trigger {
        FanoutTrigger::Burst => {
            // Clock offset: device_us − host_us at the midpoint of the fastest round trip.
            let mut best: Option<(Duration, i128)> = None;
            for _ in 0..5 {
                let sent_at = Instant::now();
                if sink0.send(Message::text("!time")).await.is_err() {
                    break;
                }
                let reply = wait_reply(&mut reply_rx, "time ", Duration::from_secs(1)).await;
                let Some((at, text)) = reply else { break };
                let Some(dev) = text
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("t_us="))
                else {
                    break;
                };
                let Ok(dev) = dev.parse::<i128>() else { break };
                let rtt = at - sent_at;
                let mid = (sent_at - base).as_micros() as i128 + (rtt.as_micros() as i128) / 2;
                if best.is_none_or(|(b, _)| rtt < b) {
                    best = Some((rtt, dev - mid));
                }
            }
            match best {
                Some((rtt, off)) => {
                    offset_us = Some(off);
                    rec.note(format!(
                        "device clock offset estimated with !time (best round trip {} µs)",
                        rtt.as_micros()
                    ));
                }
                None => rec.note("no answer to !time: device-to-client latency not measured"),
            }
            let _ = deadline_tx.send(Instant::now() + wait);
            let cmd = format!(
                "!burst {} {} {}",
                cfg.count,
                cfg.size,
                cfg.interval.0.as_millis()
            );
            rec.sent(cfg.count as u64);
            if let Err(e) = sink0.send(Message::text(cmd.clone())).await {
                failed = Some(format!("sending `{cmd}` failed: {e}"));
            } else if wait_reply(&mut reply_rx, "!burst started", Duration::from_secs(2))
                .await
                .is_none()
            {
                failed = Some(format!(
                    "the target did not acknowledge `{cmd}`: it does not look like a wsbench device; \
                     use `trigger: message` or `trigger: broadcast` with other servers"
                ));
            }
        }
        FanoutTrigger::Message => {
            let text = cfg.message.clone().unwrap_or_default();
            let start = Instant::now();
            for seq in 0..cfg.count {
                tokio::time::sleep_until((start + cfg.interval.0 * seq).into()).await;
                if let Err(e) = sink0.send(Message::text(format!("{text} #{seq}"))).await {
                    failed = Some(format!("sending the fan-out message failed: {e}"));
                    break;
                }
                rec.sent(1);
            }
        }
        FanoutTrigger::Broadcast => {}
    }
    if !matches!(cfg.trigger, FanoutTrigger::Burst) {
        let _ = deadline_tx.send(base + wait);
    }
    if failed.is_some() {
        let _ = stop_tx.send(true);
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(r) = joined {
            results.push(r);
        }
    }
    results.sort_by_key(|r| r.id);
    for r in results.iter_mut() {
        if let Some(stream) = r.stream.take() {
            r.ws = sink0.reunite(stream).ok();
            break;
        }
    }
    for r in results.iter_mut() {
        match r.ws.take() {
            Some(ws) => ctx.pool.push(PooledClient { id: r.id, ws }),
            None => rec.disconnected(),
        }
    }
    ctx.pool.sort_by_key(|c| c.id);
    if let Some(f) = failed {
        // The clients that are still open stay for the next steps.
        return Err(f);
    }
    analyse(cfg, &results, n, offset_us, base, ctx);
    Ok(())
}

async fn wait_reply(
    rx: &mut mpsc::UnboundedReceiver<(Instant, String)>,
    prefix: &str,
    timeout: Duration,
) -> Option<(Instant, String)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((at, text))) if text.starts_with(prefix) => return Some((at, text)),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// When a client's receiver gives up: at the deadline (which the trigger may still
/// move), or earlier when told to stop.
struct Until {
    deadline: watch::Receiver<Instant>,
    stop: watch::Receiver<bool>,
}

async fn receive(
    id: u32,
    mut stream: SplitStream<Ws>,
    sink: Option<SplitSink<Ws, Message>>,
    replies: Option<mpsc::UnboundedSender<(Instant, String)>>,
    cfg: FanoutStep,
    mut until: Until,
    rec: crate::recorder::StepRec,
) -> ClientResult {
    let mut arrivals = Vec::new();
    let mut keys_seen = std::collections::HashSet::new();
    let mut broadcast_keys: HashMap<String, u64> = HashMap::new();
    let mut open = true;
    let mut burst_id = None;
    loop {
        if keys_seen.len() >= cfg.count as usize {
            break;
        }
        let deadline = *until.deadline.borrow_and_update();
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline.into(), stream.next()) => next,
            Ok(_) = until.stop.wait_for(|stop| *stop) => break,
            Ok(()) = until.deadline.changed() => continue,
        };
        let msg = match next {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                open = false;
                rec.error(format!("client {id}: connection ended during fan-out"));
                break;
            }
            Ok(Some(Ok(_))) => continue,
        };
        let at = Instant::now();
        let text = msg.as_str();
        let arrival = match cfg.trigger {
            FanoutTrigger::Burst => match burst_fields(text) {
                Some(f) => {
                    let bid = f.get("id").copied();
                    if burst_id.is_none() {
                        burst_id = bid;
                    }
                    if bid != burst_id {
                        continue;
                    }
                    Some(Arrival {
                        key: f["seq"],
                        at,
                        device_us: f.get("t_us").copied(),
                    })
                }
                None => None,
            },
            FanoutTrigger::Message => {
                let prefix = cfg.message.as_deref().unwrap_or_default();
                text.strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix(" #"))
                    .and_then(|r| r.parse().ok())
                    .map(|key| Arrival {
                        key,
                        at,
                        device_us: None,
                    })
            }
            FanoutTrigger::Broadcast => {
                if text.starts_with('!') || text.starts_with('#') {
                    None
                } else {
                    let next = broadcast_keys.len() as u64;
                    let key = trailing_number(text)
                        .unwrap_or_else(|| *broadcast_keys.entry(text.to_string()).or_insert(next));
                    Some(Arrival {
                        key,
                        at,
                        device_us: None,
                    })
                }
            }
        };
        match arrival {
            Some(a) => {
                rec.received(1);
                keys_seen.insert(a.key);
                arrivals.push(a);
            }
            None => {
                if let Some(tx) = &replies {
                    let _ = tx.send((at, text.to_string()));
                }
            }
        }
    }
    match (sink, open) {
        (Some(sink), true) => ClientResult {
            id,
            arrivals,
            ws: sink.reunite(stream).ok(),
            stream: None,
        },
        (None, true) => ClientResult {
            id,
            arrivals,
            ws: None,
            stream: Some(stream),
        },
        _ => ClientResult {
            id,
            arrivals,
            ws: None,
            stream: None,
        },
    }
}

fn analyse(
    cfg: &FanoutStep,
    results: &[ClientResult],
    n: usize,
    offset_us: Option<i128>,
    base: Instant,
    ctx: &StepCtx<'_>,
) {
    let rec = &ctx.rec;
    // Message keys in the order they were first seen; with `broadcast` the first
    // `count` distinct messages count.
    let mut first_seen: Vec<(u64, Instant)> = Vec::new();
    for r in results {
        for a in &r.arrivals {
            match first_seen.iter_mut().find(|(k, _)| *k == a.key) {
                Some(e) => e.1 = e.1.min(a.at),
                None => first_seen.push((a.key, a.at)),
            }
        }
    }
    first_seen.sort_by_key(|(_, at)| *at);
    let keys: Vec<u64> = match cfg.trigger {
        FanoutTrigger::Broadcast => first_seen
            .iter()
            .take(cfg.count as usize)
            .map(|(k, _)| *k)
            .collect(),
        _ => {
            let mut k: Vec<u64> = first_seen.iter().map(|(k, _)| *k).collect();
            k.sort_unstable();
            k.truncate(cfg.count as usize);
            k
        }
    };
    let messages = match cfg.trigger {
        FanoutTrigger::Broadcast => keys.len() as u64,
        _ => cfg.count as u64,
    };
    // Every client should get `count` messages, also when waiting for the server's
    // broadcasts: broadcasts that never came are lost, not absent from the sum.
    let expected = cfg.count as u64 * n as u64;
    let mut delivered = 0u64;
    let mut duplicates = 0u64;
    let mut reordered = 0u64;
    let mut per_key: HashMap<u64, (Instant, Instant, u32)> = HashMap::new();
    let mut negative: Vec<u64> = Vec::new();
    for r in results {
        let mut seen = std::collections::HashSet::new();
        let mut highest: Option<u64> = None;
        for a in r.arrivals.iter().filter(|a| keys.contains(&a.key)) {
            if !seen.insert(a.key) {
                duplicates += 1;
                continue;
            }
            delivered += 1;
            if highest.is_some_and(|h| a.key < h) {
                reordered += 1;
            }
            highest = Some(highest.map_or(a.key, |h| h.max(a.key)));
            let e = per_key.entry(a.key).or_insert((a.at, a.at, 0));
            e.0 = e.0.min(a.at);
            e.1 = e.1.max(a.at);
            e.2 += 1;
            if let (Some(dev), Some(off)) = (a.device_us, offset_us) {
                let host_send_us = dev as i128 - off;
                let arrival_us = (a.at - base).as_micros() as i128;
                match u64::try_from(arrival_us - host_send_us) {
                    Ok(lat) => rec.sample_at("latency", Duration::from_micros(lat), a.at),
                    // Arrived "before" it was sent: the clock offset estimate is off by
                    // at least this much. Counted and said, not clamped into the figures.
                    Err(_) => negative.push((host_send_us - arrival_us) as u64),
                }
            }
        }
    }
    // Spread only over messages every client received: a partial one would mix a
    // delivery time with an absence.
    let mut partial = 0u64;
    for (first, last, got) in per_key.values() {
        if *got as usize == n {
            rec.sample_at("spread", *last - *first, *last);
        } else {
            partial += 1;
        }
    }
    rec.set("partial", partial as f64);
    rec.set("negative_latency", negative.len() as f64);
    if let Some(worst) = negative.iter().max() {
        rec.note(format!(
            "{} one-way latencies came out negative (by up to {worst} µs): the device clock's offset \
             estimate is off by at least that much; they are left out of `latency`",
            negative.len()
        ));
    }
    let lost = expected.saturating_sub(delivered);
    rec.set("messages", messages as f64);
    rec.set("clients", n as f64);
    rec.set("expected", expected as f64);
    rec.set("delivered", delivered as f64);
    rec.set("lost", lost as f64);
    rec.set("duplicates", duplicates as f64);
    rec.set("reordered", reordered as f64);
    rec.set(
        "loss",
        if expected > 0 {
            lost as f64 / expected as f64
        } else {
            0.0
        },
    );
    let incomplete = per_key
        .values()
        .filter(|(_, _, c)| (*c as usize) < n)
        .count();
    if incomplete > 0 {
        rec.note(format!(
            "{incomplete} of {messages} messages did not reach every client"
        ));
    }
    if cfg.trigger == FanoutTrigger::Broadcast && messages < cfg.count as u64 {
        rec.note(format!(
            "only {messages} of {} broadcasts arrived before the timeout",
            cfg.count
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_burst_frame() {
        let f = burst_fields("burst id=2 seq=7 count=100 t_us=123456 xxxxxxxx").unwrap();
        assert_eq!(f["seq"], 7);
        assert_eq!(f["t_us"], 123456);
        assert!(burst_fields("Server broadcast: Hello #3").is_none());
        assert_eq!(trailing_number("Server broadcast: Hello #3"), Some(3));
    }
}
