//! `echo`: open-loop echo at a fixed rate over the open clients.
//!
//! Each client sends message `seq` at its intended time `t0 + offset + seq × period`
//! whether or not earlier echoes came back, and latency is measured from that intended
//! time, so a stalled server shows up as latency instead of hiding as a lower send rate
//! (no coordinated omission).
//!
//! One refinement keeps the host's own timer out of the server's figures: tokio's timer
//! wakes up to a millisecond after the intended time. When the sender was idle at the
//! intended time (not inside any send), that lateness is ours, so latency is
//! measured from the moment the send actually started; when the sender was still inside
//! an earlier send (the server was not taking data), it is measured from the intended
//! time. How late sends started is recorded on its own as the `send_lag` distribution,
//! so a load generator that cannot keep up is visible rather than hidden.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::wire::{data, echo_payload, message, parse_echo_header};
use super::{PooledClient, StepCtx, need_pool};
use crate::recorder::StepRec;
use crate::scenario::model::{EchoStep, RatePer};

#[derive(Default)]
struct ClientTally {
    sent: u64,
    received: u64,
    corrupt: u64,
    late: u64,
    duplicates: u64,
}

pub async fn run(cfg: &EchoStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    need_pool(ctx, "echo")?;
    let clients = std::mem::take(ctx.pool);
    let n = clients.len() as f64;
    let per_client_rate = match cfg.per {
        RatePer::Client => cfg.rate,
        RatePer::Total => cfg.rate / n,
    };
    let period = Duration::from_secs_f64(1.0 / per_client_rate);
    let count = ((cfg.duration.0.as_secs_f64() * per_client_rate).floor() as u64).max(1);
    let t0 = Instant::now() + Duration::from_millis(20);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        let offset = period.mul_f64(i as f64 / n);
        let rec = ctx.rec.clone();
        let cfg = cfg.clone();
        tasks.spawn(run_client(client, cfg, rec, t0 + offset, period, count));
    }
    let mut total = ClientTally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((tally, client)) => {
                total.sent += tally.sent;
                total.received += tally.received;
                total.corrupt += tally.corrupt;
                total.late += tally.late;
                total.duplicates += tally.duplicates;
                if let Some(c) = client {
                    ctx.pool.push(c);
                }
            }
            Err(e) => ctx.rec.error(format!("echo client task failed: {e}")),
        }
    }
    ctx.pool.sort_by_key(|c| c.id);
    let rec = &ctx.rec;
    let lost = total.sent.saturating_sub(total.received + total.corrupt);
    rec.set("sent", total.sent as f64);
    rec.set("received", total.received as f64);
    rec.set("corrupt", total.corrupt as f64);
    rec.set("late", total.late as f64);
    rec.set("lost", lost as f64);
    if total.sent > 0 {
        rec.set("loss", lost as f64 / total.sent as f64);
    }
    // Over the time the echoes really took, not the scheduled duration: a sender that
    // fell behind must not be credited with the rate it was asked for.
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .max(cfg.duration.0.as_secs_f64());
    rec.set("throughput", total.received as f64 / elapsed);
    if total.duplicates > 0 {
        rec.note(format!("{} duplicate echoes received", total.duplicates));
    }
    if total.sent == 0 {
        return Err("no message could be sent".into());
    }
    Ok(())
}

