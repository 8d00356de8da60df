//! Why a serial port could not be chosen or opened. Each says which port, and what to try:
//! these are the most common failures of every ESP flashing tool.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum SerialError {
    #[error("no serial port looks like an ESP32 board{listed}")]
    #[diagnostic(
        code(wsbench::serial::no_port),
        help(
            "connect the board with a data-capable USB cable, check `wsbench ports`, or name the port: \
             --port /dev/ttyUSB0 (or WSBENCH_PORT=...); a simulated board's console is printed by `wsbench sim`"
        )
    )]
    NoPort {
        /// ", though N other ports are listed: …" or empty.
        listed: String,
    },
    #[error("several serial ports look like ESP32 boards: {candidates}")]
    #[diagnostic(
        code(wsbench::serial::several_ports),
        help(
            "choose one with --port PATH or WSBENCH_PORT=PATH (wsbench never guesses among boards \
             and never prompts); `wsbench ports` shows each one's USB serial number"
        )
    )]
    SeveralPorts { candidates: String },
    #[error("serial port {} does not exist", path.display())]
    #[diagnostic(
        code(wsbench::serial::not_found),
        help(
            "check the path (`wsbench ports` lists the ports; a board that was just reset may come \
             back under another name)"
        )
    )]
    NotFound { path: PathBuf },
    #[error("{} is not a serial port ({what})", path.display())]
    #[diagnostic(
        code(wsbench::serial::not_a_serial_port),
        help(
            "give the board's serial device, such as /dev/ttyUSB0, /dev/ttyACM0 or the pseudo-terminal \
             `wsbench sim` prints; `wsbench ports` lists them"
        )
    )]
    NotSerial { path: PathBuf, what: String },
    #[error("serial port {} is in use by another program", path.display())]
    #[diagnostic(
        code(wsbench::serial::busy),
        help(
            "close the serial monitor or flasher holding it (idf.py monitor, espflash, screen, minicom, \
             another wsbench); `fuser -v {}` shows which process has it", path.display()
        )
    )]
    Busy { path: PathBuf },
    #[error("permission denied opening serial port {}", path.display())]
    #[diagnostic(
        code(wsbench::serial::permission_denied),
        help(
            "join the group that owns serial ports and log in again: `sudo usermod -aG dialout $USER` \
             (Debian, Ubuntu, Fedora) or `-aG uucp` (Arch, openSUSE); or add a udev rule giving your user \
             the device, e.g. SUBSYSTEM==\"tty\", ATTRS{{idVendor}}==\"303a\", TAG+=\"uaccess\""
        )
    )]
    PermissionDenied { path: PathBuf },
    #[error("cannot open serial port {}: {reason}", path.display())]
    #[diagnostic(
        code(wsbench::serial::open),
        help("check that the board is connected and the port is the board's (`wsbench ports`)")
    )]
    Open { path: PathBuf, reason: String },
    #[error("cannot list serial ports: {reason}")]
    #[diagnostic(
        code(wsbench::serial::listing),
        help("give the port by path with --port (listing reads /sys/class/tty on Linux)")
    )]
    Listing { reason: String },
}

impl SerialError {
    /// Usage errors (exit 2) are decided by what the user typed; the others (exit 3) by
    /// the state of the machine or the board.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SerialError::SeveralPorts { .. } | SerialError::NotSerial { .. }
        )
    }
}
