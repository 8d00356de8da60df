//! `wsbench flash` and `wsbench ports`, run as a user runs them, against real
//! pseudo-terminals (and, where the emulator can answer, the simulated board).

mod bad_input;
mod run;
