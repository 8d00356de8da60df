//! `wsbench sim`: the simulated board. The device crate's protocol logic bound to tokio
//! sockets on 127.0.0.1 (rustls for wss), with its serial console on a pseudo-terminal.
//!
//! Data flows one way: listeners accept → the device serves → the device's log lines go
//! through the platform to the console (pty, subscribers, stdout). This module only
//! binds; protocol behaviour belongs to `wsbench-device`.

mod board;
mod console;
mod error;
mod listener;
mod options;
mod platform;
mod tls;

pub use board::SimBoard;
pub use console::Console;
pub use error::SimError;
pub use options::{ConsoleTarget, SimArgs, SimOptions};
pub use platform::{HOST_TAG, SimPlatform};

use crate::exit::{CommandResult, Failure, Outcome};

/// Runs `wsbench sim` until Ctrl-C (or SIGTERM).
pub fn main(args: SimArgs) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unrunnable(miette::miette!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let options = SimOptions::from(&args);
        options.validate().map_err(Failure::usage)?;
        let board = SimBoard::start(options)
            .await
            .map_err(Failure::unrunnable)?;
        print_banner(&board, &args);
        wait_for_stop().await;
        say("wsbench sim: stopping the simulated board");
        board.shutdown().await;
        Ok(Outcome::Success)
    })
}

/// What the board is and where it listens. Written with errors ignored: a closed stdout
/// (`wsbench sim | head -1`) must not take the board down.
fn print_banner(board: &SimBoard, args: &SimArgs) {
    let console = board
        .console_path()
        .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    let purge = if args.no_purge { "off (refuse)" } else { "on" };
    let broadcast = match args.broadcast_ms {
        0 => "off".to_owned(),
        ms => format!("every {ms} ms"),
    };
    say(&format!(
        "wsbench sim: simulated board (the device's protocol logic on this host, not a board)\n\
         \x20 ws:      {ws}\n\
         \x20 wss:     {wss}  (development certificate: firmware/certs/dev-cert.pem)\n\
         \x20 console: {console}  (serial console, raw mode)\n\
         \x20 limits:  max sockets {max}, LRU purge {purge}, broadcast {broadcast}, max message {len} bytes\n\
         \x20 note:    heap figures are modelled (per-session costs), not measured on a board\n\
         Press Ctrl-C to stop.",
        ws = board.ws_url(),
        wss = board.wss_url(),
        max = args.max_sockets,
        len = args.max_message,
    ));
}

fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
