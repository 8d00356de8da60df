//! What the test binaries share: running the real binary and reading its report, servers
//! of the tests' own on loopback, and a `wsbench sim` process. Each binary includes it
//! with `#[allow(dead_code)] mod common;` and uses the part it needs.

pub mod run;
pub mod servers;
pub mod sim_process;
