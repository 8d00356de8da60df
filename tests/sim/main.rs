//! The simulated board as users meet it: `wsbench sim` run as a process, real clients
//! (tokio-tungstenite with rustls, raw TCP for bad input) on loopback.

mod bad_input;
mod cli;
mod echo;
mod harness;
mod in_process;
mod sessions;
