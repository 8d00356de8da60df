//! `echo`: open-loop echo at a fixed rate over the open clients.
//!
//! The pacer (`pacer.rs`) releases each planned message at its due time, whether or
//! not earlier echoes came back, and latency is measured from that due time, so a
//! stalled server shows up as latency instead of hiding as a lower send rate (no
//! coordinated omission).
//!
//! One bounded correction remains: a sender released by the pacer (on the pacer's own
//! thread) still has to be polled and build its frame, and when the host is busy that
//! thread may not get a core at once; that delay is the host's, not the server's. When
//! the client was idle
//! at the due time (its previous send had ended), latency is measured from the moment
//! its send started, but never from later than [`SEND_LAG_ALLOWANCE`] after the due
//! time; a client still inside a send at the due time gets no correction at all. How
//! late every send started is reported as the `send_lag` distribution.
//!
//! Nothing planned is dropped from the figures: a message that could not be sent
//! before its own timeout is `unsent`, told apart by why (`unsent_client`: the client
//! was busy with its own work; `unsent_server`: the client was waiting for the server
//! to take data, or the connection ended), and by default counts against `loss`.
//!
//! A stopped run (Ctrl-C, SIGTERM) winds the step down (`wind_down.rs`): the plan
//! becomes what was due before the stop, and an echo still within its timeout when the
//! wind-down ends is `in_flight`, neither received nor lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::anchors::{Anchors, Taken};
use super::pacer::{self, Plan};
use super::wind_down::{Cut, WindDown, wait_after_stop};
use super::wire::{data, echo_payload, message, parse_echo_header};
use super::{PooledClient, StepCtx, StopSignal, need_pool};
use crate::client::Ws;
use hdrhistogram::Histogram;

use crate::recorder::{StepRec, new_hist};
use crate::scenario::model::{EchoStep, RatePer};

/// Most host lateness forgiven per message (see the module doc).
pub const SEND_LAG_ALLOWANCE: Duration = Duration::from_micros(200);

/// A send call that takes longer than this was waiting for the server to take data
/// (a full TCP window), not doing the client's own work: a frame's write on a
/// connection that takes data costs microseconds.
const WAITING_SEND: Duration = Duration::from_millis(1);

/// First due time after the step starts, so every client is ready before it.
const LEAD_IN: Duration = Duration::from_millis(20);

/// What a client (or, added up, all of them) counted.
#[derive(Default)]
pub(super) struct ClientTally {
    pub planned: u64,
    pub sent: u64,
    pub unsent_client: u64,
    pub unsent_server: u64,
    pub received: u64,
    pub timed_out: u64,
    pub corrupt: u64,
    pub late: u64,
    /// Sends that started more than [`SEND_LAG_ALLOWANCE`] after their due time, the
    /// client not having been waiting for the server meanwhile: the host's delay (its
    /// CPU or its scheduler), which their latency includes.
    pub sent_late: u64,
    pub duplicates: u64,
    /// Sent messages still within their timeout when a stopped step's wind-down ended.
    pub in_flight: u64,
    pub last_send_end: Option<Instant>,
    /// When the run's stop cut the step short (the plan then ends there).
    pub stopped_at: Option<Instant>,
    /// This round's latencies on their own, when asked for (capacity rungs).
    pub latency: Option<Histogram<u64>>,
}

impl ClientTally {
    fn add(&mut self, o: &ClientTally) {
        self.planned += o.planned;
        self.sent += o.sent;
        self.unsent_client += o.unsent_client;
        self.unsent_server += o.unsent_server;
        self.received += o.received;
        self.timed_out += o.timed_out;
        self.corrupt += o.corrupt;
        self.late += o.late;
        self.sent_late += o.sent_late;
        self.duplicates += o.duplicates;
        self.in_flight += o.in_flight;
        self.last_send_end = self.last_send_end.max(o.last_send_end);
        self.stopped_at = self.stopped_at.or(o.stopped_at);
        if let Some(h) = &o.latency {
            match &mut self.latency {
                Some(x) => {
                    let _ = x.add(h);
                }
                None => self.latency = Some(h.clone()),
            }
        }
    }

