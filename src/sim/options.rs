//! What a simulated board is configured with, in-process (`SimOptions`) and on the
//! command line (`SimArgs`, whose flags are declared here once).

use std::path::PathBuf;

use wsbench_device::MAX_OPEN_SOCKETS;

use super::chip::ChipKind;
use super::error::SimError;
use super::faults::{FAULT_HELP, Fault, Faults, parse_fault};

/// Settings of one simulated board. `Default` suits in-process use (`wsbench run --sim`):
/// ports 0, so the OS picks free ones and parallel runs never collide; the rest are the
/// ESP-IDF example's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// Plain WebSocket port on 127.0.0.1; 0 = any free port.
    pub ws_port: u16,
    /// WebSocket-over-TLS port on 127.0.0.1; 0 = any free port.
    pub wss_port: u16,
    /// esp_http_server's `max_open_sockets`: sessions open at once.
    pub max_sockets: usize,
    /// esp_http_server's `lru_purge_enable`: a new client over the limit closes the least
    /// recently active session (true) or is refused (false).
    pub lru_purge: bool,
    /// Period of the "Server broadcast: Hello #N" message; 0 = off.
    pub broadcast_interval_ms: u32,
    /// Largest (reassembled) message accepted; bigger ones close with 1009.
    pub max_message_len: usize,
    /// Also copy every device log line to this process's stdout.
    pub console_stdout: bool,
    /// The chip the ROM loader answers as.
    pub chip: ChipKind,
    /// A file holding the flash across runs; `None` = in memory, erased at start.
    pub flash_file: Option<PathBuf>,
    /// What the board and its ROM loader do wrong on purpose.
    pub faults: Faults,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            ws_port: 0,
            wss_port: 0,
            max_sockets: 7,
            lru_purge: true,
            broadcast_interval_ms: 5000,
            max_message_len: 16 * 1024,
            console_stdout: false,
            chip: ChipKind::Esp32c3,
            flash_file: None,
            faults: Faults::default(),
        }
    }
}

impl SimOptions {
    /// Rejects settings the device cannot run with (the CLI's flags already bound them;
    /// in-process callers get the same limits).
    pub fn validate(&self) -> Result<(), SimError> {
        if !(1..=usize::from(MAX_OPEN_SOCKETS)).contains(&self.max_sockets) {
            return Err(SimError::InvalidOption(format!(
                "max_sockets = {} (allowed 1..={MAX_OPEN_SOCKETS}: each session preallocates \
                 its queue)",
                self.max_sockets
            )));
        }
        if self.ws_port != 0 && self.ws_port == self.wss_port {
            return Err(SimError::InvalidOption(format!(
                "ws and wss both on port {} (give them different ports, or 0 for any)",
                self.ws_port
            )));
        }
        if self.max_message_len == 0 {
            return Err(SimError::InvalidOption("max_message_len = 0".into()));
        }
        Ok(())
    }
}

/// Flags of `wsbench sim`. Defaults are the board's: ports as on the host's usual
/// unprivileged stand-ins for 80 and 443.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port for ws:// on 127.0.0.1 (0 = any free port; the one chosen is printed).
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    pub ws_port: u16,
    /// Port for wss:// on 127.0.0.1 (0 = any free port; the one chosen is printed).
    #[arg(long, default_value_t = 8443, value_name = "PORT")]
    pub wss_port: u16,
    /// Sessions open at once (esp_http_server's max_open_sockets), at most 1024.
    #[arg(long, default_value_t = 7, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_OPEN_SOCKETS)))]
    pub max_sockets: u16,
    /// Refuse a client over the limit instead of closing the least recently active session.
    #[arg(long)]
    pub no_purge: bool,
    /// Period of the broadcast to every client in milliseconds (0 = off).
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub broadcast_ms: u32,
    /// Largest message accepted in bytes (after reassembly); bigger ones close with 1009.
    #[arg(long, default_value_t = 16384, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=(64 * 1024 * 1024)))]
    pub max_message: u32,
    /// Also copy the console's log lines to stdout (`--console -`). The pseudo-terminal
    /// always gets them.
    #[arg(long, value_name = "TARGET", value_parser = parse_console_target)]
    pub console: Option<ConsoleTarget>,
    /// The chip the serial console's ROM loader answers as (chip id, magic word, eFuse
    /// MAC, SPI registers): esp32c3 or esp32c6.
    #[arg(long, default_value = "esp32c3", value_name = "CHIP", value_parser = parse_chip)]
    pub chip: ChipKind,
    /// Keep the simulated flash (4 MB) in FILE, so what was flashed survives a restart
    /// of `wsbench sim`. Created when missing.
    #[arg(long, value_name = "FILE")]
    pub flash_file: Option<PathBuf>,
    /// Make the board misbehave (repeatable): reboot-at=DURATION, panic-at=DURATION,
    /// heap-leak=BYTES_PER_S, stall=DURATION[@AT], noise (times from the start of
    /// `wsbench sim`); the ROM loader: fail-command=OP, bad-md5, ignore-syncs=K,
    /// silent-after=BYTES. See docs/simulated-board.md.
    #[arg(long = "fault", value_name = "FAULT", value_parser = parse_fault_arg)]
    pub faults: Vec<Fault>,
}

fn parse_chip(value: &str) -> Result<ChipKind, String> {
    ChipKind::from_name(value).ok_or_else(|| {
        format!(
            "`{value}` is not a chip the simulated board can be: use esp32c3 or esp32c6 \
             (the chips the bundled firmware is built for)"
        )
    })
}

fn parse_fault_arg(value: &str) -> Result<Fault, String> {
    parse_fault(value).map_err(|e| {
        if e.contains(FAULT_HELP) {
            e
        } else {
            format!("{e} ({FAULT_HELP})")
        }
    })
}

/// Where `--console` copies the device's log lines (the pseudo-terminal always gets them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleTarget {
    Stdout,
}

fn parse_console_target(value: &str) -> Result<ConsoleTarget, String> {
    match value {
        "-" => Ok(ConsoleTarget::Stdout),
        other => Err(format!(
            "`{other}` is not a console target: use `-` to copy the console to stdout \
             (the pseudo-terminal is always there; its path is printed at start)"
        )),
    }
}

impl From<&SimArgs> for SimOptions {
    fn from(args: &SimArgs) -> Self {
        SimOptions {
            ws_port: args.ws_port,
            wss_port: args.wss_port,
            max_sockets: usize::from(args.max_sockets),
            lru_purge: !args.no_purge,
            broadcast_interval_ms: args.broadcast_ms,
            max_message_len: args.max_message as usize,
            console_stdout: args.console == Some(ConsoleTarget::Stdout),
            chip: args.chip,
            flash_file: args.flash_file.clone(),
            faults: Faults::from_list(&args.faults),
        }
    }
}
