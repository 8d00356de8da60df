//! The device: the session table, the per-session queues, and what the host calls
//! (`admit`, `serve`, `run_background`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embedded_io_async::{Read, Write};

use crate::config::{DeviceConfig, Peer, Transport};
use crate::heap_model::{self, HeapSource};
use crate::http_phase::{self, HttpOutcome};
use crate::idf_log::{self, DeviceEvent, Level};
use crate::platform::{HeapFigures, Platform};
use crate::session_table::{Admission, EndReason, SessionId, SessionTable};
use crate::wire::Outgoing;

/// Frames a session's queue holds before senders wait (echo) or drop (broadcast); the
/// bytes are bounded too, by `DeviceConfig::max_queued_bytes`.
pub const SESSION_QUEUE_FRAMES: usize = 32;

type Cs = CriticalSectionRawMutex;

/// Why a session's writer must stop before its queue says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Purged,
}

/// The queue and stop signal of one slot, preallocated at `Device::new`.
pub(crate) struct SessionLink {
    pub queue: Channel<Cs, Outgoing, SESSION_QUEUE_FRAMES>,
    pub stop: Signal<Cs, Stop>,
    /// Raised by the writer after each frame, for a reader waiting on the byte budget.
    pub drained: Signal<Cs, ()>,
}

/// A `!burst` in progress.
#[derive(Clone, Debug)]
pub(crate) struct BurstRun {
    pub id: u32,
    pub count: u32,
    pub size: usize,
    pub interval_ms: u32,
    pub next_seq: u32,
    pub next_at_us: u64,
    pub sent: u32,
    pub dropped: u32,
}

/// Free heap too short for a peer-sized buffer (see [`Device::heap_allows`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeapShort {
    pub free: usize,
    pub reserve: usize,
}

/// Counters and shared state, behind one lock.
pub(crate) struct DeviceState {
    pub table: SessionTable,
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub purged: u32,
    pub refused: u32,
    pub dropped: u32,
    pub broadcast_round: u32,
    pub burst: Option<BurstRun>,
    pub next_burst_id: u32,
    pub min_free_modelled: u32,
}

/// The WebSocket server's logic, shared by the firmware and the simulated board.
///
/// The host accepts connections, asks [`Device::admit`] whether to serve each one, and if
/// so runs [`Device::serve`] with the connection split into a reader and a writer; it
/// also runs [`Device::run_background`] once. All methods take `&self`, so one `Device`
/// can be shared between tasks (it is `Sync` when `P` is).
pub struct Device<P: Platform> {
    pub(crate) config: DeviceConfig,
    pub(crate) platform: P,
    pub(crate) state: Mutex<Cs, RefCell<DeviceState>>,
    pub(crate) links: Vec<SessionLink>,
    /// Wakes `run_background` when a burst is requested.
    pub(crate) burst_requested: Signal<Cs, ()>,
}

impl<P: Platform> Device<P> {
    /// A device with every slot preallocated (twice `max_open_sockets`; see
    /// [`crate::session_table`]).
    pub fn new(config: DeviceConfig, platform: P) -> Self {
        let table = SessionTable::new(config.max_open_sockets);
        let links = (0..table.slot_count())
            .map(|_| SessionLink {
                queue: Channel::new(),
                stop: Signal::new(),
                drained: Signal::new(),
            })
            .collect();
        Device {
            config,
            platform,
            state: Mutex::new(RefCell::new(DeviceState {
                table,
                rx_frames: 0,
                tx_frames: 0,
                purged: 0,
                refused: 0,
                dropped: 0,
                broadcast_round: 0,
                burst: None,
                next_burst_id: 1,
                min_free_modelled: heap_model::BASE_FREE,
            })),
            links,
            burst_requested: Signal::new(),
        }
    }

    /// The configuration the device runs with.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The host given at `new`.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Print the ready line; call once the listeners accept connections, since tools
    /// wait for this line before they connect.
    pub fn announce_ready(&self) {
        self.log(&DeviceEvent::Ready {
            ws_port: self.config.ws_port,
            wss_port: self.config.wss_port,
            max_sockets: self.with_state(|s| s.table.max_live()),
            purge: self.config.lru_purge,
            ssid: self.config.ssid.clone(),
            ip: self.config.ip.clone(),
        });
    }

