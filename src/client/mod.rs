//! One WebSocket client connection, opened in three timed phases (TCP connect, TLS
//! handshake, HTTP upgrade) so each can be measured and each failure told apart.

pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error as WsError};

/// A byte stream a WebSocket can run over: plain TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Ws = WebSocketStream<Box<dyn Io>>;

/// Where and how to connect; cheap to clone, shared by every client of a run.
#[derive(Clone)]
pub struct Endpoint {
    pub url: url::Url,
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({})", self.url)
    }
}

/// How long each phase of opening a connection took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub tcp: Duration,
    pub tls: Option<Duration>,
    pub upgrade: Duration,
    pub total: Duration,
}

/// Why a connection could not be opened; `cause()` is the key failures are counted under.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(
        "connection refused by {addr} (nothing listens on that port, or the server refuses new sockets)"
    )]
    Refused { addr: SocketAddr },
    #[error(
        "no TCP answer from {addr} within {ms} ms (host not reachable or the server's accept queue is full)"
    )]
    TcpTimeout { addr: SocketAddr, ms: u128 },
    #[error("TLS handshake with {addr} failed: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    #[error("TLS handshake with {addr} did not finish within {ms} ms")]
    TlsTimeout { addr: SocketAddr, ms: u128 },
    #[error("{url} answered the WebSocket upgrade with HTTP {status} instead of 101")]
    HttpStatus { url: String, status: u16 },
    #[error("{addr} closed the connection right after accepting it, before answering the upgrade")]
    ClosedAtOnce { addr: SocketAddr },
    #[error("{addr} reset the connection during the upgrade")]
    Reset { addr: SocketAddr },
    #[error("{addr} accepted the TCP connection but sent no upgrade answer within {ms} ms")]
    UpgradeTimeout { addr: SocketAddr, ms: u128 },
    #[error("{url} did not agree to the subprotocol offered: {reason}")]
    Subprotocol { url: String, reason: String },
    #[error("connecting to {addr} failed: {reason}")]
    Other { addr: SocketAddr, reason: String },
}

impl ConnectError {
    /// Short cause, used as the key of a step's failure counts.
    pub fn cause(&self) -> String {
        match self {
            ConnectError::Refused { .. } => "refused".into(),
            ConnectError::TcpTimeout { .. } => "timeout".into(),
            ConnectError::Tls { reason, .. } => format!("tls: {reason}"),
            ConnectError::TlsTimeout { .. } => "tls timeout".into(),
            ConnectError::HttpStatus { status, .. } => format!("http {status}"),
            ConnectError::ClosedAtOnce { .. } => "closed at once".into(),
            ConnectError::Reset { .. } => "reset".into(),
            ConnectError::UpgradeTimeout { .. } => "upgrade timeout".into(),
            ConnectError::Subprotocol { .. } => "subprotocol".into(),
            ConnectError::Other { .. } => "other".into(),
        }
    }

    /// What a user can try.
    pub fn help(&self) -> &'static str {
        match self {
            ConnectError::Refused { .. } => {
                "check the URL and port, and that the server (or `wsbench sim`) is running"
            }
            ConnectError::TcpTimeout { .. } => {
                "check that the host is on this network (joined the board's AP?) and the address is right"
            }
            ConnectError::Tls { reason, .. }
                if reason.starts_with("certificate")
                    && reason.contains("as a CA (trust anchor)")
                    && !reason.contains("the bundled device certificate") =>
            {
                "the --ca file is neither the server's CA nor its own certificate: fetch the certificate the server presents (`openssl s_client -connect HOST:PORT -showcerts`) and give that or its CA to --ca, or --insecure to skip the check"
            }
            ConnectError::Tls { reason, .. } if reason.starts_with("certificate") => {
                "the server's certificate must be trusted: pass --ca FILE, or --insecure to skip the check"
            }
            ConnectError::Tls { .. } => {
                "the server broke off the TLS handshake: if this port serves plain WebSocket, use ws://; otherwise check the server's TLS setup and console"
            }
            ConnectError::TlsTimeout { .. } => {
                "the server accepted TCP but did not finish the TLS handshake: is this port serving TLS? (a board's first TLS session can take seconds: raise --connect-timeout)"
            }
            ConnectError::HttpStatus { .. } => "check the URL's path (the board serves /ws)",
            ConnectError::ClosedAtOnce { .. } | ConnectError::Reset { .. } => {
                "the server may be out of sockets, not a WebSocket server, or expecting TLS on this port (then use wss://); check its console"
            }
            ConnectError::UpgradeTimeout { .. } => {
                "the server accepted TCP but is not answering HTTP; is it wedged?"
            }
            ConnectError::Subprotocol { .. } => "offer a subprotocol the server supports, or none",
            ConnectError::Other { .. } => "check the target URL",
        }
    }
}