async fn run_client(
    client: PooledClient,
    cfg: EchoStep,
    rec: StepRec,
    start: Instant,
    period: Duration,
    count: u64,
) -> (ClientTally, Option<PooledClient>) {
    let id = client.id;
    let (mut sink, mut stream) = client.ws.split();
    let size = cfg.size as usize;
    let intended = move |seq: u64| start + period.mul_f64(seq as f64);
    // Per message: nanoseconds after `start` from which its latency is measured.
    let anchors: Arc<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(0)).collect();
    // Past this the receiver stops waiting; a sender that fell behind the rate stops
    // too, so the step ends in its planned time whatever the rate asked.
    let give_up = intended(count) + cfg.timeout.0;
    // The sender is a task of its own: a sender catching up on a backlog must never
    // delay the moment an echo is read (and so inflate its latency).
    let sender = {
        let rec = rec.clone();
        let anchors = Arc::clone(&anchors);
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let mut blocked = false;
            let mut sent = 0u64;
            // (start, end) of the sends that may still cover a later due time.
            let mut sends: VecDeque<(Instant, Instant)> = VecDeque::new();
            for seq in 0..count {
                if Instant::now() >= give_up {
                    rec.note(format!(
                        "client {id} could not send at the rate asked: {sent} of {count} messages sent"
                    ));
                    break;
                }
                let due = intended(seq);
                // Behind schedule, go straight on: even an elapsed sleep waits for the
                // timer's next millisecond tick, and a fed message would sit unsent.
                if Instant::now() < due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let send_start = Instant::now();
                while sends.front().is_some_and(|&(_, end)| end <= due) {
                    sends.pop_front();
                }
                // Inside a send at the due time: the server was not taking data.
                let blocked_by_server = sends.front().is_some_and(|&(begin, _)| begin <= due);
                let anchor = if blocked_by_server { due } else { send_start };
                anchors[seq as usize].store(nanos_since(start, anchor), Ordering::Release);
                rec.sample("send_lag", send_start.saturating_duration_since(due));
                let msg = message(cfg.opcode, echo_payload(id, seq, size));
                // Behind schedule: queue without flushing, so the backlog leaves in one write.
                let more_due = seq + 1 < count && intended(seq + 1) <= send_start;
                let send = async {
                    if more_due {
                        sink.feed(msg).await
                    } else {
                        sink.send(msg).await
                    }
                };
                match tokio::time::timeout_at(give_up.into(), send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        rec.error(format!(
                            "client {id}: send failed after {sent} messages: {e}"
                        ));
                        break;
                    }
                    Err(_) => {
                        // A server that stops reading fills the TCP window: the send
                        // would wait forever. The half-sent frame makes the client unusable.
                        rec.error(format!(
                            "client {id}: sending was still blocked when the step ended, after {sent} messages \
                             (the server stopped reading)"
                        ));
                        blocked = true;
                        break;
                    }
                }
                sends.push_back((send_start, Instant::now()));
                sent += 1;
                rec.sent(1);
            }
            // A backlog queued with `feed` still has to leave; never wait past the step.
            if !blocked {
                match tokio::time::timeout_at(give_up.into(), sink.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => rec.error(format!("client {id}: final flush failed: {e}")),
                    Err(_) => {
                        rec.error(format!(
                            "client {id}: sending was still blocked when the step ended \
                             (the server stopped reading)"
                        ));
                        blocked = true;
                    }
                }
            }
            (sink, sent, blocked)
        })
    };
    let receiver = async {
        let mut t = ClientTally::default();
        let mut seen = vec![false; count as usize];
        let mut open = true;
        while t.received + t.corrupt < count {
            let next = tokio::time::timeout_at(give_up.into(), stream.next()).await;
            let msg = match next {
                Err(_) => break,
                Ok(None) => {
                    open = false;
                    rec.error(format!("client {id}: connection ended during echo"));
                    break;
                }
                Ok(Some(Err(e))) => {
                    open = false;
                    rec.error(format!("client {id}: {e}"));
                    break;
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    open = false;
                    rec.error(format!(
                        "client {id}: server closed the connection during echo ({})",
                        f.map_or("no code".into(), |f| format!("code {}", u16::from(f.code)))
                    ));
                    break;
                }
                Ok(Some(Ok(m))) => m,
            };
            let now = Instant::now();
            let Some((op, payload)) = data(&msg) else {
                continue;
            };
            let Some((cid, seq)) = parse_echo_header(payload) else {
                // Not one of ours: a broadcast or other server traffic.
                continue;
            };
            if cid != id || seq >= count {
                t.corrupt += 1;
                rec.failure("corrupt");
                continue;
            }
            if op != cfg.opcode || payload != echo_payload(id, seq, size).as_slice() {
                t.corrupt += 1;
                rec.failure("corrupt");
                continue;
            }
            if seen[seq as usize] {
                t.duplicates += 1;
                continue;
            }
            seen[seq as usize] = true;
            let anchor =
                start + Duration::from_nanos(anchors[seq as usize].load(Ordering::Acquire));
            let latency = now.saturating_duration_since(anchor);
            if latency > cfg.late_after.0 {
                t.late += 1;
            }
            t.received += 1;
            rec.received(1);
            rec.sample("latency", latency);
        }
        (t, open)
    };
    let (mut tally, open) = receiver.await;
    let (sink, sent, blocked) = match sender.await {
        Ok(done) => done,
        Err(e) => {
            rec.error(format!("client {id}: sender task failed: {e}"));
            rec.disconnected();
            return (tally, None);
        }
    };
    tally.sent = sent;
    let client = match sink.reunite(stream) {
        Ok(ws) if open && !blocked => Some(PooledClient { id, ws }),
        _ => {
            rec.disconnected();
            None
        }
    };
    (tally, client)
}

fn nanos_since(start: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}
