//! Fault incidents: a panic is many lines (the Guru Meditation line, an assert before
//! it, the register dump, the backtrace or stack memory, the ELF hash, `Rebooting...`)
//! and becomes ONE event. An incident opens at its first sign and takes every line that
//! belongs to such a dump; the first line that does not, or `Rebooting...`, closes it.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::event::{Panic, PanicKind};
use super::idf::IdfLog;

/// Lines kept in an incident's text; the rest are counted, not stored.
const MAX_TEXT_LINES: usize = 400;
const MAX_TEXT_BYTES: usize = 32 * 1024;
const MAX_ADDRESSES: usize = 64;
/// Free-text lines a Rust panic's message may run to before its backtrace.
const MAX_MESSAGE_LINES: usize = 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    Guru,
    Abort,
    ErrorCheck,
    Assert,
    OldAssert,
    StackOverflow,
    Canary,
    TaskWdt,
    IntWdt,
    Brownout,
    CorruptHeap,
    EspBacktrace,
    StdPanic,
    OldStdPanic,
    OldEspBacktrace,
    RiscvException,
    XtensaException,
    RustStackOverflow,
}

const SIGNS: [(&str, Sign); 18] = [
    ("Guru Meditation Error:", Sign::Guru),
    ("abort() was called at PC", Sign::Abort),
    ("ESP_ERROR_CHECK failed: esp_err_t ", Sign::ErrorCheck),
    ("assert failed: ", Sign::Assert),
    ("assertion \"", Sign::OldAssert),
    ("***ERROR*** A stack overflow in task", Sign::StackOverflow),
    ("Stack canary watchpoint triggered", Sign::Canary),
    ("Task watchdog got triggered", Sign::TaskWdt),
    ("Interrupt wdt timeout on CPU", Sign::IntWdt),
    ("Brownout detector was triggered", Sign::Brownout),
    ("CORRUPT HEAP:", Sign::CorruptHeap),
    (
        "====================== PANIC ======================",
        Sign::EspBacktrace,
    ),
    ("' panicked at ", Sign::StdPanic),
    ("panicked at '", Sign::OldStdPanic),
    ("!! A panic occured in ", Sign::OldEspBacktrace),
    ("' mepc=0x", Sign::RiscvException),
    ("Exception occured '", Sign::XtensaException),
    ("Stack overflow detected at 0x", Sign::RustStackOverflow),
];

static FINDER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(SIGNS.iter().map(|(needle, _)| needle))
        .expect("fixed patterns build")
});

fn sign_of(text: &str) -> Option<(Sign, usize)> {
    let m = FINDER.find(text)?;
    Some((SIGNS[m.pattern().as_usize()].1, m.start()))
}

/// True when `text` starts an incident (or joins the open one).
pub fn is_sign(text: &str) -> bool {
    sign_of(text).is_some()
}

/// An incident being collected.
#[derive(Debug)]
pub struct OpenIncident {
    kind: PanicKind,
    reason: String,
    core: Option<u32>,
    task: Option<String>,
    text: String,
    text_lines: usize,
    skipped_lines: usize,
    pending_blank: usize,
    backtrace: Vec<u32>,
    stack: Vec<u32>,
    elf_sha256: Option<String>,
    fatal: bool,
    in_backtrace: bool,
    message_lines: usize,
    /// A Rust panic's message follows its `panicked at` line.
    wants_message: bool,
    pub last_line: u64,
}

/// What an open incident makes of the next line.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// Part of it.
    Yes,
    /// Part of it, and its last line.
    Last,
    /// Not part of it: the incident is over, the line is parsed on its own.
    No,
}

impl OpenIncident {
    /// Opens an incident if `text` is the first sign of one.
    pub fn start(text: &str, line: u64) -> Option<OpenIncident> {
        let (sign, at) = sign_of(text)?;
        let mut incident = OpenIncident {
            kind: PanicKind::GuruMeditation,
            reason: String::new(),
            core: None,
            task: None,
            text: String::new(),
            text_lines: 0,
            skipped_lines: 0,
            pending_blank: 0,
            backtrace: Vec::new(),
            stack: Vec::new(),
            elf_sha256: None,
            fatal: true,
            in_backtrace: false,
            message_lines: 0,
            wants_message: false,
            last_line: line,
        };
        incident.kind = kind_of(sign);
        incident.fatal = sign != Sign::TaskWdt;
        incident.absorb_sign(sign, &text[at..], text);
        incident.push_text(text);
        Some(incident)
    }