    /// Sent messages whose echo did not come back (in time, or intact), the ones still
    /// in flight at a stop left out.
    pub fn lost(&self) -> u64 {
        self.sent
            .saturating_sub(self.received + self.corrupt + self.in_flight)
    }

    /// Planned messages whose echo did not come back in time, sent or not, over those
    /// planned (or over those sent, when unsent messages are not loss); messages in
    /// flight at a stop are in neither count.
    pub fn loss(&self, unsent_is_loss: bool) -> Option<f64> {
        let unsent = self.unsent_client + self.unsent_server;
        let (lost, judged) = if unsent_is_loss {
            (self.lost() + unsent, self.planned)
        } else {
            (self.lost(), self.sent)
        };
        let judged = judged.saturating_sub(self.in_flight);
        (judged > 0).then(|| lost as f64 / judged as f64)
    }

    /// Echoes per second over the sending window (first due time to the last send, at
    /// least the planned duration, or up to the stop), not the wait for echoes that
    /// never came.
    pub fn throughput(&self, plan: &Plan) -> f64 {
        let mut planned_window = plan.total as f64 / plan.total_rate;
        if let Some(stop) = self.stopped_at {
            planned_window =
                planned_window.min(stop.saturating_duration_since(plan.start).as_secs_f64());
        }
        let window = self
            .last_send_end
            .map_or(0.0, |end| {
                end.saturating_duration_since(plan.start).as_secs_f64()
            })
            .max(planned_window);
        self.received as f64 / window
    }
}

/// The step's plan: exactly `rate × duration` messages (per client or shared).
pub(super) fn plan(cfg: &EchoStep, clients: u32, start: Instant) -> Plan {
    let secs = cfg.duration.0.as_secs_f64();
    let per_source = ((secs * cfg.rate).floor() as u64).max(1);
    let (total_rate, total) = match cfg.per {
        RatePer::Client => (cfg.rate * clients as f64, per_source * clients as u64),
        RatePer::Total => (cfg.rate, per_source),
    };
    Plan {
        start,
        total_rate,
        total,
        clients,
    }
}

pub async fn run(cfg: &EchoStep, ctx: &mut StepCtx<'_>) -> Result<(), String> {
    need_pool(ctx, "echo")?;
    let clients = std::mem::take(ctx.pool);
    let round = drive(cfg, clients, &ctx.rec, false, &ctx.stop).await;
    ctx.pool.extend(round.clients);
    ctx.pool.sort_by_key(|c| c.id);
    let (plan, total) = round.result?;
    record_totals(cfg, &plan, &total, &ctx.rec);
    if total.sent == 0 && total.stopped_at.is_none() {
        return Err("no message could be sent".into());
    }
    Ok(())
}

/// One round of open-loop echo and the clients still usable after it.
pub(super) struct Round {
    pub clients: Vec<PooledClient>,
    pub result: Result<(Plan, ClientTally), String>,
}

