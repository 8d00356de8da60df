//! `wsbench flash` and `wsbench ports`, run as a user runs them, against real
//! pseudo-terminals and the simulated board's ROM-loader emulator.

mod bad_input;
mod end_to_end;
mod faults;
mod run;
mod sim;
