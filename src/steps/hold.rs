//! `hold`: keep the open clients idle for a while (the server's periodic traffic still
//! arrives) and count the ones the server drops.

use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::{StepCtx, need_pool};
use crate::scenario::model::HoldStep;

pub async fn run(cfg: &HoldStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    need_pool(ctx, "hold")?;
    let clients = std::mem::take(ctx.pool);
    let n = clients.len();
    let deadline = tokio::time::Instant::now() + cfg.duration.0;
    let mut tasks = JoinSet::new();
    for mut c in clients {
        let rec = ctx.rec.clone();
        tasks.spawn(async move {
            let mut received = 0u64;
            loop {
                match tokio::time::timeout_at(deadline, c.ws.next()).await {
                    Err(_) => return (received, Some(c)),
                    Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                        rec.error(format!("client {} was disconnected during the hold", c.id));
                        rec.disconnected();
                        return (received, None);
                    }
                    Ok(Some(Ok(_))) => {
                        received += 1;
                        rec.received(1);
                    }
                }
            }
        });
    }
    let mut disconnects = 0;
    let mut received = 0;
    while let Some(Ok((r, c))) = tasks.join_next().await {
        received += r;
        match c {
            Some(c) => ctx.pool.push(c),
            None => disconnects += 1,
        }
    }
    ctx.pool.sort_by_key(|c| c.id);
    ctx.rec.set("clients", n as f64);
    ctx.rec.set("disconnects", disconnects as f64);
    ctx.rec.set("messages_received", received as f64);
    Ok(())
}
