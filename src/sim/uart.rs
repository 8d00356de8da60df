//! The board's UART: a pseudo-terminal in raw mode. Its master side is the chip's end.
//!
//! One writer thread owns the output: log lines and ROM/stub packets queue up in order
//! and each goes out whole, so the bytes of a log line and of a packet never mix. The
//! writer paces bytes at the current baud rate (10 bits a byte: start, 8 data, stop),
//! and so does the reader of what the host writes, so that flashing through the
//! simulated board takes the time it takes over a real UART at that speed.
//!
//! Log lines never block the device: when nobody reads the terminal and its buffer is
//! full, the stale output is discarded (like bytes on a UART nobody listens to) and
//! counted. Every line also goes to in-process subscribers and, when asked, to stdout,
//! unpaced. We keep our own handle on the slave open so its settings (raw mode) hold and
//! the master never reads EIO while no program has the port open.

use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{FlushArg, SetArg, cfmakeraw, tcflush, tcgetattr, tcsetattr};
use tokio::sync::broadcast;

use super::error::SimError;

/// What ends a line on the "UART": ESP-IDF's default stdout line ending is CRLF
/// (`CONFIG_NEWLIB_STDOUT_LINE_ENDING_CRLF`), so terminal programs show the lines as a
/// board's. The terminal is raw, so nothing else is added.
const LINE_END: &[u8] = b"\r\n";
/// Lines kept for a slow in-process subscriber before it sees `Lagged`.
const SUBSCRIBER_BACKLOG: usize = 4096;
/// Lines waiting for stdout before new ones are dropped.
const STDOUT_BACKLOG: usize = 4096;
/// Items waiting for the paced writer before new log lines are dropped.
const WRITER_BACKLOG: usize = 4096;
/// The ROM's UART speed after a reset.
pub const ROM_BAUD: u32 = 115_200;
/// Bits on the wire per byte (8N1: start, 8 data bits, stop).
const BITS_PER_BYTE: u64 = 10;
/// How often a blocked reader looks whether it should stop.
const READ_POLL: Duration = Duration::from_millis(100);

/// The UART of one simulated board.
pub struct Uart {
    pty: Arc<Pty>,
    writer: SyncSender<Outgoing>,
    lines: broadcast::Sender<String>,
    stdout: Option<SyncSender<String>>,
    /// Lines (or stale buffered output) that no reader took in time.
    dropped: Arc<AtomicU64>,
    baud: Arc<AtomicU32>,
}

enum Outgoing {
    /// A log line with its ending: dropped with the stale output when nobody reads.
    Line(Vec<u8>),
    /// A SLIP-framed packet for the host.
    Packet(Vec<u8>),
    /// Everything queued before this went out at the old speed.
    Baud(u32),
}

struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    path: PathBuf,
}

impl Uart {
    /// Opens the pseudo-terminal (raw mode), its paced writer thread and, with
    /// `copy_to_stdout`, a writer thread for stdout so a stalled stdout pipe cannot
    /// stall the device either.
    pub fn open(copy_to_stdout: bool) -> Result<Uart, SimError> {
        let pty = Arc::new(Pty::open().map_err(|e| SimError::Console(e.to_string()))?);
        let (lines, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let stdout = copy_to_stdout.then(spawn_stdout_writer);
        let dropped = Arc::new(AtomicU64::new(0));
        let baud = Arc::new(AtomicU32::new(ROM_BAUD));
        let (writer, queue) = std::sync::mpsc::sync_channel(WRITER_BACKLOG);
        let paced = PacedWriter {
            pty: pty.clone(),
            baud: baud.clone(),
            dropped: dropped.clone(),
            busy_until: Instant::now(),
        };
        std::thread::Builder::new()
            .name("sim-uart-tx".into())
            .spawn(move || paced.run(queue))
            .map_err(|e| SimError::Console(format!("cannot start the UART writer: {e}")))?;
        Ok(Uart {
            pty,
            writer,
            lines,
            stdout,
            dropped,
            baud,
        })
    }

    /// Path of the slave side, e.g. `/dev/pts/7`: what a user opens as the serial port.
    pub fn path(&self) -> &Path {
        &self.pty.path
    }

    /// Every line printed from now on, as printed (without the line ending).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.lines.subscribe()
    }

