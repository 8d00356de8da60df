//! The session table: who holds a slot, who counts against `max_open_sockets`, and whom
//! LRU purge picks. Plain data, no I/O: the device locks it, decides, then acts.
//!
//! There are twice as many slots as the socket limit: a purged session stops counting at
//! once (so the newcomer is admitted) but keeps its slot, and so its queue, until its
//! `serve` has written the CLOSE and returned.

use alloc::vec::Vec;

use crate::config::{Peer, Transport};

/// Names a session: its slot and a number unique since boot (the `id` in log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId {
    pub(crate) slot: u16,
    pub(crate) number: u32,
}

impl SessionId {
    /// The number printed as `id=` in log lines, unique since boot.
    pub fn number(&self) -> u32 {
        self.number
    }
}

/// What `admit` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Serve this connection with `Device::serve`.
    Admitted(SessionId),
    /// Close the connection at once, without writing a byte.
    Refused,
}

/// Why a session ended; the `reason=` of the close log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndReason {
    ClientClose,
    ServerClose,
    ProtocolError,
    Purged,
    Eof,
    IoError,
    RequestTimeout,
    WriteTimeout,
    Http,
    BadRequest,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientClose => "client_close",
            EndReason::ServerClose => "server_close",
            EndReason::ProtocolError => "protocol_error",
            EndReason::Purged => "purged",
            EndReason::Eof => "eof",
            EndReason::IoError => "io_error",
            EndReason::RequestTimeout => "request_timeout",
            EndReason::WriteTimeout => "write_timeout",
            EndReason::Http => "http",
            EndReason::BadRequest => "bad_request",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub number: u32,
    pub peer: Peer,
    pub transport: Transport,
    pub upgraded: bool,
    /// Counts against the limit; false once purged.
    pub live: bool,
    /// Last frame received from the client (or the admission), µs since boot.
    pub last_activity_us: u64,
    /// Bytes queued for writing (heap model).
    pub queued_bytes: usize,
    /// The first decided end of the session, reported in the close line.
    pub end: Option<(EndReason, Option<u16>)>,
}

/// A purge carried out by `admit`.
#[derive(Clone, Debug)]
pub(crate) struct Purged {
    pub id: SessionId,
    pub peer: Peer,
    pub idle_us: u64,
}

/// The outcome of `SessionTable::admit`.
#[derive(Clone, Debug)]
pub(crate) struct AdmitDecision {
    pub admitted: Option<SessionId>,
    pub purged: Option<Purged>,
    /// `full` or `no_slot` when refused.
    pub refuse_reason: &'static str,
}

pub(crate) struct SessionTable {
    slots: Vec<Option<Session>>,
    max_live: u16,
    next_number: u32,
}

impl SessionTable {
    pub fn new(max_open_sockets: u16) -> Self {
        // Bounded so every slot index fits the 16-bit `SessionId::slot`.
        let max_live = max_open_sockets.clamp(1, crate::config::MAX_OPEN_SOCKETS);
        let mut slots = Vec::with_capacity(usize::from(max_live) * 2);
        slots.resize(usize::from(max_live) * 2, None);
        SessionTable {
            slots,
            max_live,
            next_number: 1,
        }
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn max_live(&self) -> u16 {
        self.max_live
    }

    pub fn live_count(&self) -> u16 {
        self.sessions().filter(|(_, s)| s.live).count() as u16
    }

    pub fn sessions(&self) -> impl Iterator<Item = (usize, &Session)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
    }

    /// The session in `slot`, if any.
    pub fn slot_mut(&mut self, slot: usize) -> Option<&mut Session> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The session `id` names, if it still holds its slot.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.slots
            .get_mut(usize::from(id.slot))?
            .as_mut()
            .filter(|s| s.number == id.number)
    }

    pub fn admit(
        &mut self,
        peer: Peer,
        transport: Transport,
        purge: bool,
        now_us: u64,
    ) -> AdmitDecision {
        let mut purged = None;
        if self.live_count() >= self.max_live {
            if !purge {
                return AdmitDecision {
                    admitted: None,
                    purged: None,
                    refuse_reason: "full",
                };
            }
            purged = self.purge_least_recently_active(now_us);
        }
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            return AdmitDecision {
                admitted: None,
                purged,
                refuse_reason: "no_slot",
            };
        };
        let number = self.next_number;
        self.next_number = self.next_number.wrapping_add(1).max(1);
        self.slots[slot] = Some(Session {
            number,
            peer,
            transport,
            upgraded: false,
            live: true,
            last_activity_us: now_us,
            queued_bytes: 0,
            end: None,
        });
        AdmitDecision {
            admitted: Some(SessionId {
                slot: slot as u16,
                number,
            }),
            purged,
            refuse_reason: "",
        }
    }

    fn purge_least_recently_active(&mut self, now_us: u64) -> Option<Purged> {
        let (slot, session) = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|s| (i, s)))
            .filter(|(_, s)| s.live)
            .min_by_key(|(_, s)| (s.last_activity_us, s.number))?;
        session.live = false;
        session.end.get_or_insert((
            EndReason::Purged,
            if session.upgraded { Some(1001) } else { None },
        ));
        Some(Purged {
            id: SessionId {
                slot: slot as u16,
                number: session.number,
            },
            peer: session.peer,
            idle_us: now_us.saturating_sub(session.last_activity_us),
        })
    }

    /// Free the slot; returns the session as it ended.
    pub fn release(&mut self, id: SessionId) -> Option<Session> {
        let slot = self.slots.get_mut(usize::from(id.slot))?;
        if slot.as_ref().is_some_and(|s| s.number == id.number) {
            slot.take()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> Peer {
        Peer::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn purges_the_least_recently_active_and_refuses_without_purge() {
        let mut table = SessionTable::new(2);
        let a = table
            .admit(peer(1), Transport::Ws, true, 10)
            .admitted
            .unwrap();
        let b = table
            .admit(peer(2), Transport::Ws, true, 20)
            .admitted
            .unwrap();
        // a becomes the most recently active.
        table.get_mut(a).unwrap().last_activity_us = 30;
        let d = table.admit(peer(3), Transport::Ws, true, 40);
        assert!(d.admitted.is_some());
        assert_eq!(d.purged.unwrap().id, b);
        assert_eq!(table.live_count(), 2);

        let d = table.admit(peer(4), Transport::Ws, false, 50);
        assert_eq!(d.admitted, None);
        assert_eq!(d.refuse_reason, "full");
    }

    #[test]
    fn purged_sessions_keep_their_slot_until_released() {
        let mut table = SessionTable::new(1);
        let first = table
            .admit(peer(1), Transport::Ws, true, 0)
            .admitted
            .unwrap();
        let second = table
            .admit(peer(2), Transport::Ws, true, 1)
            .admitted
            .unwrap();
        // Both slots are taken now (one purged but still closing): no room for a third.
        let d = table.admit(peer(3), Transport::Ws, true, 2);
        assert_eq!(d.purged.unwrap().id, second);
        assert_eq!(d.admitted, None);
        assert_eq!(d.refuse_reason, "no_slot");
        assert!(table.release(first).is_some());
        assert!(table.release(first).is_none(), "released twice");
        assert!(
            table
                .admit(peer(4), Transport::Ws, true, 3)
                .admitted
                .is_some()
        );
    }
}
