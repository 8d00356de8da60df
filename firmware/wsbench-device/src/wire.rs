//! Frames as the device writes them (server frames are never masked), encoded once with
//! edge-ws's header serializer so a broadcast can share the bytes between sessions.

use alloc::vec::Vec;
use edge_ws::{FrameHeader, FrameType};

/// One frame ready to be written to a session.
///
/// Deliberately not `Clone`: copies go through [`Outgoing::try_clone`], which cannot
/// abort on a full heap.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Header and payload.
    pub bytes: Vec<u8>,
    /// A CLOSE frame: the session's writer ends after writing it.
    pub is_close: bool,
}

impl Outgoing {
    /// A complete (final, unfragmented) frame of `frame_type` carrying `payload`.
    pub fn frame(frame_type: FrameType, payload: &[u8]) -> Outgoing {
        let header = FrameHeader {
            frame_type,
            payload_len: payload.len() as u64,
            mask_key: None,
        };
        let mut bytes = Vec::with_capacity(header.serialized_len() + payload.len());
        bytes.resize(header.serialized_len(), 0);
        // The buffer is exactly serialized_len() long, the one case serialize rejects.
        let written = header.serialize(&mut bytes).unwrap_or(0);
        bytes.truncate(written);
        bytes.extend_from_slice(payload);
        Outgoing {
            bytes,
            is_close: matches!(frame_type, FrameType::Close),
        }
    }

    /// A complete frame around `payload`, reusing its buffer (a received message echoed
    /// back needs no second copy). `None` when memory for the header is short; a buffer
    /// with [`FrameHeader::MAX_LEN`] bytes of spare capacity never needs more.
    pub fn try_from_payload(frame_type: FrameType, mut payload: Vec<u8>) -> Option<Outgoing> {
        let header = FrameHeader {
            frame_type,
            payload_len: payload.len() as u64,
            mask_key: None,
        };
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let head_len = header.serialize(&mut head).ok()?;
        payload.try_reserve_exact(head_len).ok()?;
        let len = payload.len();
        payload.resize(len + head_len, 0);
        payload.copy_within(0..len, head_len);
        payload[..head_len].copy_from_slice(&head[..head_len]);
        Some(Outgoing {
            bytes: payload,
            is_close: matches!(frame_type, FrameType::Close),
        })
    }

    /// A text frame.
    pub fn text(text: &str) -> Outgoing {
        Outgoing::frame(FrameType::Text(false), text.as_bytes())
    }

    /// A text frame of exactly `len` bytes: `head`, then `fill` up to `len` (`!burst`).
    /// `None` when memory is short: a peer picks `len`, so running out must not abort.
    pub fn try_padded_text(head: &str, fill: u8, len: usize) -> Option<Outgoing> {
        let mut payload = Vec::new();
        let len = len.max(head.len());
        // Room for the header too, so framing it does not reallocate.
        payload.try_reserve_exact(len + FrameHeader::MAX_LEN).ok()?;
        payload.extend_from_slice(head.as_bytes());
        payload.resize(len, fill);
        Outgoing::try_from_payload(FrameType::Text(false), payload)
    }

    /// A copy for another session's queue; `None` when memory is short (broadcast
    /// copies are as large as a peer's message, so a failed copy is a dropped frame,
    /// never an abort).
    pub fn try_clone(&self) -> Option<Outgoing> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(self.bytes.len()).ok()?;
        bytes.extend_from_slice(&self.bytes);
        Some(Outgoing {
            bytes,
            is_close: self.is_close,
        })
    }

    /// A CLOSE frame with `code` (none: empty payload) and a reason of at most 123 bytes.
    pub fn close(code: Option<u16>, reason: &str) -> Outgoing {
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        Outgoing::frame(FrameType::Close, &payload)
    }
}
