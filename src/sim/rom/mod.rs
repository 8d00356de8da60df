//! The ESP ROM serial loader (and the flasher stub a host uploads), as far as esptool
//! and espflash use it to detect a chip and write, verify and reboot its flash.

mod faults;
mod loader;
mod protocol;

pub use faults::{Fault, FaultValue, Faults, parse_fault};
pub use loader::{Effect, RomLoader};
pub use protocol::{Request, op};

#[cfg(test)]
mod tests;