impl Endpoint {
    /// Opens a WebSocket connection, timing each phase; `timeout` bounds each phase.
    pub async fn connect(
        &self,
        subprotocol: Option<&str>,
        timeout: Duration,
    ) -> Result<(Ws, Timings), ConnectError> {
        let addr = self.addr;
        let ms = timeout.as_millis();
        let start = Instant::now();
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::TcpTimeout { addr, ms }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(ConnectError::Refused { addr });
            }
            Ok(Err(e)) => {
                return Err(ConnectError::Other {
                    addr,
                    reason: e.to_string(),
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        let tcp_done = start.elapsed();
        let (io, tls_time): (Box<dyn Io>, _) = match &self.tls {
            None => (Box::new(tcp), None),
            Some(config) => {
                let t0 = Instant::now();
                let name = server_name(&self.url);
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
                    Err(_) => return Err(ConnectError::TlsTimeout { addr, ms }),
                    Ok(Err(e)) => return Err(tls_error(addr, e)),
                    Ok(Ok(s)) => (Box::new(s), Some(t0.elapsed())),
                }
            }
        };
        let t0 = Instant::now();
        let mut request =
            self.url
                .as_str()
                .into_client_request()
                .map_err(|e| ConnectError::Other {
                    addr,
                    reason: e.to_string(),
                })?;
        if let Some(p) = subprotocol {
            let value = HeaderValue::from_str(p).map_err(|_| ConnectError::Other {
                addr,
                reason: format!("bad subprotocol `{p}`"),
            })?;
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
        }
        // A 4 KiB read buffer instead of tungstenite's 128 KiB default: the default is
        // zero-filled and kept per connection, which made an idle connection cost ~130 KiB.
        let config = WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .read_buffer_size(4096);
        let upgrade = tokio_tungstenite::client_async_with_config(request, io, Some(config));
        let (ws, _response) = match tokio::time::timeout(timeout, upgrade).await {
            Err(_) => return Err(ConnectError::UpgradeTimeout { addr, ms }),
            Ok(Err(e)) => return Err(upgrade_error(addr, &self.url, e)),
            Ok(Ok(ok)) => ok,
        };
        let upgrade = t0.elapsed();
        Ok((
            ws,
            Timings {
                tcp: tcp_done,
                tls: tls_time,
                upgrade,
                total: start.elapsed(),
            },
        ))
    }
}

fn server_name(url: &url::Url) -> rustls::pki_types::ServerName<'static> {
    use rustls::pki_types::ServerName;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
        Some(url::Host::Ipv6(ip)) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
        Some(url::Host::Domain(d)) => ServerName::try_from(d.to_string())
            .unwrap_or_else(|_| ServerName::try_from("localhost").expect("static name")),
        None => ServerName::try_from("localhost").expect("static name"),
    }
}

fn tls_error(addr: SocketAddr, e: std::io::Error) -> ConnectError {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof => ConnectError::Tls {
            addr,
            reason: "server closed the connection during the handshake".into(),
        },
        ConnectionReset => ConnectError::Tls {
            addr,
            reason: "connection reset during the handshake".into(),
        },
        _ => {
            let reason = match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))) => {
                    format!("certificate not trusted: {o}")
                }
                Some(rustls::Error::InvalidCertificate(c)) => {
                    format!("certificate not trusted ({c:?})")
                }
                Some(other) => other.to_string(),
                None => e.to_string(),
            };
            ConnectError::Tls { addr, reason }
        }
    }
}

fn upgrade_error(addr: SocketAddr, url: &url::Url, e: WsError) -> ConnectError {
    use std::io::ErrorKind::*;
    match e {
        WsError::Http(resp) => ConnectError::HttpStatus {
            url: url.to_string(),
            status: resp.status().as_u16(),
        },
        WsError::Io(io) if matches!(io.kind(), UnexpectedEof | BrokenPipe) => {
            ConnectError::ClosedAtOnce { addr }
        }
        WsError::Io(io) if io.kind() == ConnectionReset => ConnectError::Reset { addr },
        WsError::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete)
        | WsError::ConnectionClosed => ConnectError::ClosedAtOnce { addr },
        WsError::Protocol(tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(e)) => {
            ConnectError::Subprotocol {
                url: url.to_string(),
                reason: e.to_string(),
            }
        }
        other => ConnectError::Other {
            addr,
            reason: other.to_string(),
        },
    }
}