/// Runs `cfg`'s plan over `clients`, recording samples into `rec` (and keeping this
/// round's latencies apart when `keep_latency`); winds down when `stop` is set.
pub(super) async fn drive(
    cfg: &EchoStep,
    clients: Vec<PooledClient>,
    rec: &StepRec,
    keep_latency: bool,
    stop: &StopSignal,
) -> Round {
    // Each client's ring of anchors first, so allocating them does not eat into the
    // first messages' timeouts.
    let sizing = plan(cfg, clients.len() as u32, Instant::now());
    let per_client = sizing.total_rate / sizing.clients.max(1) as f64;
    let tables: Vec<Arc<Anchors>> = (0..sizing.clients)
        .map(|c| Arc::new(Anchors::new(sizing.count_of(c), per_client, cfg.timeout.0)))
        .collect();
    let plan = plan(cfg, clients.len() as u32, Instant::now() + LEAD_IN);
    let (pacer, releases) = pacer::start(plan);
    if !pacer.running() {
        return Round {
            clients,
            result: Err("cannot start the pacer thread that times the sends".into()),
        };
    }
    let mut tasks = JoinSet::new();
    let mut wind_down = WindDown::new(stop, cfg.timeout.0);
    for (i, ((client, released), anchors)) in
        clients.into_iter().zip(releases).zip(tables).enumerate()
    {
        let (sender_cut, receiver_cut) = wind_down.client();
        let job = ClientJob {
            index: i as u32,
            plan,
            cfg: cfg.clone(),
            rec: rec.clone(),
            keep_latency,
            senders: pacer.spawner(),
        };
        tasks.spawn(job.run(client, released, anchors, sender_cut, receiver_cut));
    }
    let mut total = ClientTally::default();
    let mut kept = Vec::new();
    while let Some(joined) = wind_down.join_next(&mut tasks, &pacer).await {
        match joined {
            Ok((tally, client)) => {
                total.add(&tally);
                kept.extend(client);
            }
            Err(e) => rec.error(format!("echo client task failed: {e}")),
        }
    }
    drop(pacer);
    total.stopped_at = wind_down.stopped_at();
    Round {
        clients: kept,
        result: Ok((plan, total)),
    }
}

fn record_totals(cfg: &EchoStep, plan: &Plan, t: &ClientTally, rec: &StepRec) {
    let unsent = t.unsent_client + t.unsent_server;
    let lost = t.lost();
    rec.set("planned", t.planned as f64);
    rec.set("sent", t.sent as f64);
    rec.set("unsent", unsent as f64);
    rec.set("unsent_client", t.unsent_client as f64);
    rec.set("unsent_server", t.unsent_server as f64);
    rec.set("received", t.received as f64);
    rec.set("corrupt", t.corrupt as f64);
    rec.set("late", t.late as f64);
    rec.set("sent_late", t.sent_late as f64);
    rec.set("timed_out", t.timed_out as f64);
    rec.set("lost", lost as f64);
    if let Some(loss) = t.loss(cfg.unsent_is_loss) {
        rec.set("loss", loss);
    }
    rec.set("throughput", t.throughput(plan));
    if let Some(stop) = t.stopped_at {
        rec.set("in_flight", t.in_flight as f64);
        let ran = stop.saturating_duration_since(plan.start).as_secs_f64();
        let waited = wait_after_stop(cfg.timeout.0).as_millis();
        let in_flight = match t.in_flight {
            0 => format!(
                "no echo was still in flight when the step stopped waiting (at most {waited} ms after the stop)"
            ),
            n => format!(
                "{n} sent messages were still within their timeout when the step stopped waiting for them \
                 ({waited} ms after the stop) and count as neither received nor lost"
            ),
        };
        rec.note(format!(
            "stopped after {ran:.1} s of its {:.1} s: planned, sent, unsent and loss cover the {} messages \
             due before the stop; {in_flight}",
            cfg.duration.0.as_secs_f64(),
            t.planned,
        ));
    }
    if t.unsent_client > 0 {
        rec.note(format!(
            "{} of {} planned messages were not sent in time because the client could not keep up \
             with the rate asked (its own CPU, not the server); lower the rate or use fewer clients per core",
            t.unsent_client, t.planned
        ));
    }
    if t.unsent_server > 0 {
        rec.note(format!(
            "{} of {} planned messages were not sent in time because the server was not taking data \
             (its TCP window stayed full) or the connection ended",
            t.unsent_server, t.planned
        ));
    }
    if t.duplicates > 0 {
        rec.note(format!("{} duplicate echoes received", t.duplicates));
    }
    if t.sent_late > 0 {
        rec.note(format!(
            "{} of {} sends started more than {} µs after their due time while the client was not \
             waiting for the server: this host's delay (its CPU or its scheduler), not the server's, \
             and their latency includes it",
            t.sent_late,
            t.sent,
            SEND_LAG_ALLOWANCE.as_micros()
        ));
    }
}

