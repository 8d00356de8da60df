//! Why `wsbench flash` could not put an image on the board. Every variant says what was
//! involved and what to try; none of them is ever followed by a "flashed" line.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::serial::SerialError;

#[derive(Debug, Error, Diagnostic)]
pub enum FlashError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Port(#[from] SerialError),

    #[error(
        "no answer to SYNC from {port}: the chip is not in download mode, or this is not its port"
    )]
    #[diagnostic(
        code(wsbench::flash::no_sync),
        help(
            "put the board in download mode by hand: hold BOOT (IO0/IO9), tap RESET (EN), release BOOT, \
             then run the command again; check that {port} is the board's port (`wsbench ports`) \
             and that the cable carries data{no_reset_note}"
        )
    )]
    NoSync {
        port: String,
        /// Extra words when the port has no reset lines.
        no_reset_note: String,
    },

    #[error("the board on {port} is an {detected}, not the {asked} given with --chip")]
    #[diagnostic(
        code(wsbench::flash::chip_mismatch),
        help("drop --chip to flash what is connected, or connect the {asked} board")
    )]
    ChipMismatch {
        port: String,
        asked: String,
        detected: String,
    },

    #[error("{} is built for {image_chip}, but the board is an {detected}", path.display())]
    #[diagnostic(
        code(wsbench::flash::image_for_other_chip),
        help("build the image for {detected} (or flash the board it was built for)")
    )]
    ImageForOtherChip {
        path: PathBuf,
        image_chip: String,
        detected: String,
    },

    #[error("{} is built for {image_chip}, but --chip says {asked}", path.display())]
    #[diagnostic(
        code(wsbench::flash::image_for_other_chip),
        help(
            "give the image built for {asked}, or drop --chip to flash the board it was built for"
        )
    )]
    ImageNotForChipFlag {
        path: PathBuf,
        image_chip: String,
        asked: String,
    },

    #[error("no firmware is bundled for the {chip}: wsbench carries images for {bundled}")]
    #[diagnostic(
        code(wsbench::flash::no_bundled_image),
        help(
            "give your own image with --image FILE (an ELF, or a .bin: an app at its offset or a merged image)"
        )
    )]
    NoBundledImage { chip: String, bundled: String },

    #[error("{what} ends at {end:#x}, beyond the board's {flash_size} flash")]
    #[diagnostic(
        code(wsbench::flash::image_too_large),
        help("use a smaller image or partition layout, or a board with more flash")
    )]
    ImageTooLarge {
        what: String,
        end: u64,
        flash_size: String,
    },

    #[error("{} is not an ESP application image: {reason}", path.display())]
    #[diagnostic(
        code(wsbench::flash::not_an_esp_image),
        help(
            "give the ELF your ESP-IDF or esp-hal build produced (target/<triple>/release/<name>), \
             or a .bin made by `espflash save-image` / `idf.py build`"
        )
    )]
    NotEspImage { path: PathBuf, reason: String },

    #[error("cannot read {}: {reason}", path.display())]
    #[diagnostic(
        code(wsbench::flash::read_image),
        help("check the path given with --image")
    )]
    ReadImage { path: PathBuf, reason: String },

    #[error("the settings cannot be stored: {reason}")]
    #[diagnostic(
        code(wsbench::flash::settings),
        help(
            "SSID 1-32 bytes, password empty (open) or 8-63 bytes, channel 1-13, --max-sockets 1-32, \
             --max-tls-sessions at most --max-sockets"
        )
    )]
    Settings { reason: String },

    #[error("cannot read the password file {} given with {flag}: {reason}", path.display())]
    #[diagnostic(
        code(wsbench::flash::secret_file),
        help(
            "check the path and its permissions (the file holds only the password; one trailing newline \
             is dropped), or set the password in WSBENCH_PASSWORD / WSBENCH_STA_PASSWORD instead"
        )
    )]
    SecretFile {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("{flags} only apply to the bundled firmware, not to --image")]
    #[diagnostic(
        code(wsbench::flash::settings_with_image),
        help("drop them, or flash the bundled firmware (without --image)")
    )]
    SettingsWithImage { flags: String },

    #[error("lost {port} while {during}: {reason}")]
    #[diagnostic(
        code(wsbench::flash::port_lost),
        help(
            "the board was unplugged, reset or re-enumerated mid-write; its flash is now incomplete: \
             reconnect it and flash again (hold BOOT and tap RESET if it does not answer)"
        )
    )]
    PortLost {
        port: String,
        during: &'static str,
        reason: String,
    },

    #[error(
        "flash verification failed on {port}: the MD5 the board computed differs from the image's"
    )]
    #[diagnostic(
        code(wsbench::flash::verify_failed),
        help(
            "flash again; if it keeps failing, lower --baud (e.g. --baud 115200) or try another cable; \
             the flash chip may be worn or write-protected"
        )
    )]
    VerifyFailed { port: String },

    #[error("the loader on {port} refused a command while {during}: {reason}")]
    #[diagnostic(
        code(wsbench::flash::loader_error),
        help("flash again; if it repeats, try --no-stub or a lower --baud")
    )]
    Loader {
        port: String,
        during: &'static str,
        reason: String,
    },

    #[error("the firmware was written, but its ready line did not come on {port} within {timeout}")]
    #[diagnostic(
        code(wsbench::flash::no_ready_line),
        help(
            "press RESET on the board and watch its console; a longer --ready-timeout helps when Wi-Fi \
             start-up is slow; the console said: {last_lines}"
        )
    )]
    NoReadyLine {
        port: String,
        timeout: String,
        last_lines: String,
    },
}

impl FlashError {
    /// Exit 2 for what the command line or the given files decide, exit 3 for what the
    /// board, the port or the machine does.
    pub fn is_usage(&self) -> bool {
        match self {
            FlashError::Port(e) => e.is_usage(),
            FlashError::NotEspImage { .. }
            | FlashError::ReadImage { .. }
            | FlashError::Settings { .. }
            | FlashError::SecretFile { .. }
            | FlashError::ImageNotForChipFlag { .. }
            | FlashError::SettingsWithImage { .. } => true,
            _ => false,
        }
    }
}
