//! Panic addresses into function names: from the user's ELF (`--elf`, through
//! `addr2line`, with file:line when it has debug info) or from the symbol file shipped
//! with the bundled firmware (function symbols only, `firmware/dist/<chip>/app.symbols`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::ConsoleError;
use super::event::{Decoded, Frame, Panic};

/// A sorted table of functions: start, size, mangled name.
pub struct SymbolTable {
    functions: Vec<(u32, u32, String)>,
    label: String,
}

impl SymbolTable {
    /// Reads the text format `firmware/scripts/symbols.py` writes; `None` on lines that
    /// do not fit it (a damaged file is not half-used).
    pub fn parse(text: &str, label: String) -> Option<SymbolTable> {
        let mut functions = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut parts = line.splitn(3, ' ');
            let start = u32::from_str_radix(parts.next()?, 16).ok()?;
            let size = u32::from_str_radix(parts.next()?, 16).ok()?;
            functions.push((start, size, parts.next()?.to_owned()));
        }
        functions.sort_by_key(|f| f.0);
        Some(SymbolTable { functions, label })
    }

    fn lookup(&self, addr: u32) -> Option<String> {
        let i = self
            .functions
            .partition_point(|f| f.0 <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions[i];
        (addr < start.saturating_add(*size)).then(|| demangle(name))
    }
}

/// The user's image.
pub struct ElfSymbols {
    path: PathBuf,
    sha256: String,
    loader: addr2line::Loader,
}

impl ElfSymbols {
    /// Opens `path` as an ELF; an error names what it is instead.
    pub fn open(path: &Path) -> Result<ElfSymbols, ConsoleError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConsoleError::ElfRead {
            path: shown.clone(),
            reason: if path.is_dir() {
                "it is a directory".into()
            } else {
                e.to_string()
            },
        })?;
        if !bytes.starts_with(b"\x7fELF") {
            return Err(ConsoleError::NotElf {
                path: shown,
                what: describe(&bytes),
            });
        }
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let loader = addr2line::Loader::new(path).map_err(|e| ConsoleError::NotElf {
            path: shown.clone(),
            what: format!("an ELF that cannot be read ({e})"),
        })?;
        Ok(ElfSymbols {
            path: path.to_path_buf(),
            sha256,
            loader,
        })
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    fn frame(&self, addr: u32) -> Option<Frame> {
        let probe = u64::from(addr);
        let mut function = None;
        let mut location = None;
        if let Ok(mut frames) = self.loader.find_frames(probe)
            && let Ok(Some(frame)) = frames.next()
        {
            function = frame
                .function
                .as_ref()
                .and_then(|f| f.demangle().ok().map(|n| n.into_owned()));
            location = frame.location.as_ref().and_then(|l| {
                Some(match l.line {
                    Some(line) => format!("{}:{line}", l.file?),
                    None => l.file?.to_owned(),
                })
            });
        }
        if function.is_none() {
            function = self.loader.find_symbol(probe).map(demangle);
        }
        if location.is_none()
            && let Ok(Some(l)) = self.loader.find_location(probe)
            && let (Some(file), Some(line)) = (l.file, l.line)
        {
            location = Some(format!("{file}:{line}"));
        }
        (function.is_some() || location.is_some()).then_some(Frame {
            address: addr,
            function,
            location,
        })
    }
}

fn describe(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "an empty file".into()
    } else if bytes[0] == 0xE9 {
        "an ESP flash image (.bin), not the ELF it was made from".into()
    } else if bytes.iter().take(512).all(|b| b.is_ascii()) {
        "a text file".into()
    } else {
        format!("a file starting {:02x?}", &bytes[..bytes.len().min(4)])
    }
}

fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// What decodes panics for one console.
#[derive(Default)]
pub struct Symbolizer {
    elf: Option<ElfSymbols>,
    /// Symbols of the bundled firmware per chip, used only once the console has shown
    /// the bundled firmware runs (its ready line).
    bundled: Vec<(String, SymbolTable)>,
}

impl Symbolizer {
    pub fn new(elf: Option<ElfSymbols>, bundled: Vec<(String, SymbolTable)>) -> Symbolizer {
        Symbolizer { elf, bundled }
    }

    /// Fills `panic.decoded`. `chip`: what the console named; `bundled_running`: the
    /// bundled firmware's ready line was seen.
    pub fn decode(&self, panic: &mut Panic, chip: Option<&str>, bundled_running: bool) {
        if panic.backtrace.is_empty() && panic.stack_addresses.is_empty() {
            return;
        }
        if let Some(elf) = &self.elf {
            let symbols = format!("elf {}", elf.path.display());
            if let Some(printed) = &panic.elf_sha256 {
                let printed = printed.to_ascii_lowercase();
                if !elf.sha256.starts_with(&printed) {
                    panic.decoded = Some(Decoded {
                        symbols,
                        frames: Vec::new(),
                        note: Some(format!(
                            "not decoded: the panic printed ELF SHA256 {printed}, but {} has SHA256 {}; give --elf the image the board runs",
                            elf.path.display(),
                            &elf.sha256[..16]
                        )),
                    });
                    return;
                }
            }
            panic.decoded = Some(decode_with(panic, symbols, None, |a| elf.frame(a)));
            return;
        }
        let Some(chip) = chip else { return };
        if !bundled_running {
            return;
        }
        if let Some((_, table)) = self.bundled.iter().find(|(c, _)| c == chip) {
            let note = Some(format!(
                "names from the {}; valid only while the board runs that image",
                table.label
            ));
            panic.decoded = Some(decode_with(panic, table.label.clone(), note, |a| {
                table.lookup(a).map(|function| Frame {
                    address: a,
                    function: Some(function),
                    location: None,
                })
            }));
        }
    }
}

fn decode_with(
    panic: &Panic,
    symbols: String,
    note: Option<String>,
    lookup: impl Fn(u32) -> Option<Frame>,
) -> Decoded {
    let mut frames = Vec::new();
    for &a in &panic.backtrace {
        frames.push(lookup(a).unwrap_or(Frame {
            address: a,
            function: None,
            location: None,
        }));
    }
    // Stack words are guesses: keep only those that land in a function.
    for &a in &panic.stack_addresses {
        if !panic.backtrace.contains(&a)
            && let Some(f) = lookup(a)
        {
            frames.push(f);
        }
    }
    Decoded {
        symbols,
        frames,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup_inside_functions_only() {
        let t = SymbolTable::parse(
            "# header\n42000000 10 _ZN4main4main17h0123456789abcdefE\n42000020 8 other\n",
            "test".into(),
        )
        .unwrap();
        assert_eq!(t.lookup(0x4200000c).as_deref(), Some("main::main"));
        assert_eq!(t.lookup(0x42000010), None);
        assert_eq!(t.lookup(0x42000024).as_deref(), Some("other"));
        assert_eq!(t.lookup(0x41000000), None);
    }
}
