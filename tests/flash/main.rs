//! `wsbench flash` and `wsbench ports`, run as a user runs them, against real
//! pseudo-terminals and the simulated board's ROM-loader emulator.

#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod elf;
mod end_to_end;
mod faults;
mod image_elf;
mod run;
mod secrets;
mod sim;
