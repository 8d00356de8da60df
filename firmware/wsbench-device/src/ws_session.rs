//! An upgraded session: the reader (frames in, replies queued) and the writer (queue out),
//! run side by side so broadcasts go out while the reader waits inside a frame.
//!
//! The reader never writes: it answers by queueing frames. The writer ends after writing
//! a CLOSE, when the session is purged, or when a write fails or stalls.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use edge_ws::{FrameHeader, FrameType};
use embassy_futures::select::{Either, select};
use embassy_sync::channel::TrySendError;
use embedded_io_async::{Read, ReadExactError, Write};

use crate::command::{self, Command};
use crate::device::{BurstRun, Device, SessionLink, Stop};
use crate::idf_log::DeviceEvent;
use crate::platform::Platform;
use crate::session_table::{EndReason, SessionId};
use crate::wire::Outgoing;

/// How the reader finished.
enum ReadEnd {
    /// The connection is gone (EOF, read error): stop at once.
    Hangup,
    /// A CLOSE is queued: let the writer send it.
    Closing,
}

/// Opcodes of data frames being reassembled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

/// A message being reassembled from fragments.
struct Partial {
    kind: MessageKind,
    data: Vec<u8>,
    /// Bytes of `data` known to be valid UTF-8 (text only), so each fragment is checked
    /// once and invalid text fails fast.
    utf8_checked: usize,
}

/// What ends a session from the reader's side, short of a clean CLOSE.
enum Violation {
    /// EOF or a read error inside a frame: nothing more to say to the peer.
    Lost,
    /// The client broke the protocol: close with `code`.
    Close { code: u16, what: String },
}

fn violation(code: u16, what: impl Into<String>) -> Violation {
    Violation::Close {
        code,
        what: what.into(),
    }
}

impl<P: Platform> Device<P> {
    pub(crate) async fn run_websocket<R: Read, W: Write>(
        &self,
        id: SessionId,
        reader: &mut R,
        writer: &mut W,
    ) {
        let link = &self.links[usize::from(id.slot)];
        let read_side = async {
            match self.read_frames(id, link, reader).await {
                ReadEnd::Hangup => {}
                ReadEnd::Closing => {
                    // The writer ends after the CLOSE; this only bounds a stalled write.
                    self.platform
                        .sleep_ms(self.config.write_timeout_ms.max(1))
                        .await;
                    self.end_session(id, EndReason::WriteTimeout, None);
                }
            }
        };
        select(read_side, self.write_frames(id, link, writer)).await;
    }

    async fn write_frames<W: Write>(&self, id: SessionId, link: &SessionLink, writer: &mut W) {
        loop {
            // The stop comes first: a purged session gets its CLOSE without first
            // draining a queue full of broadcasts.
            let frame = match select(link.stop.wait(), link.queue.receive()).await {
                Either::First(Stop::Purged) => Outgoing::close(Some(1001), "purged"),
                Either::Second(frame) => frame,
            };
            let len = frame.bytes.len();
            let write = async {
                writer.write_all(&frame.bytes).await.is_ok() && writer.flush().await.is_ok()
            };
            let timeout = self.platform.sleep_ms(self.config.write_timeout_ms.max(1));
            let written = match select(write, timeout).await {
                Either::First(ok) => ok,
                Either::Second(()) => {
                    self.end_session(id, EndReason::WriteTimeout, None);
                    return;
                }
            };
            self.with_state(|s| {
                if written {
                    s.tx_frames += 1;
                }
                if let Some(session) = s.table.get_mut(id) {
                    session.queued_bytes = session.queued_bytes.saturating_sub(len);
                }
            });
            link.drained.signal(());
            if !written {
                self.end_session(id, EndReason::IoError, None);
                return;
            }
            if frame.is_close {
                return;
            }
        }
    }