    /// Whether the line belongs here; when it does, it is taken in.
    pub fn take(&mut self, text: &str, idf: Option<&IdfLog<'_>>, line: u64) -> Take {
        let verdict = self.judge(text, idf);
        if verdict != Take::No {
            self.last_line = line;
            if text.is_empty() {
                self.pending_blank += 1;
            } else {
                self.push_text(text);
            }
        }
        verdict
    }

    fn judge(&mut self, text: &str, idf: Option<&IdfLog<'_>>) -> Take {
        let t = text.trim_start();
        if t.is_empty() {
            return Take::Yes;
        }
        if let Some((sign, at)) = sign_of(text) {
            // The same watchdog again after its backtrace is the next incident.
            if sign == Sign::TaskWdt && self.kind == PanicKind::TaskWatchdog && self.in_backtrace {
                return Take::No;
            }
            if self.kind == PanicKind::Brownout {
                return Take::No;
            }
            self.absorb_sign(sign, &text[at..], text);
            return Take::Yes;
        }
        if let Some(idf) = idf {
            return if idf.tag == "task_wdt" && self.kind == PanicKind::TaskWatchdog {
                if idf.message.contains("backtrace") || idf.message.contains("registers") {
                    self.in_backtrace = true;
                }
                Take::Yes
            } else {
                Take::No
            };
        }
        if t.starts_with("Rebooting...") || t.starts_with("CPU halted") {
            self.fatal = true;
            return Take::Last;
        }
        if let Some(rest) = t.strip_prefix("ELF file SHA256:") {
            let sha = rest.trim();
            if !sha.is_empty() {
                self.elf_sha256 = Some(sha.to_owned());
            }
            return Take::Yes;
        }
        if let Some(rest) = t.strip_prefix("Backtrace:") {
            self.in_backtrace = true;
            self.wants_message = false;
            for token in rest.split_whitespace() {
                let pc = token.split(':').next().unwrap_or(token);
                if let Some(addr) = hex(pc) {
                    self.push_addr(addr);
                }
            }
            return Take::Yes;
        }
        if let Some(rest) = t.strip_prefix("STACKDUMP:") {
            self.stackdump(rest);
            return Take::Yes;
        }
        if t.starts_with("Stack memory:") {
            self.in_backtrace = true;
            return Take::Yes;
        }
        if let Some((addr_part, words)) = t.split_once(": 0x")
            && addr_part.len() == 8
            && addr_part.bytes().all(|b| b.is_ascii_hexdigit())
        {
            for word in format!("0x{words}").split_whitespace() {
                if let Some(w) = hex(word)
                    && looks_like_code(w)
                    && self.stack.len() < MAX_ADDRESSES
                    && !self.stack.contains(&w)
                {
                    self.stack.push(w);
                }
            }
            return Take::Yes;
        }
        if is_register_row(t) {
            self.registers(t);
            return Take::Yes;
        }
        if let Some(addr) = t.strip_prefix("0x") {
            // A backtrace frame (esp-backtrace prints one per line) or a monitor's
            // decoding of one (`0x42001234: main at src/main.rs:5`).
            let end = addr
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(addr.len());
            if self.in_backtrace
                && let Ok(a) = u32::from_str_radix(&addr[..end], 16)
            {
                self.push_addr(a);
            }
            return Take::Yes;
        }
        const DUMP_LINES: [&str; 15] = [
            "Core ",
            "Print CPU",
            "Debug exception reason:",
            "Setting breakpoint",
            "Entering gdb stub",
            "--- ",
            "at ",
            "Memory dump at",
            "Exception was unhandled",
            "No backtrace available",
            "note: run with `RUST_BACKTRACE",
            "Stack smashing protect failure",
            // An ESP_ERROR_CHECK's location, before its abort().
            "file: \"",
            "func: ",
            "expression: ",
        ];
        if DUMP_LINES.iter().any(|p| t.starts_with(p)) {
            if let Some(core) = t.strip_prefix("Core ").and_then(first_number) {
                self.core.get_or_insert(core);
            }
            return Take::Yes;
        }
        if self.kind == PanicKind::HeapCorruption && !self.in_backtrace {
            return Take::Yes;
        }
        if self.wants_message && self.message_lines < MAX_MESSAGE_LINES && !is_rom(t) {
            self.message_lines += 1;
            if self.reason.is_empty() {
                self.reason = t.to_owned();
            } else if self.reason.ends_with(':') && self.message_lines <= 2 {
                self.reason.push(' ');
                self.reason.push_str(t);
            }
            return Take::Yes;
        }
        Take::No
    }