/// What one client's two halves share.
#[derive(Clone)]
struct ClientJob {
    index: u32,
    plan: Plan,
    cfg: EchoStep,
    rec: StepRec,
    keep_latency: bool,
    senders: pacer::Spawner,
}

/// The sender half's result.
struct Sent {
    /// The client's share of the plan: all of it, or what was due before a stop.
    planned: u64,
    sent: u64,
    sent_late: u64,
    unsent_client: u64,
    unsent_server: u64,
    blocked: bool,
    /// The message whose send was still blocked when sending ended: its anchor is set
    /// but it never left.
    blocked_seq: Option<u64>,
    last_send_end: Option<Instant>,
}

impl ClientJob {
    /// Past this the client stops sending and waiting: every message's timeout is over.
    fn give_up(&self) -> Instant {
        self.plan.last_due() + self.cfg.timeout.0
    }

    async fn run(
        self,
        client: PooledClient,
        released: pacer::Released,
        // Per message: nanoseconds after the plan's start from which its latency counts.
        anchors: Arc<Anchors>,
        mut sender_cut: Cut,
        receiver_cut: Cut,
    ) -> (ClientTally, Option<PooledClient>) {
        let id = client.id;
        let (sink, stream) = client.ws.split();
        let (done_tx, done_rx) = oneshot::channel();
        // The sender is a task of its own, on the pacer's thread: a sender catching up on
        // a backlog must never delay the moment an echo is read (and so inflate its
        // latency), and a release starts its send without another thread's wake-up.
        let sender = self.senders.spawn({
            let job = self.clone();
            let anchors = Arc::clone(&anchors);
            async move {
                let (sink, sent) = job
                    .send_all(id, sink, released, &anchors, &mut sender_cut)
                    .await;
                let _ = done_tx.send(sent.sent);
                (sink, sent)
            }
        });
        let (mut tally, stream, open, stopped_waiting) = self
            .receive_all(id, stream, &anchors, done_rx, receiver_cut)
            .await;
        tally.planned = self.plan.count_of(self.index);
        let Ok((sink, sent)) = sender.await else {
            self.rec.error(format!("client {id}: sender task failed"));
            self.rec.disconnected();
            return (tally, None);
        };
        tally.planned = sent.planned;
        tally.sent = sent.sent;
        if let Some(end) = stopped_waiting {
            tally.in_flight = self.in_flight(&anchors, &sent, end);
        }
        tally.sent_late = sent.sent_late;
        tally.unsent_client = sent.unsent_client;
        tally.unsent_server = sent.unsent_server;
        tally.last_send_end = sent.last_send_end;
        let client = match sink.reunite(stream) {
            Ok(ws) if open && !sent.blocked => Some(PooledClient { id, ws }),
            _ => {
                self.rec.disconnected();
                None
            }
        };
        (tally, client)
    }

    /// Sent messages not answered whose timeout had not passed at `end`, when a stopped
    /// step's receiver stopped waiting: the newest sends, so they are found from the end.
    fn in_flight(&self, anchors: &Anchors, sent: &Sent, end: Instant) -> u64 {
        let timeout = self.cfg.timeout.0;
        (0..sent.planned)
            .rev()
            .take_while(|&seq| self.plan.due(self.index, seq) + timeout > end)
            .filter(|&seq| Some(seq) != sent.blocked_seq && anchors.pending(seq))
            .count() as u64
    }