    /// Queue a frame for this session, waiting while its queue is full (in frames or in
    /// bytes: `max_queued_bytes`, though one frame alone always fits).
    async fn reply(&self, id: SessionId, link: &SessionLink, frame: Outgoing) {
        let len = frame.bytes.len();
        let cap = self.config.max_queued_bytes;
        loop {
            let admitted = self.with_state(|s| match s.table.get_mut(id) {
                Some(session) if session.queued_bytes == 0 || session.queued_bytes + len <= cap => {
                    session.queued_bytes += len;
                    true
                }
                Some(_) => false,
                None => true,
            });
            if admitted {
                break;
            }
            link.drained.wait().await;
        }
        link.queue.send(frame).await;
    }

    /// Queue a frame for every upgraded live session without waiting; returns
    /// (queued, dropped because a queue was full or memory was short).
    ///
    /// The copies are made before taking the state lock (on the board the lock masks
    /// interrupts, and a copy can be as large as a peer's message), fallibly and only
    /// while the heap reserve holds: a frame a session cannot get is counted as dropped,
    /// never an abort.
    pub(crate) fn queue_to_all(&self, frame: &Outgoing) -> (u32, u32) {
        let wanted = self.with_state(|s| {
            s.table
                .sessions()
                .filter(|(_, x)| x.live && x.upgraded)
                .count()
        });
        let mut copies: Vec<Outgoing> = Vec::new();
        if copies.try_reserve_exact(wanted).is_ok() {
            while copies.len() < wanted && self.heap_allows(frame.bytes.len()).is_ok() {
                match frame.try_clone() {
                    Some(copy) => copies.push(copy),
                    None => break,
                }
            }
        }
        let len = frame.bytes.len();
        // One lock for choosing the sessions and queueing, so a slot released and
        // reused meanwhile cannot receive a frame meant for its previous session.
        let (queued, dropped) = self.with_state(|s| {
            let (mut queued, mut dropped) = (0u32, 0u32);
            for slot in 0..s.table.slot_count() {
                let Some(session) = s.table.slot_mut(slot) else {
                    continue;
                };
                if !(session.live && session.upgraded) {
                    continue;
                }
                let fits = session.queued_bytes == 0
                    || session.queued_bytes + len <= self.config.max_queued_bytes;
                let Some(copy) = copies.pop().filter(|_| fits) else {
                    dropped += 1;
                    continue;
                };
                match self.links[slot].queue.try_send(copy) {
                    Ok(()) => {
                        session.queued_bytes += len;
                        queued += 1;
                    }
                    Err(TrySendError::Full(copy)) => {
                        copies.push(copy);
                        dropped += 1;
                    }
                }
            }
            (queued, dropped)
        });
        if dropped > 0 {
            self.with_state(|s| s.dropped += dropped);
        }
        (queued, dropped)
    }

    /// Count a frame no session gets (no memory to build it); returns (0, dropped).
    fn drop_for_all(&self) -> (u32, u32) {
        self.with_state(|s| {
            let n = s
                .table
                .sessions()
                .filter(|(_, x)| x.live && x.upgraded)
                .count() as u32;
            s.dropped += n;
            (0, n)
        })
    }

    pub(crate) fn periodic_broadcast(&self) {
        let n = self.with_state(|s| {
            s.broadcast_round += 1;
            s.broadcast_round
        });
        let text = format!("Server broadcast: Hello #{n}");
        let (queued, _) = self.queue_to_all(&Outgoing::text(&text));
        self.log(&DeviceEvent::Broadcast {
            n,
            clients: queued as u16,
        });
    }

    /// Send the next frame of the running burst to every session.
    pub(crate) async fn burst_round(&self) {
        let Some(run) = self.with_state(|s| s.burst.clone()) else {
            return;
        };
        let head = format!(
            "burst id={} seq={} count={} t_us={} ",
            run.id,
            run.next_seq,
            run.count,
            self.platform.now_us()
        );
        // A peer chose the size: with no memory for the frame, every session misses it.
        let frame = self
            .heap_allows(run.size)
            .ok()
            .and_then(|()| Outgoing::try_padded_text(&head, b'.', run.size));
        let (queued, dropped) = match frame {
            Some(frame) => self.queue_to_all(&frame),
            None => self.drop_for_all(),
        };
        let now = self.platform.now_us();
        let finished = self.with_state(|s| {
            let b = s.burst.as_mut()?;
            b.sent += queued;
            b.dropped += dropped;
            b.next_seq += 1;
            b.next_at_us = now + u64::from(b.interval_ms) * 1000;
            if b.next_seq > b.count {
                s.burst.take()
            } else {
                None
            }
        });
        if let Some(done) = finished {
            self.log(&DeviceEvent::BurstDone {
                id: done.id,
                sent: done.sent,
                dropped: done.dropped,
            });
        } else if run.interval_ms == 0 {
            // Back to back, but let the writers drain between frames (a zero sleep may
            // not yield on every executor).
            embassy_futures::yield_now().await;
        }
    }

