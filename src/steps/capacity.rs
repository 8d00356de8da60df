//! `capacity`: the highest open-loop echo rate the target sustains while none of the
//! step's `until` conditions holds.
//!
//! Rungs run at `from`, then double until a rung breaks a condition or `to` is reached;
//! then `bisections` rungs at the geometric middle of the highest rate held and the
//! lowest that broke narrow the bracket. Each rung is a full open-loop echo (the same
//! pacer, latency from the due time, unsent messages counted as loss), so the rate found
//! is one the target answered in time, not one the client merely offered.
//!
//! A stopped run ends the search: the rung cut short is not judged (its figures cover
//! only part of it), and the rate held so far is reported as what it is.

use tokio::task::JoinSet;

use super::early_close::{self, EarlyCloses};
use super::echo::{self, ClientTally};
use super::{PooledClient, StepCtx, StopSignal};
use crate::recorder::StepRec;
use crate::report::model::CapacityRung;
use crate::scenario::model::{CapacityStep, EchoStep, RatePer};
use crate::scenario::threshold::{self, MetricRef, Threshold};

/// The name conditions are parsed under, as if they were thresholds on an echo step.
const RUNG: &str = "rung";

/// Checks one `until` condition; the error says what is wrong.
pub fn condition(expr: &str) -> Result<Threshold, String> {
    let c = threshold::parse(
        &format!("{RUNG}.{}", expr.trim()),
        &[(RUNG.to_string(), "echo".to_string())],
    )
    .map_err(|e| e.replace(&format!("{RUNG}."), ""))?;
    match &c.metric {
        MetricRef::Step { .. } => Ok(c),
        MetricRef::Distribution { dist, .. } if dist == "latency" => Ok(c),
        _ => Err(format!(
            "a rung is judged on its echo figures (`latency.<stat>`, `loss`, `unsent`, `throughput`, ...), not `{}`",
            c.metric_name.trim_start_matches("rung.")
        )),
    }
}

pub async fn run(cfg: &CapacityStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    let conditions = cfg
        .until
        .iter()
        .map(|c| condition(c))
        .collect::<Result<Vec<_>, _>>()?;
    let rec = ctx.rec.clone();
    rec.set("clients", cfg.clients as f64);
    let mut clients = Vec::new();
    let mut held: Option<f64> = None;
    let mut broke: Option<f64> = None;
    let mut rate = cfg.from;
    let mut rungs = 0u32;
    let mut bisections = 0u32;
    let mut early = EarlyCloses::default();
    let mut stopped_in: Option<f64> = None;
    let outcome = loop {
        if ctx.stop.borrow().is_some() {
            stopped_in = Some(rate);
            break Ok(());
        }
        if let Err(e) = top_up(cfg, ctx, &mut clients, &mut early).await {
            break Err(e);
        }
        let (rung, kept) = run_rung(cfg, rate, clients, &conditions, &rec, &ctx.stop).await;
        clients = kept;
        let rung = match rung {
            RungOutcome::Ran(rung) => {
                rungs += 1;
                rung
            }
            RungOutcome::Stopped => {
                stopped_in = Some(rate);
                break Ok(());
            }
            RungOutcome::Failed => {
                break Err(format!("the rung at {rate:.0} msg/s could not run"));
            }
        };
        let ok = rung.broke.is_empty();
        rec.rung(rung);
        if ok {
            held = Some(held.map_or(rate, |h| h.max(rate)));
        } else {
            broke = Some(broke.map_or(rate, |b| b.min(rate)));
        }
        rate = match (held, broke) {
            (Some(h), None) if h < cfg.to => (h * 2.0).min(cfg.to),
            (Some(_), None) => break Ok(()),
            (None, Some(_)) => break Ok(()),
            (Some(h), Some(b)) if bisections < cfg.bisections && b / h > 1.02 => {
                bisections += 1;
                (h * b).sqrt()
            }
            _ => break Ok(()),
        };
    };
    rec.set("rungs", rungs as f64);
    early.finish(&rec, "clients");
    rec.set("sustained", held.unwrap_or(0.0));
    if let Some(b) = broke {
        rec.set("knee", b);
    }
    rec.note(match (held, broke) {
        _ if stopped_in.is_some() => format!(
            "stopped during the rung at {:.0} msg/s, which is not judged (it ran only in part); {}",
            stopped_in.unwrap_or_default(),
            match (held, broke) {
                (Some(h), Some(b)) => format!("held {h:.0} msg/s so far, broke at {b:.0} msg/s"),
                (Some(h), None) => format!(
                    "held {h:.0} msg/s so far and no rung broke: the limit is at least that"
                ),
                (None, Some(b)) => format!("no rung held; broke at {b:.0} msg/s"),
                (None, None) => "no rung had finished".into(),
            }
        ),
        (Some(h), Some(b)) => format!(
            "sustained {h:.0} msg/s over {} clients; broke at {b:.0} msg/s",
            cfg.clients
        ),
        (Some(h), None) => {
            format!("sustained every rate tried, up to `to` = {h:.0} msg/s: the limit is higher")
        }
        (None, _) => format!(
            "even the first rung ({:.0} msg/s) broke a condition: the limit is lower than `from`",
            cfg.from
        ),
    });
    close_all(clients, &rec).await;
    outcome
}