    async fn send_all(
        &self,
        id: u32,
        mut sink: SplitSink<Ws, Message>,
        mut released: pacer::Released,
        anchors: &Anchors,
        cut: &mut Cut,
    ) -> (SplitSink<Ws, Message>, Sent) {
        let count = self.plan.count_of(self.index);
        let timeout = self.cfg.timeout.0;
        let give_up = self.give_up();
        let size = self.cfg.size as usize;
        let mut out = Sent {
            planned: count,
            sent: 0,
            sent_late: 0,
            unsent_client: 0,
            unsent_server: 0,
            blocked: false,
            blocked_seq: None,
            last_send_end: None,
        };
        let mut waiting = WaitLog::default();
        let mut last_end: Option<Instant> = None;
        while let Some(seq) = released.recv().await {
            let due = self.plan.due(self.index, seq);
            let send_start = Instant::now();
            if send_start > due + timeout {
                // Its echo could no longer come back in time: never sent, and why.
                if waiting.mostly_waiting(due, send_start) {
                    out.unsent_server += 1;
                } else {
                    out.unsent_client += 1;
                }
                continue;
            }
            let lag = send_start.saturating_duration_since(due);
            let idle_at_due = last_end.is_none_or(|end| end <= due);
            if lag > SEND_LAG_ALLOWANCE && !waiting.mostly_waiting(due, send_start) {
                out.sent_late += 1;
            }
            let anchor = if idle_at_due {
                due + lag.min(SEND_LAG_ALLOWANCE)
            } else {
                due
            };
            anchors.set(seq, nanos_since(self.plan.start, anchor));
            self.rec.sample("send_lag", lag);
            let msg = message(self.cfg.opcode, echo_payload(id, seq, size));
            // More already released: queue without flushing, so a backlog leaves in one write.
            let more_due = !released.is_empty();
            let send = async {
                if more_due {
                    sink.feed(msg).await
                } else {
                    sink.send(msg).await
                }
            };
            match cut.within(give_up, send).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    self.rec.error(format!(
                        "client {id}: send failed after {} messages: {e}",
                        out.sent
                    ));
                    break;
                }
                None => {
                    // A server that stops reading fills the TCP window: the send would
                    // wait forever. The half-sent frame makes the client unusable.
                    self.rec.error(format!(
                        "client {id}: sending was still blocked when the {}, after {} messages \
                         (the server stopped reading)",
                        ended(cut),
                        out.sent
                    ));
                    out.blocked = true;
                    out.blocked_seq = Some(seq);
                    break;
                }
            }
            let end = Instant::now();
            waiting.record(send_start, end);
            last_end = Some(end);
            out.sent += 1;
            self.rec.sent(1);
        }
        // A backlog queued with `feed` still has to leave; never wait past the step.
        if !out.blocked {
            match cut.within(give_up, sink.flush()).await {
                Some(Ok(())) => last_end = Some(Instant::now()).max(last_end),
                Some(Err(e)) => self
                    .rec
                    .error(format!("client {id}: final flush failed: {e}")),
                None => {
                    self.rec.error(format!(
                        "client {id}: sending was still blocked when the {} \
                         (the server stopped reading)",
                        ended(cut)
                    ));
                    out.blocked = true;
                }
            }
        }
        // After a stop, the plan is what the pacer released before it.
        if cut.stopped() {
            out.planned = released.released();
        }
        // What was never sent after a blocked send or a failed connection: the server's side.
        out.unsent_server = out.planned.saturating_sub(out.sent + out.unsent_client);
        out.last_send_end = last_end;
        (sink, out)
    }

    /// Reads echoes until every message sent is answered or timed out; the last
    /// value is when it stopped waiting at a stop's deadline, if it did.
    async fn receive_all(
        &self,
        id: u32,
        mut stream: SplitStream<Ws>,
        anchors: &Anchors,
        done: oneshot::Receiver<u64>,
        mut cut: Cut,
    ) -> (ClientTally, SplitStream<Ws>, bool, Option<Instant>) {
        let count = self.plan.count_of(self.index);
        let size = self.cfg.size as usize;
        let give_up = self.give_up();
        let timeout = self.cfg.timeout.0;
        let mut t = ClientTally::default();
        let mut open = true;
        let mut stopped_waiting = None;
        // Messages that can still come back: all planned until the sender says how
        // many it sent.
        let mut expected = count;
        let mut done = Some(done);
        while t.received + t.corrupt + t.timed_out < expected {
            let next = tokio::select! {
                next = cut.within(give_up, stream.next()) => next,
                sent = async { done.as_mut().expect("guarded").await }, if done.is_some() => {
                    done = None;
                    expected = sent.unwrap_or(expected);
                    continue;
                }
            };
            let msg = match next {
                None => {
                    if cut.stopped() {
                        stopped_waiting = Some(Instant::now());
                    }
                    break;
                }
                Some(None) => {
                    open = false;
                    self.rec
                        .error(format!("client {id}: connection ended during echo"));
                    break;
                }
                Some(Some(Err(e))) => {
                    open = false;
                    self.rec.error(format!("client {id}: {e}"));
                    break;
                }
                Some(Some(Ok(Message::Close(f)))) => {
                    open = false;
                    self.rec.error(format!(
                        "client {id}: server closed the connection during echo ({})",
                        f.map_or("no code".into(), |f| format!("code {}", u16::from(f.code)))
                    ));
                    break;
                }
                Some(Some(Ok(m))) => m,
            };
            let now = Instant::now();
            let Some((op, payload)) = data(&msg) else {
                continue;
            };
            let Some((cid, seq)) = parse_echo_header(payload) else {
                // Not one of ours: a broadcast or other server traffic.
                continue;
            };
            if cid != id
                || seq >= count
                || op != self.cfg.opcode
                || payload != echo_payload(id, seq, size).as_slice()
            {
                t.corrupt += 1;
                self.rec.failure("corrupt");
                continue;
            }
            // Taking the anchor marks the message as answered: no second table to grow.
            let anchor = match anchors.take(seq) {
                Taken::Anchor(ns) => self.plan.start + Duration::from_nanos(ns),
                Taken::Duplicate => {
                    t.duplicates += 1;
                    continue;
                }
                // Its slot went to a later message: far past its timeout, timed from its
                // due time (an anchor is never earlier).
                Taken::Expired => self.plan.due(self.index, seq),
            };
            let latency = now.saturating_duration_since(anchor);
            // Its latency is a fact worth keeping; its echo still missed its timeout.
            self.rec.sample("latency", latency);
            if self.keep_latency {
                let us = (latency.as_micros() as u64).max(1);
                t.latency.get_or_insert_with(new_hist).saturating_record(us);
            }
            if now > self.plan.due(self.index, seq) + timeout {
                t.timed_out += 1;
                continue;
            }
            if latency > self.cfg.late_after.0 {
                t.late += 1;
            }
            t.received += 1;
            self.rec.received(1);
        }
        (t, stream, open, stopped_waiting)
    }
}