    async fn read_frames<R: Read>(
        &self,
        id: SessionId,
        link: &SessionLink,
        reader: &mut R,
    ) -> ReadEnd {
        let mut partial: Option<Partial> = None;
        loop {
            let header = match read_header(reader).await {
                Ok(h) => h,
                Err(HeaderError::Eof) => {
                    self.end_session(id, EndReason::Eof, None);
                    return ReadEnd::Hangup;
                }
                Err(HeaderError::Io) => {
                    self.end_session(id, EndReason::IoError, None);
                    return ReadEnd::Hangup;
                }
                Err(HeaderError::Invalid(what)) => {
                    return self.fail(id, link, violation(1002, what)).await;
                }
            };
            let outcome = self
                .handle_frame(id, link, reader, header, &mut partial)
                .await;
            match outcome {
                Ok(None) => {}
                Ok(Some(end)) => return end,
                Err(v) => return self.fail(id, link, v).await,
            }
        }
    }

    async fn fail(&self, id: SessionId, link: &SessionLink, v: Violation) -> ReadEnd {
        let (code, what) = match v {
            Violation::Lost => {
                self.end_session(id, EndReason::Eof, None);
                return ReadEnd::Hangup;
            }
            Violation::Close { code, what } => (code, what),
        };
        self.log(&DeviceEvent::ProtocolError {
            id: id.number,
            code,
            what,
        });
        self.end_session(id, EndReason::ProtocolError, Some(code));
        self.reply(id, link, Outgoing::close(Some(code), "")).await;
        ReadEnd::Closing
    }

    async fn handle_frame<R: Read>(
        &self,
        id: SessionId,
        link: &SessionLink,
        reader: &mut R,
        header: RawHeader,
        partial: &mut Option<Partial>,
    ) -> Result<Option<ReadEnd>, Violation> {
        let RawHeader { header, fin } = header;
        let Some(mask) = header.mask_key else {
            return Err(violation(1002, "unmasked client frame"));
        };
        let is_control = matches!(
            header.frame_type,
            FrameType::Ping | FrameType::Pong | FrameType::Close
        );
        if is_control && (!fin || header.payload_len > 125) {
            return Err(violation(1002, "fragmented or oversized control frame"));
        }
        let already = partial.as_ref().map_or(0, |p| p.data.len() as u64);
        let limit = self.config.max_message_len as u64;
        if !is_control && already.saturating_add(header.payload_len) > limit {
            return Err(violation(
                1009,
                format!(
                    "message of {} bytes or more exceeds max_message_len {limit}",
                    already.saturating_add(header.payload_len)
                ),
            ));
        }
        match header.frame_type {
            FrameType::Continue(_) if partial.is_none() => {
                return Err(violation(1002, "continuation frame without a message"));
            }
            FrameType::Text(_) | FrameType::Binary(_) if partial.is_some() => {
                return Err(violation(1002, "new message inside a fragmented message"));
            }
            _ => {}
        }
        let len = header.payload_len as usize;
        if is_control {
            let mut payload = alloc::vec![0u8; len];
            if reader.read_exact(&mut payload).await.is_err() {
                return Err(Violation::Lost);
            }
            FrameHeader::mask_with(&mut payload, Some(mask), 0);
            self.note_frame_received(id);
            return match header.frame_type {
                FrameType::Ping => {
                    self.reply(id, link, Outgoing::frame(FrameType::Pong, &payload))
                        .await;
                    Ok(None)
                }
                FrameType::Close => {
                    let code = close_code(&payload)?;
                    self.end_session(id, EndReason::ClientClose, code);
                    self.reply(id, link, Outgoing::close(code, "")).await;
                    Ok(Some(ReadEnd::Closing))
                }
                _ => Ok(None),
            };
        }
        let p = partial.get_or_insert_with(|| Partial {
            kind: if matches!(header.frame_type, FrameType::Text(_)) {
                MessageKind::Text
            } else {
                MessageKind::Binary
            },
            data: Vec::new(),
            utf8_checked: 0,
        });
        // Read the payload as it arrives and check text on the way, so invalid UTF-8
        // fails fast even inside one frame.
        let start = p.data.len();
        let capacity = message_capacity(
            p.data.capacity(),
            start + len,
            fin,
            self.config.max_message_len,
        );
        if capacity > p.data.capacity() {
            if let Err(short) = self.heap_allows(capacity) {
                return Err(violation(
                    1009,
                    format!(
                        "no memory for {len} more bytes (free heap {}, reserve {})",
                        short.free, short.reserve
                    ),
                ));
            }
            if p.data.try_reserve_exact(capacity - start).is_err() {
                return Err(violation(1009, format!("no memory for {len} more bytes")));
            }
        }
        p.data.resize(start + len, 0);
        let mut filled = 0;
        while filled < len {
            let chunk = &mut p.data[start + filled..];
            let n = match reader.read(chunk).await {
                Ok(0) | Err(_) => return Err(Violation::Lost),
                Ok(n) => n,
            };
            FrameHeader::mask_with(&mut chunk[..n], Some(mask), filled);
            filled += n;
            if p.kind == MessageKind::Text && filled < len {
                check_utf8(p, start + filled, false)?;
            }
        }
        if p.kind == MessageKind::Text {
            check_utf8(p, start + len, fin)?;
        }
        self.note_frame_received(id);
        if !fin {
            return Ok(None);
        }
        let Some(message) = partial.take() else {
            return Ok(None);
        };
        self.on_message(id, link, message).await
    }

