//! Lines into events: each line goes first to an open incident, then may start one,
//! then to the boot tracker (ROM and start-up lines), then to the log profiles. User
//! patterns see every line.

use std::borrow::Cow;
use std::time::SystemTime;

use super::boot::{BootTracker, LineMeta, event};
use super::event::{ConsoleEvent, EventDetail};
use super::idf::{IdfLog, Level};
use super::incident::{self, OpenIncident, Take};
use super::other_logs;
use super::profile::{self, Builtin, UserPatterns};
use super::reader::LineRef;
use super::rom::RomLine;
use super::symbols::Symbolizer;
use super::text::{self, CleanText};

/// Counts over the whole console, for a summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub lines: u64,
    pub bytes: u64,
    pub cut_lines: u64,
    pub noise_lines: u64,
}

pub struct ConsoleParser {
    boots: BootTracker,
    incident: Option<(LineMeta, OpenIncident)>,
    user: UserPatterns,
    symbols: Symbolizer,
    /// A bundled-grammar line that did not parse, kept one line in case the next one
    /// is its wrapped rest.
    wrapped: Option<(LineMeta, String)>,
    noise: Option<(LineMeta, u64, u64)>,
    bundled_running: bool,
    counts: Counts,
}

impl ConsoleParser {
    pub fn new(user: UserPatterns, symbols: Symbolizer) -> ConsoleParser {
        ConsoleParser {
            boots: BootTracker::default(),
            incident: None,
            user,
            symbols,
            wrapped: None,
            noise: None,
            bundled_running: false,
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Parses one line; the events it completes are appended to `out`, in order.
    pub fn feed(&mut self, raw: LineRef<'_>, out: &mut Vec<ConsoleEvent>) {
        self.counts.lines += 1;
        self.counts.bytes += raw.bytes.len() as u64 + raw.dropped + 1;
        let clean = text::clean_borrowed(raw.bytes);
        let mut meta = LineMeta {
            number: raw.number,
            arrived: raw.arrived,
            host_stamp: clean.host_stamp.clone(),
            device_ms: None,
        };
        if raw.dropped > 0 {
            self.counts.cut_lines += 1;
            out.push(event(
                &meta,
                raw.number,
                EventDetail::LineCut {
                    dropped: raw.dropped,
                },
            ));
        }
        if clean.is_noise() {
            self.counts.noise_lines += 1;
            match &mut self.noise {
                Some((_, lines, last)) => {
                    *lines += 1;
                    *last = raw.number;
                }
                None => self.noise = Some((meta.clone(), 1, raw.number)),
            }
            return;
        }
        self.flush_noise(out);
        let text = self.join_wrapped(clean, &mut meta, out);
        let Some(text) = text else { return };
        let idf = IdfLog::parse(&text);
        meta.device_ms = idf.as_ref().and_then(IdfLog::ms);

        if let Some((_, open)) = &mut self.incident {
            match open.take(&text, idf.as_ref(), raw.number) {
                Take::Yes => {
                    self.user_events(&text, &meta, out);
                    return;
                }
                Take::Last => {
                    self.close_incident(out);
                    self.user_events(&text, &meta, out);
                    return;
                }
                Take::No => self.close_incident(out),
            }
        }
        if incident::is_sign(&text)
            && let Some(open) = OpenIncident::start(&text, raw.number)
        {
            self.boots.close(out);
            self.incident = Some((meta.clone(), open));
            self.user_events(&text, &meta, out);
            return;
        }
        match &idf {
            None => {
                if let Some(rom) = RomLine::parse(&text) {
                    self.boots.rom(&rom, &meta, out);
                } else if let Some(log) = other_logs::parse(&text) {
                    // Another framework's log line: the app runs, the boot before it is over.
                    self.boots.close(out);
                    meta.device_ms = log.ms();
                    self.level_event(&log, &meta, out);
                } else if !text.is_empty() {
                    self.boots.other(out);
                }
            }
            Some(log) => self.log_line(log, &text, &meta, out),
        }
        self.user_events(&text, &meta, out);
    }

    fn log_line(
        &mut self,
        log: &IdfLog<'_>,
        text: &str,
        meta: &LineMeta,
        out: &mut Vec<ConsoleEvent>,
    ) {
        let builtin = profile::builtin(log);
        if let Some(Builtin::Ready(ready)) = builtin {
            self.bundled_running = true;
            self.boots.ready(ready, meta, out);
            return;
        }
        if self.boots.idf(log, meta, out) {
            return;
        }
        match builtin {
            Some(Builtin::Event(detail)) => out.push(event(meta, meta.number, detail)),
            Some(Builtin::Broken) => self.wrapped = Some((meta.clone(), text.to_owned())),
            Some(Builtin::Ready(_)) => unreachable!("handled above"),
            None => self.level_event(log, meta, out),
        }
    }

    fn level_event(&mut self, log: &IdfLog<'_>, meta: &LineMeta, out: &mut Vec<ConsoleEvent>) {
        let (tag, message) = (log.tag.to_owned(), log.message.to_owned());
        let detail = match log.level {
            Level::Error => EventDetail::Error { tag, message },
            Level::Warn => EventDetail::Warning { tag, message },
            _ => return,
        };
        out.push(event(meta, meta.number, detail));
    }

    /// Gives the line's text to parse, joined to a wrapped line before it when that makes
    /// the pair parse; a held line that stays broken is reported as it was.
    fn join_wrapped<'a>(
        &mut self,
        clean: CleanText<'a>,
        meta: &mut LineMeta,
        out: &mut Vec<ConsoleEvent>,
    ) -> Option<Cow<'a, str>> {
        let Some((held_meta, held)) = self.wrapped.take() else {
            return Some(clean.text);
        };
        let continues = !clean.text.is_empty()
            && IdfLog::parse(&clean.text).is_none()
            && RomLine::parse(&clean.text).is_none()
            && !incident::is_sign(&clean.text);
        if continues {
            let joined = format!("{held}{}", clean.text);
            if let Some(log) = IdfLog::parse(&joined)
                && matches!(
                    profile::builtin(&log),
                    Some(Builtin::Event(_) | Builtin::Ready(_))
                )
            {
                let first = held_meta.number;
                let mut m = held_meta;
                m.device_ms = log.ms();
                let before = out.len();
                self.log_line(&log, &joined, &m, out);
                for e in &mut out[before..] {
                    if e.line == first {
                        e.end_line = meta.number;
                    }
                }
                return None;
            }
        }
        // The held line on its own: an ordinary log line.
        if let Some(log) = IdfLog::parse(&held) {
            self.level_event(&log, &held_meta, out);
        }
        Some(clean.text)
    }

