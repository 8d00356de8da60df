//! One boot is one event, whichever of its signs were seen: the ROM banner and reset
//! line, the second-stage bootloader's lines, the app's start-up lines, the firmware's
//! ready line. A boot is collected while its lines come and emitted at the first line
//! that is none of these (or at the ready line); a ready line after a boot already
//! emitted completes that boot (a `ready` event) instead of counting another.

use std::time::SystemTime;

use super::event::{Boot, ConsoleEvent, EventDetail, Ready, ResetReason};
use super::idf::IdfLog;
use super::rom::{ResetCause, RomLine};

/// Where a line came from, for the event.
#[derive(Debug, Clone)]
pub struct LineMeta {
    pub number: u64,
    pub arrived: SystemTime,
    pub host_stamp: Option<String>,
    pub device_ms: Option<u64>,
}

#[derive(Debug)]
struct OpenBoot {
    first: LineMeta,
    last_line: u64,
    boot: Boot,
    has_banner: bool,
    has_reset: bool,
    /// Unknown lines let through during the ROM phase.
    unknown: u32,
}

/// Unknown lines a boot's ROM phase may hold before the boot is taken as complete.
const ROM_PHASE_UNKNOWN_LINES: u32 = 8;

#[derive(Debug, Default)]
pub struct BootTracker {
    open: Option<OpenBoot>,
    /// The last boot emitted still waits for its ready line.
    awaiting_ready: bool,
    /// Chip named by the last banner or bootloader line.
    chip: Option<String>,
}

/// Bootloader tags (`boot`, `boot.esp32c3`, `esp_image`).
fn is_bootloader_tag(tag: &str) -> bool {
    tag == "boot" || tag.starts_with("boot.") || tag == "esp_image" || tag == "bootloader_init"
}

/// Start-up tags of an ESP-IDF app, printed before `app_main` runs.
fn is_app_start_tag(tag: &str) -> bool {
    matches!(
        tag,
        "cpu_start"
            | "app_init"
            | "efuse_init"
            | "heap_init"
            | "spi_flash"
            | "sleep_gpio"
            | "sleep"
            | "esp_psram"
            | "octal_psram"
            | "quad_psram"
            | "clk"
            | "system_api"
            | "main_task"
            | "app_start"
            | "esp_core_dump_flash"
            | "coexist"
    )
}

impl BootTracker {
    /// The chip the console has named so far.
    pub fn chip(&self) -> Option<&str> {
        self.chip.as_deref()
    }

    pub fn rom(&mut self, rom: &RomLine, meta: &LineMeta, out: &mut Vec<ConsoleEvent>) {
        let starts_new = match (rom, &self.open) {
            // A loader line with no banner or reset line before it is no sign of a new
            // boot on its own (the banner may have been lost to noise): it joins nothing.
            (RomLine::Other, None) => return,
            (_, None) => true,
            (RomLine::Banner { .. }, Some(b)) => {
                b.has_banner || b.has_reset || b.boot.evidence.iter().any(|e| *e != "rom")
            }
            (RomLine::Reset { .. }, Some(b)) => {
                b.has_reset || b.boot.evidence.iter().any(|e| *e != "rom")
            }
            (_, Some(b)) => b.boot.evidence.iter().any(|e| *e != "rom"),
        };
        if starts_new {
            self.close(out);
            self.open_boot(meta);
        }
        let chip_now = self.chip.clone();
        let b = self.open.as_mut().expect("opened above");
        b.last_line = meta.number;
        add(&mut b.boot.evidence, "rom");
        match rom {
            RomLine::Banner { chip } => {
                b.has_banner = true;
                if let Some(chip) = chip {
                    b.boot.chip = Some(chip.clone());
                    self.chip = Some(chip.clone());
                }
            }
            RomLine::Reset {
                code,
                name,
                boot_code,
                boot_name,
            } => {
                b.has_reset = true;
                let chip = b.boot.chip.clone().or(chip_now);
                b.boot.reset = Some(ResetReason {
                    code: *code,
                    name: name.clone(),
                    cause: ResetCause::of(*code, chip.as_deref()),
                });
                if let (Some(c), Some(n)) = (boot_code, boot_name) {
                    b.boot.download_mode |= n.contains("DOWNLOAD");
                    b.boot.boot_mode = Some((*c, n.clone()));
                }
            }
            RomLine::WaitingForDownload => b.boot.download_mode = true,
            RomLine::Other => {}
        }
    }