    fn note_frame_received(&self, id: SessionId) {
        let now = self.platform.now_us();
        self.with_state(|s| {
            s.rx_frames += 1;
            if let Some(session) = s.table.get_mut(id) {
                session.last_activity_us = now;
            }
        });
    }

    async fn on_message(
        &self,
        id: SessionId,
        link: &SessionLink,
        message: Partial,
    ) -> Result<Option<ReadEnd>, Violation> {
        let is_text = message.kind == MessageKind::Text;
        if !is_text || !message.data.starts_with(b"!") {
            let frame_type = if is_text {
                FrameType::Text(false)
            } else {
                FrameType::Binary(false)
            };
            let len = message.data.len();
            let Some(frame) = Outgoing::try_from_payload(frame_type, message.data) else {
                return Err(violation(1011, format!("no memory to echo {len} bytes")));
            };
            self.reply(id, link, frame).await;
            return Ok(None);
        }
        // Checked by check_utf8 already.
        let text = core::str::from_utf8(&message.data).unwrap_or("");
        let answer = match command::parse(text, self.config.max_message_len) {
            Ok(Command::Stats) => self.stats_json(),
            Ok(Command::Time) => format!("time t_us={}", self.platform.now_us()),
            Ok(Command::Broadcast(rest)) => {
                // The text is the message's tail: frame it in the message's own buffer
                // (a peer chose its size; no second copy, no infallible allocation).
                let skip = message.data.len() - rest.len();
                let mut data = message.data;
                data.drain(..skip);
                match Outgoing::try_from_payload(FrameType::Text(false), data) {
                    Some(frame) => {
                        self.queue_to_all(&frame);
                        return Ok(None);
                    }
                    None => {
                        String::from("!error bcast: no memory for the frame; try a shorter text")
                    }
                }
            }
            Ok(Command::Close(code)) => {
                self.end_session(id, EndReason::ServerClose, Some(code));
                self.reply(id, link, Outgoing::close(Some(code), "closing on request"))
                    .await;
                return Ok(Some(ReadEnd::Closing));
            }
            Ok(Command::Burst {
                count,
                size,
                interval_ms,
            }) => self.start_burst(count, size, interval_ms),
            Err(e) => format!("!error {e}"),
        };
        self.reply(id, link, Outgoing::text(&answer)).await;
        Ok(None)
    }

