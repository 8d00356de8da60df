//! `abrupt`: clients that vanish without a CLOSE frame (optionally in the middle of a
//! frame), each followed by a check that the server still serves a new client.

use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use super::StepCtx;
use super::early_close::{self, EarlyCloses};
use super::wire::{EchoResult, close_politely, echo_once};
use crate::scenario::model::AbruptStep;

/// A masked text frame header announcing 1000 payload bytes, then only 10 of them.
const PARTIAL_FRAME: [u8; 18] = [
    0x81, 0xFE, 0x03, 0xE8, 0x11, 0x22, 0x33, 0x44, b'p', b'a', b'r', b't', b'i', b'a', b'l', b'!',
    b'!', b'!',
];

pub async fn run(cfg: &AbruptStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    let (mut dropped, mut ok, mut failed) = (0u32, 0u32, 0u32);
    let mut last_ok = false;
    let mut early = EarlyCloses::default();
    for i in 1..=cfg.count {
        match ctx.endpoint.connect(None, cfg.timeout.0).await {
            Err(e) => {
                rec.failure(&e.cause());
                rec.error(format!("drop {i}: could not connect: {e}"));
                continue;
            }
            Ok((mut ws, _)) => {
                if cfg.mid_frame {
                    let io = ws.get_mut();
                    let _ = io.write_all(&PARTIAL_FRAME).await;
                    let _ = io.flush().await;
                }
                // Dropping the stream closes TCP without a WebSocket CLOSE.
                drop(ws);
                dropped += 1;
                rec.sent(1);
            }
        }
        let check = async {
            let (mut ws, _) = ctx
                .endpoint
                .connect(None, cfg.timeout.0)
                .await
                .map_err(|e| e.cause())?;
            let opened = tokio::time::Instant::now();
            let r = echo_once(
                &mut ws,
                Message::text(format!("#abrupt check {i}")),
                cfg.timeout.0,
            )
            .await;
            let closed_early = early_close::of_echo(&r, opened);
            if closed_early.is_none() {
                close_politely(&mut ws, std::time::Duration::from_secs(1)).await;
            }
            match (r, closed_early) {
                (EchoResult::Ok(d), _) => Ok(d),
                (_, Some(how)) => Err(early.count(&how)),
                (other, None) => Err(other.cause()),
            }
        };
        let started = std::time::Instant::now();
        match check.await {
            Ok(_) => {
                ok += 1;
                last_ok = true;
                rec.received(1);
                rec.sample("check", started.elapsed());
            }
            Err(cause) => {
                failed += 1;
                last_ok = false;
                rec.failure(&format!("check: {cause}"));
                rec.error(format!(
                    "after dropping client {i}, a new client was not served: {cause}"
                ));
            }
        }
    }
    rec.set("dropped", dropped as f64);
    rec.set("checks_ok", ok as f64);
    rec.set("checks_failed", failed as f64);
    rec.set("recovered", if last_ok { 1.0 } else { 0.0 });
    early.finish(&rec, "served checks");
    Ok(())
}