    fn user_events(&mut self, text: &str, meta: &LineMeta, out: &mut Vec<ConsoleEvent>) {
        let mut found = Vec::new();
        self.user.matches(text, &mut found);
        out.extend(found.into_iter().map(|d| event(meta, meta.number, d)));
    }

    fn flush_noise(&mut self, out: &mut Vec<ConsoleEvent>) {
        if let Some((meta, lines, last)) = self.noise.take() {
            out.push(event(&meta, last, EventDetail::Noise { lines }));
        }
    }

    fn close_incident(&mut self, out: &mut Vec<ConsoleEvent>) {
        if let Some((meta, open)) = self.incident.take() {
            let end = open.last_line;
            let mut panic = open.finish();
            self.symbols
                .decode(&mut panic, self.boots.chip(), self.bundled_running);
            out.push(event(&meta, end, EventDetail::Panic(Box::new(panic))));
        }
    }

    /// The console has been silent for a while: a panic that halted (no `Rebooting...`)
    /// is complete.
    pub fn idle(&mut self, out: &mut Vec<ConsoleEvent>) {
        self.close_incident(out);
        self.flush_noise(out);
    }

    /// The port vanished at `since`: whatever was open is over.
    pub fn lost(&mut self, out: &mut Vec<ConsoleEvent>) {
        self.finish(out);
    }

    /// The port is back after `gap` seconds.
    pub fn gap(
        &mut self,
        since: SystemTime,
        seconds: f64,
        why: String,
        back: bool,
        out: &mut Vec<ConsoleEvent>,
    ) {
        let meta = LineMeta {
            number: self.counts.lines + 1,
            arrived: since,
            host_stamp: None,
            device_ms: None,
        };
        out.push(event(
            &meta,
            meta.number,
            EventDetail::Gap { seconds, why, back },
        ));
    }

    /// End of input: everything still open is emitted.
    pub fn finish(&mut self, out: &mut Vec<ConsoleEvent>) {
        if let Some((meta, held)) = self.wrapped.take()
            && let Some(log) = IdfLog::parse(&held)
        {
            self.level_event(&log, &meta, out);
        }
        self.close_incident(out);
        self.flush_noise(out);
        self.boots.close(out);
    }
}
