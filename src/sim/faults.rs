//! Every fault `wsbench sim --fault` can inject: the ROM loader's (see `rom::faults`)
//! and the running board's (reboots, panics, a heap leak, stalls, line noise), so one
//! flag and one parser serve both. Times are measured from the start of the board.

use std::time::Duration;

use super::rom::{self, FaultValue, parse_fault as parse_rom_fault};

/// One `--fault` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A ROM-loader fault (`fail-command`, `bad-md5`, `ignore-syncs`, `silent-after`).
    Rom(rom::Fault),
    /// `reboot-at=DURATION`: a software reset of the chip, once, at that time.
    RebootAt(Duration),
    /// `panic-at=DURATION`: the bundled firmware panics (esp-backtrace), once.
    PanicAt(Duration),
    /// `heap-leak=BYTES_PER_S`: the free heap the device logs falls by this much a second.
    HeapLeak(u32),
    /// `stall=DURATION[@AT]`: the device serves nothing for DURATION from AT.
    Stall { length: Duration, at: Duration },
    /// `noise`: garbage and a wrong-baud burst on the console before each boot log.
    Noise,
}

/// When `stall=DURATION` starts if no `@AT` is given.
pub const DEFAULT_STALL_AT: Duration = Duration::from_secs(2);

pub const FAULT_HELP: &str = "faults: reboot-at=DURATION, panic-at=DURATION, \
     heap-leak=BYTES_PER_S, stall=DURATION[@AT], noise (DURATION like 1500ms or 2s, from the \
     start of `wsbench sim`), and for the ROM loader fail-command=OP (an opcode number like \
     0x03 or a name like FLASH_DATA), bad-md5, ignore-syncs=K, silent-after=BYTES";

/// Parses one `--fault` value (clap's value parser).
pub fn parse_fault(value: &str) -> Result<Fault, String> {
    let fault = FaultValue::split(value);
    let name = fault.name;
    match name {
        "reboot-at" => duration(name, fault.need("DURATION")?).map(Fault::RebootAt),
        "panic-at" => duration(name, fault.need("DURATION")?).map(Fault::PanicAt),
        "heap-leak" => {
            let text = fault.need("BYTES_PER_S")?;
            match text.parse::<u32>() {
                Ok(0) => Err("`heap-leak=0` leaks nothing: give at least 1 byte a second".into()),
                Ok(rate) => Ok(Fault::HeapLeak(rate)),
                Err(_) => Err(format!(
                    "`heap-leak` wants bytes a second (a whole number, at most {}), not `{text}`",
                    u32::MAX
                )),
            }
        }
        "stall" => {
            let text = fault.need("DURATION[@AT]")?;
            let (length, at) = match text.split_once('@') {
                Some((length, at)) => (duration(name, length)?, duration(name, at)?),
                None => (duration(name, text)?, DEFAULT_STALL_AT),
            };
            if length.is_zero() {
                return Err("`stall` needs a length above 0, e.g. `stall=2s`".into());
            }
            Ok(Fault::Stall { length, at })
        }
        "noise" => fault.bare().map(|()| Fault::Noise),
        _ => parse_rom_fault(value).map(Fault::Rom).map_err(|e| {
            if e.contains("is not a fault") {
                format!("`{name}` is not a fault; {FAULT_HELP}")
            } else {
                e
            }
        }),
    }
}

