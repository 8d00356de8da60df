//! The accept tasks: a fixed pool per port (sizes in [`crate::budget`]), each owning its
//! socket buffers, handing every connection to the device crate. No protocol logic here:
//! accept, (for wss) the TLS handshake, `admit`, `serve`, close.

use core::cell::Cell;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embassy_net::tcp::{State, TcpSocket};
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Duration, Instant, Timer, with_timeout};
use mbedtls_rs::{Credentials, ServerSessionConfig, Session, SessionConfig, TlsReference};
use wsbench_device::{Admission, Device, Peer, Transport};

use crate::budget::{
    TCP_KEEPALIVE_S, TCP_RX_LEN, TCP_TIMEOUT_S, TCP_TX_LEN, TLS_HANDSHAKE_TIMEOUT_S, WS_ACCEPTORS,
    WSS_ACCEPTORS,
};
use crate::platform::Board;
use crate::tls::SplittableTcp;

/// The device every listener serves.
pub type BoardDevice = Device<Board>;

/// Counts accept tasks whose socket is in LISTEN, so the ready line waits for them.
pub struct Listening(Mutex<CriticalSectionRawMutex, Cell<usize>>);

impl Listening {
    pub const fn new() -> Self {
        Self(Mutex::new(Cell::new(0)))
    }

    fn mark(&self) {
        self.0.lock(|n| n.set(n.get() + 1));
    }

    /// How many sockets are listening.
    pub fn count(&self) -> usize {
        self.0.lock(Cell::get)
    }
}

/// What an accept task needs besides its own buffers.
#[derive(Clone, Copy)]
pub struct Shared {
    pub stack: Stack<'static>,
    pub device: &'static BoardDevice,
    pub listening: &'static Listening,
}

/// One plain WebSocket acceptor on `port`.
#[embassy_executor::task(pool_size = WS_ACCEPTORS)]
pub async fn ws_acceptor(shared: Shared, port: u16) -> ! {
    let mut rx = [0u8; TCP_RX_LEN];
    let mut tx = [0u8; TCP_TX_LEN];
    let mut first = true;
    loop {
        let mut socket = new_socket(shared.stack, &mut rx, &mut tx);
        let Some(peer) = accept(&mut socket, port, shared.listening, &mut first).await else {
            continue;
        };
        if let Admission::Admitted(id) = shared.device.admit(peer, Transport::Ws) {
            let (reader, writer) = socket.split();
            shared.device.serve(id, reader, writer).await;
        }
        finish(&mut socket).await;
    }
}

/// One TLS WebSocket acceptor on `port`. The handshake comes before `admit`, so a client
/// that fails it never takes a session slot.
#[embassy_executor::task(pool_size = WSS_ACCEPTORS)]
pub async fn wss_acceptor(
    shared: Shared,
    port: u16,
    tls: TlsReference<'static>,
    credentials: &'static Credentials<'static>,
) -> ! {
    let mut rx = [0u8; TCP_RX_LEN];
    let mut tx = [0u8; TCP_TX_LEN];
    let mut first = true;
    let config = SessionConfig::Server(ServerSessionConfig::new(credentials.clone()));
    loop {
        let mut socket = new_socket(shared.stack, &mut rx, &mut tx);
        let Some(peer) = accept(&mut socket, port, shared.listening, &mut first).await else {
            continue;
        };
        serve_tls(&shared, &mut socket, peer, tls, &config).await;
        finish(&mut socket).await;
    }
}

async fn serve_tls(
    shared: &Shared,
    socket: &mut TcpSocket<'_>,
    peer: Peer,
    tls: TlsReference<'static>,
    config: &SessionConfig<'static>,
) {
    // Session creation allocates MbedTLS's buffers; failing means the heap is short.
    let Ok(mut session) = Session::new(tls, SplittableTcp(socket), config) else {
        return;
    };
    let handshake = with_timeout(
        Duration::from_secs(TLS_HANDSHAKE_TIMEOUT_S),
        session.split(),
    )
    .await;
    let Ok(Ok((reader, writer))) = handshake else {
        return;
    };
    if let Admission::Admitted(id) = shared.device.admit(peer, Transport::Wss) {
        shared.device.serve(id, reader, writer).await;
    }
}

fn new_socket<'a>(stack: Stack<'a>, rx: &'a mut [u8], tx: &'a mut [u8]) -> TcpSocket<'a> {
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket.set_timeout(Some(Duration::from_secs(TCP_TIMEOUT_S)));
    socket.set_keep_alive(Some(Duration::from_secs(TCP_KEEPALIVE_S)));
    socket
}

/// Accepts one connection. The first time, reports the socket as listening right after
/// the first poll (which is when embassy-net puts it in LISTEN), so the ready line is
/// printed only once every port really listens.
async fn accept(
    socket: &mut TcpSocket<'_>,
    port: u16,
    listening: &Listening,
    first: &mut bool,
) -> Option<Peer> {
    let result = {
        let mut accepting = pin!(socket.accept(port));
        if *first {
            let polled = poll_fn(|cx| Poll::Ready(accepting.as_mut().poll(cx))).await;
            listening.mark();
            *first = false;
            match polled {
                Poll::Ready(result) => result,
                Poll::Pending => accepting.await,
            }
        } else {
            accepting.await
        }
    };
    if result.is_err() {
        // Only an invalid port or a socket not closed fails here; pause so it cannot spin.
        Timer::after_millis(100).await;
        return None;
    }
    let peer = socket.remote_endpoint().and_then(to_peer);
    if peer.is_none() {
        socket.abort();
    }
    peer
}

fn to_peer(endpoint: IpEndpoint) -> Option<Peer> {
    match endpoint.addr {
        IpAddress::Ipv4(addr) => Some(Peer::new(addr.into(), endpoint.port)),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Closes gracefully: FIN after what is queued, then up to a second for the peer to
/// finish its side; a peer that has vanished is reset after that, so the socket can
/// listen again.
async fn finish(socket: &mut TcpSocket<'_>) {
    socket.close();
    let _ = with_timeout(Duration::from_secs(1), socket.flush()).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while !matches!(socket.state(), State::Closed | State::TimeWait) && Instant::now() < deadline {
        Timer::after_millis(10).await;
    }
    socket.abort();
}
