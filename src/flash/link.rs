//! The connection to the chip's ROM loader through espflash: the reset strategy the port
//! allows, chip detection, and espflash's errors turned into ours (which say what to do).

use espflash::command::{Command, CommandType};
use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
use espflash::flasher::Flasher;
use espflash::target::Chip;
use serialport::SerialPort as _;

use super::error::FlashError;
use crate::serial::{self, BoardPort, ROM_BAUD};

/// How the board is put into download mode and brought back to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetLines {
    /// DTR/RTS drive EN and BOOT (classic auto-reset circuit, USB-Serial-JTAG).
    Present,
    /// The port has no modem lines (a pseudo-terminal, a bare UART): no reset; the chip
    /// must already be in download mode, and the app is started by loader command.
    Absent,
}

/// What to connect with.
#[derive(Debug, Clone, Copy)]
pub struct LinkOptions {
    pub chip: Option<Chip>,
    pub baud: u32,
    pub use_stub: bool,
    pub verify: bool,
    pub skip: bool,
}

/// A connected loader.
pub struct Link {
    pub flasher: Flasher,
    pub lines: ResetLines,
    pub port_label: String,
}

/// An opened port whose modem lines were probed, not yet talking to the loader.
pub struct OpenPort {
    tty: serialport::TTYPort,
    pub lines: ResetLines,
}

/// Opens the port and probes its modem lines.
pub fn open(port: &BoardPort) -> Result<OpenPort, FlashError> {
    let mut tty = serial::open(port, ROM_BAUD)?;
    // Driving DTR to its idle level is harmless on every adapter; where the ioctl is
    // refused (ENOTTY on a pseudo-terminal) there is nothing to reset with.
    let lines = match tty.write_data_terminal_ready(false) {
        Ok(()) => ResetLines::Present,
        Err(_) => ResetLines::Absent,
    };
    Ok(OpenPort { tty, lines })
}

/// Connects to the loader (reset into download mode where the lines allow, SYNC, chip
/// detection, stub upload, baud change).
pub fn connect(port: &BoardPort, open: OpenPort, opts: LinkOptions) -> Result<Link, FlashError> {
    let OpenPort { tty, lines } = open;
    let (before, after) = match lines {
        ResetLines::Present if port.adapter.is_usb_serial_jtag() => (
            ResetBeforeOperation::UsbReset,
            ResetAfterOperation::HardReset,
        ),
        ResetLines::Present => (
            ResetBeforeOperation::DefaultReset,
            ResetAfterOperation::HardReset,
        ),
        ResetLines::Absent => (
            ResetBeforeOperation::NoReset,
            ResetAfterOperation::NoResetNoStub,
        ),
    };
    let port_label = port.path.display().to_string();
    let connection = Connection::new(tty, port.espflash_usb_info(), after, before, ROM_BAUD);
    let flasher = Flasher::try_connect(
        connection,
        opts.use_stub,
        opts.verify,
        opts.skip,
        opts.chip,
        Some(opts.baud),
    )
    .map_err(|boxed| {
        let (e, _connection) = *boxed;
        classify(e, &port_label, Phase::Connecting, lines)
    })?;
    Ok(Link {
        flasher,
        lines,
        port_label,
    })
}

/// Starts the flashed app where the port cannot reset the chip. With the ROM loader,
/// espflash's FLASH_END after a write already asked for a reboot; when nothing was
/// written (every region skipped) no FLASH_END went out, so the loader's "run user code"
/// is sent, as esptool and espflash do for a soft reset. The stub ends a write without a
/// reboot, so it always gets RUN_USER_CODE. With reset lines, espflash's hard reset after
/// the write already did it.
pub fn run_app_without_reset_lines(
    link: &mut Link,
    use_stub: bool,
    anything_written: bool,
) -> Result<(), FlashError> {
    if !use_stub && anything_written {
        return Ok(());
    }
    let label = link.port_label.clone();
    let conn = link.flasher.connection();
    let result = if use_stub {
        conn.with_timeout(CommandType::RunUserCode.timeout(), |c| {
            c.write_command(Command::RunUserCode)
        })
    } else {
        conn.with_timeout(CommandType::FlashBegin.timeout(), |c| {
            c.command(Command::FlashBegin {
                size: 0,
                blocks: 0,
                block_size: 0x400,
                offset: 0,
                supports_encryption: false,
            })
            .map(drop)
        })
        .and_then(|()| {
            conn.with_timeout(CommandType::FlashEnd.timeout(), |c| {
                c.write_command(Command::FlashEnd { reboot: false })
            })
        })
    };
    result.map_err(|e| classify(e, &label, Phase::Starting, ResetLines::Absent))
}

/// Which step an espflash error came from: the same timeout means "not in download
/// mode" while connecting and "the board went away" while writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Writing,
    Starting,
}

impl Phase {
    fn during(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting to the loader",
            Phase::Writing => "writing flash",
            Phase::Starting => "starting the app",
        }
    }
}

/// espflash's error, with what it wraps, as one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Turns an espflash error into ours, by phase and kind.
pub fn classify(e: espflash::Error, port: &str, phase: Phase, lines: ResetLines) -> FlashError {
    let mut chain = error_chain(&e);
    if phase != Phase::Connecting {
        // espflash words every serial failure as a connection error, even mid-write.
        chain = chain.replace("Error while connecting to device: ", "");
    }
    let lower = chain.to_lowercase();
    let port = port.to_owned();
    let io_lost = lower.contains("io error")
        || lower.contains("input/output")
        || lower.contains("broken pipe")
        || lower.contains("no such device")
        || lower.contains("serial port error");
    match e {
        espflash::Error::ChipMismatch(asked, detected) => FlashError::ChipMismatch {
            port,
            asked,
            detected,
        },
        espflash::Error::VerifyFailed => FlashError::VerifyFailed { port },
        _ if io_lost => FlashError::PortLost {
            port,
            during: phase.during(),
            reason: chain,
        },
        espflash::Error::RomError(_) => FlashError::Loader {
            port,
            during: phase.during(),
            reason: chain,
        },
        espflash::Error::Connection(_) if phase == Phase::Connecting => FlashError::NoSync {
            port,
            no_reset_note: match lines {
                ResetLines::Absent => "; this port has no reset lines, so wsbench could not \
                                       reset the chip into download mode itself"
                    .into(),
                ResetLines::Present => String::new(),
            },
        },
        _ if lower.contains("timeout") || lower.contains("timed out") => FlashError::PortLost {
            port,
            during: phase.during(),
            reason: format!("the board stopped answering ({chain})"),
        },
        _ => FlashError::Loader {
            port,
            during: phase.during(),
            reason: chain,
        },
    }
}