    /// How many lines were lost because no reader kept up (pty or stdout).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Prints one log line (`line` without its ending). Never blocks on a reader.
    pub fn write_line(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + LINE_END.len());
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(LINE_END);
        if self.writer.try_send(Outgoing::Line(bytes)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(stdout) = &self.stdout {
            match stdout.try_send(line.to_owned()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // No subscriber is fine: nobody is listening in-process.
        let _ = self.lines.send(line.to_owned());
    }

    /// Prints one line of raw bytes (line noise, not UTF-8). Subscribers and stdout get
    /// it lossily decoded.
    pub fn write_bytes_line(&self, raw: &[u8]) {
        let mut bytes = Vec::with_capacity(raw.len() + LINE_END.len());
        bytes.extend_from_slice(raw);
        bytes.extend_from_slice(LINE_END);
        if self.writer.try_send(Outgoing::Line(bytes)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let text = String::from_utf8_lossy(raw).into_owned();
        if let Some(stdout) = &self.stdout
            && stdout.try_send(text.clone()).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.lines.send(text);
    }

    /// Sends one protocol packet, SLIP-framed, after everything queued before it.
    pub fn send_packet(&self, packet: &[u8]) {
        let mut framed = Vec::with_capacity(packet.len() + 8);
        // Writing into a Vec cannot fail.
        let _ = slip_codec::SlipEncoder::new(true).encode(packet, &mut framed);
        let _ = self.writer.send(Outgoing::Packet(framed));
    }

    /// Changes the speed once everything queued so far has gone out.
    pub fn set_baud(&self, baud: u32) {
        let _ = self.writer.send(Outgoing::Baud(baud));
    }

    /// A reader of what the host writes, paced at the current speed. It returns end of
    /// stream once `stop` is set.
    pub fn reader(&self, stop: Arc<AtomicBool>) -> UartReader {
        UartReader {
            pty: self.pty.clone(),
            baud: self.baud.clone(),
            stop,
            busy_until: Instant::now(),
            received: 0,
            wake: None,
        }
    }
}

/// The time `bytes` take on the wire at `baud`.
fn wire_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_nanos(bytes as u64 * BITS_PER_BYTE * 1_000_000_000 / u64::from(baud.max(1)))
}

/// Sleeps until `busy_until` advanced by the wire time of `bytes` (from now, if the
/// line was idle), and returns the new `busy_until`.
fn pace(busy_until: Instant, bytes: usize, baud: u32) -> Instant {
    let start = busy_until.max(Instant::now());
    let done = start + wire_time(bytes, baud);
    std::thread::sleep(done.saturating_duration_since(Instant::now()));
    done
}

struct PacedWriter {
    pty: Arc<Pty>,
    baud: Arc<AtomicU32>,
    dropped: Arc<AtomicU64>,
    busy_until: Instant,
}

impl PacedWriter {
    /// Runs until the [`Uart`] is dropped.
    fn run(mut self, queue: Receiver<Outgoing>) {
        for item in queue {
            match item {
                Outgoing::Baud(baud) => self.baud.store(baud, Ordering::Relaxed),
                Outgoing::Line(bytes) | Outgoing::Packet(bytes) => {
                    let baud = self.baud.load(Ordering::Relaxed);
                    self.busy_until = pace(self.busy_until, bytes.len(), baud);
                    if !self.pty.write_dropping_stale(&bytes) {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// What the host writes to the board, at the UART's pace.
pub struct UartReader {
    pty: Arc<Pty>,
    baud: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    busy_until: Instant,
    received: u64,
    wake: Option<Instant>,
}

impl UartReader {
    /// Bytes received from the host so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// From `at` on, a read with nothing to read returns `TimedOut` (once), so the chip
    /// can act on a timer (a watchdog that fires).
    pub fn wake_at(&mut self, at: Option<Instant>) {
        self.wake = at;
    }
}

impl std::io::Read for UartReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            let baud = self.baud.load(Ordering::Relaxed);
            // About 5 ms of wire time per read, so pacing stays smooth at any speed.
            let chunk = (baud as usize / BITS_PER_BYTE as usize / 200).clamp(16, 4096);
            let limit = buf.len().min(chunk);
            let mut wait = READ_POLL;
            if let Some(wake) = self.wake {
                let left = wake.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.wake = None;
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                wait = wait.min(left);
            }
            let mut fds = [PollFd::new(self.pty.master.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::from(wait.as_millis().max(1) as u16);
            match poll(&mut fds, timeout) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            match nix::unistd::read(&self.pty.master, &mut buf[..limit]) {
                Ok(0) => std::thread::sleep(READ_POLL),
                Ok(n) => {
                    self.busy_until = pace(self.busy_until, n, baud);
                    self.received += n as u64;
                    return Ok(n);
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                // EIO: no program has the slave open (cannot happen while we hold it).
                Err(Errno::EIO) => std::thread::sleep(READ_POLL),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Pty {
    fn open() -> nix::Result<Pty> {
        let pair = nix::pty::openpty(None, None)?;
        let mut attrs = tcgetattr(&pair.slave)?;
        cfmakeraw(&mut attrs);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &attrs)?;
        let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL)?);
        fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let path = nix::unistd::ttyname(&pair.slave)?;
        Ok(Pty {
            master: pair.master,
            slave: pair.slave,
            path,
        })
    }

    /// Writes `bytes` whole; when the terminal is full, discards what is still queued
    /// unread (older output) once and tries again. False when the bytes were lost.
    fn write_dropping_stale(&self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        let mut flushed = false;
        while !rest.is_empty() {
            match nix::unistd::write(&self.master, rest) {
                Ok(n) => rest = &rest[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) if !flushed => {
                    flushed = true;
                    // Output queued for the slave's reader and never read: let it go.
                    let _ = tcflush(&self.slave, FlushArg::TCIFLUSH);
                }
                Err(_) => return false,
            }
        }
        true
    }
}

fn spawn_stdout_writer() -> SyncSender<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(STDOUT_BACKLOG);
    std::thread::Builder::new()
        .name("sim-console-stdout".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            for line in rx {
                let mut out = stdout.lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
        })
        .expect("spawning a thread at start-up");
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;

    fn read_for(slave: &std::fs::File, wait: Duration) -> Vec<u8> {
        let deadline = Instant::now() + wait;
        let mut text = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            match nix::unistd::read(slave, &mut buf) {
                Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        text
    }

    fn open_slave(uart: &Uart) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(uart.path())
            .unwrap()
    }

    #[test]
    fn lines_and_packets_reach_the_slave_whole_and_in_order() {
        let uart = Uart::open(false).unwrap();
        let mut sub = uart.subscribe();
        let slave = open_slave(&uart);
        uart.write_line("I (12) wsbench: hello");
        uart.send_packet(&[0x01, 0xC0, 0xDB]);
        uart.write_line("I (13) wsbench: bye");
        assert_eq!(sub.try_recv().unwrap(), "I (12) wsbench: hello");
        let got = read_for(&slave, Duration::from_millis(500));
        assert_eq!(
            got,
            b"I (12) wsbench: hello\r\n\xC0\x01\xDB\xDC\xDB\xDD\xC0I (13) wsbench: bye\r\n"
        );
    }

    #[test]
    fn nobody_reading_never_blocks_and_keeps_the_newest() {
        let uart = Uart::open(false).unwrap();
        uart.set_baud(5_000_000);
        // Far more than any pty buffer holds: must return, dropping the old output.
        for i in 0..3_000 {
            uart.write_line(&format!("I ({i}) wsbench: filler #{i}"));
        }
        uart.write_line("I (99999) wsbench: last");
        let slave = open_slave(&uart);
        let text = read_for(&slave, Duration::from_secs(3));
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.ends_with("I (99999) wsbench: last\r\n"),
            "newest line lost"
        );
    }

    #[test]
    fn the_reader_sees_what_the_host_writes_and_stops_when_asked() {
        let uart = Uart::open(false).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = uart.reader(stop.clone());
        let mut slave = open_slave(&uart);
        slave.write_all(b"\xC0hello\xC0").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 7 {
            let n = reader.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"\xC0hello\xC0");
        assert_eq!(reader.received(), 7);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        let _ = slave.read(&mut buf);
    }
}
