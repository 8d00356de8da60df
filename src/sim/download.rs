//! The chip's side of the UART: a thread that reads what the host writes. In app mode
//! the app does not read its UART, except that a SYNC packet puts the chip in download
//! mode (a pseudo-terminal has no reset lines to do it, so SYNC stands in for "hold
//! BOOT, press RESET"). In download mode the ROM loader (or the stub) answers every
//! packet, and a reset boots from flash again.
//!
//! Data flows one way: host bytes → SLIP packets → loader → replies to the UART, and
//! app changes to the board's app task as [`AppControl`] messages.

use std::io::BufReader;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use slip_codec::{SlipDecoder, SlipError};
use tokio::sync::mpsc::UnboundedSender;
use wsbench_device::DeviceConfig;
use wsbench_device::idf_log::{self, Level, Value};

use super::app::AppConfig;
use super::boot::{self, BootOutcome};
use super::chip::{Chip, ResetReason};
use super::faults::Faults;
use super::noise;
use super::panic::panic_lines;
use super::rom::{Effect, Request, RomLoader, op};
use super::uart::{ROM_BAUD, Uart};

/// How long an armed RTC watchdog takes to reset the chip: esptool and espflash arm it
/// (a timeout of 2000 slow-clock cycles, about 15 ms) and then lock its registers again,
/// and that last write is answered before the reset, as on a board. Generous, so a
/// slow host's last write still arrives in time.
const WATCHDOG_DELAY: Duration = Duration::from_millis(100);
/// How long after a `panic-at` panic the chip resets. The bundled firmware's panic
/// handler (esp-backtrace without a halt feature) loops forever, so on a board only a
/// watchdog or a person resets it; the simulated board resets as the RTC watchdog
/// would, after this (a board's bootloader-armed RTC watchdog takes seconds).
const PANIC_RESET_DELAY: Duration = Duration::from_secs(1);

/// Something the chip does at a time of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The armed RTC watchdog fires.
    Watchdog,
    /// `reboot-at`: a software reset.
    Reboot,
    /// `panic-at`: the firmware panics (the text names this fault value).
    Panic(Duration),
    /// The reset that follows a panic.
    AfterPanic,
}

/// What the board's app task must do.
#[derive(Debug)]
pub enum AppControl {
    /// The chip left the app (download mode, or a reset that boots nothing runnable).
    Stop,
    /// The chip booted the bundled firmware: (re)start the app with this.
    Start(AppConfig),
}