    /// Decide whether to serve a new connection. When the table is full, LRU purge (if
    /// on) closes the least recently active session and admits this one; otherwise the
    /// host must close the connection without writing anything.
    pub fn admit(&self, peer: Peer, transport: Transport) -> Admission {
        let now = self.platform.now_us();
        let (decision, clients, max) = self.with_state(|s| {
            let d = s.table.admit(peer, transport, self.config.lru_purge, now);
            if d.purged.is_some() {
                s.purged += 1;
            }
            if d.admitted.is_none() {
                s.refused += 1;
            }
            (d, s.table.live_count(), s.table.max_live())
        });
        if let Some(purged) = &decision.purged {
            self.links[usize::from(purged.id.slot)]
                .stop
                .signal(Stop::Purged);
            let live_after_purge = if decision.admitted.is_some() {
                clients - 1
            } else {
                clients
            };
            self.log(&DeviceEvent::Purge {
                id: purged.id.number,
                peer: format!("{}", purged.peer),
                idle_ms: purged.idle_us / 1000,
                clients: live_after_purge,
                max,
            });
        }
        match decision.admitted {
            Some(id) => {
                let link = &self.links[usize::from(id.slot)];
                link.queue.clear();
                link.stop.reset();
                link.drained.reset();
                self.log(&DeviceEvent::Open {
                    id: id.number,
                    peer: format!("{peer}"),
                    transport: String::from(transport.as_str()),
                    clients,
                    max,
                });
                self.update_modelled_min();
                Admission::Admitted(id)
            }
            None => {
                self.log(&DeviceEvent::Refuse {
                    peer: format!("{peer}"),
                    reason: String::from(decision.refuse_reason),
                    clients,
                    max,
                });
                Admission::Refused
            }
        }
    }

    /// Serve an admitted connection until it ends: the HTTP request, then (after an
    /// upgrade) WebSocket frames. Frees the slot and logs the close before returning;
    /// the host then closes the connection.
    pub async fn serve<R: Read, W: Write>(&self, id: SessionId, mut reader: R, mut writer: W) {
        if self.with_state(|s| s.table.get_mut(id).is_none()) {
            return;
        }
        let link = &self.links[usize::from(id.slot)];
        let http = http_phase::handle_request(&mut reader, &mut writer, || self.status_page());
        let timeout = self
            .platform
            .sleep_ms(self.config.request_timeout_ms.max(1));
        let outcome = match select(http, select(timeout, link.stop.wait())).await {
            Either::First(outcome) => outcome,
            Either::Second(Either::First(())) => {
                self.end_session(id, EndReason::RequestTimeout, None);
                HttpOutcome::Eof
            }
            Either::Second(Either::Second(_)) => HttpOutcome::Eof,
        };
        match outcome {
            HttpOutcome::Upgraded { subprotocol } => {
                self.with_state(|s| {
                    if let Some(session) = s.table.get_mut(id) {
                        session.upgraded = true;
                    }
                });
                self.log(&DeviceEvent::Upgrade {
                    id: id.number,
                    subprotocol: subprotocol.map(String::from),
                });
                self.run_websocket(id, &mut reader, &mut writer).await;
            }
            HttpOutcome::Answered => self.end_session(id, EndReason::Http, None),
            HttpOutcome::Rejected { status, what } => {
                self.log(&DeviceEvent::HttpError {
                    id: id.number,
                    status,
                    what,
                });
                self.end_session(id, EndReason::BadRequest, None);
            }
            HttpOutcome::Eof => self.end_session(id, EndReason::Eof, None),
            HttpOutcome::Io => self.end_session(id, EndReason::IoError, None),
        }
        self.release(id);
    }

    /// Record why a session ends (the first reason wins).
    pub(crate) fn end_session(&self, id: SessionId, reason: EndReason, code: Option<u16>) {
        self.with_state(|s| {
            if let Some(session) = s.table.get_mut(id) {
                session.end.get_or_insert((reason, code));
            }
        });
    }

    fn release(&self, id: SessionId) {
        let link = &self.links[usize::from(id.slot)];
        link.queue.clear();
        let (ended, clients, max) = self.with_state(|s| {
            let ended = s.table.release(id);
            (ended, s.table.live_count(), s.table.max_live())
        });
        if let Some(session) = ended {
            let (reason, code) = session.end.unwrap_or((EndReason::Eof, None));
            self.log(&DeviceEvent::Close {
                id: id.number,
                reason: String::from(reason.as_str()),
                code,
                clients,
                max,
            });
        }
    }

