//! `frames`: echo payloads of chosen sizes (across the 125/126 and 65535/65536 length
//! encodings, and from 1433 bytes up) whole and as fragmented messages. Sizes above the
//! server's stated limit are expected to be refused with close 1009.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::StepCtx;
use super::early_close::{self, EarlyCloses};
use super::wire::{EchoMatch, EchoResult, await_echo, close_politely, fill, message};
use crate::client::Ws;
use crate::scenario::model::{FramesStep, Opcode};

pub async fn run(cfg: &FramesStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    let mut ws: Option<Ws> = None;
    let (mut sent, mut passed, mut failed, mut refused_ok) = (0u32, 0u32, 0u32, 0u32);
    let mut largest_ok = 0u32;
    let mut early = EarlyCloses::default();
    // When the connection in use opened, until its first case: only a close in answer
    // to that one can be the server shutting a new socket at once rather than a frame.
    let mut fresh: Option<tokio::time::Instant> = None;
    let fragments = cfg.fragments.max(1);
    let mut cases: Vec<(u32, u32)> = cfg.sizes.iter().map(|s| (*s, 1)).collect();
    if fragments > 1 {
        cases.extend(
            cfg.sizes
                .iter()
                .filter(|s| **s >= fragments)
                .map(|s| (*s, fragments)),
        );
    }
    for (size, parts) in cases {
        let label = if parts > 1 {
            format!("{size} B in {parts} fragments")
        } else {
            format!("{size} B")
        };
        if ws.is_none() {
            match ctx.endpoint.connect(None, cfg.timeout.0).await {
                Ok((c, _)) => {
                    ws = Some(c);
                    fresh = Some(tokio::time::Instant::now());
                }
                Err(e) => {
                    rec.failure(&e.cause());
                    return Err(format!("frames: cannot connect: {e}"));
                }
            }
        }
        let conn = ws.as_mut().expect("connected above");
        let mut payload = format!("#frames size={size} parts={parts} ").into_bytes();
        payload.truncate(size as usize);
        fill(&mut payload, size as usize, size as u64);
        let started = std::time::Instant::now();
        sent += 1;
        rec.sent(1);
        let result = send_and_wait(conn, cfg.opcode, payload, parts, cfg.timeout.0).await;
        let too_big = cfg.max_message_len.is_some_and(|m| size > m);
        let closed_early = fresh
            .take()
            .and_then(|opened| early_close::of_echo(&result, opened))
            .filter(|_| !too_big);
        if let Some(how) = closed_early {
            failed += 1;
            let cause = early.count(&how);
            rec.failure(&format!("{label}: {cause}"));
            rec.error(format!("{label}: {cause}"));
            ws = None;
            continue;
        }
        match (result, too_big) {
            (EchoResult::Ok(_), false) => {
                passed += 1;
                largest_ok = largest_ok.max(size);
                rec.received(1);
                rec.sample("latency", started.elapsed());
            }
            (EchoResult::Closed(Some(1009)), true) => {
                refused_ok += 1;
                rec.note(format!("{label}: refused with close 1009 as expected"));
                ws = None;
            }
            (EchoResult::Ok(_), true) => {
                passed += 1;
                largest_ok = largest_ok.max(size);
                rec.received(1);
                rec.sample("latency", started.elapsed());
                rec.note(format!("{label}: echoed although above the stated limit"));
            }
            (other, _) => {
                failed += 1;
                rec.failure(&format!("{label}: {}", other.cause()));
                rec.error(format!("{label}: {}", other.cause()));
                if !matches!(other, EchoResult::Mismatch) {
                    ws = None;
                }
            }
        }
    }
    if let Some(mut c) = ws {
        close_politely(&mut c, Duration::from_secs(1)).await;
    }
    rec.set("sent", sent as f64);
    rec.set("passed", passed as f64);
    rec.set("failed", failed as f64);
    rec.set("refused_as_expected", refused_ok as f64);
    rec.set("largest_ok", largest_ok as f64);
    early.finish(&rec, "passed");
    Ok(())
}

async fn send_and_wait(
    ws: &mut Ws,
    opcode: Opcode,
    payload: Vec<u8>,
    parts: u32,
    timeout: Duration,
) -> EchoResult {
    let expected = payload.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    // A server that stops reading would block the send forever: bound it too.
    let send = tokio::time::timeout_at(deadline, async {
        if parts <= 1 {
            ws.send(message(opcode, payload)).await
        } else {
            let chunk = payload.len().div_ceil(parts as usize).max(1);
            let first_op = match opcode {
                Opcode::Text => OpCode::Data(Data::Text),
                Opcode::Binary => OpCode::Data(Data::Binary),
            };
            let chunks: Vec<&[u8]> = payload.chunks(chunk).collect();
            let last = chunks.len() - 1;
            let mut r = Ok(());
            for (i, c) in chunks.iter().enumerate() {
                let op = if i == 0 {
                    first_op
                } else {
                    OpCode::Data(Data::Continue)
                };
                r = ws
                    .feed(Message::Frame(Frame::message(c.to_vec(), op, i == last)))
                    .await;
                if r.is_err() {
                    break;
                }
            }
            if r.is_ok() { ws.flush().await } else { r }
        }
    })
    .await;
    match send {
        Err(_) => return EchoResult::Timeout,
        Ok(Err(e)) => return EchoResult::Error(e.to_string()),
        Ok(Ok(())) => {}
    }
    let start = std::time::Instant::now();
    await_echo(ws, deadline, start, |op, p| {
        if op == opcode && p == expected.as_slice() {
            return Some(EchoMatch::Same);
        }
        // Ours but changed; anything else (a periodic broadcast) is skipped.
        let ours = p.starts_with(b"#frames")
            || (p.len() == expected.len() && !p.starts_with(b"Server broadcast"));
        ours.then_some(EchoMatch::Changed)
    })
    .await
}