    fn absorb_sign(&mut self, sign: Sign, from_sign: &str, line: &str) {
        match sign {
            Sign::Guru => {
                // `Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.`
                if let Some(core) = from_sign.split("Core").nth(1).and_then(first_number) {
                    self.core = Some(core);
                }
                let reason = between(from_sign, "panic'ed (", ")")
                    .unwrap_or("")
                    .to_owned();
                if reason.contains("Interrupt wdt timeout") {
                    self.kind = PanicKind::InterruptWatchdog;
                }
                if self.reason.is_empty() || self.kind == PanicKind::GuruMeditation {
                    self.reason = reason;
                }
                self.fatal = true;
            }
            Sign::Abort => {
                if let Some(pc) = from_sign
                    .strip_prefix("abort() was called at PC ")
                    .and_then(|r| hex(r.split_whitespace().next()?))
                {
                    self.push_addr(pc);
                }
                if let Some(core) = from_sign.split("on core ").nth(1).and_then(first_number) {
                    self.core.get_or_insert(core);
                }
                if self.reason.is_empty() {
                    self.reason = from_sign.to_owned();
                }
                self.fatal = true;
            }
            Sign::ErrorCheck => {
                // `ESP_ERROR_CHECK failed: esp_err_t 0x103 (ESP_ERR_INVALID_STATE) at 0x4200a123`:
                // the abort() that follows is this check's, with this reason.
                self.kind = PanicKind::Abort;
                if let Some(pc) = from_sign
                    .rsplit(" at ")
                    .next()
                    .and_then(|r| hex(r.split_whitespace().next()?))
                {
                    self.push_addr(pc);
                }
                self.reason = from_sign.to_owned();
                self.fatal = true;
            }
            Sign::Assert | Sign::OldAssert => {
                if self.reason.is_empty() || self.kind == PanicKind::RustPanic {
                    self.reason = from_sign.to_owned();
                }
                if self.kind == PanicKind::RustPanic {
                    self.kind = PanicKind::Assert;
                }
            }
            Sign::StackOverflow => {
                // `***ERROR*** A stack overflow in task main has been detected.`
                self.kind = PanicKind::StackOverflow;
                self.task = between(from_sign, "in task ", " has been").map(str::to_owned);
                self.reason = from_sign.trim_start_matches("***ERROR*** ").to_owned();
            }
            Sign::Canary => {
                self.kind = PanicKind::StackCanary;
                self.task = between(from_sign, "triggered (", ")").map(str::to_owned);
                self.reason = from_sign.to_owned();
            }
            Sign::TaskWdt => {
                self.reason = "Task watchdog got triggered".into();
            }
            Sign::IntWdt => {
                self.kind = PanicKind::InterruptWatchdog;
                self.reason = from_sign.trim_end_matches(['.', ')']).to_owned();
                self.fatal = true;
            }
            Sign::Brownout => {
                self.reason = "Brownout detector was triggered".into();
            }
            Sign::CorruptHeap => {
                if self.kind != PanicKind::HeapCorruption || self.reason.is_empty() {
                    self.reason = from_sign.to_owned();
                }
                self.kind = PanicKind::HeapCorruption;
            }
            Sign::EspBacktrace => {
                self.kind = PanicKind::RustPanic;
                self.wants_message = true;
            }
            Sign::StdPanic | Sign::OldStdPanic | Sign::OldEspBacktrace => {
                self.kind = PanicKind::RustPanic;
                let at = line
                    .find("panicked at")
                    .or_else(|| line.find("!! A panic"))
                    .unwrap_or(0);
                self.reason = line[at..].to_owned();
                self.wants_message = sign != Sign::OldStdPanic;
            }
            Sign::RiscvException | Sign::XtensaException => {
                self.kind = PanicKind::Exception;
                self.reason = line.trim().to_owned();
                if let Some(pc) = from_sign
                    .strip_prefix("' mepc=")
                    .and_then(|r| hex(r.split(',').next()?))
                {
                    self.push_addr(pc);
                }
                self.in_backtrace = true;
            }
            Sign::RustStackOverflow => {
                self.kind = PanicKind::StackOverflow;
                self.reason = from_sign.to_owned();
                for word in from_sign.split_whitespace() {
                    if let Some(a) = hex(word) {
                        self.push_addr(a);
                    }
                }
            }
        }
        // A Rust panic's `panicked at` line follows esp-backtrace's banner.
        if sign == Sign::EspBacktrace {
            self.reason.clear();
        }
        if self.kind == PanicKind::RustPanic
            && sign != Sign::EspBacktrace
            && let Some(at) = line.find("panicked at ")
            && self.reason.is_empty()
        {
            self.reason = line[at..].to_owned();
        }
    }

