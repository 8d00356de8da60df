//! Sockets the server closed right after opening them (an LRU purge, a 1008 close on
//! connect, a socket cap): they opened, but they are not clients a later step can use,
//! and counting them as connected lets a threshold like `echo.loss == 0` pass with
//! nothing sent.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::client::Ws;

/// How long after opening a socket a close by the server still counts as "at once".
pub const WINDOW: Duration = Duration::from_millis(200);

/// How a socket ended within the window; `None` when it is still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EarlyClose {
    /// A close frame, with its code when it had one.
    Close(Option<u16>),
    /// The TCP connection ended or failed without a close frame.
    Dropped,
}

impl EarlyClose {
    /// Short cause, as a key of the step's failure counts.
    pub fn cause(&self) -> String {
        match self {
            EarlyClose::Close(Some(code)) => format!("closed early (code {code})"),
            EarlyClose::Close(None) => "closed early (no code)".into(),
            EarlyClose::Dropped => "closed early (connection dropped)".into(),
        }
    }
}

/// Watches `ws` until `until`; what the server said in between (other than a close) is
/// not ours to keep, as no step has started using the socket yet.
pub async fn watch(ws: &mut Ws, until: tokio::time::Instant) -> Option<EarlyClose> {
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(f)))) => {
                // Answer the close, as a polite client does; bounded by the window's end.
                let _ = tokio::time::timeout_at(until, ws.close(None)).await;
                return Some(EarlyClose::Close(f.map(|f| u16::from(f.code))));
            }
            Ok(Some(Ok(Message::Ping(p)))) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => return Some(EarlyClose::Dropped),
        }
    }
}
