//! Minimal tokio-tungstenite clients, written as plainly as possible, that set the
//! floor wsbench is compared with: a paced ping-pong loop (latency), a pipelined
//! closed-loop load (messages/s) and an idle holder (memory per connection).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ws = WebSocketStream<TcpStream>;

/// Opens one plain ws:// connection with TCP_NODELAY, as wsbench's client does.
pub async fn connect(url: &str, config: WebSocketConfig) -> Result<Ws, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad url {url}: {e}"))?;
    let addr = parsed
        .socket_addrs(|| Some(80))
        .map_err(|e| format!("{url}: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("upgrade {url}: {e}"))?;
    Ok(ws)
}

fn payload(size: usize) -> String {
    (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// What the paced ping-pong loop saw.
pub struct PingPong {
    /// From just before `send` to the echo's arrival: the true round trip.
    pub rtt: Histogram<u64>,
    /// How late the timer woke the sender after each intended send time.
    pub timer_late: Histogram<u64>,
    /// From the intended send time to the echo's arrival (what an open-loop tool sees).
    pub from_intended: Histogram<u64>,
}

/// One client, one message in flight, sends paced at `rate`/s for `duration`.
pub async fn ping_pong(
    url: &str,
    rate: f64,
    size: usize,
    duration: Duration,
) -> Result<PingPong, String> {
    let mut ws = connect(url, WebSocketConfig::default()).await?;
    let new = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    let mut out = PingPong {
        rtt: new(),
        timer_late: new(),
        from_intended: new(),
    };
    let text = payload(size);
    let period = Duration::from_secs_f64(1.0 / rate);
    let count = (duration.as_secs_f64() * rate) as u64;
    let start = Instant::now() + Duration::from_millis(20);
    for seq in 0..count {
        let intended = start + period.mul_f64(seq as f64);
        tokio::time::sleep_until(intended.into()).await;
        let sent = Instant::now();
        ws.send(Message::text(text.clone()))
            .await
            .map_err(|e| format!("send: {e}"))?;
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
                .await
                .map_err(|_| "no echo within 2 s".to_string())?
                .ok_or("server closed")?
                .map_err(|e| format!("read: {e}"))?;
            if msg.is_text() {
                break;
            }
        }
        let now = Instant::now();
        let us = |d: Duration| (d.as_micros() as u64).max(1);
        out.rtt.saturating_record(us(now - sent));
        out.timer_late
            .saturating_record(us(sent.saturating_duration_since(intended)));
        out.from_intended
            .saturating_record(us(now.saturating_duration_since(intended)));
    }
    let _ = ws.close(None).await;
    Ok(out)
}

/// `clients` connections with the given read buffer, each keeping `window` messages
/// in flight for `duration`; returns echoes received per second.
pub async fn saturate(
    url: &str,
    clients: usize,
    window: usize,
    size: usize,
    read_buffer: usize,
    duration: Duration,
) -> Result<f64, String> {
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(connect(url, config).await?);
    }
    let text = payload(size);
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut ws in conns {
        let text = text.clone();
        tasks.spawn(async move {
            let mut received = 0u64;
            while Instant::now() < end {
                for _ in 0..window {
                    ws.feed(Message::text(text.clone()))
                        .await
                        .map_err(|e| format!("send: {e}"))?;
                }
                ws.flush().await.map_err(|e| format!("send: {e}"))?;
                let mut got = 0;
                while got < window {
                    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                        .await
                        .map_err(|_| "no echo within 5 s".to_string())?
                        .ok_or("server closed")?
                        .map_err(|e| format!("read: {e}"))?;
                    if msg.is_text() {
                        got += 1;
                    }
                }
                received += window as u64;
            }
            let _ = ws.close(None).await;
            Ok::<u64, String>(received)
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined.map_err(|e| format!("client task: {e}"))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Opens `clients` connections (at most `concurrency` opening at once) and keeps each
/// idle with a task reading it, as a load tool's hold does, for `hold`; then exits.
pub async fn hold(
    url: &str,
    clients: usize,
    concurrency: usize,
    read_buffer: usize,
    hold: Duration,
) -> Result<(), String> {
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let url = url.to_owned();
        let gate = gate.clone();
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            connect(&url, config).await
        });
    }
    let mut open = Vec::with_capacity(clients);
    while let Some(joined) = opening.join_next().await {
        open.push(joined.map_err(|e| format!("connect task: {e}"))??);
    }
    let deadline = tokio::time::Instant::now() + hold;
    let mut readers = tokio::task::JoinSet::new();
    for mut ws in open {
        readers.spawn(async move {
            while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, ws.next()).await {}
            ws
        });
    }
    while readers.join_next().await.is_some() {}
    Ok(())
}
