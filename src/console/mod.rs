//! The device's serial console: bytes in, events out. One job per part, data flowing
//! one way:
//!
//! reader (splits and stamps lines: on its own thread owning a port; a saved log is
//!   split on the monitor's thread, in one reused buffer)
//! → text (colours, bad bytes, host prefixes)
//! → parser: incident (multi-line panics as one event), rom + boot (one boot one
//!   event), idf (log lines; `other_logs` for Arduino-ESP32 and esp-println) +
//!   profile (which lines are which events)
//! → events (`event`), with panic addresses named by `symbols`, written as JSON by
//!   `json`.
//!
//! `wsbench monitor` (`monitor`, `render`) prints them; the run's recorder can take the
//! same events.

pub mod boot;
pub mod error;
pub mod event;
pub mod idf;
pub mod incident;
pub mod json;
pub mod monitor;
pub mod other_logs;
pub mod parser;
pub mod port;
pub mod profile;
pub mod reader;
pub mod render;
pub mod rom;
pub mod symbols;
pub mod text;

pub use error::ConsoleError;
pub use event::{ConsoleEvent, EventDetail};
pub use parser::ConsoleParser;