    fn registers(&mut self, row: &str) {
        let tokens: Vec<&str> = row.split_whitespace().collect();
        let mut i = 0;
        while i < tokens.len() {
            let (name, value) = if tokens[i].ends_with(':') && tokens[i].len() > 1 {
                (tokens[i].trim_end_matches(':'), tokens.get(i + 1))
            } else if tokens.get(i + 1) == Some(&":") {
                i += 1;
                (tokens[i - 1], tokens.get(i + 1))
            } else {
                i += 1;
                continue;
            };
            if let Some(v) = value.and_then(|v| hex(v))
                && matches!(name, "PC" | "MEPC" | "RA")
                && looks_like_code(v)
            {
                self.push_addr(v);
            }
            i += 2;
        }
    }

    fn stackdump(&mut self, rest: &str) {
        let mut parts = rest.split_whitespace();
        if let Some(pc) = parts.next().and_then(|p| u32::from_str_radix(p, 16).ok()) {
            self.push_addr(pc);
        }
        let bytes = parts.next().unwrap_or("").as_bytes();
        for chunk in bytes.chunks_exact(8) {
            let Ok(s) = std::str::from_utf8(chunk) else {
                break;
            };
            let Ok(v) = u32::from_str_radix(s, 16) else {
                break;
            };
            let word = v.swap_bytes();
            if looks_like_code(word)
                && self.stack.len() < MAX_ADDRESSES
                && !self.stack.contains(&word)
            {
                self.stack.push(word);
            }
        }
    }

    fn push_addr(&mut self, addr: u32) {
        if addr != 0 && self.backtrace.len() < MAX_ADDRESSES && self.backtrace.last() != Some(&addr)
        {
            self.backtrace.push(addr);
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.text_lines >= MAX_TEXT_LINES || self.text.len() + text.len() > MAX_TEXT_BYTES {
            self.skipped_lines += 1 + self.pending_blank;
            self.pending_blank = 0;
            return;
        }
        for _ in 0..self.pending_blank.min(2) {
            self.text.push('\n');
        }
        self.pending_blank = 0;
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(text);
        self.text_lines += 1;
    }

    /// The event for the lines collected so far.
    pub fn finish(mut self) -> Panic {
        if self.skipped_lines > 0 {
            self.text
                .push_str(&format!("\n[{} more lines not kept]", self.skipped_lines));
        }
        if self.reason.is_empty() {
            self.reason = self.kind.as_str().to_owned();
        }
        Panic {
            kind: self.kind,
            reason: self.reason,
            core: self.core,
            task: self.task,
            text: self.text,
            backtrace: self.backtrace,
            stack_addresses: self.stack,
            elf_sha256: self.elf_sha256,
            fatal: self.fatal,
            decoded: None,
        }
    }
}

fn kind_of(sign: Sign) -> PanicKind {
    match sign {
        Sign::Guru => PanicKind::GuruMeditation,
        Sign::Abort | Sign::ErrorCheck => PanicKind::Abort,
        Sign::Assert | Sign::OldAssert => PanicKind::Assert,
        Sign::StackOverflow | Sign::RustStackOverflow => PanicKind::StackOverflow,
        Sign::Canary => PanicKind::StackCanary,
        Sign::TaskWdt => PanicKind::TaskWatchdog,
        Sign::IntWdt => PanicKind::InterruptWatchdog,
        Sign::Brownout => PanicKind::Brownout,
        Sign::CorruptHeap => PanicKind::HeapCorruption,
        Sign::EspBacktrace | Sign::StdPanic | Sign::OldStdPanic | Sign::OldEspBacktrace => {
            PanicKind::RustPanic
        }
        Sign::RiscvException | Sign::XtensaException => PanicKind::Exception,
    }
}

/// `PC      : 0x400d2c3e  PS      : 0x00060530`, `EXCVADDR: 0x00000000`, `MEPC    : 0x…`.
fn is_register_row(t: &str) -> bool {
    let Some((name, value)) = t.split_once(':') else {
        return false;
    };
    let name = name.trim_end();
    !name.is_empty()
        && name.len() <= 10
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'/')
        && value.trim_start().starts_with("0x")
}

