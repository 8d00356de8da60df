//! A board's serial port: the one description that `wsbench ports`, `wsbench flash`, the
//! console reader and later commands share, so a port found once is named the same way
//! everywhere.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::adapter::Adapter;
use super::error::SerialError;

/// What the USB descriptor says about a port's device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbIdentity {
    pub vid: u16,
    pub pid: u16,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// Stable across replugging: the way to pin one board among several.
    pub serial_number: Option<String>,
}

/// A serial port that may have a board behind it: the path to open, the USB identity when
/// the system knows one (pseudo-terminals and ports given by path have none), and the
/// adapter it looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardPort {
    pub path: PathBuf,
    pub usb: Option<UsbIdentity>,
    pub adapter: Adapter,
}

impl BoardPort {
    /// A port from the system's listing.
    pub fn from_listing(info: serialport::SerialPortInfo) -> BoardPort {
        let usb = match info.port_type {
            serialport::SerialPortType::UsbPort(usb) => Some(UsbIdentity {
                vid: usb.vid,
                pid: usb.pid,
                manufacturer: usb.manufacturer,
                product: usb.product,
                serial_number: usb.serial_number,
            }),
            _ => None,
        };
        let adapter = usb
            .as_ref()
            .map_or(Adapter::NotUsb, |u| Adapter::from_usb(u.vid, u.pid));
        BoardPort {
            path: PathBuf::from(info.port_name),
            usb,
            adapter,
        }
    }

    /// Any path the user gives (a pseudo-terminal, a symlink under /dev/serial/by-id): the
    /// USB identity is taken from the system's listing when the path (or what it links
    /// to) is listed there, and is absent otherwise.
    pub fn at_path(path: &Path) -> BoardPort {
        let wanted = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let listed = list()
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.path == path || std::fs::canonicalize(&p.path).is_ok_and(|c| c == wanted));
        match listed {
            Some(found) => BoardPort {
                path: path.to_path_buf(),
                ..found
            },
            None => BoardPort {
                path: path.to_path_buf(),
                usb: None,
                adapter: Adapter::NotUsb,
            },
        }
    }

    /// The USB ids as `vid:pid` in hex, the way lsusb prints them.
    pub fn vid_pid(&self) -> Option<String> {
        self.usb
            .as_ref()
            .map(|u| format!("{:04x}:{:04x}", u.vid, u.pid))
    }

    /// The identity espflash's reset sequences key on (the USB product id picks the
    /// USB-Serial-JTAG sequence).
    pub fn espflash_usb_info(&self) -> serialport::UsbPortInfo {
        let usb = self.usb.clone();
        serialport::UsbPortInfo {
            vid: usb.as_ref().map_or(0, |u| u.vid),
            pid: usb.as_ref().map_or(0, |u| u.pid),
            serial_number: usb.as_ref().and_then(|u| u.serial_number.clone()),
            manufacturer: usb.as_ref().and_then(|u| u.manufacturer.clone()),
            product: usb.and_then(|u| u.product),
        }
    }
}

impl fmt::Display for BoardPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match &self.usb {
            Some(usb) => {
                write!(f, " ({} {:04x}:{:04x}", self.adapter, usb.vid, usb.pid)?;
                if let Some(serial) = &usb.serial_number {
                    write!(f, ", serial {serial}")?;
                }
                write!(f, ")")
            }
            None => Ok(()),
        }
    }
}

/// Every serial port the system lists, in its order. Pseudo-terminals are never listed
/// (give them by path).
pub fn list() -> Result<Vec<BoardPort>, SerialError> {
    let ports = serialport::available_ports().map_err(|e| SerialError::Listing {
        reason: e.to_string(),
    })?;
    Ok(ports.into_iter().map(BoardPort::from_listing).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb(vid: u16, pid: u16, serial: Option<&str>) -> serialport::SerialPortInfo {
        serialport::SerialPortInfo {
            port_name: "/dev/ttyUSB0".into(),
            port_type: serialport::SerialPortType::UsbPort(serialport::UsbPortInfo {
                vid,
                pid,
                serial_number: serial.map(str::to_owned),
                manufacturer: Some("Silicon Labs".into()),
                product: Some("CP2102N".into()),
            }),
        }
    }

    #[test]
    fn a_listed_usb_port_keeps_its_identity_and_adapter() {
        let port = BoardPort::from_listing(usb(0x10C4, 0xEA60, Some("0001")));
        assert_eq!(port.adapter, Adapter::Cp210x);
        assert_eq!(port.vid_pid().as_deref(), Some("10c4:ea60"));
        assert_eq!(
            port.to_string(),
            "/dev/ttyUSB0 (Silicon Labs CP210x 10c4:ea60, serial 0001)"
        );
        assert_eq!(port.espflash_usb_info().pid, 0xEA60);
    }

    #[test]
    fn a_path_nobody_lists_has_no_usb_identity() {
        let port = BoardPort::at_path(Path::new("/dev/pts/4242"));
        assert_eq!(port.usb, None);
        assert_eq!(port.adapter, Adapter::NotUsb);
        assert_eq!(port.to_string(), "/dev/pts/4242");
        assert_eq!(port.espflash_usb_info().pid, 0);
    }
}
