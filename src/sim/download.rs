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
use super::rom::{Effect, Faults, Request, RomLoader, op};
use super::uart::{ROM_BAUD, Uart};

/// How long an armed RTC watchdog takes to reset the chip: esptool and espflash arm it
/// (a timeout of 2000 slow-clock cycles, about 15 ms) and then lock its registers again,
/// and that last write is answered before the reset, as on a board. Generous, so a
/// slow host's last write still arrives in time.
const WATCHDOG_DELAY: Duration = Duration::from_millis(100);

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
    /// settings record does not hold.
    pub fn spawn(
        uart: Arc<Uart>,
        chip: Chip,
        faults: Faults,
        base: DeviceConfig,
        control: UnboundedSender<AppControl>,
    ) -> Result<ChipThread, std::io::Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = uart.reader(stop.clone());
        let silent_after = faults.silent_after;
        let mut runner = ChipRunner {
            uart,
            chip,
            loader: RomLoader::new(faults),
            base,
            control,
            download: false,
            silent_after,
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
}

impl ChipRunner {
    fn run(&mut self, reader: super::uart::UartReader) {
        let mut reader = BufReader::with_capacity(4096, reader);
        let mut decoder = SlipDecoder::new();
        loop {
            let mut packet = Vec::new();
            match decoder.decode(&mut reader, &mut packet) {
                Ok(_) => {}
                // Line noise or a cut frame: the decoder resynchronises on the next END.
                Err(SlipError::FramingError) | Err(SlipError::OversizedPacket) => continue,
                Err(SlipError::ReadError(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    // The armed watchdog fired.
                    decoder = SlipDecoder::new();
                    self.boot(ResetReason::RtcWatchdog);
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
                        reader
                            .get_mut()
                            .wake_at(Some(Instant::now() + WATCHDOG_DELAY));
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
        let (lines, app) = boot_app(&self.chip, reason, &self.base);
        for line in lines {
            self.uart.write_line(&line);
        }
        if let Some(app) = app {
            let _ = self.control.send(AppControl::Start(app));
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
