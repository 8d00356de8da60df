//! The simulated board as users meet it: `wsbench sim` run as a process, real clients
//! (tokio-tungstenite with rustls, raw TCP for bad input) on loopback, and SLIP packets
//! of the ESP serial protocol on its pseudo-terminal.

#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod cli;
mod echo;
mod faults;
mod harness;
mod in_process;
mod rom;
mod rom_client;
mod sessions;
