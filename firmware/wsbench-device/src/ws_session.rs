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

/// A violation that ends the session with a close code.
struct Violation {
    code: u16,
    what: String,
}

fn violation(code: u16, what: impl Into<String>) -> Violation {
    Violation {
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
                    self.platform.sleep_ms(self.config.write_timeout_ms).await;
                    self.end_session(id, EndReason::WriteTimeout, None);
                }
            }
        };
        select(read_side, self.write_frames(id, link, writer)).await;
    }

    async fn write_frames<W: Write>(&self, id: SessionId, link: &SessionLink, writer: &mut W) {
        loop {
            let frame = match select(link.queue.receive(), link.stop.wait()).await {
                Either::First(frame) => frame,
                Either::Second(Stop::Purged) => Outgoing::close(Some(1001), "purged"),
            };
            let len = frame.bytes.len();
            let write = async {
                writer.write_all(&frame.bytes).await.is_ok() && writer.flush().await.is_ok()
            };
            let timeout = self.platform.sleep_ms(self.config.write_timeout_ms);
            let written = match select(write, timeout).await {
                Either::First(ok) => ok,
                Either::Second(()) => {
                    self.end_session(id, EndReason::WriteTimeout, None);
                    return;
                }
            };
            self.with_state(|s| {
                s.tx_frames += 1;
                if let Some(session) = s.table.get_mut(id) {
                    session.queued_bytes = session.queued_bytes.saturating_sub(len);
                }
            });
            if !written {
                self.end_session(id, EndReason::IoError, None);
                return;
            }
            if frame.is_close {
                return;
            }
        }
    }

    /// Queue a frame for this session, waiting while its queue is full.
    async fn reply(&self, id: SessionId, link: &SessionLink, frame: Outgoing) {
        self.with_state(|s| {
            if let Some(session) = s.table.get_mut(id) {
                session.queued_bytes += frame.bytes.len();
            }
        });
        link.queue.send(frame).await;
    }

    /// Queue a frame for every upgraded live session without waiting; returns
    /// (queued, dropped because a queue was full).
    pub(crate) fn queue_to_all(&self, frame: &Outgoing) -> (u32, u32) {
        let targets: Vec<SessionId> = self.with_state(|s| {
            s.table
                .sessions()
                .filter(|(_, session)| session.live && session.upgraded)
                .map(|(slot, session)| SessionId {
                    slot: slot as u16,
                    number: session.number,
                })
                .collect()
        });
        let (mut queued, mut dropped) = (0, 0);
        for id in targets {
            if self.links[usize::from(id.slot)]
                .queue
                .try_send(frame.clone())
                .is_ok()
            {
                queued += 1;
                self.with_state(|s| {
                    if let Some(session) = s.table.get_mut(id) {
                        session.queued_bytes += frame.bytes.len();
                    }
                });
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.with_state(|s| s.dropped += dropped);
        }
        (queued, dropped)
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
        let mut text = format!(
            "burst id={} seq={} count={} t_us={} ",
            run.id,
            run.next_seq,
            run.count,
            self.platform.now_us()
        );
        while text.len() < run.size {
            text.push('.');
        }
        let (queued, dropped) = self.queue_to_all(&Outgoing::text(&text));
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
            // Back to back, but let the writers drain between frames.
            self.platform.sleep_ms(0).await;
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
        if v.code == 0 {
            // Read error or EOF inside a frame.
            self.end_session(id, EndReason::Eof, None);
            return ReadEnd::Hangup;
        }
        self.log(&DeviceEvent::ProtocolError {
            id: id.number,
            code: v.code,
            what: v.what,
        });
        self.end_session(id, EndReason::ProtocolError, Some(v.code));
        self.reply(id, link, Outgoing::close(Some(v.code), ""))
            .await;
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
        let mut payload = alloc::vec![0u8; header.payload_len as usize];
        match reader.read_exact(&mut payload).await {
            Ok(()) => {}
            Err(_) => return Err(violation(0, "connection lost inside a frame")),
        }
        FrameHeader::mask_with(&mut payload, Some(mask), 0);
        self.with_state(|s| {
            s.rx_frames += 1;
            let now = self.platform.now_us();
            if let Some(session) = s.table.get_mut(id) {
                session.last_activity_us = now;
            }
        });
        match header.frame_type {
            FrameType::Ping => {
                self.reply(id, link, Outgoing::frame(FrameType::Pong, &payload))
                    .await;
                Ok(None)
            }
            FrameType::Pong => Ok(None),
            FrameType::Close => {
                let code = close_code(&payload)?;
                self.end_session(id, EndReason::ClientClose, code);
                self.reply(id, link, Outgoing::close(code, "")).await;
                Ok(Some(ReadEnd::Closing))
            }
            FrameType::Text(_) | FrameType::Binary(_) | FrameType::Continue(_) => {
                let p = partial.get_or_insert_with(|| Partial {
                    kind: if matches!(header.frame_type, FrameType::Text(_)) {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    },
                    data: Vec::new(),
                    utf8_checked: 0,
                });
                if p.data.is_empty() {
                    p.data = payload;
                } else {
                    p.data.extend_from_slice(&payload);
                }
                if p.kind == MessageKind::Text {
                    check_utf8(p, fin)?;
                }
                if !fin {
                    return Ok(None);
                }
                let Some(message) = partial.take() else {
                    return Ok(None);
                };
                self.on_message(id, link, message).await
            }
        }
    }

    async fn on_message(
        &self,
        id: SessionId,
        link: &SessionLink,
        message: Partial,
    ) -> Result<Option<ReadEnd>, Violation> {
        if message.kind == MessageKind::Binary {
            let frame = Outgoing::frame(FrameType::Binary(false), &message.data);
            self.reply(id, link, frame).await;
            return Ok(None);
        }
        // Checked by check_utf8 already.
        let text = core::str::from_utf8(&message.data).unwrap_or("");
        if !command::is_command(text) {
            let frame = Outgoing::frame(FrameType::Text(false), &message.data);
            self.reply(id, link, frame).await;
            return Ok(None);
        }
        let answer = match command::parse(text, self.config.max_message_len) {
            Ok(Command::Stats) => self.stats_json(),
            Ok(Command::Time) => format!("time t_us={}", self.platform.now_us()),
            Ok(Command::Broadcast(text)) => {
                self.queue_to_all(&Outgoing::text(&text));
                return Ok(None);
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

fn check_utf8(p: &mut Partial, fin: bool) -> Result<(), Violation> {
    match core::str::from_utf8(&p.data[p.utf8_checked..]) {
        Ok(_) => {
            p.utf8_checked = p.data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !fin => {
            // A character cut by the fragment boundary: check it with the next fragment.
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
