//! Step drivers: each drives clients against the target and records into the step's
//! recorder handle. Drivers never print; the runner owns the output.

mod abrupt;
mod anchors;
mod capacity;
mod churn;
mod connect;
mod early_close;
mod echo;
mod exhaust;
mod fanout;
mod frames;
mod hold;
mod pacer;
mod ping;
mod tls;
mod wind_down;
mod wire;

pub use capacity::condition as capacity_condition;
pub use wind_down::WIND_DOWN_GRACE;

use crate::client::{Endpoint, Ws};
use crate::recorder::StepRec;
use crate::scenario::model::Step;

/// A client opened by `connect` and kept open for the steps that follow.
pub struct PooledClient {
    pub id: u32,
    pub ws: Ws,
}

/// What a step may use.
pub struct StepCtx<'a> {
    /// Where clients connect.
    pub endpoint: &'a Endpoint,
    /// The target's wss endpoint, when it has one (the `tls` step needs it).
    pub wss: Option<&'a Endpoint>,
    pub pool: &'a mut Vec<PooledClient>,
    /// Why the pool is empty when an earlier step emptied it (a failed `connect`, a
    /// step that lost its clients), so a later step's error points at the cause.
    pub pool_emptied_by: Option<&'a str>,
    pub rec: StepRec,
    /// Ids for new pooled clients.
    pub next_client_id: &'a mut u32,
    /// Set (with the reason) when the run is stopped: steps that [`winds_down`] end
    /// early on it and still report what they measured.
    pub stop: StopSignal,
}

/// The run's stop: `None` until Ctrl-C, SIGTERM or the caller asks the run to end.
pub type StopSignal = tokio::sync::watch::Receiver<Option<String>>;

/// Whether a step ends by itself on the stop signal (within [`WIND_DOWN_GRACE`]) with
/// its end-of-step figures over the part it ran; any other step is dropped at once.
pub fn winds_down(step: &Step) -> bool {
    matches!(step, Step::Echo(_) | Step::Capacity(_) | Step::Ping(_))
}

/// Runs one step. `Err` means the step could not do its job (the reason is recorded);
/// what it measured is judged by thresholds, not here.
pub async fn run(step: &Step, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    match step {
        Step::Connect(s) => connect::run(s, ctx).await,
        Step::Echo(s) => echo::run(s, ctx).await,
        Step::Capacity(s) => capacity::run(s, ctx).await,
        Step::Fanout(s) => fanout::run(s, ctx).await,
        Step::Tls(s) => tls::run(s, ctx).await,
        Step::Exhaust(s) => exhaust::run(s, ctx).await,
        Step::Ping(s) => ping::run(s, ctx).await,
        Step::Churn(s) => churn::run(s, ctx).await,
        Step::Abrupt(s) => abrupt::run(s, ctx).await,
        Step::Frames(s) => frames::run(s, ctx).await,
        Step::Hold(s) => hold::run(s, ctx).await,
        Step::Wait(s) => {
            tokio::time::sleep(s.duration.0).await;
            Ok(())
        }
    }
}

/// Whether the target still answers on a client already open: a PING on the first
/// one, its PONG within 2 s. A target at its socket limit refuses a new connection
/// (HTTP 503, a refused or closed socket) yet still serves the clients it holds; it
/// is not lost.
pub async fn pool_answers(pool: &mut [PooledClient]) -> bool {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Some(c) = pool.first_mut() else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let probe = b"wsbench-alive".to_vec();
    if tokio::time::timeout_at(deadline, c.ws.send(Message::Ping(probe.clone().into())))
        .await
        .map_or(true, |r| r.is_err())
    {
        return false;
    }
    loop {
        match tokio::time::timeout_at(deadline, c.ws.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) if p.as_ref() == probe.as_slice() => return true,
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                return false;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Steps that use the open clients need some.
fn need_pool(ctx: &StepCtx<'_>, kind: &str) -> Result<(), String> {
    if ctx.pool.is_empty() {
        Err(match ctx.pool_emptied_by {
            Some(why) => format!(
                "`{kind}` uses the clients opened by a `connect` step, and none are open: {why}; see that step's errors"
            ),
            None => format!(
                "`{kind}` uses the clients opened by a `connect` step, and none are open; put a `connect` step before it"
            ),
        })
    } else {
        Ok(())
    }
}
