//! A `wsbench sim` process whose console pseudo-terminal answers the ROM loader, started
//! as a user starts it; its URLs and pty path are read from its banner. Killed on drop.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::run::BIN;
use crate::common::sim_process::SimProcess;

pub struct FlashableSim {
    process: SimProcess,
    pub ws_url: String,
    pub console: String,
    pub flash_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl FlashableSim {
    /// `wsbench sim --ws-port 0 --wss-port 0 --flash-file <tmp> <extra>`.
    pub fn start(extra: &[&str]) -> FlashableSim {
        let dir = tempfile::tempdir().unwrap();
        let flash_file = dir.path().join("flash.bin");
        let mut command = Command::new(BIN);
        command
            .args(["sim", "--ws-port", "0", "--wss-port", "0", "--flash-file"])
            .arg(&flash_file)
            .args(extra);
        let (process, banner) =
            SimProcess::start(command, &["ws:", "console:"], Duration::from_secs(20));
        let [ws_url, console] = <[String; 2]>::try_from(banner).unwrap();
        FlashableSim {
            process,
            ws_url,
            console,
            flash_file,
            _dir: dir,
        }
    }

    /// The emulated flash as the simulated board saved it.
    pub fn flash(&self) -> Vec<u8> {
        std::fs::read(&self.flash_file).expect("the flash file")
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn printed(&self) -> Vec<String> {
        self.process.lines()
    }
}

/// A file in `firmware/dist/`.
pub fn dist(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("firmware/dist")
        .join(path)
}