/// What ended a blocked send: the step's last timeout, or the run's stop.
fn ended(cut: &Cut) -> &'static str {
    if cut.deadline().is_some() {
        "run was stopped"
    } else {
        "step ended"
    }
}

/// When the sender was waiting for the server to take data: the send calls that took
/// longer than [`WAITING_SEND`], as (end, total waiting up to that end).
#[derive(Default)]
struct WaitLog {
    total: Duration,
    ends: VecDeque<(Instant, Duration)>,
    /// Total waiting up to the newest entry dropped from `ends`.
    before: Duration,
}

impl WaitLog {
    fn record(&mut self, start: Instant, end: Instant) {
        let took = end - start;
        if took > WAITING_SEND {
            self.total += took;
            self.ends.push_back((end, self.total));
        }
    }

    /// Whether, between `from` and `now`, the sender spent most of its time waiting
    /// for the server rather than working. `from` never goes back in time.
    fn mostly_waiting(&mut self, from: Instant, now: Instant) -> bool {
        while self.ends.front().is_some_and(|&(end, _)| end <= from) {
            self.before = self.ends.pop_front().map_or(self.before, |(_, t)| t);
        }
        let waited = self.total - self.before;
        waited * 2 > now.saturating_duration_since(from)
    }
}

fn nanos_since(start: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}
