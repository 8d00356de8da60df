//! Accept loops: TCP (and TLS for wss) on 127.0.0.1, each connection handed to the
//! device. The only shared state on this path is the device itself; every session is
//! its own task.
//!
//! wss connections finish their TLS handshake before the device is asked to admit
//! them, so a client that never completes a handshake cannot take (or purge) a session
//! slot; handshakes in progress are bounded on their own.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wsbench_device::idf_log::Value;
use wsbench_device::{Admission, Device, Transport};

use super::error::SimError;
use super::platform::{SimPlatform, warn};
use super::stall::StallGate;

/// A TLS handshake must finish within this, or the connection is dropped (a client that
/// opens TCP and says nothing must not hold a task forever).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// TLS handshakes in progress at once; beyond it new wss connections are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// Pause after a failed accept (out of file descriptors during a flood) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a closing session may take to flush its last bytes.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What the wss listener serves with: the TLS identity and, as on the firmware (one
/// acceptor task per TLS session it has heap for), a bound on TLS sessions at once. A
/// connection over the bound waits, unserved, until a session ends.
#[derive(Clone)]
pub struct TlsService {
    pub acceptor: TlsAcceptor,
    pub sessions: Option<Arc<Semaphore>>,
}

/// Which of the board's two listeners, for messages and flags.
#[derive(Clone, Copy, Debug)]
pub struct PortRole {
    pub transport: Transport,
    pub what: &'static str,
    pub flag: &'static str,
}

pub const WS: PortRole = PortRole {
    transport: Transport::Ws,
    what: "ws://",
    flag: "--ws-port",
};
pub const WSS: PortRole = PortRole {
    transport: Transport::Wss,
    what: "wss://",
    flag: "--wss-port",
};

/// Binds 127.0.0.1:`port` (0 = any free port). A busy port names a free neighbour.
pub async fn bind(port: u16, role: PortRole) -> Result<TcpListener, SimError> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(SimError::PortBusy {
            port,
            what: role.what,
            flag: role.flag,
            suggestion: free_port_near(port).await,
        }),
        Err(source) => Err(SimError::Listen {
            port,
            what: role.what,
            flag: role.flag,
            source,
        }),
    }
}

/// The first free port after `port` (a few tried), else 0 ("any").
async fn free_port_near(port: u16) -> u16 {
    for candidate in (1..=20).filter_map(|step| port.checked_add(step)) {
        if TcpListener::bind((Ipv4Addr::LOCALHOST, candidate))
            .await
            .is_ok()
        {
            return candidate;
        }
    }
    0
}

/// Accepts until the task is aborted. Dropping this future ends every session it
/// started (they live in its `JoinSet`).
pub async fn accept_loop(
    listener: TcpListener,
    role: PortRole,
    device: Arc<Device<SimPlatform>>,
    tls: Option<TlsService>,
    host: SimPlatform,
    stall: StallGate,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let mut sessions = JoinSet::new();
    let mut accept_failing = false;
    loop {
        tokio::select! {
            // Reap finished sessions so the set does not grow with history.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    accept_failing = false;
                    // A stalled device admits nobody: the connection waits, accepted.
                    stall.pass().await;
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        None => start_ws(&mut sessions, &device, role, stream, peer, &stall),
                        Some(service) => match handshakes.clone().try_acquire_owned() {
                            Ok(permit) => {
                                let (device, host) = (device.clone(), host.clone());
                                let (service, stall) = (service.clone(), stall.clone());
                                sessions.spawn(serve_wss(device, host, service, permit, role, stream, peer, stall));
                            }
                            // Closed at once by dropping `stream`.
                            Err(_) => warn(&host, &format!("tls_refuse peer={peer} reason=pending_handshakes")),
                        },
                    }
                }
                Err(e) => {
                    // Out of descriptors (a flood) or a connection reset before accept:
                    // say so once per episode, wait a moment, go on serving.
                    if !accept_failing {
                        warn(&host, &format!(
                            "accept_error listener={} reason={}",
                            role.transport.as_str(),
                            Value(&e.to_string())
                        ));
                        accept_failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// A plain connection: admitted (its session task starts) or refused (closed at once,
/// without a byte written, as esp_http_server does).
fn start_ws(
    sessions: &mut JoinSet<()>,
    device: &Arc<Device<SimPlatform>>,
    role: PortRole,
    stream: TcpStream,
    peer: SocketAddr,
    stall: &StallGate,
) {
    let Admission::Admitted(id) = device.admit(peer, role.transport) else {
        return;
    };
    let device = device.clone();
    let stall = stall.clone();
    sessions.spawn(async move {
        let (r, w) = stream.into_split();
        let (r, w) = serve(&device, id, r, w, &stall).await;
        if let Ok(mut stream) = r.reunite(w) {
            let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, stream.shutdown()).await;
        }
    });
}

/// A TLS connection: the handshake first (bounded in time, holding `permit`), then the
/// same admission and session as plain ws, then close_notify.
#[allow(
    clippy::too_many_arguments,
    reason = "one accepted connection's parts, handed over once to its task"
)]
async fn serve_wss(
    device: Arc<Device<SimPlatform>>,
    host: SimPlatform,
    service: TlsService,
    permit: OwnedSemaphorePermit,
    role: PortRole,
    stream: TcpStream,
    peer: SocketAddr,
    stall: StallGate,
) {
    // Held for the whole session: the firmware's acceptor task is busy until it ends.
    let _slot = match &service.sessions {
        Some(slots) => match slots.clone().acquire_owned().await {
            Ok(slot) => Some(slot),
            Err(_) => return,
        },
        None => None,
    };
    let acceptor = service.acceptor;
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
    drop(permit);
    let tls_stream = match handshake {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(e)) => {
            let reason = e.to_string();
            return warn(
                &host,
                &format!("tls_error peer={peer} reason={}", Value(&reason)),
            );
        }
        Err(_) => {
            let reason = Value("handshake timed out");
            return warn(&host, &format!("tls_error peer={peer} reason={reason}"));
        }
    };
    let Admission::Admitted(id) = device.admit(peer, role.transport) else {
        return;
    };
    let (r, w) = tokio::io::split(tls_stream);
    let (r, w) = serve(&device, id, r, w, &stall).await;
    let mut stream = r.unsplit(w);
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, stream.shutdown()).await;
}

/// Runs one session on the device and gives the halves back for an orderly close.
async fn serve<R, W>(
    device: &Device<SimPlatform>,
    id: wsbench_device::SessionId,
    r: R,
    w: W,
    stall: &StallGate,
) -> (R, W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = FromTokio::new(stall.reader(r));
    let mut writer = FromTokio::new(w);
    device.serve(id, &mut reader, &mut writer).await;
    (reader.into_inner().into_inner(), writer.into_inner())
}
