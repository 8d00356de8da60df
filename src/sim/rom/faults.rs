//! Faults a user can inject into the ROM loader (`--fault`), to see how a flashing
//! tool copes with a board that misbehaves.

use super::protocol::{OPCODE_NAMES, opcode_name};

/// One `--fault` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `fail-command=OP`: every command with this opcode answers with a failure status.
    FailCommand(u8),
    /// `bad-md5`: SPI_FLASH_MD5 answers a digest that does not match the flash.
    BadMd5,
    /// `ignore-syncs=K`: the first K SYNC commands get no answer.
    IgnoreSyncs(u32),
    /// `silent-after=BYTES`: after BYTES bytes from the host, the chip answers nothing.
    SilentAfter(u64),
}

pub const FAULT_HELP: &str = "faults: fail-command=OP (an opcode number like 0x03 or a name \
     like FLASH_DATA), bad-md5, ignore-syncs=K, silent-after=BYTES";

/// A `--fault` value split at its first `=`, read the same way by both fault parsers
/// (the ROM loader's here, the running board's in `sim::faults`).
pub struct FaultValue<'a> {
    pub name: &'a str,
    pub arg: Option<&'a str>,
}

impl<'a> FaultValue<'a> {
    pub fn split(value: &'a str) -> FaultValue<'a> {
        match value.split_once('=') {
            Some((name, arg)) => FaultValue {
                name,
                arg: Some(arg),
            },
            None => FaultValue {
                name: value,
                arg: None,
            },
        }
    }

    /// The value after `=`; without one, an error showing how to give it (`what`).
    pub fn need(&self, what: &str) -> Result<&'a str, String> {
        let name = self.name;
        self.arg
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("`{name}` needs a value: `{name}={what}`"))
    }

    /// For a fault that is a bare name: an error when a value was given.
    pub fn bare(&self) -> Result<(), String> {
        match self.arg {
            None => Ok(()),
            Some(_) => Err(format!("`{}` takes no value", self.name)),
        }
    }
}

/// Parses one `--fault` value (clap's value parser).
pub fn parse_fault(value: &str) -> Result<Fault, String> {
    let fault = FaultValue::split(value);
    match fault.name {
        "fail-command" => parse_opcode(fault.need("OP")?).map(Fault::FailCommand),
        "bad-md5" => fault.bare().map(|()| Fault::BadMd5),
        "ignore-syncs" => {
            let text = fault.need("K")?;
            text.parse()
                .map(Fault::IgnoreSyncs)
                .map_err(|_| format!("`ignore-syncs` wants a count of SYNC commands, not `{text}`"))
        }
        "silent-after" => {
            let text = fault.need("BYTES")?;
            text.parse()
                .map(Fault::SilentAfter)
                .map_err(|_| format!("`silent-after` wants a number of bytes, not `{text}`"))
        }
        other => Err(format!("`{other}` is not a fault; {FAULT_HELP}")),
    }
}

fn parse_opcode(text: &str) -> Result<u8, String> {
    let number = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    if let Some(code) = number {
        return Ok(code);
    }
    let upper = text.to_ascii_uppercase().replace('-', "_");
    OPCODE_NAMES
        .iter()
        .find(|(_, n)| *n == upper)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            let names: Vec<_> = OPCODE_NAMES.iter().map(|(_, n)| *n).collect();
            format!(
                "`{text}` is not an opcode: give a number (0x03) or one of {}",
                names.join(", ")
            )
        })
}

/// Every fault asked for, merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub fail_commands: Vec<u8>,
    pub bad_md5: bool,
    pub ignore_syncs: u32,
    pub silent_after: Option<u64>,
}

impl Faults {
    pub fn from_list(list: &[Fault]) -> Faults {
        let mut faults = Faults::default();
        for fault in list {
            match *fault {
                Fault::FailCommand(op) => faults.fail_commands.push(op),
                Fault::BadMd5 => faults.bad_md5 = true,
                Fault::IgnoreSyncs(k) => faults.ignore_syncs = faults.ignore_syncs.max(k),
                Fault::SilentAfter(n) => {
                    faults.silent_after = Some(faults.silent_after.map_or(n, |m| m.min(n)))
                }
            }
        }
        faults
    }

    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    /// One line for the banner: what this board will do wrong.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .fail_commands
            .iter()
            .map(|op| format!("{} fails", opcode_name(*op)))
            .collect();
        if self.bad_md5 {
            parts.push("MD5 answers are wrong".into());
        }
        if self.ignore_syncs > 0 {
            parts.push(format!("first {} SYNCs unanswered", self.ignore_syncs));
        }
        if let Some(n) = self.silent_after {
            parts.push(format!("silent after {n} bytes from the host"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_with_numbers_and_names() {
        assert_eq!(parse_fault("fail-command=0x03"), Ok(Fault::FailCommand(3)));
        assert_eq!(parse_fault("fail-command=19"), Ok(Fault::FailCommand(0x13)));
        assert_eq!(
            parse_fault("fail-command=flash_defl_data"),
            Ok(Fault::FailCommand(0x11))
        );
        assert_eq!(parse_fault("bad-md5"), Ok(Fault::BadMd5));
        assert_eq!(parse_fault("ignore-syncs=3"), Ok(Fault::IgnoreSyncs(3)));
        assert_eq!(
            parse_fault("silent-after=4096"),
            Ok(Fault::SilentAfter(4096))
        );
    }

    #[test]
    fn bad_faults_say_what_is_allowed() {
        for bad in [
            "fail-command",
            "fail-command=NOPE",
            "fail-command=0x1FF",
            "bad-md5=1",
            "ignore-syncs=-1",
            "silent-after=lots",
            "explode",
        ] {
            let err = parse_fault(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(parse_fault("explode").unwrap_err().contains("bad-md5"));
    }
}
