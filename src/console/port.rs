//! A serial port as a console byte source: opened by path, and when it vanishes (a USB
//! board re-enumerating) found again through a [`FindPort`] hook and reopened.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use super::error::ConsoleError;
use super::reader::ByteSource;

/// Finds the board's port again after it vanished. Today by path; the board-port type
/// (path + USB VID/PID + serial number) implements it to follow a board that comes back
/// under another name.
pub trait FindPort: Send + 'static {
    /// The port's path if the board is there now.
    fn find(&self) -> Option<PathBuf>;
}

/// The same path, once it exists again.
pub struct SamePath(pub PathBuf);

impl FindPort for SamePath {
    fn find(&self) -> Option<PathBuf> {
        self.0.exists().then(|| self.0.clone())
    }
}

/// How long one read waits before handing control back (so stop requests are seen).
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// An open serial port being read as a console.
pub struct PortSource {
    port: Option<TTYPort>,
    baud: u32,
    finder: Box<dyn FindPort>,
}

impl PortSource {
    /// Opens `path` exclusively; a busy, missing or unreadable port is an error here,
    /// at start, rather than a silent wait.
    pub fn open(path: &Path, baud: u32, finder: Box<dyn FindPort>) -> Result<Self, ConsoleError> {
        let port = open_port(path, baud).map_err(|e| ConsoleError::port_open(path, &e))?;
        Ok(PortSource {
            port: Some(port),
            baud,
            finder,
        })
    }

    /// The open port, for the reset lines (`--reset`) before reading starts.
    pub fn port_mut(&mut self) -> Option<&mut TTYPort> {
        self.port.as_mut()
    }
}

fn open_port(path: &Path, baud: u32) -> serialport::Result<TTYPort> {
    let mut port = serialport::new(path.to_string_lossy(), baud)
        .flow_control(serialport::FlowControl::None)
        .timeout(READ_TIMEOUT)
        .open_native()?;
    // Opening must not itself reset the board: keep whatever the lines were.
    let _ = port.set_timeout(READ_TIMEOUT);
    Ok(port)
}

impl ByteSource for PortSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(port) = self.port.as_mut() else {
            return Err(std::io::Error::other("port closed"));
        };
        match port.read(buf) {
            // A tty whose other side went away reads 0 (or EIO): the port is lost, not ended.
            Ok(0) => {
                self.port = None;
                Err(std::io::Error::other("the port returned end of file"))
            }
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                Err(e)
            }
            Err(e) => {
                self.port = None;
                Err(e)
            }
        }
    }

    fn reopen(&mut self) -> Result<Option<String>, String> {
        let Some(path) = self.finder.find() else {
            return Ok(None);
        };
        match open_port(&path, self.baud) {
            Ok(port) => {
                self.port = Some(port);
                Ok(Some(path.display().to_string()))
            }
            // Not there yet, or still held by whoever grabbed it: keep trying.
            Err(_) => Ok(None),
        }
    }
}

/// Resets the board into its app with the classic auto-reset circuit (RTS on EN, DTR
/// on IO0). `Ok(false)`: the port has no modem lines (a pseudo-terminal, some
/// adapters), so nothing was reset.
pub fn reset_into_app(port: &mut TTYPort) -> Result<bool, serialport::Error> {
    if port.write_data_terminal_ready(false).is_err() {
        return Ok(false);
    }
    port.write_request_to_send(true)?;
    std::thread::sleep(Duration::from_millis(100));
    port.write_request_to_send(false)?;
    Ok(true)
}