/// Opens clients until there are `cfg.clients` (a rung may lose some); those the
/// server closes at once are counted in `early` and not kept.
async fn top_up(
    cfg: &CapacityStep,
    ctx: &mut StepCtx<'_>,
    clients: &mut Vec<PooledClient>,
    early: &mut EarlyCloses,
) -> Result<(), String> {
    let missing = (cfg.clients as usize).saturating_sub(clients.len());
    let mut tasks = JoinSet::new();
    for _ in 0..missing {
        let endpoint = ctx.endpoint.clone();
        let timeout = cfg.timeout.0;
        tasks.spawn(async move { endpoint.connect(None, timeout).await });
    }
    let mut first_error = None;
    let mut opened = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((ws, _))) => {
                ctx.rec.connected();
                let id = *ctx.next_client_id;
                *ctx.next_client_id += 1;
                opened.push(PooledClient { id, ws });
            }
            Ok(Err(e)) => {
                ctx.rec.failure(&e.cause());
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => ctx.rec.error(format!("connect task failed: {e}")),
        }
    }
    let before = early.total();
    clients.extend(early_close::sift(opened, &ctx.rec, early).await);
    if early.total() > before && first_error.is_none() {
        first_error = Some("the server closed clients right after opening them".into());
    }
    match first_error {
        Some(e) if clients.is_empty() => Err(format!("no client could connect: {e}")),
        Some(e) => {
            ctx.rec.error(format!(
                "only {} of {} clients could connect: {e}",
                clients.len(),
                cfg.clients
            ));
            Ok(())
        }
        None => Ok(()),
    }
}

/// How a rung ended.
enum RungOutcome {
    Ran(CapacityRung),
    /// The run's stop cut it short.
    Stopped,
    /// It could not run (no pacer thread).
    Failed,
}

async fn run_rung(
    cfg: &CapacityStep,
    rate: f64,
    clients: Vec<PooledClient>,
    conditions: &[Threshold],
    rec: &StepRec,
    stop: &StopSignal,
) -> (RungOutcome, Vec<PooledClient>) {
    let echo_cfg = EchoStep {
        name: None,
        rate,
        per: RatePer::Total,
        size: cfg.size,
        opcode: cfg.opcode,
        duration: cfg.rung,
        late_after: cfg.timeout,
        timeout: cfg.timeout,
        unsent_is_loss: true,
    };
    let round = echo::drive(&echo_cfg, clients, rec, true, stop).await;
    let clients = round.clients;
    match round.result {
        Ok((_, tally)) if tally.stopped_at.is_some() => (RungOutcome::Stopped, clients),
        Ok((plan, tally)) => (
            RungOutcome::Ran(figures(rate, &plan, &tally, conditions)),
            clients,
        ),
        Err(_) => (RungOutcome::Failed, clients),
    }
}

fn figures(
    rate: f64,
    plan: &super::pacer::Plan,
    t: &ClientTally,
    conditions: &[Threshold],
) -> CapacityRung {
    let loss = t.loss(true).unwrap_or(1.0);
    let throughput = t.throughput(plan);
    let lat = |q: f64| t.latency.as_ref().map_or(0, |h| h.value_at_quantile(q));
    let unsent = (t.unsent_client + t.unsent_server) as f64;
    let lost = t.lost() as f64;
    let value = |c: &Threshold| -> Option<f64> {
        match &c.metric {
            MetricRef::Step { metric, .. } => match metric.as_str() {
                "loss" => Some(loss),
                "throughput" => Some(throughput),
                "unsent" => Some(unsent),
                "unsent_client" => Some(t.unsent_client as f64),
                "unsent_server" => Some(t.unsent_server as f64),
                "lost" => Some(lost),
                "late" => Some(t.late as f64),
                "timed_out" => Some(t.timed_out as f64),
                "corrupt" => Some(t.corrupt as f64),
                "sent" => Some(t.sent as f64),
                "received" => Some(t.received as f64),
                "planned" => Some(t.planned as f64),
                _ => None,
            },
            MetricRef::Distribution { dist, stat, .. } if dist == "latency" => {
                let h = t.latency.as_ref()?;
                Some(match stat.as_str() {
                    "p50" => h.value_at_quantile(0.5) as f64,
                    "p90" => h.value_at_quantile(0.9) as f64,
                    "p99" => h.value_at_quantile(0.99) as f64,
                    "p999" => h.value_at_quantile(0.999) as f64,
                    "max" => h.max() as f64,
                    "min" => h.min() as f64,
                    "mean" => h.mean(),
                    "count" => h.len() as f64,
                    _ => return None,
                })
            }
            _ => None,
        }
    };
    let broke = conditions
        .iter()
        .filter(|c| {
            // A figure the rung has none of (no echo came back at all) breaks it.
            value(c).is_none_or(|v| c.op.holds(threshold::to_unit(v, c.unit), c.value))
        })
        .map(|c| c.expression.trim_start_matches("rung.").to_string())
        .collect();
    CapacityRung {
        rate,
        planned: t.planned,
        sent: t.sent,
        received: t.received,
        loss,
        throughput,
        latency_p50_us: lat(0.5),
        latency_p99_us: lat(0.99),
        latency_max_us: t.latency.as_ref().map_or(0, |h| h.max()),
        broke,
    }
}

async fn close_all(clients: Vec<PooledClient>, rec: &StepRec) {
    let closes = clients.into_iter().map(|mut c| async move {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), c.ws.close(None)).await;
    });
    let n = closes.len();
    futures_util::future::join_all(closes).await;
    for _ in 0..n {
        rec.disconnected();
    }
}
