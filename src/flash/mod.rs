//! `wsbench flash`: the bundled firmware (or `--image`) onto a board through the espflash
//! library, then the board's console until the firmware says where it listens.
//!
//! Data flows one way: flags → settings and image checked (no port touched yet) → port
//! chosen → loader connected (chip detected) → regions planned → written with progress →
//! app started → ready line → URLs printed. Errors at any step end the command with no
//! "flashed" line.

mod error;
mod image;
mod link;
mod progress;
mod ready;
mod settings;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use espflash::target::Chip;
use wsbench_device::config_record;

pub use error::FlashError;
pub use ready::ReadyLine;
pub use settings::{Secret, SettingsArgs};

use crate::exit::{CommandResult, Failure, Outcome};
use crate::serial::{self, PORT_ENV};
use image::{ImageFile, Region};
use link::{LinkOptions, Phase, ResetLines};

const EXIT_CODES: &str = "\
Exit codes:
  0  flashed, and (bundled firmware) its ready line was seen
  2  usage: bad flags or settings, an unreadable password file, an --image that is not an
     ESP app or that --chip rules out, a path that is not a serial port, several candidate ports
  3  could not flash: no port, port busy or not permitted, no answer from the loader (not in
     download mode), chip other than --chip, image for another chip or larger than the flash,
     port lost mid-write, verify failed, or no ready line within --ready-timeout

The port is --port, else WSBENCH_PORT, else the single port that looks like an ESP32 board
(several: they are listed and nothing is flashed; wsbench never prompts).";

/// Flags of `wsbench flash`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct FlashArgs {
    /// Serial port: any path, pseudo-terminals included [env: WSBENCH_PORT].
    #[arg(long, value_name = "PATH")]
    pub port: Option<PathBuf>,
    /// Insist on this chip (esp32, esp32c3, esp32c6, esp32s3, ...): another one is an error.
    #[arg(long, value_name = "CHIP", value_parser = parse_chip)]
    pub chip: Option<Chip>,
    /// Flash this image instead of the bundled firmware: an ELF (formatted with espflash's
    /// bootloader and partition table), an app .bin (at 0x10000) or a merged .bin (at 0).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Baud rate for writing (the loader is reached at 115200 first).
    #[arg(long, default_value_t = 460_800, value_name = "BAUD")]
    pub baud: u32,
    /// Talk to the ROM loader directly instead of uploading the faster stub.
    #[arg(long)]
    pub no_stub: bool,
    /// Skip the MD5 check of each region after writing.
    #[arg(long)]
    pub no_verify: bool,
    /// Write every region even when the board already holds it (MD5 equal).
    #[arg(long)]
    pub no_skip: bool,
    /// How long to wait for the firmware's ready line after the reset.
    #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
    /// Write only the settings record (the firmware on the board stays as it is).
    #[arg(long, conflicts_with = "image")]
    pub settings_only: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

