//! wsbench: hardware-in-the-loop test and load tool for WebSocket servers on ESP32 boards.
//!
//! Data flows one way: scenario YAML → validated `Scenario` → target → runner and steps
//! → one recorder (client samples and device events on one timeline) → thresholds →
//! `Report` → renderers.

pub mod bundled_firmware;
pub mod cli;
pub mod client;
pub mod console;
pub mod exit;
pub mod flash;
pub mod manpage;
pub mod recorder;
pub mod report;
pub mod run;
pub mod scenario;
pub mod serial;
pub mod sim;
pub mod sim_runtime;
pub mod steps;
pub mod target;
pub mod terminal;
