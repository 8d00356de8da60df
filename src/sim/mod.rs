//! `wsbench sim`: the simulated board. The device crate's protocol logic bound to tokio
//! sockets on 127.0.0.1 (rustls for wss), with its serial console on a pseudo-terminal.

mod console;
mod error;
mod options;
mod tls;

pub use console::Console;
pub use error::SimError;
pub use options::{ConsoleTarget, SimArgs, SimOptions};

use crate::exit::{CommandResult, Failure};

pub fn main(_args: SimArgs) -> CommandResult {
    let _ = tls::dev_acceptor().map_err(Failure::unrunnable)?;
    Err(Failure::usage(miette::miette!(
        "wsbench sim is not built yet"
    )))
}
