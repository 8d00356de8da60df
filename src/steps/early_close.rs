//! Sockets the server closed right after opening them (an LRU purge, a 1008 close on
//! connect, a socket cap): they opened, but they are not clients a later step can use,
//! and counting them as connected lets a threshold like `echo.loss == 0` pass with
//! nothing sent.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::PooledClient;
use super::wire::EchoResult;
use crate::client::Ws;
use crate::recorder::StepRec;

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

/// How the first use of a fresh socket (an echo) ended, as an early close: the server
/// ended it within [`WINDOW`] of `opened`. `None` for any other outcome.
/// Watches newly opened `clients` together for [`WINDOW`]; returns those still open and
/// counts the others into `early` (and as failures of the step).
pub async fn sift(
    clients: Vec<PooledClient>,
    rec: &StepRec,
    early: &mut EarlyCloses,
) -> Vec<PooledClient> {
    let until = tokio::time::Instant::now() + WINDOW;
    let watched = clients.into_iter().map(|mut c| async move {
        let closed = watch(&mut c.ws, until).await;
        (c, closed)
    });
    let mut open = Vec::new();
    for (c, closed) in futures_util::future::join_all(watched).await {
        match closed {
            None => open.push(c),
            Some(how) => {
                rec.disconnected();
                rec.failure(&early.count(&how));
            }
        }
    }
    open
}

pub fn of_echo(result: &EchoResult, opened: tokio::time::Instant) -> Option<EarlyClose> {
    if opened.elapsed() > WINDOW {
        return None;
    }
    match result {
        EchoResult::Closed(code) => Some(EarlyClose::Close(*code)),
        EchoResult::Dropped | EchoResult::Error(_) => Some(EarlyClose::Dropped),
        EchoResult::Ok(_) | EchoResult::Mismatch | EchoResult::Timeout => None,
    }
}

/// A step's sockets closed early, by cause: its `closed_early` metric and the note
/// saying why they are not counted as the step's successes.
#[derive(Debug, Default)]
pub struct EarlyCloses {
    count: u32,
    causes: Vec<String>,
}

impl EarlyCloses {
    /// Counts one; returns its cause for the step's failure counts.
    pub fn count(&mut self, how: &EarlyClose) -> String {
        let cause = how.cause();
        self.count += 1;
        if !self.causes.contains(&cause) {
            self.causes.push(cause.clone());
        }
        cause
    }

    pub fn total(&self) -> u32 {
        self.count
    }

    /// Sets `closed_early` and, when there were some, says what they were not counted as.
    pub fn finish(&self, rec: &StepRec, not_counted_as: &str) {
        rec.set("closed_early", self.count as f64);
        if self.count > 0 {
            rec.note(format!(
                "{} {} closed by the server right after opening ({}): not counted as {not_counted_as} \
                 (a socket limit with LRU purge, or a server refusing more clients)",
                self.count,
                if self.count == 1 { "socket was" } else { "sockets were" },
                self.causes.join(", ")
            ));
        }
    }
}