fn duration(name: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{name}` wants a duration like 1500ms or 2s, not `{text}` ({e})"))
}

/// Every fault asked for, merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub rom: rom::Faults,
    /// Each fires once, at its time.
    pub reboot_at: Vec<Duration>,
    /// Each fires once, at its time.
    pub panic_at: Vec<Duration>,
    /// Bytes a second the logged free heap falls by (the sum of every `heap-leak`).
    pub heap_leak_per_s: u64,
    /// (start, length) of each stall.
    pub stalls: Vec<(Duration, Duration)>,
    pub noise: bool,
}

impl Faults {
    pub fn from_list(list: &[Fault]) -> Faults {
        let mut rom_list = Vec::new();
        let mut faults = Faults::default();
        for fault in list {
            match fault {
                Fault::Rom(f) => rom_list.push(f.clone()),
                Fault::RebootAt(at) => faults.reboot_at.push(*at),
                Fault::PanicAt(at) => faults.panic_at.push(*at),
                Fault::HeapLeak(rate) => faults.heap_leak_per_s += u64::from(*rate),
                Fault::Stall { length, at } => faults.stalls.push((*at, *length)),
                Fault::Noise => faults.noise = true,
            }
        }
        faults.rom = rom::Faults::from_list(&rom_list);
        faults
    }

    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    /// Whether any fault of the running board (not only the ROM loader's) is asked for.
    pub fn has_board_faults(&self) -> bool {
        Faults {
            rom: rom::Faults::default(),
            ..self.clone()
        } != Faults::default()
    }

    /// One line for the banner: what this board will do wrong.
    pub fn describe(&self) -> String {
        let ms = |d: &Duration| humantime::format_duration(*d).to_string();
        let mut parts = Vec::new();
        if !self.rom.is_empty() {
            parts.push(self.rom.describe());
        }
        parts.extend(
            self.reboot_at
                .iter()
                .map(|d| format!("reboot at {}", ms(d))),
        );
        parts.extend(self.panic_at.iter().map(|d| format!("panic at {}", ms(d))));
        if self.heap_leak_per_s > 0 {
            parts.push(format!("heap leaks {} bytes/s", self.heap_leak_per_s));
        }
        parts.extend(
            self.stalls
                .iter()
                .map(|(at, len)| format!("stalls {} from {}", ms(len), ms(at))),
        );
        if self.noise {
            parts.push("line noise before each boot log".into());
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_faults_parse() {
        assert_eq!(
            parse_fault("reboot-at=2s"),
            Ok(Fault::RebootAt(Duration::from_secs(2)))
        );
        assert_eq!(
            parse_fault("panic-at=1500ms"),
            Ok(Fault::PanicAt(Duration::from_millis(1500)))
        );
        assert_eq!(parse_fault("heap-leak=512"), Ok(Fault::HeapLeak(512)));
        assert_eq!(
            parse_fault("stall=3s@1s"),
            Ok(Fault::Stall {
                length: Duration::from_secs(3),
                at: Duration::from_secs(1)
            })
        );
        assert_eq!(
            parse_fault("stall=1s"),
            Ok(Fault::Stall {
                length: Duration::from_secs(1),
                at: DEFAULT_STALL_AT
            })
        );
        assert_eq!(parse_fault("noise"), Ok(Fault::Noise));
        assert_eq!(parse_fault("bad-md5"), Ok(Fault::Rom(rom::Fault::BadMd5)));
    }

    #[test]
    fn bad_board_faults_say_what_is_wrong() {
        for bad in [
            "reboot-at",
            "reboot-at=soon",
            "panic-at=-1s",
            "heap-leak=0",
            "heap-leak=lots",
            "stall=0s",
            "stall=1s@later",
            "noise=1",
        ] {
            assert!(parse_fault(bad).is_err(), "{bad}");
        }
        assert!(parse_fault("explode").unwrap_err().contains("reboot-at"));
    }

    #[test]
    fn faults_merge() {
        let faults = Faults::from_list(&[
            Fault::HeapLeak(100),
            Fault::HeapLeak(28),
            Fault::RebootAt(Duration::from_secs(1)),
            Fault::Rom(rom::Fault::IgnoreSyncs(2)),
        ]);
        assert_eq!(faults.heap_leak_per_s, 128);
        assert_eq!(faults.rom.ignore_syncs, 2);
        assert!(faults.describe().contains("reboot at 1s"));
    }
}
