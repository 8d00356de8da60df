//! `churn`: connect, echo once, close politely; `cycles` times in a row. Catches servers
//! that leak a socket per connection and start failing after a few reconnects.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;

use super::StepCtx;
use super::early_close::{self, EarlyCloses};
use super::wire::{CloseOutcome, EchoResult, close_politely, echo_once};
use crate::scenario::model::ChurnStep;

pub async fn run(cfg: &ChurnStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    let mut ok = 0u32;
    let mut first_failure = None;
    let mut close_not_echoed = 0u32;
    let mut early = EarlyCloses::default();
    for cycle in 1..=cfg.cycles {
        rec.sent(1);
        let failure = match ctx.endpoint.connect(None, cfg.timeout.0).await {
            Err(e) => Some((e.cause(), e.to_string())),
            Ok((mut ws, t)) => {
                let opened = tokio::time::Instant::now();
                rec.connected();
                rec.sample("connect", t.total);
                let probe = Message::text(format!("#churn cycle {cycle}"));
                let r = echo_once(&mut ws, probe, cfg.timeout.0).await;
                // A server that closed the socket at once has nothing left to close.
                let closed_early = early_close::of_echo(&r, opened);
                if closed_early.is_none() {
                    let closed = close_politely(&mut ws, Duration::from_secs(1)).await;
                    if !matches!(
                        closed,
                        CloseOutcome::Echoed | CloseOutcome::ClosedByServer(_)
                    ) {
                        close_not_echoed += 1;
                        rec.failure("close not echoed");
                    }
                }
                rec.disconnected();
                match (r, closed_early) {
                    (_, Some(how)) => {
                        let cause = early.count(&how);
                        Some((cause.clone(), format!("{cause} before its echo")))
                    }
                    (EchoResult::Ok(_), None) => None,
                    (other, None) => Some((other.cause(), format!("{other:?}"))),
                }
            }
        };
        match failure {
            None => {
                ok += 1;
                rec.received(1);
            }
            Some((cause, text)) => {
                rec.failure(&cause);
                if first_failure.is_none() {
                    first_failure = Some(cycle);
                    rec.note(format!("started failing at cycle {cycle}: {text}"));
                }
            }
        }
    }
    rec.set("cycles", cfg.cycles as f64);
    rec.set("succeeded", ok as f64);
    rec.set("failures", (cfg.cycles - ok) as f64);
    rec.set("first_failure", first_failure.unwrap_or(0) as f64);
    rec.set("close_not_echoed", close_not_echoed as f64);
    early.finish(&rec, "succeeded cycles");
    if close_not_echoed > 0 {
        rec.note(format!(
            "{close_not_echoed} of {} CLOSE frames were not answered with CLOSE",
            cfg.cycles
        ));
    }
    if first_failure.is_none() {
        rec.note(format!("all {} cycles succeeded", cfg.cycles));
    }
    Ok(())
}
