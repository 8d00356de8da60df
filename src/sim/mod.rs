//! `wsbench sim`: the simulated board. The device crate's protocol logic bound to tokio
//! sockets on 127.0.0.1 (rustls for wss), with its serial console on a pseudo-terminal
//! that also answers the ESP ROM loader's protocol, so the board can be flashed.
//!
//! Data flows one way: listeners accept → the device serves → the device's log lines go
//! through the platform to the UART (pty, subscribers, stdout); host bytes on the UART →
//! the chip thread (ROM loader, flash, boot) → replies to the UART and app restarts.
//! This module only binds; protocol behaviour belongs to `wsbench-device`.

mod app;
mod board;
mod boot;
mod chip;
mod download;
mod error;
mod faults;
mod listener;
mod noise;
mod options;
mod panic;
mod platform;
mod rom;
mod stall;
mod tls;
mod uart;

pub use board::SimBoard;
pub use chip::{ChipKind, FLASH_SIZE};
pub use error::SimError;
pub use faults::{Fault, Faults};
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
        let board = SimBoard::start(options.clone())
            .await
            .map_err(Failure::unrunnable)?;
        print_banner(&board, &args, &options);
        wait_for_stop().await;
        say("wsbench sim: stopping the simulated board");
        board.shutdown().await;
        Ok(Outcome::Success)
    })
}

/// What the board is and where it listens. Written with errors ignored: a closed stdout
/// (`wsbench sim | head -1`) must not take the board down.
fn print_banner(board: &SimBoard, args: &SimArgs, options: &SimOptions) {
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
         \x20 console: {console}  (serial console, raw mode; answers the ESP ROM loader as {chip})\n\
         \x20 flash:   {flash}\n\
         \x20 limits:  {limits}\n\
         \x20 note:    heap figures are modelled (per-session costs), not measured on a board\n\
         {faults}\
         Press Ctrl-C to stop.",
        chip = board.chip(),
        flash = flash_line(board, options),
        limits = if board.flash_was_empty() {
            format!(
                "max sockets {max}, LRU purge {purge}, broadcast {broadcast}, max message {len} bytes",
                max = args.max_sockets,
                len = args.max_message,
            )
        } else if board.ready_line().is_some() {
            format!(
                "the flashed settings record's (see the ready line on the console), max message {len} bytes",
                len = args.max_message,
            )
        } else {
            "none: the flash holds nothing the simulated board can run (see the console); \
             flash it through the console"
                .to_owned()
        },
        faults = if options.faults.is_empty() {
            String::new()
        } else {
            format!("\x20 faults:  {}\n", options.faults.describe())
        },
        ws = board.ws_url(),
        wss = board.wss_url(),
    ));
}

fn flash_line(board: &SimBoard, options: &SimOptions) -> String {
    let kept = match &options.flash_file {
        Some(path) => format!("kept in {}", path.display()),
        None => "in memory".to_owned(),
    };
    let content = if board.flash_was_empty() {
        "erased: running the bundled firmware with the settings above until it is flashed"
    } else {
        "booted from what it holds"
    };
    format!("4 MB {kept}, {content}")
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
