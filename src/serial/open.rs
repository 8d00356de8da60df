//! Opening any path as a serial port, with the reason spelled out when it cannot be. The
//! checks come before the serial driver's own open, whose errors do not tell a busy port
//! from a file that is not a terminal.

use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use serialport::{FlowControl, TTYPort};

use super::board_port::BoardPort;
use super::error::SerialError;

/// Baud rate the ESP ROM loader starts at.
pub const ROM_BAUD: u32 = 115_200;

/// Opens `port` for exclusive use at `baud`, raw mode, no flow control. Pseudo-terminals
/// and any other terminal device are accepted; what is not a terminal is refused.
pub fn open(port: &BoardPort, baud: u32) -> Result<TTYPort, SerialError> {
    let path = port.path.as_path();
    check_is_terminal(path)?;
    serialport::new(path.to_string_lossy(), baud)
        .flow_control(FlowControl::None)
        .timeout(Duration::from_secs(3))
        .open_native()
        .map_err(|e| open_error(path, &e))
}

/// Refuses, with the reason, what cannot be a serial port: a missing path, a regular
/// file or directory, a character device that is not a terminal (`/dev/null`).
fn check_is_terminal(path: &Path) -> Result<(), SerialError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SerialError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(SerialError::PermissionDenied {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(open_failed(path, e.to_string())),
    };
    let kind = meta.file_type();
    let not_serial = |what: &str| SerialError::NotSerial {
        path: path.to_path_buf(),
        what: what.to_owned(),
    };
    if kind.is_file() {
        return Err(not_serial("a regular file"));
    }
    if kind.is_dir() {
        return Err(not_serial("a directory"));
    }
    if !kind.is_char_device() {
        return Err(not_serial("not a character device"));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc_flags())
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => SerialError::PermissionDenied {
                path: path.to_path_buf(),
            },
            _ if e.raw_os_error() == Some(nix::libc::EBUSY) => SerialError::Busy {
                path: path.to_path_buf(),
            },
            _ => open_failed(path, e.to_string()),
        })?;
    if !nix::unistd::isatty(&file).unwrap_or(false) {
        return Err(not_serial("a character device that is not a terminal"));
    }
    Ok(())
}

fn libc_flags() -> i32 {
    nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK
}

fn open_error(path: &Path, e: &serialport::Error) -> SerialError {
    match e.kind() {
        // serialport reports a port locked by another opener (TIOCEXCL, flock) as NoDevice.
        serialport::ErrorKind::NoDevice => SerialError::Busy {
            path: path.to_path_buf(),
        },
        serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
            SerialError::PermissionDenied {
                path: path.to_path_buf(),
            }
        }
        serialport::ErrorKind::Io(std::io::ErrorKind::NotFound) => SerialError::NotFound {
            path: path.to_path_buf(),
        },
        _ => open_failed(path, e.to_string()),
    }
}

fn open_failed(path: &Path, reason: String) -> SerialError {
    SerialError::Open {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialport::SerialPort as _;

    fn at(path: &str) -> BoardPort {
        BoardPort::at_path(Path::new(path))
    }

    #[test]
    fn dev_null_is_not_a_serial_port() {
        let err = open(&at("/dev/null"), ROM_BAUD).unwrap_err();
        assert!(
            matches!(err, SerialError::NotSerial { ref what, .. } if what.contains("not a terminal")),
            "{err:?}"
        );
        assert!(err.is_usage());
    }

    #[test]
    fn a_regular_file_is_not_a_serial_port() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = open(&BoardPort::at_path(file.path()), ROM_BAUD).unwrap_err();
        assert!(
            matches!(err, SerialError::NotSerial { ref what, .. } if what == "a regular file"),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_path_is_not_found() {
        let err = open(&at("/dev/ttyNOSUCH-wsbench"), ROM_BAUD).unwrap_err();
        assert!(matches!(err, SerialError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn a_pseudo_terminal_opens_and_a_second_opener_is_told_it_is_busy() {
        let (master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
        let path = slave.name().expect("the slave's path");
        drop(slave);
        let port = at(&path);
        let first = open(&port, ROM_BAUD).expect("opens");
        let err = open(&port, ROM_BAUD).unwrap_err();
        assert!(matches!(err, SerialError::Busy { .. }), "{err:?}");
        drop(first);
        drop(master);
    }
}
