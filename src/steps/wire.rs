//! Message payloads that can be checked byte for byte, and small exchanges shared by
//! several steps (one echo round trip, a polite close).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::client::Ws;
use crate::scenario::ECHO_MIN_SIZE;
use crate::scenario::model::Opcode;

/// Payload of echo message `seq` of `client`: a 24-byte header `#<client:7>:<seq:14>|`
/// then a pattern that depends on both, so any changed byte is caught.
pub fn echo_payload(client: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("#{client:07}:{seq:014}|").into_bytes();
    debug_assert_eq!(p.len(), ECHO_MIN_SIZE as usize);
    fill(&mut p, size, client as u64 ^ seq);
    p
}

/// Pads `p` to `size` bytes with a printable pattern seeded by `seed`.
pub fn fill(p: &mut Vec<u8>, size: usize, seed: u64) {
    let start = p.len();
    p.extend((start..size).map(|i| b'a' + ((seed as usize + i) % 26) as u8));
    p.truncate(size);
}

/// Reads an echo payload's header: (client, seq), if it is one of ours.
pub fn parse_echo_header(p: &[u8]) -> Option<(u32, u64)> {
    if p.len() < ECHO_MIN_SIZE as usize || p[0] != b'#' || p[8] != b':' || p[23] != b'|' {
        return None;
    }
    let client = std::str::from_utf8(&p[1..8]).ok()?.parse().ok()?;
    let seq = std::str::from_utf8(&p[9..23]).ok()?.parse().ok()?;
    Some((client, seq))
}

pub fn message(opcode: Opcode, payload: Vec<u8>) -> Message {
    match opcode {
        Opcode::Binary => Message::binary(payload),
        // Our payloads are ASCII, so this never fails; fall back to lossless binary.
        Opcode::Text => match String::from_utf8(payload) {
            Ok(s) => Message::text(s),
            Err(e) => Message::binary(e.into_bytes()),
        },
    }
}

/// Payload bytes and opcode of a data message.
pub fn data(msg: &Message) -> Option<(Opcode, &[u8])> {
    match msg {
        Message::Text(t) => Some((Opcode::Text, t.as_bytes())),
        Message::Binary(b) => Some((Opcode::Binary, b)),
        _ => None,
    }
}

/// How one echo round trip ended.
#[derive(Debug)]
pub enum EchoResult {
    Ok(Duration),
    Mismatch,
    /// A close frame, with its code when it had one.
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Dropped,
    Timeout,
    Error(String),
}

impl EchoResult {
    pub fn cause(&self) -> String {
        match self {
            EchoResult::Ok(_) => "ok".into(),
            EchoResult::Mismatch => "corrupt echo".into(),
            EchoResult::Closed(Some(c)) => format!("closed {c}"),
            EchoResult::Closed(None) => "closed".into(),
            EchoResult::Dropped => "connection dropped".into(),
            EchoResult::Timeout => "no echo (timeout)".into(),
            EchoResult::Error(e) => format!("io error: {e}"),
        }
    }
}

/// Sends `msg` and waits for the same payload and opcode back, skipping other traffic
/// (broadcasts). Control frames are answered by the client library.
pub async fn echo_once(ws: &mut Ws, msg: Message, timeout: Duration) -> EchoResult {
    let start = Instant::now();
    let expected = msg.clone();
    if let Err(e) = ws.send(msg).await {
        return EchoResult::Error(e.to_string());
    }
    let want = data(&expected).map(|(o, p)| (o, p.to_vec()));
    let deadline = tokio::time::Instant::now() + timeout;
    await_echo(ws, deadline, start, |op, p| match &want {
        Some((wop, wp)) if *wop == op && wp.as_slice() == p => Some(EchoMatch::Same),
        Some((_, wp)) if p.len() == wp.len() && p.first() == wp.first() => Some(EchoMatch::Changed),
        _ => None,
    })
    .await
}

/// What a received data message is to the echo being awaited.
pub enum EchoMatch {
    /// The echo, byte for byte.
    Same,
    /// Our message, but changed on the way.
    Changed,
}

/// Reads until `classify` recognises the echo (`None`: other traffic, skipped), the
/// connection ends or `deadline` passes. The round trip is timed from `start`.
pub async fn await_echo(
    ws: &mut Ws,
    deadline: tokio::time::Instant,
    start: Instant,
    classify: impl Fn(Opcode, &[u8]) -> Option<EchoMatch>,
) -> EchoResult {
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return EchoResult::Timeout,
            Ok(None) => return EchoResult::Dropped,
            Ok(Some(Err(e))) => return EchoResult::Error(e.to_string()),
            Ok(Some(Ok(Message::Close(f)))) => {
                return EchoResult::Closed(f.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(m))) => {
                let Some((op, p)) = data(&m) else { continue };
                match classify(op, p) {
                    Some(EchoMatch::Same) => return EchoResult::Ok(start.elapsed()),
                    Some(EchoMatch::Changed) => return EchoResult::Mismatch,
                    None => continue,
                }
            }
        }
    }
}

/// How the server answered our CLOSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// It sent CLOSE back, as RFC 6455 asks.
    Echoed,
    /// Its CLOSE carried a code other than ours (1000): it had closed on its own, for a
    /// reason of its own (1008, 1013 …), before or instead of answering ours.
    ClosedByServer(u16),
    /// It dropped the connection without a CLOSE frame.
    DroppedWithoutClose,
    /// Nothing came back in time (or our CLOSE could not be sent).
    NoAnswer,
}

/// Sends CLOSE and waits (bounded) for the server's CLOSE; then the TCP side drops.
pub async fn close_politely(ws: &mut Ws, timeout: Duration) -> CloseOutcome {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return CloseOutcome::NoAnswer;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return CloseOutcome::NoAnswer,
            Ok(Some(Ok(Message::Close(f)))) => {
                return match f.map(|f| u16::from(f.code)) {
                    Some(code) if code != u16::from(CloseCode::Normal) => {
                        CloseOutcome::ClosedByServer(code)
                    }
                    _ => CloseOutcome::Echoed,
                };
            }
            Ok(None) | Ok(Some(Err(_))) => return CloseOutcome::DroppedWithoutClose,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let p = echo_payload(12, 345, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(parse_echo_header(&p), Some((12, 345)));
        assert_eq!(echo_payload(12, 345, 64), p);
        assert_ne!(echo_payload(12, 346, 64)[30..], p[30..]);
    }
}
