//! The board's serial console: a pseudo-terminal in raw mode standing in for the UART.
//!
//! Device log lines are written to the master side without ever blocking the device:
//! when nobody reads the slave and the terminal's buffer is full, the stale output is
//! discarded (like bytes on a UART nobody listens to) and counted. Every line also goes
//! to in-process subscribers and, when asked, to stdout.
//!
//! The master is kept reachable (`master_fd`) so that a reader can later answer what a
//! host writes to the slave (the ESP ROM bootloader protocol for `wsbench flash`). We
//! keep our own handle on the slave open so its settings (raw mode) hold and the master
//! never reads EIO while no program has the port open.

use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
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

/// The console of one simulated board.
pub struct Console {
    pty: Pty,
    lines: broadcast::Sender<String>,
    stdout: Option<SyncSender<String>>,
    /// Lines (or stale buffered output) that no reader took in time.
    dropped: AtomicU64,
}

struct Pty {
    master: OwnedFd,
    /// Serialises writers so each line reaches the terminal whole.
    write_lock: Mutex<()>,
    slave: OwnedFd,
    path: PathBuf,
}

impl Console {
    /// Opens the pseudo-terminal (raw mode) and, with `copy_to_stdout`, a writer thread
    /// for stdout so a stalled stdout pipe cannot stall the device either.
    pub fn open(copy_to_stdout: bool) -> Result<Console, SimError> {
        let pty = Pty::open().map_err(|e| SimError::Console(e.to_string()))?;
        let (lines, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let stdout = copy_to_stdout.then(spawn_stdout_writer);
        Ok(Console {
            pty,
            lines,
            stdout,
            dropped: AtomicU64::new(0),
        })
    }

    /// Path of the slave side, e.g. `/dev/pts/7`: what a user opens as the serial port.
    pub fn path(&self) -> &Path {
        &self.pty.path
    }

    /// The master side, for a future reader of what the host sends to the "UART".
    pub fn master_fd(&self) -> BorrowedFd<'_> {
        self.pty.master.as_fd()
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
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(LINE_END);
        if !self.pty.write_dropping_stale(&bytes) {
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
            write_lock: Mutex::new(()),
            slave: pair.slave,
            path,
        })
    }

    /// Writes `bytes` whole; when the terminal is full, discards what is still queued
    /// unread (older output) once and tries again. False when the line was lost.
    fn write_dropping_stale(&self, bytes: &[u8]) -> bool {
        let _order = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
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
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn lines_reach_the_slave_and_subscribers() {
        let console = Console::open(false).unwrap();
        let mut sub = console.subscribe();
        let mut slave = std::fs::File::open(console.path()).unwrap();
        console.write_line("I (12) wsbench: hello");
        assert_eq!(sub.try_recv().unwrap(), "I (12) wsbench: hello");
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut slave, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"I (12) wsbench: hello\r\n");
    }

    #[test]
    fn nobody_reading_never_blocks_and_keeps_the_newest() {
        let console = Console::open(false).unwrap();
        // Far more than any pty buffer holds: must return, dropping the old output.
        for i in 0..20_000 {
            console.write_line(&format!("I ({i}) wsbench: filler #{i}"));
        }
        console.write_line("I (99999) wsbench: last");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(console.path())
            .unwrap();
        let mut text = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match nix::unistd::read(&slave, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.ends_with("I (99999) wsbench: last\r\n"),
            "newest line lost"
        );
        assert!(!text.contains("filler #0\r\n"), "stale output kept");
    }
}
