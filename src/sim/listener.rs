//! Accept loops: TCP (and TLS for wss) on 127.0.0.1, each connection handed to the
//! device. The only shared state on this path is the device itself; every session is
//! its own task.
//!
//! wss connections finish their TLS handshake before the device is asked to admit
//! them, so a client that never completes a handshake cannot take (or purge) a session
//! slot; handshakes in progress are bounded on their own.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wsbench_device::{Admission, Device, Transport};

use super::error::SimError;
use super::platform::{SimPlatform, quoted};

/// A TLS handshake must finish within this, or the connection is dropped (a client that
/// opens TCP and says nothing must not hold a task forever).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// TLS handshakes in progress at once; beyond it new wss connections are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// Pause after a failed accept (out of file descriptors during a flood) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a closing session may take to flush its last bytes.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

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
    tls: Option<TlsAcceptor>,
    host: SimPlatform,
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
                    let _ = stream.set_nodelay(true);
                    let device = device.clone();
                    match &tls {
                        None => {
                            if let Admission::Admitted(id) = device.admit(peer, role.transport) {
                                sessions.spawn(async move {
                                    let (r, w) = stream.into_split();
                                    let (r, w) = serve(&device, id, r, w).await;
                                    if let Ok(mut stream) = r.reunite(w) {
                                        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, stream.shutdown()).await;
                                    }
                                });
                            }
                            // Refused: `stream` dropped here, closing the socket at once.
                        }
                        Some(acceptor) => {
                            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                                host.warn(&format!("tls_refuse peer={peer} reason=pending_handshakes"));
                                continue;
                            };
                            let acceptor = acceptor.clone();
                            let host = host.clone();
                            sessions.spawn(async move {
                                let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                                drop(permit);
                                let tls_stream = match handshake {
                                    Ok(Ok(s)) => s,
                                    Ok(Err(e)) => return host.warn(&format!("tls_error peer={peer} reason={}", quoted(&e.to_string()))),
                                    Err(_) => return host.warn(&format!("tls_error peer={peer} reason={}", quoted("handshake timed out"))),
                                };
                                if let Admission::Admitted(id) = device.admit(peer, role.transport) {
                                    let (r, w) = tokio::io::split(tls_stream);
                                    let (r, w) = serve(&device, id, r, w).await;
                                    let mut stream = r.unsplit(w);
                                    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, stream.shutdown()).await;
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of descriptors (a flood) or a connection reset before accept:
                    // say so once per episode, wait a moment, go on serving.
                    if !accept_failing {
                        host.warn(&format!(
                            "accept_error listener={} reason={}",
                            role.transport.as_str(),
                            quoted(&e.to_string())
                        ));
                        accept_failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// Runs one session on the device and gives the halves back for an orderly close.
async fn serve<R, W>(
    device: &Device<SimPlatform>,
    id: wsbench_device::SessionId,
    r: R,
    w: W,
) -> (R, W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = FromTokio::new(r);
    let mut writer = FromTokio::new(w);
    device.serve(id, &mut reader, &mut writer).await;
    (reader.into_inner(), writer.into_inner())
}