/// The running chip thread.
pub struct ChipThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ChipThread {
    /// Starts the chip on `uart`. `base` is the device configuration for what a
    /// settings record does not hold; `started` is when the board started (the time
    /// faults are counted from) and `app_running` whether an app runs already.
    pub fn spawn(
        uart: Arc<Uart>,
        chip: Chip,
        faults: &Faults,
        base: DeviceConfig,
        control: UnboundedSender<AppControl>,
        started: Instant,
        app_running: bool,
    ) -> Result<ChipThread, std::io::Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = uart.reader(stop.clone());
        let silent_after = faults.rom.silent_after;
        let mut timers: Vec<(Instant, Timer)> = faults
            .reboot_at
            .iter()
            .map(|at| (started + *at, Timer::Reboot))
            .chain(
                faults
                    .panic_at
                    .iter()
                    .map(|at| (started + *at, Timer::Panic(*at))),
            )
            .collect();
        timers.sort_by_key(|(at, _)| *at);
        let mut runner = ChipRunner {
            uart,
            chip,
            loader: RomLoader::new(faults.rom.clone()),
            base,
            control,
            download: false,
            silent_after,
            timers,
            app_running,
            noise: faults.noise,
        };
        let handle = std::thread::Builder::new()
            .name("sim-chip".into())
            .spawn(move || runner.run(reader))?;
        Ok(ChipThread {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits until it saved the flash (within a poll interval).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for ChipThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct ChipRunner {
    uart: Arc<Uart>,
    chip: Chip,
    loader: RomLoader,
    base: DeviceConfig,
    control: UnboundedSender<AppControl>,
    /// In download mode (the ROM loader answers) rather than running the app.
    download: bool,
    silent_after: Option<u64>,
    /// What is due when, soonest first.
    timers: Vec<(Instant, Timer)>,
    /// Whether the bundled firmware runs (it can panic).
    app_running: bool,
    /// The `noise` fault: garbage before each boot log.
    noise: bool,
}

impl ChipRunner {
    fn run(&mut self, reader: super::uart::UartReader) {
        let mut reader = BufReader::with_capacity(4096, reader);
        let mut decoder = SlipDecoder::new();
        loop {
            reader
                .get_mut()
                .wake_at(self.timers.first().map(|(at, _)| *at));
            let mut packet = Vec::new();
            match decoder.decode(&mut reader, &mut packet) {
                Ok(_) => {}
                // Line noise or a cut frame: the decoder resynchronises on the next END.
                Err(SlipError::FramingError) | Err(SlipError::OversizedPacket) => continue,
                Err(SlipError::ReadError(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    // A timer is due (the watchdog, a fault): a reset drops a cut frame.
                    decoder = SlipDecoder::new();
                    self.fire_due_timers();
                    continue;
                }
                Err(SlipError::EndOfStream) | Err(SlipError::ReadError(_)) => break,
            }
            let received = reader.get_ref().received();
            if self.silent_after.is_some_and(|limit| received > limit) {
                continue;
            }
            let Some(request) = Request::parse(&packet) else {
                continue;
            };
            if !self.download {
                if request.op == op::SYNC {
                    self.enter_download();
                }
                continue;
            }
            let effects = self.loader.handle(&mut self.chip, &request);
            for effect in effects {
                match effect {
                    Effect::Send(reply) => self.uart.send_packet(&reply),
                    Effect::SetBaud(baud) => self.uart.set_baud(baud),
                    Effect::Reset(ResetReason::RtcWatchdog) => {
                        self.add_timer(Instant::now() + WATCHDOG_DELAY, Timer::Watchdog);
                    }
                    Effect::Reset(reason) => self.boot(reason),
                    Effect::RunUserCode => self.boot(ResetReason::SoftwareSystem),
                }
            }
            if matches!(
                request.op,
                op::FLASH_END | op::FLASH_DEFL_END | op::SPI_FLASH_MD5
            ) {
                self.save_flash();
            }
        }
        self.save_flash();
    }

    fn add_timer(&mut self, at: Instant, timer: Timer) {
        self.timers.push((at, timer));
        self.timers.sort_by_key(|(at, _)| *at);
    }

    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(0);
            match timer {
                Timer::Watchdog | Timer::AfterPanic => {
                    // A watchdog reset: any other pending watchdog is moot.
                    self.timers.retain(|(_, t)| *t != Timer::Watchdog);
                    self.boot(ResetReason::RtcWatchdog);
                }
                Timer::Reboot => self.boot(ResetReason::SoftwareSystem),
                Timer::Panic(at) => self.panic(at),
            }
        }
    }

    /// The bundled firmware panics: esp-backtrace's text, the app stops (its sessions
    /// and ports close), and the chip resets a little later.
    fn panic(&mut self, at: Duration) {
        let fault = format!("panic-at={}", humantime::format_duration(at));
        if !self.app_running {
            let message = format!(
                "fault_skipped fault={fault} reason={}",
                Value("the bundled firmware is not running, so it cannot panic")
            );
            let line = idf_log::format_line(Level::Warn, 0, super::platform::HOST_TAG, &message);
            self.uart.write_line(&line);
            return;
        }
        for line in panic_lines(self.chip.kind, &fault) {
            self.uart.write_line(&line);
        }
        let _ = self.control.send(AppControl::Stop);
        self.app_running = false;
        self.add_timer(Instant::now() + PANIC_RESET_DELAY, Timer::AfterPanic);
    }

    fn save_flash(&mut self) {
        if let Err(e) = self.chip.flash.save() {
            let reason = e.to_string();
            let message = format!("flash_save_failed reason={}", Value(&reason));
            let line = idf_log::format_line(Level::Error, 0, super::platform::HOST_TAG, &message);
            self.uart.write_line(&line);
        }
    }

    /// The SYNC that stands in for the reset into download mode is itself not
    /// answered: the ROM was still starting when it arrived, and the host retries.
    fn enter_download(&mut self) {
        let _ = self.control.send(AppControl::Stop);
        self.app_running = false;
        self.uart.set_baud(ROM_BAUD);
        for line in boot::download_log(self.chip.kind, ResetReason::PowerOn) {
            self.uart.write_line(&line);
        }
        self.chip.reset_registers();
        self.loader.reset();
        self.download = true;
    }

    fn boot(&mut self, reason: ResetReason) {
        self.save_flash();
        self.uart.set_baud(ROM_BAUD);
        self.chip.reset_registers();
        self.loader.reset();
        self.download = false;
        let _ = self.control.send(AppControl::Stop);
        self.app_running = false;
        if self.noise {
            for garbage in noise::burst() {
                self.uart.write_bytes_line(&garbage);
            }
        }
        // Never flashed: the chip still runs the bundled firmware it started with.
        let (lines, app) = if self.chip.flash.is_erased() {
            let (lines, app) = factory_boot(self.chip.kind, reason, &self.base);
            (lines, Some(app))
        } else {
            boot_app(&self.chip, reason, &self.base)
        };
        for line in lines {
            self.uart.write_line(&line);
        }
        if let Some(app) = app {
            let _ = self.control.send(AppControl::Start(app));
            self.app_running = true;
        }
    }
}

/// Boots `chip` from its flash: the console lines and, when the bundled firmware is
/// there, the app to run.
pub fn boot_app(
    chip: &Chip,
    reason: ResetReason,
    base: &DeviceConfig,
) -> (Vec<String>, Option<AppConfig>) {
    let booted = boot::boot_from_flash(chip.kind, reason, &chip.flash);
    let app = match &booted.outcome {
        BootOutcome::Firmware(fw) => Some(AppConfig::from_firmware(fw, chip.kind, base)),
        BootOutcome::NotRunnable => None,
    };
    (booted.lines, app)
}

/// A boot of a chip whose flash was never written: the boot log the bundled image
/// prints (its bootloader's segments), and the bundled firmware with the simulator's own
/// settings (as at start). So a fault's reset brings the app back, as on a board.
pub fn factory_boot(
    kind: super::chip::ChipKind,
    reason: ResetReason,
    base: &DeviceConfig,
) -> (Vec<String>, AppConfig) {
    let mut flash = super::chip::Flash::erased();
    if let Some(image) = crate::bundled_firmware::image_for(kind.name()) {
        for part in image.parts {
            let _ = flash.program(part.offset, part.bytes);
        }
    }
    let booted = boot::boot_from_flash(kind, reason, &flash);
    let mut app = AppConfig::factory(base.clone());
    if let BootOutcome::Firmware(fw) = &booted.outcome {
        // Its `boot_simulated` line; the settings are the simulator's, not a record's.
        app.boot_lines = AppConfig::from_firmware(fw, kind, base).boot_lines;
        app.boot_lines.truncate(1);
    }
    (booted.lines, app)
}