fn parse_chip(text: &str) -> Result<Chip, String> {
    text.to_lowercase()
        .replace('-', "")
        .parse::<Chip>()
        .map_err(|_| {
            format!(
                "unknown chip `{text}` (one of: {})",
                <Chip as strum::VariantNames>::VARIANTS.join(", ")
            )
        })
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn fail(e: FlashError) -> Failure {
    if e.is_usage() {
        Failure::usage(e)
    } else {
        Failure::unrunnable(e)
    }
}

/// What the user asked to write, decided before a port is opened.
enum Source {
    Bundled,
    SettingsOnly,
    File(ImageFile),
}

pub fn main(args: FlashArgs) -> CommandResult {
    run(args).map_err(fail)
}

fn run(args: FlashArgs) -> Result<Outcome, FlashError> {
    // 1. Everything the flags and files decide, before touching a port.
    let source = match &args.image {
        Some(path) => {
            let given = args.settings.given();
            if !given.is_empty() {
                return Err(FlashError::SettingsWithImage {
                    flags: given.join(", "),
                });
            }
            let file = ImageFile::read(path)?;
            if let Some(asked) = args.chip {
                file.check_chip_flag(asked)?;
            }
            Source::File(file)
        }
        None if args.settings_only => Source::SettingsOnly,
        None => Source::Bundled,
    };
    let device_settings = match source {
        Source::File(_) => None,
        _ => Some(args.settings.to_settings()?),
    };

    // 2. The port.
    let choice = serial::choose(
        args.port.clone(),
        std::env::var(PORT_ENV).ok(),
        serial::list,
    )?;
    say(&format!("port:     {} ({})", choice.port, choice.because));

    // 3. The loader.
    let opts = LinkOptions {
        chip: args.chip,
        baud: args.baud,
        use_stub: !args.no_stub,
        verify: !args.no_verify,
        skip: !args.no_skip,
    };
    let started = Instant::now();
    let opened = link::open(&choice.port)?;
    if opened.lines == ResetLines::Absent {
        say(
            "reset:    none: this port has no DTR/RTS lines (a pseudo-terminal or a bare UART); \
             the chip was expected to be in download mode already, and the app is started by loader command",
        );
    }
    let mut link = link::connect(&choice.port, opened, opts)?;
    let chip = link.flasher.chip();
    let flash_size = link
        .flasher
        .flash_detect()
        .map_err(|e| link::classify(e, &link.port_label, Phase::Connecting, link.lines))?;
    say(&format!(
        "chip:     {chip}, flash {}, {}",
        flash_size.map_or_else(|| "size not detected".to_owned(), |s| s.to_string()),
        if opts.use_stub {
            "stub loader"
        } else {
            "ROM loader"
        },
    ));

    // 4. The regions, checked against the chip and the flash.
    let mut regions: Vec<Region> = match &source {
        Source::Bundled => image::bundled_regions(chip)?,
        Source::SettingsOnly => Vec::new(),
        Source::File(file) => file.regions(chip)?,
    };
    if let Some(s) = &device_settings {
        regions.push(Region {
            name: "settings".into(),
            offset: config_record::FLASH_OFFSET,
            bytes: settings::sector_bytes(s)?.into(),
        });
        say(&format!("settings: {}", settings::describe(s)));
    }
    regions.sort_by_key(|r| r.offset);
    match flash_size {
        Some(size) => image::check_fits(&regions, u64::from(size.size()), &size.to_string())?,
        None => say("note:     the flash size was not detected: image size not checked against it"),
    }

    // 5. Write.
    let what = match &source {
        Source::Bundled => "bundled wsbench firmware".to_owned(),
        Source::SettingsOnly => "settings record only".to_owned(),
        Source::File(f) => f.path.display().to_string(),
    };
    say(&format!(
        "writing:  {what}, {} region(s) at {} baud{}{}",
        regions.len(),
        args.baud,
        if opts.skip {
            ", unchanged ones skipped"
        } else {
            ""
        },
        if opts.verify {
            ", verified by MD5"
        } else {
            ", not verified"
        },
    ));
    let mut progress = progress::FlashProgress::new(&regions, opts.verify);
    let segments: Vec<espflash::image_format::Segment<'_>> = regions
        .iter()
        .map(|r| espflash::image_format::Segment::new(r.offset, &r.bytes))
        .collect();
    link.flasher
        .write_bins_to_flash(&segments, &mut progress)
        .map_err(|e| link::classify(e, &link.port_label, Phase::Writing, link.lines))?;
    let totals = progress.totals.clone();
    if link.lines == ResetLines::Absent {
        link::run_app_without_reset_lines(&mut link, opts.use_stub, totals.written > 0)?;
    }
    let elapsed = started.elapsed();
    let started_how = if link.lines == ResetLines::Absent {
        "app started by loader command"
    } else {
        "board reset into the app"
    };
    let written = match totals.written {
        0 => format!(
            "nothing written: all {} region(s) already on the board (MD5 equal)",
            totals.skipped
        ),
        n => format!(
            "{n} region(s) written ({} bytes, {} while writing), {} unchanged and skipped",
            totals.bytes_written,
            progress::rate(totals.bytes_written, totals.writing_time),
            totals.skipped
        ),
    };
    say(&format!(
        "flashed:  {written}; {:.2} s in all; {started_how}",
        elapsed.as_secs_f64()
    ));

    // 6. The ready line (only the bundled firmware announces one).
    if matches!(source, Source::File(_)) {
        say("ready:    not awaited: only the bundled firmware prints a ready line");
        return Ok(Outcome::Success);
    }
    let label = link.port_label.clone();
    let mut tty = link.flasher.into_connection().into_serial();
    serialport::SerialPort::set_baud_rate(&mut tty, serial::ROM_BAUD).map_err(|e| {
        FlashError::PortLost {
            port: label.clone(),
            during: "switching back to the console's baud rate",
            reason: e.to_string(),
        }
    })?;
    let reopen = || serial::open(&choice.port, serial::ROM_BAUD).ok();
    let ready = ready::wait(tty, args.ready_timeout, &label, reopen)?;
    say(&format!(
        "ready:    {}{}  (SSID {}, max sockets {}, LRU purge {})",
        ready.ws_url,
        ready
            .wss_url
            .as_ref()
            .map_or_else(String::new, |u| format!("  {u}")),
        ready.ssid,
        ready.max_sockets,
        if ready.purge { "on" } else { "off" },
    ));
    Ok(Outcome::Success)
}
