//! Why a console could not be read, each with the thing involved and what to try.

use std::path::Path;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ConsoleError {
    #[error("serial port {port} is busy: {reason}")]
    #[diagnostic(
        code(wsbench::console::port_busy),
        help(
            "another program holds it (idf.py monitor, espflash monitor, screen, minicom, a running wsbench): close it and try again"
        )
    )]
    PortBusy { port: String, reason: String },

    #[error("serial port {port} does not exist")]
    #[diagnostic(
        code(wsbench::console::port_missing),
        help(
            "check the cable and the path (`ls /dev/ttyUSB* /dev/ttyACM*`); a board that is resetting may take a second to come back"
        )
    )]
    PortMissing { port: String },

    #[error("cannot open serial port {port}: {reason}")]
    #[diagnostic(
        code(wsbench::console::port_open),
        help(
            "check that you may use it (on Linux: membership of the `dialout` or `uucp` group) and that it is a serial device"
        )
    )]
    PortOpen { port: String, reason: String },

    #[error(
        "no console to read: give --port PATH (or set WSBENCH_PORT), or --input FILE for a saved log"
    )]
    #[diagnostic(
        code(wsbench::console::no_port),
        help(
            "e.g. `wsbench monitor --port /dev/ttyUSB0`, or `wsbench monitor --input serial.log --json`"
        )
    )]
    NoPort,

    #[error("cannot read console log {path}: {reason}")]
    #[diagnostic(
        code(wsbench::console::input),
        help("give a saved console log (a file) or `-` for standard input")
    )]
    Input { path: String, reason: String },

    #[error("cannot read ELF {path}: {reason}")]
    #[diagnostic(
        code(wsbench::console::elf_read),
        help(
            "give --elf the firmware ELF the board runs (e.g. target/<triple>/release/<app> or build/<project>.elf)"
        )
    )]
    ElfRead { path: String, reason: String },

    #[error("{path} is not an ELF file: it is {what}")]
    #[diagnostic(
        code(wsbench::console::not_elf),
        help(
            "--elf wants the ELF the image was made from, not the flashable .bin; idf.py builds it as build/<project>.elf"
        )
    )]
    NotElf { path: String, what: String },
}

impl ConsoleError {
    pub fn port_open(path: &Path, err: &serialport::Error) -> ConsoleError {
        let port = path.display().to_string();
        let reason = err.to_string();
        match err.kind() {
            serialport::ErrorKind::NoDevice if !path.exists() => ConsoleError::PortMissing { port },
            serialport::ErrorKind::Io(std::io::ErrorKind::NotFound) => {
                ConsoleError::PortMissing { port }
            }
            _ if reason.contains("busy") || reason.contains("Busy") => {
                ConsoleError::PortBusy { port, reason }
            }
            _ if !path.exists() => ConsoleError::PortMissing { port },
            _ => ConsoleError::PortOpen { port, reason },
        }
    }
}