    /// An ESP-IDF line: part of a boot when its tag is the bootloader's or the app's
    /// start-up code. Returns false when the line is not boot-related.
    pub fn idf(&mut self, idf: &IdfLog<'_>, meta: &LineMeta, out: &mut Vec<ConsoleEvent>) -> bool {
        let bootloader = is_bootloader_tag(idf.tag);
        let app = !bootloader && is_app_start_tag(idf.tag);
        if !bootloader && !app {
            self.close(out);
            return false;
        }
        let evidence = if bootloader { "bootloader" } else { "app" };
        let restarts = match &self.open {
            None => bootloader || idf.tag == "cpu_start" || idf.tag == "app_init",
            // A bootloader line after the app started: a reset whose ROM output was missed.
            Some(b) => bootloader && b.boot.evidence.contains(&"app"),
        };
        if restarts {
            self.close(out);
            self.open_boot(meta);
        }
        let Some(b) = self.open.as_mut() else {
            return true;
        };
        b.last_line = meta.number;
        add(&mut b.boot.evidence, evidence);
        if let Some(chip) = idf.tag.strip_prefix("boot.") {
            b.boot.chip.get_or_insert_with(|| chip.to_owned());
            self.chip.get_or_insert_with(|| chip.to_owned());
        }
        if idf.tag == "main_task" && idf.message.starts_with("Calling app_main") {
            self.close(out);
        }
        true
    }

    pub fn ready(&mut self, ready: Ready, meta: &LineMeta, out: &mut Vec<ConsoleEvent>) {
        if let Some(b) = self.open.as_mut() {
            b.last_line = meta.number;
            add(&mut b.boot.evidence, "ready");
            b.boot.ready = Some(ready);
            self.close(out);
            self.awaiting_ready = false;
        } else if self.awaiting_ready {
            self.awaiting_ready = false;
            out.push(event(meta, meta.number, EventDetail::Ready(ready)));
        } else {
            // No sign of a boot before it (the console attached late, or a device that
            // prints only this line, like the simulated board): the ready line is the boot.
            let boot = Boot {
                chip: self.chip.clone(),
                evidence: vec!["ready"],
                ready: Some(ready),
                ..Boot::default()
            };
            out.push(event(meta, meta.number, EventDetail::Boot(Box::new(boot))));
        }
    }

    /// A line that is not part of any boot: an open boot is complete, unless it is
    /// still in its ROM phase, which prints lines of its own that no list holds (and
    /// noise): a few of those are let through.
    pub fn other(&mut self, out: &mut Vec<ConsoleEvent>) {
        if let Some(b) = &mut self.open
            && b.boot.evidence == ["rom"]
            && b.unknown < ROM_PHASE_UNKNOWN_LINES
        {
            b.unknown += 1;
            return;
        }
        self.close(out);
    }

    /// Emits the open boot, if any (also at the end of input and before a panic).
    pub fn close(&mut self, out: &mut Vec<ConsoleEvent>) {
        if let Some(b) = self.open.take() {
            self.awaiting_ready = b.boot.ready.is_none();
            let end = b.last_line;
            out.push(event(&b.first, end, EventDetail::Boot(Box::new(b.boot))));
        }
    }

    fn open_boot(&mut self, meta: &LineMeta) {
        self.open = Some(OpenBoot {
            first: meta.clone(),
            last_line: meta.number,
            boot: Boot::default(),
            has_banner: false,
            has_reset: false,
            unknown: 0,
        });
    }
}

fn add(evidence: &mut Vec<&'static str>, what: &'static str) {
    if !evidence.contains(&what) {
        evidence.push(what);
    }
}

pub fn event(meta: &LineMeta, end_line: u64, detail: EventDetail) -> ConsoleEvent {
    ConsoleEvent {
        line: meta.number,
        end_line,
        arrived: meta.arrived,
        host_stamp: meta.host_stamp.clone(),
        device_ms: meta.device_ms,
        detail,
    }
}
