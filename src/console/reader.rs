//! Bytes from a console (serial port, saved log, stdin) into numbered, time-stamped raw
//! lines. The splitter owns no I/O, so a file and a port share it; memory per line is
//! bounded however long a line runs without its end.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, SystemTime};

/// The longest line kept, in bytes. Longer lines keep their head; the rest is dropped
/// and counted. Large enough for esp-backtrace's one-line `STACKDUMP:` (a 32 KiB stack
/// as hex is 64 KiB of text).
pub const MAX_LINE: usize = 128 * 1024;

/// One line as it came off the wire, its ending removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// 1-based, counted over the whole console (across port gaps).
    pub number: u64,
    /// At most [`MAX_LINE`] bytes, not necessarily UTF-8.
    pub bytes: Vec<u8>,
    /// Bytes beyond [`MAX_LINE`] that were dropped from this line.
    pub dropped: u64,
    /// Host time when the line's end arrived.
    pub arrived: SystemTime,
}

/// A [`RawLine`] borrowed: from the bytes just read when the line lies wholly within
/// them (a saved log's lines are parsed where they were read, never copied), or from the
/// splitter's buffer when it ran across two reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
    pub dropped: u64,
    pub arrived: SystemTime,
}

impl RawLine {
    pub fn as_line(&self) -> LineRef<'_> {
        LineRef {
            number: self.number,
            bytes: &self.bytes,
            dropped: self.dropped,
            arrived: self.arrived,
        }
    }
}

/// Splits a byte stream into lines: `\n`, `\r\n` and a lone `\r` each end one line (a
/// `\r\n` split across two reads is still one ending).
#[derive(Debug, Default)]
pub struct LineSplitter {
    current: Vec<u8>,
    dropped: u64,
    after_cr: bool,
    next_number: u64,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter {
            next_number: 1,
            ..LineSplitter::default()
        }
    }

    /// Feeds one chunk; complete lines go to `out`.
    pub fn push(&mut self, chunk: &[u8], arrived: SystemTime, out: &mut impl FnMut(RawLine)) {
        self.split(chunk, |s, part| {
            s.take(part);
            out(s.finish_line(arrived));
        });
    }

    /// Like [`LineSplitter::push`], but hands each line over borrowed: allocates and
    /// copies nothing for a line that lies wholly within `chunk`.
    pub fn push_each(
        &mut self,
        chunk: &[u8],
        arrived: SystemTime,
        out: &mut impl FnMut(LineRef<'_>),
    ) {
        self.split(chunk, |s, part| {
            let number = s.next_number;
            s.next_number += 1;
            let bytes = if s.current.is_empty() && part.len() <= MAX_LINE {
                part
            } else {
                s.take(part);
                &s.current
            };
            out(LineRef {
                number,
                bytes,
                dropped: std::mem::take(&mut s.dropped),
                arrived,
            });
            s.current.clear();
        });
    }

    /// Cuts `chunk` at its line endings; at each one `line_end` gets the splitter, with
    /// the line's earlier parts in `current`, and the line's last part.
    fn split(&mut self, mut chunk: &[u8], mut line_end: impl FnMut(&mut Self, &[u8])) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', chunk) {
            let ending_cr = chunk[i] == b'\r';
            line_end(self, &chunk[..i]);
            chunk = &chunk[i + 1..];
            if ending_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.take(chunk);
    }

    /// The unfinished last line, if any (end of input).
    pub fn finish(&mut self, arrived: SystemTime) -> Option<RawLine> {
        (!self.current.is_empty() || self.dropped > 0).then(|| self.finish_line(arrived))
    }

    fn take(&mut self, part: &[u8]) {
        let room = MAX_LINE - self.current.len();
        if part.len() <= room {
            self.current.extend_from_slice(part);
        } else {
            self.current.extend_from_slice(&part[..room]);
            self.dropped += (part.len() - room) as u64;
        }
    }

    fn finish_line(&mut self, arrived: SystemTime) -> RawLine {
        let number = self.next_number;
        self.next_number += 1;
        let bytes = std::mem::replace(&mut self.current, Vec::with_capacity(128));
        RawLine {
            number,
            bytes,
            dropped: std::mem::take(&mut self.dropped),
            arrived,
        }
    }
}

/// What the reader thread hands on, in order.
#[derive(Debug)]
pub enum ReaderItem {
    /// The lines completed by one read (batched: one hand-over per read, not per line).
    Lines(Vec<RawLine>),
    /// The source went away (port unplugged); `since` is when it was lost.
    Lost { since: SystemTime, why: String },
    /// The source is back after a gap.
    Back {
        since: SystemTime,
        gap: Duration,
        path: String,
    },
    /// The source ended (end of file, or the reader was asked to stop).
    End,
    /// The source failed for good.
    Failed(String),
}

