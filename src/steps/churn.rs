//! `churn`: connect, echo once, close politely; `cycles` times in a row. Catches servers
//! that leak a socket per connection and start failing after a few reconnects.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;

use super::StepCtx;
use super::wire::{CloseOutcome, EchoResult, close_politely, echo_once};
use crate::scenario::model::ChurnStep;

pub async fn run(cfg: &ChurnStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let rec = ctx.rec.clone();
    let mut ok = 0u32;
    let mut first_failure = None;
    let mut close_not_echoed = 0u32;
    for cycle in 1..=cfg.cycles {
        rec.sent(1);
        let failure = match ctx.endpoint.connect(None, cfg.timeout.0).await {
            Err(e) => Some((e.cause(), e.to_string())),
            Ok((mut ws, t)) => {
                rec.connected();
                rec.sample("connect", t.total);
                let probe = Message::text(format!("#churn cycle {cycle}"));
                let r = echo_once(&mut ws, probe, cfg.timeout.0).await;
                let closed = close_politely(&mut ws, Duration::from_secs(1)).await;
                rec.disconnected();
                if closed != CloseOutcome::Echoed {
                    close_not_echoed += 1;
                    rec.failure("close not echoed");
                }
                match r {
                    EchoResult::Ok(_) => None,
                    other => Some((other.cause(), format!("{other:?}"))),
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