    /// Run the device's own work: the periodic broadcast, `!burst` rounds and the heap
    /// line every second. Never returns; run it once, beside the listeners.
    pub async fn run_background(&self) {
        let mut next_heap_us = self.platform.now_us() + 1_000_000;
        let interval_us = u64::from(self.config.broadcast_interval_ms) * 1000;
        let mut next_broadcast_us = self.platform.now_us() + interval_us;
        loop {
            let now = self.platform.now_us();
            if now >= next_heap_us {
                self.log_heap();
                next_heap_us = now + 1_000_000;
            }
            if interval_us > 0 && now >= next_broadcast_us {
                self.periodic_broadcast();
                next_broadcast_us = now + interval_us;
            }
            let burst_due = self.with_state(|s| s.burst.as_ref().map(|b| b.next_at_us));
            if let Some(at) = burst_due
                && now >= at
            {
                self.burst_round().await;
                continue;
            }
            let mut wake = next_heap_us;
            if interval_us > 0 {
                wake = wake.min(next_broadcast_us);
            }
            if let Some(at) = burst_due {
                wake = wake.min(at);
            }
            let now = self.platform.now_us();
            let ms = wake
                .saturating_sub(now)
                .div_ceil(1000)
                .min(u64::from(u32::MAX)) as u32;
            if ms > 0 {
                select(self.platform.sleep_ms(ms), self.burst_requested.wait()).await;
            }
        }
    }

    /// The figures `!stats` reports, as JSON.
    pub fn stats_json(&self) -> String {
        let heap = self.heap_figures();
        self.with_state(|s| {
            format!(
                "{{\"uptime_ms\":{},\"clients\":{},\"max_clients\":{},\"rx_frames\":{},\"tx_frames\":{},\"free_heap\":{},\"min_free_heap\":{},\"heap_source\":\"{}\",\"purged\":{},\"refused\":{},\"dropped\":{}}}",
                self.platform.now_us() / 1000,
                s.table.live_count(),
                s.table.max_live(),
                s.rx_frames,
                s.tx_frames,
                heap.0.free,
                heap.0.min_free,
                heap.1.as_str(),
                s.purged,
                s.refused,
                s.dropped
            )
        })
    }

    fn status_page(&self) -> String {
        let (clients, max) = self.with_state(|s| (s.table.live_count(), s.table.max_live()));
        format!(
            "<!doctype html><html><head><title>{ssid}</title></head><body><h1>{ssid}</h1>\
             <p>WebSocket endpoint: <code>/ws</code> (subprotocol <code>chat</code> optional)</p>\
             <p>Sessions: {clients}/{max}. Uptime: {up} ms.</p>\
             <p>Commands: !stats, !time, !burst &lt;count&gt; &lt;size&gt; &lt;interval_ms&gt;, !bcast &lt;text&gt;, !close &lt;code&gt;</p>\
             </body></html>\n",
            ssid = html_escape(&self.config.ssid),
            up = self.platform.now_us() / 1000,
        )
    }

    /// Heap figures now: the platform's, or the model's.
    pub fn heap_figures(&self) -> (HeapFigures, HeapSource) {
        if let Some(real) = self.platform.heap() {
            return (real, HeapSource::Allocator);
        }
        let free = self.update_modelled_min();
        let min_free = self.with_state(|s| s.min_free_modelled);
        (HeapFigures { free, min_free }, HeapSource::Modelled)
    }

    /// Whether a peer-sized buffer of `bytes` may be allocated now: the allocator's
    /// free heap must cover it plus `heap_reserve_bytes`. Hosts without allocator
    /// figures always may (the model describes a board; it does not limit the host).
    pub(crate) fn heap_allows(&self, bytes: usize) -> Result<(), HeapShort> {
        let Some(heap) = self.platform.heap() else {
            return Ok(());
        };
        let free = usize::try_from(heap.free).unwrap_or(usize::MAX);
        if free >= bytes.saturating_add(self.config.heap_reserve_bytes) {
            Ok(())
        } else {
            Err(HeapShort {
                free,
                reserve: self.config.heap_reserve_bytes,
            })
        }
    }

    fn update_modelled_min(&self) -> u32 {
        self.with_state(|s| {
            let (mut sessions, mut tls, mut bytes) = (0u32, 0u32, 0usize);
            for (_, session) in s.table.sessions() {
                sessions += 1;
                if session.transport == Transport::Wss {
                    tls += 1;
                }
                bytes += session.queued_bytes;
            }
            let free = heap_model::modelled_free(sessions, tls, bytes);
            s.min_free_modelled = s.min_free_modelled.min(free);
            free
        })
    }

    fn log_heap(&self) {
        let (figures, source) = self.heap_figures();
        self.log(&DeviceEvent::Heap {
            free: figures.free,
            min_free: figures.min_free,
            source,
        });
    }

    /// Write one event to the console.
    pub(crate) fn log(&self, event: &DeviceEvent) {
        self.log_at(event.level(), event);
    }

    pub(crate) fn log_at(&self, level: Level, message: &dyn fmt::Display) {
        let ms = self.platform.now_us() / 1000;
        let line = idf_log::format_line(level, ms, &self.config.log_tag, message);
        self.platform.console(&line);
    }

    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut DeviceState) -> T) -> T {
        self.state.lock(|cell| f(&mut cell.borrow_mut()))
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