/// A source of console bytes. `read` returns `Ok(0)` at the end (a file) and may time
/// out (`TimedOut`/`WouldBlock`: nothing arrived, try again); other errors mean the
/// source is lost and [`ByteSource::reopen`] is tried.
pub trait ByteSource: Send + 'static {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Opens the source again after a loss; `Ok(None)` while it is not back yet,
    /// `Err` when it can never come back (a file or stdin).
    fn reopen(&mut self) -> Result<Option<String>, String> {
        Err("the input cannot be reopened".into())
    }
}

/// Any `Read` (a file, stdin): ends at its end, never reopened.
pub struct ReadSource<R>(pub R);

impl<R: Read + Send + 'static> ByteSource for ReadSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// How often a lost source is tried again.
const REOPEN_EVERY: Duration = Duration::from_millis(250);
/// Reads waiting for the parser before the reader blocks (then the OS buffers).
const BACKLOG: usize = 64;

/// Starts the reader on its own thread, owning `source`. Stops at the source's end, when
/// `stop` is set, or when the receiver is dropped.
pub fn spawn(source: impl ByteSource, stop: Arc<AtomicBool>) -> Receiver<ReaderItem> {
    let (tx, rx) = sync_channel(BACKLOG);
    std::thread::Builder::new()
        .name("console-reader".into())
        .spawn(move || read_loop(source, &stop, &tx))
        .expect("spawning the console reader thread");
    rx
}

fn read_loop(mut source: impl ByteSource, stop: &AtomicBool, tx: &SyncSender<ReaderItem>) {
    let mut splitter = LineSplitter::new();
    let mut buf = vec![0u8; 64 * 1024];
    let send = |item| tx.send(item).is_ok();
    while !stop.load(Ordering::Relaxed) {
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut lines = Vec::new();
                splitter.push(&buf[..n], SystemTime::now(), &mut |line| lines.push(line));
                if !lines.is_empty() && !send(ReaderItem::Lines(lines)) {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                let since = SystemTime::now();
                if let Some(line) = splitter.finish(since)
                    && !send(ReaderItem::Lines(vec![line]))
                {
                    return;
                }
                if !send(ReaderItem::Lost {
                    since,
                    why: e.to_string(),
                }) {
                    return;
                }
                loop {
                    if stop.load(Ordering::Relaxed) {
                        let _ = send(ReaderItem::End);
                        return;
                    }
                    match source.reopen() {
                        Ok(Some(path)) => {
                            let gap = since.elapsed().unwrap_or_default();
                            if !send(ReaderItem::Back { since, gap, path }) {
                                return;
                            }
                            break;
                        }
                        Ok(None) => std::thread::sleep(REOPEN_EVERY),
                        Err(why) => {
                            let _ = send(ReaderItem::Failed(why));
                            return;
                        }
                    }
                }
            }
        }
    }
    if let Some(line) = splitter.finish(SystemTime::now())
        && !send(ReaderItem::Lines(vec![line]))
    {
        return;
    }
    let _ = send(ReaderItem::End);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(Vec<u8>, u64)> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        let now = SystemTime::now();
        for c in chunks {
            s.push(c, now, &mut |l| out.push((l.bytes, l.dropped)));
        }
        if let Some(l) = s.finish(now) {
            out.push((l.bytes, l.dropped));
        }
        out
    }

    #[test]
    fn every_line_ending_and_partial_reads() {
        let lines = split(&[b"a\r", b"\nb\n", b"c\rd\r\n", b"e"]);
        let texts: Vec<&[u8]> = lines.iter().map(|(b, _)| b.as_slice()).collect();
        assert_eq!(texts, [&b"a"[..], b"b", b"c", b"d", b"e"]);
    }

    #[test]
    fn borrowed_lines_match_owned_ones() {
        // Lines within one chunk, across two, a `\r\n` cut between chunks, a long line.
        let long = [b'y'; MAX_LINE + 10];
        let chunks: [&[u8]; 7] = [b"a\r", b"\nb\n", b"c\rd\r\n", b"e", b"f\n", &long, b"\ng"];
        let now = SystemTime::now();
        let mut s = LineSplitter::new();
        let mut seen = Vec::new();
        for c in chunks {
            s.push_each(c, now, &mut |l| {
                seen.push(RawLine {
                    number: l.number,
                    bytes: l.bytes.to_vec(),
                    dropped: l.dropped,
                    arrived: l.arrived,
                })
            });
        }
        seen.extend(s.finish(now));
        let mut owned = LineSplitter::new();
        let mut expected = Vec::new();
        for c in chunks {
            owned.push(c, now, &mut |l| expected.push(l));
        }
        expected.extend(owned.finish(now));
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_long_line_is_cut_and_counted() {
        let big = vec![b'x'; MAX_LINE + 1000];
        let lines = split(&[&big[..], b"\nnext\n"]);
        assert_eq!(lines[0].0.len(), MAX_LINE);
        assert_eq!(lines[0].1, 1000);
        assert_eq!(lines[1], (b"next".to_vec(), 0));
    }
}