fn is_rom(t: &str) -> bool {
    t.starts_with("ESP-ROM:") || t.starts_with("rst:") || t.starts_with("ets ")
}

fn hex(s: &str) -> Option<u32> {
    let s = s.trim_end_matches([',', '.', ';']);
    u32::from_str_radix(s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?, 16).ok()
}

fn first_number(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// Whether a word points into code on an ESP32-family chip: ROM, IRAM, flash-mapped
/// instructions (Xtensa and RISC-V layouts). A guess for stack words; a symbol map
/// decides.
pub fn looks_like_code(a: u32) -> bool {
    matches!(a,
        0x4000_0000..=0x4006_ffff
        | 0x4008_0000..=0x400a_ffff
        | 0x400c_2000..=0x403f_ffff
        | 0x4200_0000..=0x43ff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(lines: &[&str]) -> (Panic, usize) {
        let mut inc = OpenIncident::start(lines[0], 1).unwrap();
        let mut taken = 1;
        for (i, l) in lines[1..].iter().enumerate() {
            let idf = IdfLog::parse(l);
            match inc.take(l, idf.as_ref(), i as u64 + 2) {
                Take::Yes => taken += 1,
                Take::Last => {
                    taken += 1;
                    break;
                }
                Take::No => break,
            }
        }
        (inc.finish(), taken)
    }

    #[test]
    fn xtensa_guru_meditation_is_one_incident() {
        let (p, taken) = collect(&[
            "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.",
            "",
            "Core  0 register dump:",
            "PC      : 0x400d2c3e  PS      : 0x00060530  A0      : 0x800d0f3d  A1      : 0x3ffb0f50  ",
            "EXCVADDR: 0x00000000  LBEG    : 0x4000c2e0  LEND    : 0x4000c2f6  LCOUNT  : 0xffffffff  ",
            "",
            "Backtrace: 0x400d2c3b:0x3ffb0f50 0x400d0f3a:0x3ffb0f70 0x40088c4d:0x3ffb0f90",
            "",
            "ELF file SHA256: 8a7f6e5d4c3b2a19",
            "",
            "Rebooting...",
            "ets Jun  8 2016 00:22:57",
        ]);
        assert_eq!(taken, 11);
        assert_eq!(p.kind, PanicKind::GuruMeditation);
        assert_eq!(p.reason, "LoadProhibited");
        assert_eq!(p.core, Some(0));
        assert_eq!(
            p.backtrace,
            [0x400d2c3e, 0x400d2c3b, 0x400d0f3a, 0x40088c4d]
        );
        assert_eq!(p.elf_sha256.as_deref(), Some("8a7f6e5d4c3b2a19"));
    }

    #[test]
    fn esp_backtrace_panic_with_message() {
        let (p, _) = collect(&[
            "====================== PANIC ======================",
            "panicked at src/main.rs:31:5:",
            "explicit panic",
            "",
            "Backtrace:",
            "",
            "0x42000c3e",
            "0x42000b22",
            "",
            "",
            "I (0) other: line",
        ]);
        assert_eq!(p.kind, PanicKind::RustPanic);
        assert_eq!(p.reason, "panicked at src/main.rs:31:5: explicit panic");
        assert_eq!(p.backtrace, [0x42000c3e, 0x42000b22]);
    }
}
