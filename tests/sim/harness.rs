//! A `wsbench sim` process started the way a user starts it, and clients for it.
//!
//! The board runs with ports 0; the URLs are read from what it prints. `--console -`
//! copies the device's log lines to stdout, where a reader thread collects them so a
//! test can wait for a line. Every wait is bounded; the process is killed on drop.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::common::sim_process::SimProcess;

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Sim {
    process: SimProcess,
    pub ws_url: String,
    pub wss_url: String,
    pub console_path: String,
    pub banner: Vec<String>,
}

impl Sim {
    /// Starts `wsbench sim --ws-port 0 --wss-port 0 --console - <extra>` and waits for
    /// its URLs.
    pub fn start(extra: &[&str]) -> Sim {
        Sim::start_with(Command::new(env!("CARGO_BIN_EXE_wsbench")), extra)
    }

    /// Like [`Sim::start`], with at most `limit` open file descriptors (as on a board,
    /// where sockets run out long before memory does).
    pub fn start_with_fd_limit(limit: u32, extra: &[&str]) -> Sim {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_wsbench"),
        ]);
        Sim::start_with(shell, extra)
    }

    fn start_with(mut command: Command, extra: &[&str]) -> Sim {
        command
            .args(["sim", "--ws-port", "0", "--wss-port", "0", "--console", "-"])
            .args(extra);
        let (process, urls) = SimProcess::start(command, &["ws:", "wss:", "console:"], WAIT);
        let [ws_url, wss_url, console_path] = <[String; 3]>::try_from(urls).unwrap();
        let banner = process.lines();
        Sim {
            process,
            ws_url,
            wss_url,
            console_path,
            banner,
        }
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.process.lines()
    }

    /// Position to wait from: only lines printed after it count.
    pub fn mark(&self) -> usize {
        self.process.line_count()
    }

    /// The first line after `mark` for which `want` holds; panics after [`WAIT`].
    pub async fn wait_line(&self, mark: usize, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.process.find_from(mark, &want) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no console line {what} within {WAIT:?}; printed: {:#?}",
                &self.lines()[mark..]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process still runs (bad input must not take it down).
    pub fn alive(&mut self) -> bool {
        self.process.running()
    }

    /// The ws port (for raw TCP clients).
    pub fn ws_addr(&self) -> String {
        host_port(&self.ws_url)
    }
}

/// `127.0.0.1:PORT` out of `ws://127.0.0.1:PORT/ws`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest.split('/').next().unwrap().to_owned()
}

/// A client trusting only the bundled development certificate, as users are told to.
pub fn dev_cert_connector() -> Connector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(wsbench_device::certs::DEV_CERT_PEM.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Connector::Rustls(Arc::new(config))
}

/// Opens a WebSocket client to `url` (ws or wss), bounded by [`WAIT`].
pub async fn connect(url: &str) -> Client {
    let connector = url.starts_with("wss:").then(dev_cert_connector);
    let (client, response) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector),
    )
    .await
    .unwrap_or_else(|_| panic!("connect to {url} timed out"))
    .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    assert_eq!(response.status(), 101);
    client
}

/// The next data or control message that is not a periodic broadcast.
pub async fn next_reply(client: &mut Client) -> Message {
    loop {
        let msg = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("no reply in time")
            .expect("connection ended")
            .expect("websocket error");
        match &msg {
            Message::Text(t) if t.starts_with("Server broadcast: ") => continue,
            _ => return msg,
        }
    }
}

/// Sends `msg` and asserts the same message comes back.
pub async fn assert_echo(client: &mut Client, msg: Message) {
    client.send(msg.clone()).await.unwrap();
    assert_eq!(next_reply(client).await, msg);
}

/// `!stats` as JSON.
pub async fn stats(client: &mut Client) -> serde_json::Value {
    client.send(Message::text("!stats")).await.unwrap();
    match next_reply(client).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("!stats {t}: {e}")),
        other => panic!("!stats answered {other:?}"),
    }
}

/// Whether the peer has closed `stream` (EOF or reset) within [`WAIT`], reading and
/// keeping whatever came before.
pub async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "connection not closed within {WAIT:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The local `ip:port` of a client, as the device logs it in `peer=`.
pub fn peer_of(stream: &TcpStream) -> String {
    stream.local_addr().unwrap().to_string()
}

/// The value of `key=` in a device line (bare values only).
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// Waits for the session opened for `peer` and then for its close line; returns it.
pub async fn wait_session_closed(sim: &Sim, mark: usize, peer: &str) -> String {
    let open = sim
        .wait_line(mark, &format!("opening a session for {peer}"), |l| {
            l.contains(" open id=") && field(l, "peer") == Some(peer)
        })
        .await;
    let id = field(&open, "id").unwrap().to_owned();
    sim.wait_line(mark, &format!("closing session {id}"), |l| {
        l.contains(" close id=") && field(l, "id") == Some(id.as_str())
    })
    .await
}
