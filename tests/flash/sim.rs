//! A `wsbench sim` process whose console pseudo-terminal answers the ROM loader, started
//! as a user starts it; its URLs and pty path are read from its banner. Killed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct FlashableSim {
    child: Child,
    pub ws_url: String,
    pub console: String,
    pub flash_file: PathBuf,
    _dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<String>>>,
}

impl FlashableSim {
    /// `wsbench sim --ws-port 0 --wss-port 0 --flash-file <tmp> <extra>`.
    pub fn start(extra: &[&str]) -> FlashableSim {
        let dir = tempfile::tempdir().unwrap();
        let flash_file = dir.path().join("flash.bin");
        let mut child = Command::new(super::run::binary())
            .args(["sim", "--ws-port", "0", "--wss-port", "0", "--flash-file"])
            .arg(&flash_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run wsbench sim");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let printed = lines.lock().unwrap().clone();
            let field = |label: &str| {
                printed.iter().find_map(|l| {
                    l.trim_start()
                        .strip_prefix(label)
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned)
                })
            };
            if let (Some(ws), Some(console)) = (field("ws:"), field("console:")) {
                return FlashableSim {
                    child,
                    ws_url: ws,
                    console,
                    flash_file,
                    _dir: dir,
                    lines,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("wsbench sim exited at start ({status}): {printed:?}");
            }
            assert!(Instant::now() < deadline, "no banner: {printed:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The emulated flash as the simulated board saved it.
    pub fn flash(&self) -> Vec<u8> {
        std::fs::read(&self.flash_file).expect("the flash file")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    #[allow(dead_code)]
    pub fn printed(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for FlashableSim {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A file in `firmware/dist/`.
pub fn dist(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("firmware/dist")
        .join(path)
}