    fn start_burst(&self, count: u32, size: usize, interval_ms: u32) -> String {
        let now = self.platform.now_us();
        let started = self.with_state(|s| {
            if let Some(run) = &s.burst {
                return Err(run.id);
            }
            let id = s.next_burst_id;
            s.next_burst_id += 1;
            s.burst = Some(BurstRun {
                id,
                count,
                size,
                interval_ms,
                next_seq: 1,
                next_at_us: now,
                sent: 0,
                dropped: 0,
            });
            let clients = s
                .table
                .sessions()
                .filter(|(_, x)| x.live && x.upgraded)
                .count() as u16;
            Ok((id, clients))
        });
        match started {
            Ok((id, clients)) => {
                self.log(&DeviceEvent::Burst {
                    id,
                    count,
                    size: size as u32,
                    interval_ms,
                    clients,
                });
                self.burst_requested.signal(());
                format!(
                    "!burst started id={id} count={count} size={size} interval_ms={interval_ms}"
                )
            }
            Err(running) => format!("!error burst {running} is still running; wait for it to end"),
        }
    }
}

/// The buffer a message needs once it holds `needed` bytes. The last fragment adds room
/// for the header the echo puts in front, so echoing never holds the message twice.
/// Before that the buffer at least doubles, up to the largest message, so a message
/// sent in many small fragments costs a few reallocations, not one per fragment (each
/// copying everything so far: quadratic work a peer could ask for).
fn message_capacity(current: usize, needed: usize, fin: bool, max_message_len: usize) -> usize {
    if fin {
        return current.max(needed + FrameHeader::MAX_LEN);
    }
    let ceiling = max_message_len.saturating_add(FrameHeader::MAX_LEN);
    current
        .max(needed)
        .max(current.saturating_mul(2).min(ceiling))
}

/// The payload of a client CLOSE: its code (none when empty), checked per RFC 6455.
fn close_code(payload: &[u8]) -> Result<Option<u16>, Violation> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(violation(1002, "close payload of 1 byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !command::is_valid_close_code(code) {
                return Err(violation(1002, format!("invalid close code {code}")));
            }
            if core::str::from_utf8(&payload[2..]).is_err() {
                return Err(violation(1007, "close reason is not UTF-8"));
            }
            Ok(Some(code))
        }
    }
}

fn check_utf8(p: &mut Partial, end: usize, fin: bool) -> Result<(), Violation> {
    match core::str::from_utf8(&p.data[p.utf8_checked..end]) {
        Ok(_) => {
            p.utf8_checked = end;
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !fin => {
            // A character cut by a frame or read boundary: check it when the rest comes.
            p.utf8_checked += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(violation(1007, "text message is not valid UTF-8")),
    }
}

/// A frame header with the FIN bit edge-ws does not keep for control frames.
struct RawHeader {
    header: FrameHeader,
    fin: bool,
}

enum HeaderError {
    Eof,
    Io,
    Invalid(&'static str),
}

/// Read one frame header (2 to 14 bytes), parsed with edge-ws.
async fn read_header<R: Read>(reader: &mut R) -> Result<RawHeader, HeaderError> {
    let mut buf = [0u8; FrameHeader::MAX_LEN];
    let mut have = 0;
    let mut want = FrameHeader::MIN_LEN;
    loop {
        reader
            .read_exact(&mut buf[have..want])
            .await
            .map_err(|e| match e {
                ReadExactError::UnexpectedEof => HeaderError::Eof,
                ReadExactError::Other(_) => HeaderError::Io,
            })?;
        have = want;
        match FrameHeader::deserialize(&buf[..have]) {
            Ok((header, _)) => {
                return Ok(RawHeader {
                    header,
                    fin: buf[0] & 0x80 != 0,
                });
            }
            Err(edge_ws::Error::Incomplete(more)) if have + more <= buf.len() => want += more,
            Err(_) => {
                return Err(HeaderError::Invalid(if buf[0] & 0x70 != 0 {
                    "reserved bits set"
                } else {
                    "unknown opcode"
                }));
            }
        }
    }
}
