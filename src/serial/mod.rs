//! Serial ports that may have a board behind them: the one port type commands share,
//! listing and classifying ports, choosing one, and opening any path as a serial port.
//!
//! `wsbench ports` lives here too; it only prints what this module finds.

mod adapter;
mod board_port;
mod choose;
mod error;
mod open;
mod ports_command;

pub use adapter::Adapter;
pub use board_port::{BoardPort, UsbIdentity, list};
pub use choose::{PORT_ENV, PortChoice, choose};
pub use error::SerialError;
pub use open::{ROM_BAUD, open};
pub use ports_command::{PortsArgs, main};
